import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LogUploadTarget } from '@twinroot/protocol';
import { DomainError } from '../domain/domain-error.js';

/** How long an upload URL handed to an appliance stays valid (a collectLogs task may wait for a reconnect). */
export const LOG_UPLOAD_TTL_MS = 24 * 3600_000;
/** A diagnostic bundle is a few MiB of logs; anything much larger is refused. */
export const LOG_BUNDLE_MAX_BYTES = 64 * 1024 * 1024;

const ID = /^[0-9a-f-]{36}$/;

/** The signature in an upload URL: HMAC over what the URL names, so it cannot be reused for another appliance, bundle or time. */
export function uploadSignature(key: Buffer, applianceId: string, bundleId: string, expiresMs: number): string {
  return createHmac('sha256', key).update(`${applianceId}\n${bundleId}\n${expiresMs}`).digest('base64url');
}

export type UploadCheck = { ok: true } | { ok: false; reason: string };

/** Pure check of an upload URL's parts against the key and the time. */
export function checkUpload(key: Buffer, applianceId: string, bundleId: string, expires: string, sig: string, nowMs: number): UploadCheck {
  if (!ID.test(bundleId)) return { ok: false, reason: 'bad bundle id' };
  const expiresMs = /^[0-9]{1,15}$/.test(expires) ? Number(expires) : NaN;
  if (!Number.isFinite(expiresMs)) return { ok: false, reason: 'bad expiry' };
  const want = Buffer.from(uploadSignature(key, applianceId, bundleId, expiresMs));
  const got = Buffer.from(sig);
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: 'bad signature' };
  if (nowMs > expiresMs) return { ok: false, reason: 'upload URL expired' };
  return { ok: true };
}

export interface LogBundle {
  bundleId: string;
  bytes: number;
  uploadedAt: string;
}

export class LogBundleTooLarge extends DomainError {
  constructor(message: string) {
    super('too_large', message);
  }
}
export class LogBundleExists extends DomainError {
  constructor(message: string) {
    super('already_uploaded', message);
  }
}

/** Where bundles are kept: `<applianceId>/<bundleId>.tar.gz`, each written once. */
export interface BundleStore {
  readonly description: string;
  /** Streams a bundle in (at most LOG_BUNDLE_MAX_BYTES); LogBundleExists if it is there already. */
  put(applianceId: string, bundleId: string, body: Readable, limit: Transform): Promise<void>;
  list(applianceId: string): Promise<LogBundle[]>;
  /** The bundle's bytes, or null. */
  open(applianceId: string, bundleId: string): Promise<Readable | null>;
  exists(applianceId: string, bundleId: string): Promise<boolean>;
  /**
   * A URL the appliance PUTs exactly `bytes` to, straight into the store (S3: presigned, the
   * length and write-once condition signed). Absent: uploads go through the backend.
   */
  presignPut?(applianceId: string, bundleId: string, bytes: number, expiresInS: number): Promise<{ url: string; headers: Record<string, string> }>;
}

/** How long a presigned bundle PUT stays valid: the appliance asks for it right before it uploads. */
export const PRESIGNED_PUT_TTL_S = 15 * 60;

/** Bundles in a directory (the embedded stack: one instance). */
export class DirBundleStore implements BundleStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  get description(): string {
    return this.dir;
  }

  private file(applianceId: string, bundleId: string): string {
    return join(this.dir, applianceId, `${bundleId}.tar.gz`);
  }

  /**
   * Streams an upload to a temp file of its own, then links it into place: an upload URL stores
   * one bundle, the first upload to finish wins and any other (concurrent or later) is refused.
   */
  async put(applianceId: string, bundleId: string, body: Readable, limit: Transform): Promise<void> {
    const dir = join(this.dir, applianceId);
    mkdirSync(dir, { recursive: true });
    if (existsSync(this.file(applianceId, bundleId))) throw new LogBundleExists(`bundle ${bundleId} was already uploaded`);
    const tmp = join(dir, `.${bundleId}.${randomUUID()}.part`);
    try {
      await pipeline(body, limit, createWriteStream(tmp, { mode: 0o600, flags: 'wx' }));
      // link(2) fails if the name exists: exactly one upload becomes the bundle.
      linkSync(tmp, this.file(applianceId, bundleId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new LogBundleExists(`bundle ${bundleId} was already uploaded`);
      throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async list(applianceId: string): Promise<LogBundle[]> {
    const dir = join(this.dir, applianceId);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => /^[0-9a-f-]{36}\.tar\.gz$/.test(f))
      .map((f) => {
        const st = statSync(join(dir, f));
        return { bundleId: f.slice(0, 36), bytes: st.size, uploadedAt: new Date(st.mtimeMs).toISOString() };
      });
  }

  async open(applianceId: string, bundleId: string): Promise<Readable | null> {
    const f = this.file(applianceId, bundleId);
    return existsSync(f) ? createReadStream(f) : null;
  }

  async exists(applianceId: string, bundleId: string): Promise<boolean> {
    return existsSync(this.file(applianceId, bundleId));
  }

  /** The file of a bundle (tests read what was stored). */
  pathOf(applianceId: string, bundleId: string): string | null {
    const f = this.file(applianceId, bundleId);
    return existsSync(f) ? f : null;
  }
}

/**
 * Diagnostic bundles appliances upload for a collectLogs task. The upload URL is a capability
 * (like a pre-signed S3 URL): signed, scoped to one appliance and bundle, expiring. Its key is
 * derived from the operator key, so every instance behind a balancer accepts the URLs any of
 * them issued; with an S3 artifact store the bundles are kept in the bucket (`log-bundles/`),
 * not on the instance that took the upload. Operators fetch them with their key.
 */
export class LogBundles {
  private readonly key: Buffer;

  constructor(
    private readonly bundles: BundleStore,
    operatorKey: string,
  ) {
    this.key = createHmac('sha256', operatorKey).update('twinroot log-upload URLs').digest();
  }

  get description(): string {
    return this.bundles.description;
  }

  /** A new bundle id and the path+query of its upload URL. */
  issue(applianceId: string, nowMs: number): { bundleId: string; path: string } {
    const bundleId = randomUUID();
    const expires = nowMs + LOG_UPLOAD_TTL_MS;
    const sig = uploadSignature(this.key, applianceId, bundleId, expires);
    return { bundleId, path: `/v1/log-uploads/${applianceId}/${bundleId}?expires=${expires}&sig=${sig}` };
  }

  check(applianceId: string, bundleId: string, expires: string, sig: string, nowMs: number): UploadCheck {
    return checkUpload(this.key, applianceId, bundleId, expires, sig, nowMs);
  }

  /**
   * Where the appliance PUTs a bundle of `bytes` for a checked upload URL (`uploadUrl`, the
   * capability itself): presigned into the bucket when the store can, else that same URL.
   */
  async uploadTarget(applianceId: string, bundleId: string, expiresMs: number, bytes: number, uploadUrl: string, nowMs: number): Promise<LogUploadTarget> {
    if (bytes > LOG_BUNDLE_MAX_BYTES) throw new LogBundleTooLarge(`a bundle of ${bytes} bytes is larger than the ${LOG_BUNDLE_MAX_BYTES} allowed`);
    if (await this.bundles.exists(applianceId, bundleId)) throw new LogBundleExists(`bundle ${bundleId} was already uploaded`);
    const headers = { 'content-type': 'application/gzip' };
    if (!this.bundles.presignPut) return { method: 'PUT', url: uploadUrl, headers, expiresAt: new Date(expiresMs).toISOString() };
    const ttlS = Math.max(1, Math.min(PRESIGNED_PUT_TTL_S, Math.floor((expiresMs - nowMs) / 1000)));
    const signed = await this.bundles.presignPut(applianceId, bundleId, bytes, ttlS);
    return { method: 'PUT', url: signed.url, headers: signed.headers, expiresAt: new Date(nowMs + ttlS * 1000).toISOString() };
  }

  /** Stores an upload (one per URL: a second is refused with LogBundleExists). */
  async store(applianceId: string, bundleId: string, body: Readable): Promise<{ bundleId: string; bytes: number }> {
    let bytes = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (bytes > LOG_BUNDLE_MAX_BYTES) cb(new LogBundleTooLarge(`bundle larger than ${LOG_BUNDLE_MAX_BYTES} bytes`));
        else cb(null, chunk);
      },
    });
    await this.bundles.put(applianceId, bundleId, body, limit);
    return { bundleId, bytes };
  }

  /** An appliance's uploaded bundles, newest first. */
  async list(applianceId: string): Promise<LogBundle[]> {
    if (!ID.test(applianceId)) return [];
    return (await this.bundles.list(applianceId)).sort((a, b) => b.uploadedAt.localeCompare(a.uploadedAt));
  }

  /** A bundle's bytes, or null (ids are checked first, so no key leaves the appliance's bundles). */
  async open(applianceId: string, bundleId: string): Promise<Readable | null> {
    if (!ID.test(applianceId) || !ID.test(bundleId)) return null;
    return this.bundles.open(applianceId, bundleId);
  }
}
