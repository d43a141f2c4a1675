import got from 'got';

/** Why a limited fetch failed: the body was over the limit, or it could not be had at all. */
export class LimitedFetchError extends Error {
  constructor(
    readonly kind: 'too_large' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'LimitedFetchError';
  }
}

/**
 * GETs a small document (a manifest, a signature) whole, refusing more than `limit` bytes as they
 * arrive — never buffering an endless or oversized answer. Callers map the error to their codes.
 */
export async function fetchLimited(url: string, limit: number): Promise<Buffer> {
  // No abort signal for got: it would destroy a finished stream on a later abort (an uncaught error).
  const parts: Buffer[] = [];
  let total = 0;
  try {
    const stream = got.stream(url, { retry: { limit: 2 }, timeout: { request: 60_000 } });
    for await (const piece of stream as AsyncIterable<Buffer>) {
      total += piece.length;
      if (total > limit) {
        stream.destroy();
        throw new LimitedFetchError('too_large', `${url} is larger than ${limit} bytes`);
      }
      parts.push(piece);
    }
  } catch (err) {
    if (err instanceof LimitedFetchError) throw err;
    throw new LimitedFetchError('unavailable', `cannot fetch ${url}: ${(err as Error).message}`);
  }
  return Buffer.concat(parts);
}
