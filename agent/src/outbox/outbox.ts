import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL_VERSION, type TaskResult } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { nextDelayMs } from './backoff.js';

export interface OutboxEntry {
  seq: number;
  taskId: string;
  result: TaskResult;
}

export type Deliver = (entry: OutboxEntry) => Promise<'delivered' | 'drop'>;

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

/**
 * Every status change of a task, persisted before it is sent. One file per entry in
 * <stateDir>/outbox, named by a zero-padded sequence number, removed once the backend has it.
 * Entries are delivered in order, with exponential backoff while the backend is unreachable; a
 * restart picks up where it stopped. The backend is idempotent, so a repeat after a crash
 * between POST and unlink is harmless.
 */
/** The highest sequence number handed out (entries are deleted once delivered); next to the outbox, not in it. */
const HIGH_WATER_FILE = 'outbox.seq';

export class Outbox {
  private readonly dir: string;
  private readonly highWater: string;
  private seq = 0;
  private wake: (() => void) | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private attempt = 0;
  /** While backing off after a failure, new entries wait for the backoff instead of cutting it short. */
  private backingOff = false;

  constructor(
    stateDir: string,
    private readonly deliver: Deliver,
    private readonly log: Logger,
    private readonly backoff = { baseMs: 1000, maxMs: 5 * 60_000 },
  ) {
    this.dir = join(stateDir, 'outbox');
    this.highWater = join(stateDir, HIGH_WATER_FILE);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Sequence numbers must keep rising across restarts: the backend ignores a result whose seq
    // is not above the last it applied, so a counter that restarted at 1 after a reboot (empty
    // outbox) would have the post-reboot result of an upgrade dropped as stale.
    const last = this.files().at(-1);
    this.seq = Math.max(last ? Number(last.slice(0, 12)) : 0, this.readHighWater());
  }

  private readHighWater(): number {
    try {
      const n = Number(readFileSync(this.highWater, 'utf8').trim());
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  private files(): string[] {
    return readdirSync(this.dir)
      .filter((f) => /^[0-9]{12}\.json$/.test(f))
      .sort();
  }

  /** Persists a result; resolves once it is on disk (not once it is delivered). */
  add(taskId: string, result: TaskResult): OutboxEntry {
    this.seq += 1;
    const entry: OutboxEntry = { seq: this.seq, taskId, result: { ...result, seq: this.seq, at: result.at ?? new Date().toISOString(), protocolVersion: PROTOCOL_VERSION } };
    writeFileAtomic(join(this.dir, `${String(this.seq).padStart(12, '0')}.json`), JSON.stringify(entry));
    writeFileAtomic(this.highWater, `${this.seq}\n`);
    if (!this.backingOff) this.wake?.();
    return entry;
  }

  pending(): OutboxEntry[] {
    return this.files().flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as OutboxEntry];
      } catch {
        this.log.warn({ file: f }, 'outbox: dropping an unreadable entry');
        unlinkSync(join(this.dir, f));
        return [];
      }
    });
  }

  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.loop = null;
  }

  /** Resolves when nothing is left to send (for tests and a graceful stop). */
  async drained(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.files().length > 0) {
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const [next] = this.pending();
      if (!next) {
        await this.sleep(60_000);
        continue;
      }
      let outcome: 'delivered' | 'drop' | 'retry';
      try {
        outcome = await this.deliver(next);
      } catch (err) {
        outcome = 'retry';
        const delay = nextDelayMs(this.attempt, this.backoff.baseMs, this.backoff.maxMs);
        this.attempt += 1;
        this.log.warn({ taskId: next.taskId, status: next.result.status, err: (err as Error).message, retryInMs: delay }, 'outbox: delivery failed, will retry');
        this.backingOff = true;
        await this.sleep(delay);
        this.backingOff = false;
      }
      if (outcome !== 'retry') {
        this.attempt = 0;
        if (outcome === 'drop') this.log.warn({ taskId: next.taskId, status: next.result.status }, 'outbox: backend refused the result for good; dropped');
        try {
          unlinkSync(join(this.dir, `${String(next.seq).padStart(12, '0')}.json`));
        } catch {
          // already gone
        }
      }
    }
  }
}
