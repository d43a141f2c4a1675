import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Slot } from '@twinroot/protocol';

const HERE = join(import.meta.dirname, 'fake-slot-host');
export const RUN_SLOT = join(HERE, 'run-slot.sh');

/** twinroot-slot can run on this host under fake tools (root, and `unshare -m` allowed). */
export const canFakeSlotHost: boolean = (() => {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('unshare', ['-m', 'true']).status === 0;
})();

export interface FakeSlotHostOptions {
  booted?: Slot;
  committed?: Slot;
  versions?: Partial<Record<Slot, string>>;
  /** Slots whose kernel and grub.cfg entry are on /boot (default: both). */
  bootable?: Slot[];
}

/**
 * An appliance's boot state for twinroot-slot on the host (test/helpers/fake-slot-host/): the
 * booted slot, each slot's installed version, /boot with kernels, a grub.cfg and grubenv.
 */
export function makeFakeSlotHost(dir: string, o: FakeSlotHostOptions = {}): string {
  const boot = join(dir, 'boot/twinroot');
  const bootable = o.bootable ?? ['A', 'B'];
  mkdirSync(join(boot, 'grub.1/grub'), { recursive: true });
  writeFileSync(join(dir, 'booted'), `${o.booted ?? 'A'}\n`);
  for (const s of ['A', 'B'] as const) {
    const v = o.versions?.[s] ?? (s === 'A' ? '1.0.0' : null);
    if (v) writeFileSync(join(dir, `version-${s}`), `${v}\n`);
    if (!bootable.includes(s)) continue;
    mkdirSync(join(boot, s), { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img']) writeFileSync(join(boot, s, f), `${f} of slot ${s}\n`);
    writeFileSync(join(boot, s, 'kernel-version'), '6.1.0-test\n');
  }
  writeFileSync(join(boot, 'grub-active'), 'twinroot/grub.1/grub');
  writeFileSync(join(boot, 'grub.1/grub/grub.cfg'), bootable.map((s) => `menuentry 'twinroot slot ${s}' --id twinroot-${s} {\n  linux /twinroot/${s}/vmlinuz root=/dev/mapper/VA-${s === 'A' ? 'root' : 'back'} twinroot.slot=${s}\n}\n`).join(''));
  writeFileSync(join(boot, 'grubenv'), `# GRUB Environment Block\nsaved_entry=twinroot-${o.committed ?? 'A'}\n`);
  writeFileSync(join(dir, 'slots.conf'), `BOOT_DIR=${join(dir, 'boot')}\nREBOOT_COMMAND=${join(HERE, 'bin/fake-reboot')}\n`);
  writeFileSync(join(dir, 'calls.log'), '');
  return dir;
}

export function runSlot(dir: string, args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync('bash', [RUN_SLOT, dir, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** GRUB's part of a reboot (next_entry once, else saved_entry). */
export function grubBoot(dir: string): Slot {
  spawnSync('bash', [join(HERE, 'grub-boot.sh'), dir]);
  return readFileSync(join(dir, 'booted'), 'utf8').trim() as Slot;
}

export const grubenv = (dir: string): string => readFileSync(join(dir, 'boot/twinroot/grubenv'), 'utf8');
export const calls = (dir: string): string[] => readFileSync(join(dir, 'calls.log'), 'utf8').split('\n').filter(Boolean);
