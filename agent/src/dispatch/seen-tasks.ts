import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { writeFileAtomic } from '../state/atomic-file.js';

/**
 * The taskIds this appliance has already taken, so a broker redelivery (QoS 1 is at-least-once)
 * or a restart never runs a task twice. An LRU with a TTL keeps it bounded; it is saved to the
 * state directory before a task is acknowledged.
 */
export class SeenTasks {
  private readonly cache: LRUCache<string, true>;
  private readonly file: string;

  constructor(opts: { stateDir: string; ttlMs: number; max: number }) {
    this.file = join(opts.stateDir, 'seen-tasks.json');
    this.cache = new LRUCache<string, true>({ max: opts.max, ttl: opts.ttlMs, ttlAutopurge: false });
    this.load();
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    try {
      // lru-cache dumps entry start times as epoch milliseconds, so ages survive a restart.
      this.cache.load(JSON.parse(readFileSync(this.file, 'utf8')) as [string, { value: true; ttl?: number; start?: number }][]);
    } catch {
      // A damaged file is not a reason to stop taking tasks; the backend's superseding rules and
      // idempotent handlers cover the rare repeat. Start empty.
    }
  }

  has(taskId: string): boolean {
    return this.cache.has(taskId);
  }

  /** Remembers a taskId and saves the cache before returning. */
  add(taskId: string): void {
    this.cache.set(taskId, true);
    writeFileAtomic(this.file, JSON.stringify(this.cache.dump()));
  }

  get size(): number {
    return this.cache.size;
  }
}
