/** Bytes, rate and ETA of a transfer; the rate is averaged over the last few seconds. */
export interface TransferProgress {
  bytes: number;
  totalBytes: number;
  percent: number;
  rateBytesPerSecond: number;
  etaSeconds: number;
}

const WINDOW_MS = 5000;

export class ProgressMeter {
  private readonly samples: Array<{ t: number; bytes: number }> = [];
  private lastEmit = 0;

  constructor(
    readonly total: number,
    start: number,
    private readonly minIntervalMs = 250,
    private readonly now: () => number = Date.now,
  ) {
    this.samples.push({ t: this.now(), bytes: start });
  }

  /** Records `bytes` done; returns a progress report at most every minIntervalMs. */
  update(bytes: number): TransferProgress | null {
    const t = this.now();
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0]!.t > WINDOW_MS) this.samples.shift();
    if (t - this.lastEmit < this.minIntervalMs) return null;
    this.lastEmit = t;
    return this.report(bytes, t);
  }

  /** The report for the end of the transfer. */
  final(bytes: number): TransferProgress {
    return this.report(bytes, this.now());
  }

  private report(bytes: number, t: number): TransferProgress {
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    const rate = dt > 0 ? Math.max(0, (bytes - first.bytes) / dt) : 0;
    return {
      bytes,
      totalBytes: this.total,
      percent: this.total > 0 ? Math.min(100, Math.round((bytes / this.total) * 1000) / 10) : 100,
      rateBytesPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.round((this.total - bytes) / rate) : 0,
    };
  }
}
