/**
 * The tar and compressor command lines of a package build (pure, so they can be tested alone).
 * Every value is a separate argument: nothing reaches a shell.
 */

/** Directories kept in the image but packaged empty: they are filled at run time. */
export const EMPTY_DIRS = ['proc', 'sys', 'dev', 'run', 'tmp'];
/** The bootloader's own files: boot-config writes them for the slot on the appliance. */
export const EXCLUDED_GLOBS = ['boot/grub', 'boot/grub2'];

export type Compression = 'zstd' | 'xz';

export interface TarFeatures {
  acls: boolean;
  selinux: boolean;
}

export function tarCreateArgs(rootDir: string, features: TarFeatures): string[] {
  const args = ['-C', rootDir, '-c', '-f', '-', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name'];
  if (features.acls) args.push('--acls');
  if (features.selinux) args.push('--selinux');
  // Anchored: `./proc/*` means the root's /proc only, not any directory called proc.
  args.push('--anchored');
  for (const d of EMPTY_DIRS) args.push(`--exclude=./${d}/*`);
  for (const d of EXCLUDED_GLOBS) args.push(`--exclude=./${d}/*`);
  // The slot's version marker is written by the installer, never taken from a payload.
  args.push('--exclude=./etc/twinroot/version');
  args.push('.');
  return args;
}

export function compressorArgs(compression: Compression, level?: number): [string, string[]] {
  if (compression === 'zstd') return ['zstd', ['-q', '-c', '-T0', `-${level ?? 3}`]];
  return ['xz', ['-q', '-c', '-T0', `-${level ?? 6}`]];
}

export function payloadFileName(version: string, compression: Compression): string {
  return `rootfs-${version}.tar.${compression === 'zstd' ? 'zst' : 'xz'}`;
}
