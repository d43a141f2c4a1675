import { createReadStream, existsSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import got, { HTTPError, RequestError } from 'got';
import type { ErrorCode } from '@twinroot/protocol';

/** A failure worth retrying (connection dropped, 5xx) vs one that is not (404, bad data). */
export class SourceError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'SourceError';
  }
}

export interface OpenedRange {
  /** Byte offset of the first byte the stream yields (0 when the server ignored the range). */
  start: number;
  /** Bytes the server says it will send, when it says so. */
  length: number | null;
  /** ETag or Last-Modified: sent back as If-Range on the next resume. */
  validator: string | null;
  stream: Readable;
}

/** Where a payload comes from: ranges of one file, over HTTP or from a local path. */
export interface PayloadSource {
  readonly description: string;
  open(offset: number, validator: string | null, signal?: AbortSignal): Promise<OpenedRange>;
}

const FATAL_HTTP = new Set([400, 401, 403, 404, 405, 410]);

export function httpSource(url: string, opts: { idleTimeoutMs?: number } = {}): PayloadSource {
  return {
    description: url,
    open(offset, validator, signal) {
      const headers: Record<string, string> = {};
      if (offset > 0) {
        headers.range = `bytes=${offset}-`;
        // If the file changed, the server sends it whole (200) instead of a mismatched range.
        if (validator) headers['if-range'] = validator;
      }
      const stream = got.stream(url, {
        headers,
        retry: { limit: 0 },
        decompress: false,
        timeout: { connect: 15_000, response: 30_000, socket: opts.idleTimeoutMs ?? 60_000 },
        ...(signal ? { signal } : {}),
      });
      return new Promise<OpenedRange>((resolve, reject) => {
        const fail = (err: Error) => {
          stream.destroy();
          if (err instanceof HTTPError) {
            const code = err.response.statusCode;
            reject(new SourceError('payload_unavailable', `${url}: HTTP ${code}`, !FATAL_HTTP.has(code)));
          } else if (err instanceof RequestError || err.name === 'AbortError') {
            reject(new SourceError('connection_failed', `${url}: ${err.message}`, true));
          } else reject(err);
        };
        stream.once('error', fail);
        stream.once('response', (res: { statusCode: number; headers: Record<string, string | string[] | undefined> }) => {
          stream.off('error', fail);
          const h = (k: string) => {
            const v = res.headers[k];
            return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
          };
          const etag = h('etag');
          const validatorOut = etag && !etag.startsWith('W/') ? etag : h('last-modified');
          const lengthHeader = h('content-length');
          const length = lengthHeader !== null && /^[0-9]+$/.test(lengthHeader) ? Number(lengthHeader) : null;
          if (res.statusCode === 206) {
            const m = /^bytes ([0-9]+)-([0-9]+)\/([0-9]+|\*)$/.exec(h('content-range') ?? '');
            if (!m || Number(m[1]) !== offset) {
              stream.destroy();
              reject(new SourceError('bad_range', `${url}: asked for bytes from ${offset}, got Content-Range ${h('content-range') ?? 'none'}`, true));
              return;
            }
            resolve({ start: offset, length, validator: validatorOut, stream });
          } else if (res.statusCode === 200) {
            resolve({ start: 0, length, validator: validatorOut, stream });
          } else {
            stream.destroy();
            reject(new SourceError('payload_unavailable', `${url}: unexpected HTTP ${res.statusCode}`, true));
          }
        });
      });
    },
  };
}

export function fileSource(path: string): PayloadSource {
  return {
    description: path,
    async open(offset) {
      if (!existsSync(path)) throw new SourceError('payload_unavailable', `${path} does not exist`, false);
      const st = statSync(path);
      const start = Math.min(offset, st.size);
      return { start, length: st.size - start, validator: `${st.size}-${st.mtimeMs}`, stream: createReadStream(path, { start, highWaterMark: 1024 * 1024 }) };
    },
  };
}
