import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Test appliances under QEMU (TCG): the cached golden disk, one qcow2 overlay per appliance. */

export const repoRoot = resolve(import.meta.dirname, '../..');
const vmDir = join(repoRoot, 'test/vm');

// GRUB and the kernel write ANSI escapes to the serial console.
const ANSI_ESCAPE = new RegExp(String.fromCharCode(27) + '\\[[0-9;?]*[A-Za-z]', 'g');
function stripAnsi(text: string): string {
  return text.replace(ANSI_ESCAPE, '');
}

export function log(msg: string): void {
  process.stderr.write(`vm: ${msg}\n`);
}

function run(cmd: string, args: string[], opts: { input?: string; stdio?: 'inherit-stderr' } = {}): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', opts.stdio === 'inherit-stderr' ? 'inherit' : 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok(out) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a scenario and prints its wall time, so the cost of every VM scenario stays visible. */
export async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    log(`scenario "${name}": ${((Date.now() - t) / 1000).toFixed(0)} s wall time`);
  }
}

export async function bash(script: string): Promise<string> {
  return run('bash', ['-euo', 'pipefail', '-c', script]);
}

/** Builds or reuses the rootfs tar and golden disk (test/vm/build-base.sh). */
export async function buildBase(): Promise<{ rootfsTar: string; golden: string }> {
  const out = await run('bash', [join(vmDir, 'build-base.sh')], { stdio: 'inherit-stderr' });
  const [rootfsTar, golden] = out.trim().split('\n').slice(-2) as [string, string];
  return { rootfsTar, golden };
}

/**
 * An upgrade payload: the base rootfs tar with extra members appended (a later member
 * replaces an earlier one on extraction), compressed with zstd. `overlay` is a bash script
 * run with $D set to an empty directory whose contents are appended.
 */
export async function makePayload(rootfsTar: string, out: string, overlay: string): Promise<string> {
  const dir = `${out}.overlay`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await bash(`export D=${JSON.stringify(dir)}\n${overlay}`);
  await bash(
    `cp ${JSON.stringify(rootfsTar)} ${JSON.stringify(`${out}.tar`)}
     tar -C ${JSON.stringify(dir)} --numeric-owner --xattrs --xattrs-include='*' --acls -rf ${JSON.stringify(`${out}.tar`)} .
     zstd -q -T0 -3 -f --rm ${JSON.stringify(`${out}.tar`)} -o ${JSON.stringify(out)}`,
  );
  rmSync(dir, { recursive: true, force: true });
  return out;
}

export interface BootResult {
  boot: number;
  durationMs: number;
  serial: string;
  /** Files the guest wrote for this boot (root-source, status.json, step.log, ...). */
  out: string;
  killed: boolean;
  file(name: string): string;
  json<T = Record<string, unknown>>(name: string): T;
}

export class Appliance {
  readonly share: string;
  private boots = 0;

  constructor(readonly workDir: string, private readonly golden: string) {
    this.share = join(workDir, 'share');
  }

  async create(): Promise<void> {
    rmSync(this.workDir, { recursive: true, force: true });
    mkdirSync(join(this.share, 'steps'), { recursive: true });
    mkdirSync(join(this.share, 'out'), { recursive: true });
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', this.golden, '-F', 'qcow2', join(this.workDir, 'disk.qcow2')]);
    this.refreshScripts();
  }

  /** The grub-scripts under test, as they are in this checkout, go onto the share. */
  refreshScripts(): void {
    rmSync(join(this.share, 'grub-scripts'), { recursive: true, force: true });
    cpSync(join(repoRoot, 'grub-scripts'), join(this.share, 'grub-scripts'), { recursive: true });
    cpSync(join(vmDir, 'guest/step-runner.sh'), join(this.share, 'step-runner.sh'));
    cpSync(join(vmDir, 'guest/agent-helpers.sh'), join(this.share, 'agent-helpers.sh'));
  }

  /**
   * One boot: the step script runs as root inside the appliance (with $SHARE and $OUT set),
   * then it powers off. `killWhen`: pull the plug as soon as the guest creates that file in $OUT.
   */
  async boot(step: string, opts: { killWhen?: string; timeoutMs?: number; qemuArgs?: string[] } = {}): Promise<BootResult> {
    const n = ++this.boots;
    const out = join(this.share, 'out', String(n));
    rmSync(out, { recursive: true, force: true });
    writeFileSync(join(this.share, 'boot-number'), `${n}\n`);
    writeFileSync(join(this.share, 'steps', `${n}.sh`), `set -u\nSHARE=/mnt/host\nOUT=$SHARE/out/${n}\nPATH=/usr/lib/twinroot:$PATH\n. $SHARE/agent-helpers.sh\n${step}\n`);
    const serialFile = join(this.workDir, `serial-${n}.log`);
    const started = Date.now();
    const qemu: ChildProcess = spawn('qemu-system-x86_64', [
      '-accel', 'tcg,thread=multi', '-cpu', 'qemu64', '-smp', '2', '-m', '1024',
      '-nodefaults', '-vga', 'none', '-display', 'none', '-no-reboot',
      '-serial', `file:${serialFile}`,
      // writeback honours the guest's flushes, so killing QEMU is a fair power cut.
      '-drive', `file=${join(this.workDir, 'disk.qcow2')},if=virtio,format=qcow2,cache=writeback`,
      '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
      '-fsdev', `local,id=fs0,path=${this.share},security_model=none`, '-device', 'virtio-9p-pci,fsdev=fs0,mount_tag=twinroot',
      // The checkout, read-only: the agent under test runs from its agent/dist.
      '-fsdev', `local,id=fs1,path=${repoRoot},security_model=none,readonly=on`, '-device', 'virtio-9p-pci,fsdev=fs1,mount_tag=twinroot-repo',
      ...(opts.qemuArgs ?? []),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((ok) => qemu.on('exit', (code) => ok(code)));
    let killed = false;
    let timedOut = false;
    const timeout = opts.timeoutMs ?? 420_000;
    const watch = (async () => {
      while (qemu.exitCode === null && qemu.signalCode === null) {
        if (opts.killWhen && existsSync(join(out, opts.killWhen))) {
          qemu.kill('SIGKILL');
          killed = true;
          return;
        }
        if (Date.now() - started > timeout) {
          qemu.kill('SIGKILL');
          timedOut = true;
          return;
        }
        await sleep(100);
      }
    })();
    const code = await exited;
    await watch;
    const durationMs = Date.now() - started;
    const serial = existsSync(serialFile) ? stripAnsi(readFileSync(serialFile, 'utf8')) : '';
    if (timedOut) throw new Error(`boot ${n} did not end within ${timeout / 1000} s; serial tail:\n${serial.slice(-2000)}`);
    if (!killed && code !== 0) throw new Error(`qemu exited ${code} on boot ${n}: ${stderr.trim()}`);
    log(`boot ${n}: ${(durationMs / 1000).toFixed(1)} s${killed ? ' (power cut)' : ''}`);
    const file = (name: string) => {
      const p = join(out, name);
      if (!existsSync(p)) throw new Error(`boot ${n}: the guest wrote no ${name}; step log:\n${existsSync(join(out, 'step.log')) ? readFileSync(join(out, 'step.log'), 'utf8').slice(-3000) : '(none)'}\nserial tail:\n${serial.slice(-1500)}`);
      return readFileSync(p, 'utf8');
    };
    return {
      boot: n,
      durationMs,
      serial,
      out,
      killed,
      file,
      json<T>(name: string): T {
        const text = file(name);
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new Error(`boot ${n}: ${name} is not JSON: ${text.slice(0, 500)}`);
        }
      },
    };
  }
}
