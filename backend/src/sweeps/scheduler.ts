import cron, { type ScheduledTask } from 'node-cron';
import type { Clock } from '../clock.js';
import type { Metrics } from '../metrics.js';
import type { Leases } from './lease.js';
import { SWEEP_NAMES, type SweepName, type SweepReport, type Sweeps } from './sweeps.js';

interface Logger {
  info(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export type SweepOutcome = { outcome: 'ran'; report: SweepReport } | { outcome: 'skipped' } | { outcome: 'error'; error: string };

/** A lease outlives any normal run; a holder that died frees its slot after this. */
const LEASE_TTL_MS = 4 * 60_000;

/** The grid slot of `periodMs` a time falls in (ISO, sortable): several instances agree on it. */
export function slotOf(nowMs: number, periodMs: number): string {
  return new Date(Math.floor(nowMs / periodMs) * periodMs).toISOString();
}

/**
 * The lease grid of a schedule (pure): the shortest gap between its next runs, so every run
 * has a slot of its own (a grid coarser than the schedule would skip runs) and instances that
 * read the same schedule agree on the slots.
 */
export function schedulePeriodMs(nextRuns: readonly Date[], fallbackMs: number): number {
  let best = Infinity;
  for (let i = 1; i < nextRuns.length; i++) best = Math.min(best, nextRuns[i]!.getTime() - nextRuns[i - 1]!.getTime());
  return Number.isFinite(best) && best > 0 ? best : fallbackMs;
}

/**
 * Runs the sweeps on a cron schedule (node-cron), each run under its lease. `tick()` runs all
 * sweeps once, in order (presence, heartbeats, tasks) — the scheduler calls it, and so can tests.
 */
export class SweepScheduler {
  private job: ScheduledTask | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly sweeps: Sweeps,
    private readonly leases: Leases,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** The lease grid until start() reads it from the schedule (tests drive tick() by hand). */
    public periodMs = 5 * 60_000,
  ) {}

  start(expression: string): void {
    this.job = cron.schedule(expression, () => {
      if (this.running) return; // the previous tick is still at work
      this.running = this.tick().finally(() => (this.running = null));
    });
    this.periodMs = schedulePeriodMs(this.job.getNextRuns(24), this.periodMs);
  }

  async stop(): Promise<void> {
    await this.job?.stop();
    this.job = null;
    await this.running;
  }

  async tick(): Promise<Record<SweepName, SweepOutcome>> {
    const out = {} as Record<SweepName, SweepOutcome>;
    for (const name of SWEEP_NAMES) out[name] = await this.runLeased(name);
    return out;
  }

  async runLeased(name: SweepName): Promise<SweepOutcome> {
    const now = this.clock.now();
    const slot = slotOf(now, this.periodMs);
    let got: boolean;
    try {
      got = await this.leases.acquire(`sweep:${name}`, slot, now, LEASE_TTL_MS);
    } catch (err) {
      this.metrics.sweepRuns.inc({ sweep: name, outcome: 'error' });
      return { outcome: 'error', error: (err as Error).message };
    }
    if (!got) {
      this.metrics.sweepRuns.inc({ sweep: name, outcome: 'skipped' });
      return { outcome: 'skipped' };
    }
    const end = this.metrics.sweepSeconds.startTimer({ sweep: name });
    try {
      const report = await this.sweeps.run(name);
      await this.leases.release(`sweep:${name}`, slot);
      this.metrics.sweepRuns.inc({ sweep: name, outcome: 'ran' });
      if (report.handled > 0) this.log.info({ ...report, slot }, 'sweep done');
      return { outcome: 'ran', report };
    } catch (err) {
      if ((err as { simulatedCrash?: boolean }).simulatedCrash) throw err;
      this.metrics.sweepRuns.inc({ sweep: name, outcome: 'error' });
      this.log.error({ sweep: name, err: (err as Error).message }, 'sweep failed');
      return { outcome: 'error', error: (err as Error).message };
    } finally {
      end();
    }
  }
}
