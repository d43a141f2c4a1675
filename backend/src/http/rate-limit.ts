/**
 * Token buckets by key (a register token, a source address): `perMinute` requests a minute with
 * bursts of the same size. Pure state + a clock; kept per backend instance (several instances
 * behind a balancer each allow the rate — size it per instance). Old buckets are dropped.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one request for `key` at `nowMs`: 0 when allowed, else the seconds until one would be. */
  take(key: string, nowMs: number): number {
    const rate = this.perMinute / 60_000;
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: nowMs };
    b.tokens = Math.min(this.perMinute, b.tokens + Math.max(0, nowMs - b.at) * rate);
    b.at = nowMs;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      return Math.ceil((1 - b.tokens) / rate / 1000);
    }
    b.tokens -= 1;
    this.buckets.delete(key);
    this.buckets.set(key, b);
    // Map order is insertion order: the first keys are the least recently used.
    while (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return 0;
  }
}
