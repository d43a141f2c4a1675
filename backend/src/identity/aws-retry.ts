/** What AWS IoT Core answers when a call may be tried again unchanged. */
const THROTTLED = new Set(['ThrottlingException', 'TooManyRequestsException', 'ServiceUnavailableException', 'ServiceUnavailable', 'InternalFailureException', 'InternalServerException']);
/** No answer at all: the call may or may not have happened. */
const NO_ANSWER = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'NetworkingError']);

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  sleep?: (ms: number) => Promise<void>;
}

function errorName(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return e?.name ?? e?.code ?? '';
}

/**
 * Pure: may a failed AWS call be sent again? Throttling and server errors: always (the call was
 * refused, nothing happened). No answer (a timeout, a cut connection): only when the call is
 * idempotent — sending CreateCertificateFromCsr twice would make two certificates.
 */
export function mayRetry(err: unknown, idempotent: boolean): boolean {
  const name = errorName(err);
  if (THROTTLED.has(name)) return true;
  return idempotent && NO_ANSWER.has(name);
}

/** Runs an AWS call, retrying as mayRetry allows with exponential backoff and full jitter. */
export async function withAwsRetry<T>(call: () => Promise<T>, opts: { idempotent: boolean; policy: RetryPolicy }): Promise<T> {
  const sleep = opts.policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= opts.policy.attempts || !mayRetry(err, opts.idempotent)) throw err;
      await sleep(Math.random() * opts.policy.baseMs * 2 ** (attempt - 1));
    }
  }
}

export const isAwsError = (err: unknown, name: string): boolean => errorName(err) === name;
