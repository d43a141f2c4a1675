import type { Readable } from 'node:stream';

/** What the artifact route needs to answer a request for one object. */
export interface ArtifactStat {
  size: number;
  /** A strong ETag (quoted): objects are immutable once stored. */
  etag: string;
  lastModified: Date;
}

/**
 * Where release packages live: a directory (default) or an S3 bucket. Keys are
 * `<releaseId>/<uploadId>/<file>`; an object is written once and never changed, so its ETag
 * stays valid for resumed downloads.
 */
export interface ArtifactStore {
  readonly description: string;
  /** Stores a local file under `key` (the file is consumed: moved or uploaded, then removed). */
  putFile(key: string, localPath: string, contentType: string): Promise<void>;
  stat(key: string): Promise<ArtifactStat | null>;
  /** The bytes start..end (inclusive) of an object. */
  read(key: string, start: number, end: number): Promise<Readable>;
  /** Removes every object under a prefix (a failed or superseded upload). */
  removePrefix(prefix: string): Promise<void>;
  /**
   * A URL that lets anyone GET this object (with Range) straight from the store for a while —
   * so downloads do not pass through the backend. Only stores that can sign such URLs (S3).
   */
  presignedGetUrl?(key: string, expiresInS: number): Promise<string>;
}

/** Keys are made by the backend, but a request path is untrusted: only plain segments pass. */
export function checkKey(key: string): boolean {
  return key.length > 0 && key.length <= 512 && key.split('/').every((s) => /^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(s) && s !== '..' && s !== '.');
}
