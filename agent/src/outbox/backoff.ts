/**
 * Exponential backoff with full jitter: attempt 0 waits up to base, each further attempt doubles
 * the ceiling, capped at max. Jitter spreads a fleet's retries after a backend outage.
 */
export function nextDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(Math.round(baseMs / 10), Math.round(random() * ceiling));
}
