import { EventEmitter } from 'node:events';
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { chunkLength, type Manifest } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import type { HashPool } from './hash-pool.js';
import { SourceError, type PayloadSource } from './payload-source.js';
import { ProgressMeter, type TransferProgress } from './progress-meter.js';

export const PAYLOAD_FILE = 'payload';
const PROGRESS_FILE = 'download.json';
/** The verified prefix is recorded (data fdatasynced first) at least this often during a request. */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024;

/** A download that must not be retried: the data itself is wrong. */
export class PayloadError extends Error {
  constructor(readonly code: 'payload_too_large' | 'payload_corrupt' | 'payload_unavailable' | 'download_failed', message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

interface SavedProgress {
  sha256: string;
  chunkSize: number;
  verifiedChunks: number;
  validator: string | null;
}

export interface DownloadStats {
  /** Bytes received over all requests (a resume or re-fetch makes it exceed the payload size). */
  receivedBytes: number;
  /** Received bytes thrown away: a partial chunk at a cut, or a chunk that failed its hash. */
  discardedBytes: number;
  requests: number;
  resumedFromBytes: number;
  badChunks: number;
  /** Bytes past the recorded prefix found on disk at start and kept because their chunks hash right (after a kill or a crash). */
  salvagedBytes: number;
}

export interface DownloadOptions {
  manifest: Manifest;
  source: PayloadSource;
  dir: string;
  pool: HashPool;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
  /** Retries without progress before giving up (each with backoff). */
  maxAttempts?: number;
  backoffMs?: (attempt: number) => number;
  /** How many times one chunk may fail its hash before the payload is declared corrupt. */
  maxChunkFailures?: number;
  /** Name of the payload file in `dir` (default `payload`). */
  fileName?: string;
}

const defaultBackoff = (attempt: number) => Math.min(30_000, 500 * 2 ** attempt);

/**
 * Downloads a payload into `dir`, verifying each chunk against the signed manifest as it
 * arrives (hashes on worker threads). Only verified chunks count: `download.json` records the
 * verified prefix (after an fdatasync of the data) every CHECKPOINT_BYTES and at the end of each
 * request, and a start after a kill or crash re-hashes what the file holds past the record, so
 * a resume starts at the first chunk not on disk — at most one partial chunk is fetched again. A chunk
 * failing its hash is fetched again; more bytes than the manifest says end the download.
 *
 * `events` emits 'verified' (bytes) whenever the verified prefix grows: an installer can
 * stream it while the rest is still arriving.
 */
export class PayloadDownload {
  readonly events = new EventEmitter();
  readonly file: string;
  private verifiedChunks = 0;
  private validator: string | null = null;
  private readonly done = new Set<number>();
  private readonly failures = new Map<number, number>();
  readonly stats: DownloadStats = { receivedBytes: 0, discardedBytes: 0, requests: 0, resumedFromBytes: 0, badChunks: 0, salvagedBytes: 0 };
  private savedBytes = 0;

  constructor(private readonly o: DownloadOptions) {
    this.file = join(o.dir, o.fileName ?? PAYLOAD_FILE);
    const saved = this.loadProgress();
    if (saved) {
      this.verifiedChunks = saved.verifiedChunks;
      this.validator = saved.validator;
    }
  }

  private get p() {
    return this.o.manifest.payload;
  }

  get verifiedBytes(): number {
    return Math.min(this.verifiedChunks * this.p.chunkSize, this.p.size);
  }

  get complete(): boolean {
    return this.verifiedChunks === this.p.chunks.length;
  }

  private loadProgress(): SavedProgress | null {
    const f = join(this.o.dir, PROGRESS_FILE);
    if (!existsSync(f) || !existsSync(this.file)) return null;
    try {
      const s = JSON.parse(readFileSync(f, 'utf8')) as SavedProgress;
      // Progress of another payload (or a damaged record) is worth nothing: start over.
      if (s.sha256 !== this.p.sha256 || s.chunkSize !== this.p.chunkSize) return null;
      if (!Number.isInteger(s.verifiedChunks) || s.verifiedChunks < 0 || s.verifiedChunks > this.p.chunks.length) return null;
      return s;
    } catch {
      return null;
    }
  }

  private saveProgress(fd: number): void {
    fdatasyncSync(fd); // the data the record vouches for is on disk first
    const s: SavedProgress = { sha256: this.p.sha256, chunkSize: this.p.chunkSize, verifiedChunks: this.verifiedChunks, validator: this.validator };
    writeFileAtomic(join(this.o.dir, PROGRESS_FILE), JSON.stringify(s));
    this.savedBytes = this.verifiedBytes;
  }

  /**
   * A kill, crash or power cut between two records leaves chunks on disk past the recorded
   * prefix. Each one that hashes right against the signed manifest is as good as downloaded (the
   * manifest, not the record, is the proof), so it is kept instead of fetched again; the first
   * chunk that is short or wrong ends the search. Hashed `pool.size` chunks at a time.
   */
  private async salvage(fd: number): Promise<void> {
    const size = fstatSync(fd).size;
    const from = this.verifiedBytes;
    const fits = (i: number) => i < this.p.chunks.length && i * this.p.chunkSize + chunkLength(this.p, i) <= size;
    while (fits(this.verifiedChunks)) {
      const batch: number[] = [];
      for (let i = this.verifiedChunks; batch.length < this.o.pool.size && fits(i); i++) batch.push(i);
      const hashes = await Promise.all(
        batch.map((i) => {
          const buf = this.o.pool.buffer(chunkLength(this.p, i));
          readSync(fd, buf, 0, buf.length, i * this.p.chunkSize);
          return this.o.pool.sha256(buf.buffer as ArrayBuffer);
        }),
      );
      const firstBad = hashes.findIndex((h, k) => h !== this.p.chunks[batch[k]!]);
      this.verifiedChunks += firstBad < 0 ? batch.length : firstBad;
      if (firstBad >= 0) break;
    }
    if (this.verifiedBytes > from) {
      this.stats.salvagedBytes = this.verifiedBytes - from;
      this.saveProgress(fd);
      this.events.emit('verified', this.verifiedBytes);
    }
  }

  async run(): Promise<DownloadStats> {
    const { signal } = this.o;
    const fd = openSync(this.file, existsSync(this.file) ? 'r+' : 'w+', 0o600);
    try {
      await this.salvage(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const meter = new ProgressMeter(this.p.size, this.verifiedBytes);
    this.stats.resumedFromBytes = this.verifiedBytes;
    let attempt = 0;
    try {
      while (!this.complete) {
        signal?.throwIfAborted();
        // Anything past the verified prefix is unverified: drop it, fetch it again.
        if (fstatSync(fd).size > this.verifiedBytes) ftruncateSync(fd, this.verifiedBytes);
        const before = this.verifiedChunks;
        try {
          await this.fetchFrom(fd, meter);
        } catch (err) {
          if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('download aborted');
          if (err instanceof PayloadError) throw err;
          const retryable = !(err instanceof SourceError) || err.retryable;
          if (!retryable) throw new PayloadError('payload_unavailable', err.message);
          attempt = this.verifiedChunks > before ? 0 : attempt + 1;
          if (attempt >= (this.o.maxAttempts ?? 8)) throw new PayloadError('download_failed', `giving up after ${attempt} attempts without progress: ${(err as Error).message}`);
          await sleep((this.o.backoffMs ?? defaultBackoff)(attempt), signal);
        } finally {
          this.saveProgress(fd);
        }
      }
      if (fstatSync(fd).size !== this.p.size) throw new PayloadError('payload_corrupt', `downloaded ${fstatSync(fd).size} bytes; the manifest says ${this.p.size}`);
      this.o.onProgress?.(meter.final(this.p.size));
      return this.stats;
    } finally {
      closeSync(fd);
    }
  }

  /** One request from the end of the verified prefix; returns when it ends or throws. */
  private async fetchFrom(fd: number, meter: ProgressMeter): Promise<void> {
    const { manifest, pool, signal } = this.o;
    const offset = this.verifiedBytes;
    // Chunks verified beyond a gap in the last attempt were truncated away: they come again.
    this.done.clear();
    this.stats.requests += 1;
    const range = await this.o.source.open(offset, this.validator, signal);
    // Errors surface through the iterator below; a late one (after an abort) must not crash the agent.
    range.stream.on('error', () => undefined);
    if (range.validator) this.validator = range.validator;
    if (range.length !== null && range.start + range.length > this.p.size) {
      range.stream.destroy();
      throw new PayloadError('payload_too_large', `the server offers ${range.start + range.length} bytes; the signed manifest says ${this.p.size}`);
    }
    if (range.length !== null && range.start + range.length < this.p.size) {
      range.stream.destroy();
      throw new PayloadError('payload_corrupt', `the server has ${range.start + range.length} bytes; the signed manifest says ${this.p.size} (truncated payload)`);
    }
    let skip = offset - range.start; // a 200 answer starts at 0: skip what we already have
    let chunk = this.verifiedChunks;
    let buf = pool.buffer(chunkLength(this.p, chunk));
    let fill = 0;
    const inFlight = new Set<Promise<void>>();
    let failure: Error | null = null;
    const submit = (index: number, data: Uint8Array) => {
      writeSync(fd, data, 0, data.length, index * this.p.chunkSize);
      const job = pool.sha256(data.buffer as ArrayBuffer).then((hex) => {
        if (hex !== manifest.payload.chunks[index]) {
          this.stats.badChunks += 1;
          this.stats.discardedBytes += data.byteLength;
          const n = (this.failures.get(index) ?? 0) + 1;
          this.failures.set(index, n);
          if (n >= (this.o.maxChunkFailures ?? 3)) throw new PayloadError('payload_corrupt', `chunk ${index} failed its hash ${n} times: the payload does not match the signed manifest`);
          throw new SourceError('chunk_mismatch', `chunk ${index} failed its hash; fetching it again`, true);
        }
        this.done.add(index);
        let advanced = false;
        while (this.done.has(this.verifiedChunks)) {
          this.done.delete(this.verifiedChunks);
          this.verifiedChunks += 1;
          advanced = true;
        }
        if (advanced) {
          // Recorded now and then during the request, not only at its end: a kill loses little.
          if (this.verifiedBytes - this.savedBytes >= CHECKPOINT_BYTES) this.saveProgress(fd);
          this.events.emit('verified', this.verifiedBytes);
          const p = meter.update(this.verifiedBytes);
          if (p) this.o.onProgress?.(p);
        }
      });
      const tracked: Promise<void> = job.catch((err: Error) => {
        failure ??= err;
        range.stream.destroy();
      }).finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };
    let pos = range.start;
    try {
      for await (const piece of range.stream as AsyncIterable<Buffer>) {
        this.stats.receivedBytes += piece.length;
        let data = piece;
        if (skip > 0) {
          const s = Math.min(skip, data.length);
          skip -= s;
          pos += s;
          data = data.subarray(s);
        }
        if (pos + data.length > this.p.size) throw new PayloadError('payload_too_large', `the server sent more than the ${this.p.size} bytes the signed manifest says`);
        pos += data.length;
        let off = 0;
        while (off < data.length) {
          const take = Math.min(buf.length - fill, data.length - off);
          buf.set(data.subarray(off, off + take), fill);
          fill += take;
          off += take;
          if (fill === buf.length) {
            submit(chunk, buf);
            chunk += 1;
            fill = 0;
            buf = chunk < this.p.chunks.length ? pool.buffer(chunkLength(this.p, chunk)) : new Uint8Array(0);
          }
        }
        // Bounded memory: never more chunks waiting for a hash than there are workers, plus one.
        while (inFlight.size > pool.size) await Promise.race(inFlight);
        if (failure) break;
      }
    } catch (err) {
      failure ??= err as Error;
    }
    await Promise.allSettled([...inFlight]);
    this.stats.discardedBytes += fill;
    if (failure) throw failure;
    if (!this.complete) throw new SourceError('truncated', `the connection ended at byte ${pos} of ${this.p.size}`, true);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    }, { once: true });
  });
}
