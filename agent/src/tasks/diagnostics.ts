import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { SlotStatusSource } from '../slots/status.js';

/** What goes in a diagnostic bundle: each command's output lands in its own file. */
export const DIAGNOSTIC_COMMANDS: { file: string; argv: string[] }[] = [
  { file: 'journal.txt', argv: ['journalctl', '--no-pager', '-n', '5000', '-o', 'short-iso'] },
  { file: 'ip-addr.txt', argv: ['ip', 'addr'] },
  { file: 'ip-route.txt', argv: ['ip', 'route'] },
  { file: 'df.txt', argv: ['df', '-h'] },
  { file: 'lvs.txt', argv: ['lvs', '-a', '-o', '+devices'] },
  { file: 'uname.txt', argv: ['uname', '-a'] },
];
const GRUBENV_CANDIDATES = ['/boot/grub2/grubenv', '/boot/grub/grubenv'];

/**
 * Builds a tar.gz with the agent log, journal excerpt, network, disk, LVM, grubenv and slot
 * status. A command that is missing or fails leaves its error in its file instead of stopping
 * the bundle: a diagnostic is most needed on a sick machine.
 */
export async function buildDiagnosticBundle(opts: { out: string; agentLog: string; slots: SlotStatusSource; extraFiles?: string[] }): Promise<string[]> {
  const work = mkdtempSync(join(tmpdir(), 'twinroot-diag-'));
  const dir = join(work, 'twinroot-diagnostics');
  const files: string[] = [];
  try {
    mkdirSync(dir);
    for (const c of DIAGNOSTIC_COMMANDS) {
      const [file, ...args] = c.argv as [string, ...string[]];
      const r = await execa(file, args, { reject: false, timeout: 30_000, all: true, maxBuffer: 16 * 1024 * 1024 });
      const text = r.failed && r.exitCode === undefined ? `could not run ${c.argv.join(' ')}: ${r.shortMessage}\n` : `${r.all ?? ''}\n${r.exitCode !== 0 ? `(exit ${r.exitCode})\n` : ''}`;
      writeFileSync(join(dir, c.file), text);
      files.push(c.file);
    }
    for (const [name, src] of [['agent.log', opts.agentLog], ...GRUBENV_CANDIDATES.map((g) => ['grubenv', g])] as [string, string][]) {
      if (existsSync(src) && !files.includes(name)) {
        cpSync(src, join(dir, name));
        files.push(name);
      }
    }
    let slot: string;
    try {
      slot = JSON.stringify(await opts.slots.status(), null, 2);
    } catch (err) {
      slot = `slot status unavailable: ${(err as Error).message}`;
    }
    writeFileSync(join(dir, 'slot-status.json'), slot + '\n');
    files.push('slot-status.json');
    writeFileSync(join(dir, 'created.txt'), new Date().toISOString() + '\n');
    const tar = await execa('tar', ['-czf', opts.out, '-C', work, 'twinroot-diagnostics'], { reject: false });
    if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr.split('\n')[0]}`);
    return files;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
