import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `build --disk`: a VM disk exported from the hypervisor (VMDK, qcow2 or raw) attached
 * read-only with qemu-nbd, its volume group activated, and the root filesystem mounted
 * read-only (`norecovery`: the image is never written, not even a journal replay).
 * Needs root, the nbd kernel module and device-mapper.
 */

const FORMATS = ['vmdk', 'qcow2', 'raw', 'vpc', 'vhdx'];

function run(file: string, args: string[], what: string): string {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${what}: cannot run ${file}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} failed: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? `exit ${r.status}`}`);
  return r.stdout;
}

export function diskFormat(file: string): string {
  if (!existsSync(file)) throw new Error(`--disk ${file} does not exist`);
  const info = JSON.parse(run('qemu-img', ['info', '--output=json', '--', file], 'qemu-img info')) as { format?: string };
  const format = info.format ?? 'unknown';
  if (!FORMATS.includes(format)) throw new Error(`--disk ${file} is a ${format} image; expected one of ${FORMATS.join(', ')}`);
  return format;
}

function freeNbdDevice(): string {
  const dev = readdirSync('/sys/block').filter((d) => /^nbd[0-9]+$/.test(d)).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
    .find((d) => readFileSync(`/sys/block/${d}/size`, 'utf8').trim() === '0');
  if (!dev) throw new Error('no free /dev/nbdN device');
  return `/dev/${dev}`;
}

export interface MountedDisk {
  rootDir: string;
  candidates: string[];
  detach(): void;
}

/** Attaches `file` and mounts the root filesystem read-only; `detach()` undoes everything. */
export function attachDisk(file: string, opts: { rootDevice?: string } = {}): MountedDisk {
  if (process.getuid?.() !== 0) throw new Error('--disk needs root (qemu-nbd, LVM, mount)');
  const format = diskFormat(file);
  const mod = spawnSync('modprobe', ['nbd', 'max_part=16'], { encoding: 'utf8' });
  if (mod.status !== 0 || !existsSync('/sys/block/nbd0')) {
    throw new Error('the nbd kernel module is not available (modprobe nbd failed): --disk needs nbd and device-mapper; copy the root filesystem out and use --rootfs DIR');
  }
  if (!existsSync('/dev/mapper/control')) throw new Error('device-mapper is not available: --disk cannot activate the disk\'s LVM volumes; use --rootfs DIR');
  const nbd = freeNbdDevice();
  const undo: Array<() => void> = [];
  const detach = () => {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // best effort: keep undoing the rest
      }
    }
    undo.length = 0;
  };
  try {
    run('qemu-nbd', ['--read-only', `--format=${format}`, `--connect=${nbd}`, '--', file], 'qemu-nbd --connect');
    undo.push(() => run('qemu-nbd', ['--disconnect', nbd], 'qemu-nbd --disconnect'));
    spawnSync('udevadm', ['settle']);
    const vgs = run('pvs', ['--noheadings', '-o', 'pv_name,vg_name'], 'pvs').split('\n').map((l) => l.trim().split(/\s+/))
      .filter(([pv, vg]) => pv?.startsWith(nbd) && vg).map(([, vg]) => vg as string);
    const devices: string[] = [];
    for (const vg of [...new Set(vgs)]) {
      run('vgchange', ['-ay', vg], `activating volume group ${vg}`);
      undo.push(() => run('vgchange', ['-an', vg], `deactivating volume group ${vg}`));
      devices.push(...run('lvs', ['--noheadings', '-o', 'lv_path', vg], 'lvs').split('\n').map((l) => l.trim()).filter(Boolean));
    }
    devices.push(...readdirSync('/dev').filter((d) => d.startsWith(`${nbd.slice(5)}p`)).map((d) => `/dev/${d}`));
    const roots: Array<{ device: string; dir: string }> = [];
    for (const device of opts.rootDevice ? [opts.rootDevice] : devices) {
      const dir = mkdtempSync(join(tmpdir(), 'twinroot-disk-'));
      const m = spawnSync('mount', ['-o', 'ro,norecovery', '--', device, dir], { encoding: 'utf8' });
      if (m.status !== 0) {
        rmdirSync(dir);
        continue;
      }
      undo.push(() => {
        run('umount', [dir], `unmounting ${dir}`);
        rmdirSync(dir);
      });
      if (existsSync(join(dir, 'etc/os-release')) && existsSync(join(dir, 'usr'))) roots.push({ device, dir });
    }
    if (roots.length === 0) throw new Error(`no root filesystem found on ${file}${opts.rootDevice ? ` at ${opts.rootDevice}` : ''} (looked for etc/os-release on ${devices.join(', ') || 'no volumes'})`);
    if (roots.length > 1) throw new Error(`several root filesystems on ${file}: ${roots.map((r) => r.device).join(', ')}; choose one with --root-device`);
    return { rootDir: roots[0]!.dir, candidates: roots.map((r) => r.device), detach };
  } catch (err) {
    detach();
    throw err;
  }
}
