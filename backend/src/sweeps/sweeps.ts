import { iso } from '../clock.js';
import { decideDue } from '../domain/task-policy.js';
import { allShards } from '../store/shards.js';
import type { StoredAppliance, StoredTask } from '../store/store.js';
import { without } from '../store/versioned.js';
import type { ApplianceService } from '../services/appliances.js';
import type { ServiceContext } from '../services/context.js';
import type { TaskService } from '../services/tasks.js';
import type { RolloutService } from '../services/rollouts.js';

export const SWEEP_NAMES = ['presence', 'heartbeats', 'tasks', 'rollouts'] as const;
export type SweepName = (typeof SWEEP_NAMES)[number];

export interface SweepReport {
  sweep: SweepName;
  handled: number;
  changed: number;
}

const PAGE = 100;
/** A bound on one run, so a huge backlog is worked through over several runs instead of one endless one. */
const MAX_ITEMS_PER_RUN = 20_000;

/**
 * The periodic sweeps. Each reads only its sparse due-time index (one query per shard, plus
 * one per page of due items), so its cost follows the amount of due work, not the fleet.
 */
export class Sweeps {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly appliances: ApplianceService,
    private readonly tasks: TaskService,
    private readonly rollouts: RolloutService,
  ) {}

  async run(name: SweepName): Promise<SweepReport> {
    switch (name) {
      case 'presence':
        return this.drain(name, 'appliances', 'byPresenceDue', 'presenceShard', 'presenceDueAt', (a: StoredAppliance) => this.appliances.markDisconnectedIfSilent(a));
      case 'heartbeats':
        // A ping leaves its appliance due (the heartbeat that answers moves it): paged with a cursor.
        return this.drain(name, 'appliances', 'byHeartbeatDue', 'hbShard', 'hbDueAt', (a: StoredAppliance) => this.appliances.sendHeartbeatIfDue(a), 'cursor');
      case 'tasks':
        return this.drain(name, 'tasks', 'byDue', 'dueShard', 'dueAt', (t: StoredTask) => this.dueTask(t));
      case 'rollouts': {
        const r = await this.rollouts.sweep();
        this.ctx.metrics.sweepItems.inc({ sweep: name }, r.handled);
        return { sweep: name, ...r };
      }
    }
  }

  private async drain<T>(
    sweep: SweepName,
    table: 'tasks' | 'appliances',
    index: string,
    shardAttr: string,
    dueAttr: string,
    handle: (item: T) => Promise<boolean>,
    /** head: handled items leave the due range, so the head of the range is read again; cursor: they may stay, so the query pages on. */
    paging: 'head' | 'cursor' = 'head',
  ): Promise<SweepReport> {
    const report: SweepReport = { sweep, handled: 0, changed: 0 };
    const nowIso = iso(this.ctx.clock.now());
    const prefix = { presenceShard: 'presence#', hbShard: 'hb#', dueShard: 'task#' }[shardAttr] ?? '';
    for (const shard of allShards(prefix)) {
      // Items handled leave the "due by now" range (their due time moves on or is removed), so
      // re-querying the head of the range pages through the work. `seen` stops an item that
      // could not be moved (a conflict) from being handled twice in one run.
      const seen = new Set<string>();
      let start: Record<string, unknown> | undefined;
      for (;;) {
        const page = await this.ctx.store.duePage<T>(table, index, shardAttr, dueAttr, shard, nowIso, PAGE, paging === 'cursor' ? start : undefined);
        const items = page.items;
        start = page.next;
        const fresh = items.filter((i) => !seen.has(key(i)));
        for (const item of fresh) {
          seen.add(key(item));
          report.handled += 1;
          try {
            if (await handle(item)) report.changed += 1;
          } catch (err) {
            if ((err as { simulatedCrash?: boolean }).simulatedCrash) throw err;
            this.ctx.log.error({ sweep, item: key(item), err: (err as Error).message }, 'sweep: item failed; it stays due');
          }
        }
        if (report.handled >= MAX_ITEMS_PER_RUN) break;
        if (paging === 'cursor' ? !start : items.length < PAGE || fresh.length === 0) break;
      }
    }
    this.ctx.metrics.sweepItems.inc({ sweep }, report.handled);
    return report;
  }

  /** One due task: publish, re-send, time out, supersede, or just move its due time. */
  private async dueTask(task: StoredTask): Promise<boolean> {
    const now = this.ctx.clock.now();
    const waiting = task.status === 'pending' || task.status === 'sent';
    const newer = waiting || task.taskType === 'heartbeat' ? await this.ctx.store.tasksOfType(task.ownerId, task.taskType, 'after', task.createdAt, ['succeeded']) : [];
    const d = decideDue(task, now, newer.length > 0);
    switch (d.action) {
      case 'publish':
        return this.tasks.republish(task);
      case 'resend':
        return this.tasks.resend(task);
      case 'wait':
        return !!(await this.ctx.store.tasks.replace(task, { ...task, dueAt: iso(d.until) }));
      case 'unindex':
        return !!(await this.ctx.store.tasks.replace(task, without(task, 'dueShard', 'dueAt')));
      case 'finish': {
        const done = await this.tasks.finish(task, d.status, d.error);
        if (done && task.taskType === 'upgrade') await this.appliances.upgradeEnded(task.ownerId, task.taskId);
        return !!done;
      }
    }
  }
}

function key(item: unknown): string {
  const o = item as { taskId?: string; applianceId?: string };
  return o.taskId ?? o.applianceId ?? JSON.stringify(item);
}
