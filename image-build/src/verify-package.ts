import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadPublicKey, verifyManifest, type Manifest } from '@twinroot/protocol';
import { ChunkedSha256 } from './chunked-sha256.js';

export class PackageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'PackageError';
  }
}

/**
 * Checks a package directory the way an appliance would: the signature against the public key
 * first, then the payload's size, every chunk hash and the whole-file hash.
 */
export async function verifyPackage(dir: string, pubKeyFile: string): Promise<{ manifest: Manifest; badChunks: number[] }> {
  const key = loadPublicKey(readFileSync(pubKeyFile), `--pubkey ${pubKeyFile}`);
  for (const f of ['manifest.json', 'manifest.json.sig']) if (!existsSync(join(dir, f))) throw new PackageError('missing_file', `${join(dir, f)} does not exist`);
  const manifest = verifyManifest(readFileSync(join(dir, 'manifest.json')), readFileSync(join(dir, 'manifest.json.sig')), key);
  const payload = join(dir, manifest.payload.file);
  if (!existsSync(payload)) throw new PackageError('missing_file', `payload ${payload} does not exist`);
  const size = statSync(payload).size;
  if (size !== manifest.payload.size) throw new PackageError('size_mismatch', `payload is ${size} bytes; the manifest says ${manifest.payload.size}`);
  const hasher = new ChunkedSha256(manifest.payload.chunkSize);
  for await (const data of createReadStream(payload, { highWaterMark: 1024 * 1024 })) hasher.update(data as Buffer);
  const got = hasher.finish();
  const badChunks = got.chunks.flatMap((h, i) => (h === manifest.payload.chunks[i] ? [] : [i]));
  if (badChunks.length > 0) throw new PackageError('chunk_mismatch', `payload chunk ${badChunks[0]} (of ${got.chunks.length}) does not match its hash${badChunks.length > 1 ? ` (${badChunks.length} bad chunks)` : ''}`);
  if (got.sha256 !== manifest.payload.sha256) throw new PackageError('sha256_mismatch', 'payload sha256 does not match the manifest');
  return { manifest, badChunks };
}
