import { lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export class UnsafeSlotPath extends Error {}

/**
 * Makes `root/rel` a real directory of a slot, creating what is missing, and refuses any
 * component that is a symbolic link or not a directory: the slot's tree comes from a package,
 * and a link planted in it would lead a write from outside the slot anywhere on the host.
 */
export function ensureSlotDir(root: string, rel: string): string {
  let path = root;
  for (const part of rel.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UnsafeSlotPath(`refusing the slot path ${rel}: it contains ..`);
    path = join(path, part);
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(path, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink()) throw new UnsafeSlotPath(`refusing to write through ${path}: it is a symbolic link in the slot`);
    if (!st.isDirectory()) throw new UnsafeSlotPath(`refusing to write into ${path}: it is not a directory`);
  }
  return path;
}
