import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { SignatureError, verifyManifest, type ErrorCode, type Manifest } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { fetchLimited, LimitedFetchError } from '../backend/fetch-limited.js';
import { fileSource, httpSource, type PayloadSource } from './payload-source.js';

const MAX_MANIFEST_BYTES = 1024 * 1024 * 128; // a manifest with a million chunk hashes is ~70 MiB
const MAX_SIG_BYTES = 1024;

export class ManifestError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

export interface FetchedManifest {
  manifest: Manifest;
  bytes: Buffer;
  signature: Buffer;
  payload: PayloadSource;
}

const isHttp = (loc: string) => /^https?:\/\//.test(loc);

async function fetchBytes(url: string, limit: number): Promise<Buffer> {
  try {
    return await fetchLimited(url, limit);
  } catch (err) {
    if (err instanceof LimitedFetchError) throw new ManifestError(err.kind === 'too_large' ? 'manifest_too_large' : 'manifest_unavailable', err.message);
    throw err;
  }
}

/** A local manifest or signature: its size is checked before it is read (never a device or a FIFO). */
function readLocal(path: string, limit: number): Buffer {
  if (!existsSync(path)) throw new ManifestError('manifest_unavailable', `${path} does not exist`);
  const st = statSync(path);
  if (!st.isFile()) throw new ManifestError('manifest_unavailable', `${path} is not a regular file`);
  if (st.size > limit) throw new ManifestError('manifest_too_large', `${path} is larger than ${limit} bytes`);
  const b = readFileSync(path);
  if (b.length > limit) throw new ManifestError('manifest_too_large', `${path} is larger than ${limit} bytes`);
  return b;
}

/**
 * Fetches manifest.json and manifest.json.sig (from a URL or a local path) and verifies the
 * signature against the pinned key before anything in the manifest is looked at.
 */
export async function fetchManifest(location: string, key: KeyObject): Promise<FetchedManifest> {
  const http = isHttp(location);
  const path = http ? location : resolve(location);
  if (!http && !isAbsolute(path)) throw new ManifestError('bad_location', `not a URL or path: ${location}`);
  const [bytes, signature] = http
    ? await Promise.all([fetchBytes(location, MAX_MANIFEST_BYTES), fetchBytes(`${location}.sig`, MAX_SIG_BYTES)])
    : [readLocal(path, MAX_MANIFEST_BYTES), readLocal(`${path}.sig`, MAX_SIG_BYTES)];
  let manifest: Manifest;
  try {
    manifest = verifyManifest(bytes, signature, key);
  } catch (err) {
    if (err instanceof SignatureError) throw new ManifestError(err.code, err.message);
    throw err;
  }
  return { manifest, bytes, signature, payload: payloadSourceFor(location, manifest) };
}

/** The payload sits next to its manifest: same URL directory, or same local directory. */
export function payloadSourceFor(location: string, m: Manifest): PayloadSource {
  return isHttp(location) ? httpSource(new URL(m.payload.file, location).toString()) : fileSource(join(dirname(resolve(location)), m.payload.file));
}

/**
 * Anti-replay: the newest manifest `createdAt` seen per version. A re-signed release may
 * replace a manifest, but an older one (e.g. served by a stale mirror) is refused.
 */
export class SeenManifests {
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, 'seen-manifests.json');
  }

  private read(): Record<string, string> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }

  check(m: Manifest): void {
    const seen = this.read()[m.version];
    if (seen && Date.parse(m.createdAt) < Date.parse(seen)) {
      throw new ManifestError('stale_manifest', `manifest for ${m.version} was created ${m.createdAt}, older than the one already seen (${seen})`);
    }
  }

  record(m: Manifest): void {
    const all = this.read();
    const seen = all[m.version];
    if (seen && Date.parse(seen) >= Date.parse(m.createdAt)) return;
    all[m.version] = m.createdAt;
    // Bounded: keep the 200 most recent versions.
    const kept = Object.entries(all).sort((a, b) => Date.parse(b[1]) - Date.parse(a[1])).slice(0, 200);
    writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(kept)));
  }
}
