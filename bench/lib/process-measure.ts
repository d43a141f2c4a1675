// Measures a child process as a whole: wall time, peak RSS and CPU seconds from GNU time
// (wait4's rusage: the largest RSS among the process and the children it waited for, their
// CPU together), and RSS samples of a running process from /proc.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  code: number | null;
  wallS: number;
  maxRssMiB: number;
  cpuS: number;
  stdout: string;
  stderr: string;
}

export async function runMeasured(cmd: string, args: string[]): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-measure-'));
  const out = join(dir, 'time');
  try {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', out, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const wallS = (performance.now() - t0) / 1000;
    const [kib, user, sys] = readFileSync(out, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
    return { code, wallS, maxRssMiB: kib! / 1024, cpuS: user! + sys!, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Current and peak RSS of a live process. */
export function sampleRss(pid: number): { rssMiB: number; hwmMiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
