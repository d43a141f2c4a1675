import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createWriteStream, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

/**
 * Diagnostic bundles appliances upload for a collectLogs task. The upload URL is a capability
 * (like a pre-signed S3 URL): signed, scoped to one appliance and bundle, expiring. Bundles are
 * kept on this instance's disk, outside the public artifact store; operators fetch them with
 * their key.
 */
export class LogBundles {
  private readonly key: Buffer;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const keyFile = join(dir, '.upload-key');
    if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    this.key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex');
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

  private file(applianceId: string, bundleId: string): string {
    return join(this.dir, applianceId, `${bundleId}.tar.gz`);
  }

  /**
   * Streams an upload to a temp file of its own, then links it into place: an upload URL stores
   * one bundle, the first upload to finish wins and any other (concurrent or later) is refused.
   */
  async store(applianceId: string, bundleId: string, body: Readable): Promise<LogBundle> {
    const dir = join(this.dir, applianceId);
    mkdirSync(dir, { recursive: true });
    if (existsSync(this.file(applianceId, bundleId))) throw new LogBundleExists(`bundle ${bundleId} was already uploaded`);
    const tmp = join(dir, `.${bundleId}.${randomUUID()}.part`);
    let bytes = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (bytes > LOG_BUNDLE_MAX_BYTES) cb(new LogBundleTooLarge(`bundle larger than ${LOG_BUNDLE_MAX_BYTES} bytes`));
        else cb(null, chunk);
      },
    });
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
    return { bundleId, bytes, uploadedAt: new Date(statSync(this.file(applianceId, bundleId)).mtimeMs).toISOString() };
  }

  /** An appliance's uploaded bundles, newest first. */
  list(applianceId: string): LogBundle[] {
    const dir = join(this.dir, applianceId);
    if (!ID.test(applianceId) || !existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => /^[0-9a-f-]{36}\.tar\.gz$/.test(f))
      .map((f) => {
        const st = statSync(join(dir, f));
        return { bundleId: f.slice(0, 36), bytes: st.size, uploadedAt: new Date(st.mtimeMs).toISOString() };
      })
      .sort((a, b) => b.uploadedAt.localeCompare(a.uploadedAt));
  }

  /** The file of a bundle, or null (ids are checked, so no path leaves the directory). */
  path(applianceId: string, bundleId: string): string | null {
    if (!ID.test(applianceId) || !ID.test(bundleId)) return null;
    const f = this.file(applianceId, bundleId);
    return existsSync(f) ? f : null;
  }
}
