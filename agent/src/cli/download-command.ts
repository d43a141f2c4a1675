import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPublicKey } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { PayloadDownload } from '../upgrade/download.js';
import { fetchManifest } from '../upgrade/manifest-fetch.js';
import { progressBar } from './progress-bar.js';

/**
 * `twinroot download`: the same verified, resumable download the upgrade task does, into a
 * directory that then holds a complete package (manifest.json, .sig, payload). Run it again
 * after an interruption and it resumes.
 */
export async function downloadRelease(o: { location: string; dest: string; publicKeyFile: string }) {
  const key = loadPublicKey(readFileSync(o.publicKeyFile), o.publicKeyFile);
  const fetched = await fetchManifest(o.location, key);
  const m = fetched.manifest;
  mkdirSync(o.dest, { recursive: true });
  const bar = progressBar();
  const dl = new PayloadDownload({ manifest: m, source: fetched.payload, dir: o.dest, fileName: m.payload.file, onProgress: (p) => bar.update(p) });
  const stats = await dl.run();
  bar.done();
  writeFileAtomic(join(o.dest, 'manifest.json'), fetched.bytes, 0o644);
  writeFileAtomic(join(o.dest, 'manifest.json.sig'), fetched.signature, 0o644);
  return { version: m.version, payloadFile: dl.file, bytes: m.payload.size, chunks: m.payload.chunks.length, resumedFromBytes: stats.resumedFromBytes };
}
