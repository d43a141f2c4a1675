import { createReadStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { checkKey, type ArtifactStat, type ArtifactStore } from './artifact-store.js';

/** The artifact store in a local directory (the default: `<dataDir>/artifacts`). */
export class DirArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  get description(): string {
    return `dir:${this.root}`;
  }

  private path(key: string): string {
    if (!checkKey(key)) throw new Error(`bad artifact key ${JSON.stringify(key)}`);
    return join(this.root, key);
  }

  async putFile(key: string, localPath: string): Promise<void> {
    const dest = this.path(key);
    await mkdir(dirname(dest), { recursive: true });
    try {
      await rename(localPath, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(localPath, dest + '.part');
      await rename(dest + '.part', dest);
      await unlink(localPath);
    }
  }

  async stat(key: string): Promise<ArtifactStat | null> {
    if (!checkKey(key)) return null;
    try {
      const s = await stat(this.path(key));
      if (!s.isFile()) return null;
      // Size, mtime and inode identify one immutable file: a valid strong validator.
      return { size: s.size, etag: `"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}-${s.ino.toString(16)}"`, lastModified: s.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async read(key: string, start: number, end: number): Promise<Readable> {
    return createReadStream(this.path(key), { start, end });
  }

  async removePrefix(prefix: string): Promise<void> {
    await rm(this.path(prefix), { recursive: true, force: true });
  }
}
