import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, fstatSync, openSync, read, readFileSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { chunkLength, type Manifest } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { SourceError, type PayloadSource } from './payload-source.js';
import { ProgressMeter, type TransferProgress } from './progress-meter.js';

export const PAYLOAD_FILE = 'payload';
const PROGRESS_FILE = 'download.json';
/** The verified prefix is recorded (data fdatasynced first) at least this often during a request. */
export const CHECKPOINT_BYTES = 64 * 1024 * 1024;
const SALVAGE_READ_BYTES = 1024 * 1024;
const WRITE_BATCH_BYTES = 1024 * 1024;

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
 * arrives (hashed piece by piece as the bytes come: memory does not grow with the chunk size). Only verified chunks count: `download.json` records the
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
   * chunk that is short or wrong ends the search. Read in 1 MiB pieces, without blocking the
   * event loop for long (the daemon keeps answering heartbeats).
   */
  private async salvage(fd: number): Promise<void> {
    const size = fstatSync(fd).size;
    const from = this.verifiedBytes;
    const piece = Buffer.allocUnsafe(SALVAGE_READ_BYTES);
    while (this.verifiedChunks < this.p.chunks.length) {
      const i = this.verifiedChunks;
      const start = i * this.p.chunkSize;
      const length = chunkLength(this.p, i);
      if (start + length > size) break;
      const hash = createHash('sha256');
      for (let off = 0; off < length; ) {
        const n = Math.min(piece.length, length - off);
        const { bytesRead } = await readAt(fd, piece, n, start + off);
        if (bytesRead !== n) throw new Error(`${this.file}: short read at ${start + off}`);
        hash.update(piece.subarray(0, n));
        off += n;
      }
      if (hash.digest('hex') !== this.p.chunks[i]) break;
      this.verifiedChunks += 1;
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

  /**
   * One request from the end of the verified prefix; returns when it ends or throws. Each piece
   * is written where it belongs and added to its chunk's SHA-256 as it arrives (on this thread:
   * with SHA-NI that is ~0.7 s of one core per GiB), so no chunk is ever held in memory; a chunk
   * counts once its digest matches the signed list.
   */
  private async fetchFrom(fd: number, meter: ProgressMeter): Promise<void> {
    const { manifest, signal } = this.o;
    const offset = this.verifiedBytes;
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
    let want = chunkLength(this.p, chunk);
    let hash = createHash('sha256');
    let fill = 0;
    let pos = range.start;
    // Pieces are written in batches of about WRITE_BATCH_BYTES (one writev instead of one write per
    // 64 KiB piece), always before a chunk counts as verified: the overlapped install reads the file.
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    let pendingAt = pos;
    const flush = () => {
      if (pendingBytes > 0) writeAll(fd, pending, pendingAt);
      pendingAt += pendingBytes;
      pending.length = 0;
      pendingBytes = 0;
    };
    const chunkDone = () => {
      flush();
      const index = chunk;
      if (hash.digest('hex') !== manifest.payload.chunks[index]) {
        this.stats.badChunks += 1;
        this.stats.discardedBytes += want;
        fill = 0;
        const n = (this.failures.get(index) ?? 0) + 1;
        this.failures.set(index, n);
        if (n >= (this.o.maxChunkFailures ?? 3)) throw new PayloadError('payload_corrupt', `chunk ${index} failed its hash ${n} times: the payload does not match the signed manifest`);
        throw new SourceError('chunk_mismatch', `chunk ${index} failed its hash; fetching it again`, true);
      }
      this.verifiedChunks += 1;
      chunk += 1;
      fill = 0;
      want = chunk < this.p.chunks.length ? chunkLength(this.p, chunk) : 0;
      hash = createHash('sha256');
      // Recorded now and then during the request, not only at its end: a kill loses little.
      if (this.verifiedBytes - this.savedBytes >= CHECKPOINT_BYTES) this.saveProgress(fd);
      this.events.emit('verified', this.verifiedBytes);
      const p = meter.update(this.verifiedBytes);
      if (p) this.o.onProgress?.(p);
    };
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
        if (pendingBytes === 0) pendingAt = pos;
        if (data.length > 0) pending.push(data);
        pendingBytes += data.length;
        pos += data.length;
        let off = 0;
        while (off < data.length) {
          const take = Math.min(want - fill, data.length - off);
          hash.update(data.subarray(off, off + take));
          fill += take;
          off += take;
          if (fill === want) chunkDone();
        }
        if (pendingBytes >= WRITE_BATCH_BYTES) flush();
      }
    } finally {
      flush();
      this.stats.discardedBytes += fill;
      range.stream.destroy();
    }
    if (!this.complete) throw new SourceError('truncated', `the connection ended at byte ${pos} of ${this.p.size}`, true);
  }
}

/** All of `pieces`, in order, from `position` (a write may take less than it is given). */
function writeAll(fd: number, pieces: Buffer[], position: number): void {
  let rest = pieces;
  while (rest.length > 0) {
    let n = writevSync(fd, rest, position);
    position += n;
    const left: Buffer[] = [];
    for (const p of rest) {
      if (n >= p.length) n -= p.length;
      else {
        left.push(n > 0 ? p.subarray(n) : p);
        n = 0;
      }
    }
    rest = left;
  }
}

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<{ bytesRead: number }> {
  return new Promise((resolve, reject) => read(fd, buf, 0, length, position, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead }))));
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
