import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

// Inline so it runs the same from src (tsx) and dist: the worker only hashes what it is sent.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buf }) => {
  const hex = createHash('sha256').update(new Uint8Array(buf)).digest('hex');
  parentPort.postMessage({ id, hex, buf }, [buf]);
});
`;

interface Job {
  resolve(hex: string): void;
  reject(err: Error): void;
}

/** Recycled buffers kept per byte length: enough for every worker, the one being filled and one spare. */
const spareBuffers = (workers: number) => workers + 2;

/**
 * SHA-256 on worker threads, so chunk verification uses every core while the main thread
 * keeps receiving. Buffers are transferred, not copied: the caller gives up the ArrayBuffer, and
 * the worker hands it back when it has hashed it. `buffer()` gives those out again, so a download
 * reuses a few chunk buffers instead of leaving dead ones to each worker's garbage collector
 * (which lets them pile up: a worker allocates almost nothing itself, so it rarely collects).
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly waiting: Array<{ buf: ArrayBuffer; job: Job }> = [];
  private readonly running = new Map<Worker, { id: number; job: Job }>();
  private nextId = 0;
  private closed = false;
  private readonly spare = new Map<number, ArrayBuffer[]>();

  constructor(readonly size = Math.max(1, Math.min(availableParallelism(), 4))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      w.on('message', (m: { id: number; hex: string; buf: ArrayBuffer }) => {
        const r = this.running.get(w);
        this.running.delete(w);
        this.recycle(m.buf);
        if (r && r.id === m.id) r.job.resolve(m.hex);
        this.release(w);
      });
      w.on('error', (err) => {
        const r = this.running.get(w);
        this.running.delete(w);
        r?.job.reject(err);
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  /** A buffer of `length` bytes for sha256(): a recycled one when there is one (its old bytes are not cleared). */
  buffer(length: number): Uint8Array {
    const b = this.spare.get(length)?.pop();
    return b ? new Uint8Array(b) : new Uint8Array(length);
  }

  private recycle(buf: ArrayBuffer): void {
    const list = this.spare.get(buf.byteLength) ?? [];
    if (list.length >= spareBuffers(this.size)) return;
    list.push(buf);
    this.spare.set(buf.byteLength, list);
  }

  private release(w: Worker): void {
    const next = this.waiting.shift();
    if (next) this.start(w, next.buf, next.job);
    else this.idle.push(w);
  }

  private start(w: Worker, buf: ArrayBuffer, job: Job): void {
    const id = this.nextId++;
    this.running.set(w, { id, job });
    w.postMessage({ id, buf }, [buf]);
  }

  /** Hashes the whole of `buf` (which must not be used afterwards). */
  sha256(buf: ArrayBuffer): Promise<string> {
    if (this.closed) return Promise.reject(new Error('hash pool is closed'));
    return new Promise((resolve, reject) => {
      const job = { resolve, reject };
      const w = this.idle.pop();
      if (w) this.start(w, buf, job);
      else this.waiting.push({ buf, job });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.spare.clear();
    for (const { job } of this.waiting.splice(0)) job.reject(new Error('hash pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
