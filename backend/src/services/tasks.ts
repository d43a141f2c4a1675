import { randomUUID } from 'node:crypto';
import { resultInProtocol2 } from '../domain/wire-compat.js';
import { HEARTBEAT_PING_PREFIX, taskTopic, type ErrorCode, type TaskResult, type TaskStatus, type TaskType } from '@twinroot/protocol';
import { iso } from '../clock.js';
import { DISPATCH_GRACE_S, nextDueAt, TASK_POLICIES } from '../domain/task-policy.js';
import { applyResult, type ResultOutcome } from '../domain/task-result.js';
import { isTerminal, type TaskRecord } from '../domain/task-record.js';
import { shardOf } from '../store/shards.js';
import type { StoredTask } from '../store/store.js';
import { without } from '../store/versioned.js';
import type { ServiceContext } from './context.js';

const HEARTBEAT_TASK_TTL_S = 7 * 86400;

/** Sets or clears a task's place in the due index to match its state. */
export function withDue(task: StoredTask, now: number): StoredTask {
  const due = nextDueAt(task, now);
  if (due === null) return without(task, 'dueShard', 'dueAt');
  return { ...task, dueShard: shardOf(task.taskId, 'task#'), dueAt: iso(due) };
}

function event(task: StoredTask, at: string, status: string, note?: string): StoredTask['events'] {
  return [...task.events, note ? { at, status, note: note.slice(0, 512) } : { at, status }];
}

/**
 * Task lifecycle: create + publish (pending → sent), re-send, results from the appliance,
 * and final states. Every change is a conditional write on the task's rev; a publish is
 * claimed in the store first, so two backends never both send the same attempt.
 */
export class TaskService {
  constructor(private readonly ctx: ServiceContext) {}

  async create(req: { applianceId: string; taskType: TaskType; body: Record<string, unknown>; createdBy: string; expiresInS?: number; taskId?: string; note?: string }): Promise<StoredTask> {
    const now = this.ctx.clock.now();
    const at = iso(now);
    const policy = TASK_POLICIES[req.taskType];
    const expiresInS = req.expiresInS ?? policy.expiresInS;
    const taskId = req.taskId ?? randomUUID();
    let task: StoredTask = {
      taskId,
      taskType: req.taskType,
      ownerId: req.applianceId,
      ...(req.taskType === 'heartbeat' ? { ttl: Math.floor(now / 1000) + HEARTBEAT_TASK_TTL_S } : { applianceId: req.applianceId }),
      applianceType: `${req.applianceId}#${req.taskType}`,
      body: req.body,
      status: 'pending',
      rev: 0,
      createdAt: at,
      updatedAt: at,
      ...(expiresInS ? { expiresAt: iso(now + expiresInS * 1000) } : {}),
      attempts: 1,
      lastSentAt: at,
      createdBy: req.createdBy,
      events: [{ at, status: 'pending', ...(req.note ? { note: req.note } : {}) }],
    };
    task = withDue(task, now);
    if (!(await this.ctx.store.tasks.create(task))) throw new Error(`task id collision: ${taskId}`);
    this.ctx.metrics.taskTransitions.inc({ taskType: req.taskType, status: 'pending' });
    return (await this.sendClaimed(task, 'first')) ?? task;
  }

  /**
   * A routine heartbeat ping: published, not stored. The appliance answers with a heartbeat
   * (which records it seen); an unanswered ping is simply sent again by the next sweep.
   */
  async ping(applianceId: string): Promise<string> {
    const now = this.ctx.clock.now();
    const taskId = `${HEARTBEAT_PING_PREFIX}${randomUUID()}`;
    const expiresInS = TASK_POLICIES.heartbeat.expiresInS;
    const message = { taskId, taskType: 'heartbeat', createdAt: iso(now), ...(expiresInS ? { expiresAt: iso(now + expiresInS * 1000) } : {}), body: {} };
    await this.ctx.broker.publish(taskTopic(applianceId), Buffer.from(JSON.stringify(message)));
    this.ctx.metrics.taskPublishes.inc({ taskType: 'heartbeat', kind: 'ping' });
    return taskId;
  }

  /** Publishes a task whose send is claimed (pending, or sent with dispatchPending) and records it as sent. */
  async sendClaimed(task: StoredTask, kind: 'first' | 'resend' | 'republish'): Promise<StoredTask | null> {
    const message = {
      taskId: task.taskId,
      taskType: task.taskType,
      createdAt: task.createdAt,
      ...(task.expiresAt ? { expiresAt: task.expiresAt } : {}),
      body: task.body,
    };
    try {
      this.ctx.faults?.beforePublish?.(task.taskId);
      await this.ctx.broker.publish(taskTopic(task.ownerId), Buffer.from(JSON.stringify(message)));
    } catch (err) {
      // Stays claimed: the due sweep publishes it again after the grace period.
      this.ctx.log.warn({ taskId: task.taskId, err: (err as Error).message }, 'task: publish failed; the sweep will retry');
      if ((err as { simulatedCrash?: boolean }).simulatedCrash) throw err;
      return null;
    }
    this.ctx.metrics.taskPublishes.inc({ taskType: task.taskType, kind });
    const now = this.ctx.clock.now();
    const at = iso(now);
    const r = await this.ctx.store.tasks.mutate(
      task.taskId,
      (cur) => {
        if (cur.status !== 'pending' && !(cur.status === 'sent' && cur.dispatchPending)) return null; // the appliance answered already
        const next: StoredTask = {
          ...without(cur, 'dispatchPending'),
          status: 'sent',
          updatedAt: at,
          events: cur.status === 'sent' ? cur.events : event(cur, at, 'sent'),
        };
        return withDue(next, now);
      },
      task,
    );
    if (r?.changed && r.before.status === 'pending') this.ctx.metrics.taskTransitions.inc({ taskType: task.taskType, status: 'sent' });
    return r?.after ?? null;
  }

  /** Claims a re-send of an unacknowledged task (attempt + 1) and publishes it. False if someone else did. */
  async resend(task: StoredTask): Promise<boolean> {
    const now = this.ctx.clock.now();
    const at = iso(now);
    const claimed = await this.ctx.store.tasks.replace(task, {
      ...task,
      attempts: task.attempts + 1,
      lastSentAt: at,
      dispatchPending: true,
      updatedAt: at,
      events: event(task, at, 'resent', `attempt ${task.attempts + 1}`),
      dueShard: shardOf(task.taskId, 'task#'),
      dueAt: iso(now + DISPATCH_GRACE_S * 1000),
    });
    if (!claimed) return false;
    await this.sendClaimed(claimed, 'resend');
    return true;
  }

  /** Re-publishes a claimed send that was never confirmed (a crash or a broker error). False if the claim moved on. */
  async republish(task: StoredTask): Promise<boolean> {
    const now = this.ctx.clock.now();
    // Re-claim (same attempt) so that two sweeps never both publish it.
    const claimed = await this.ctx.store.tasks.replace(task, { ...task, dueAt: iso(now + DISPATCH_GRACE_S * 1000), updatedAt: iso(now) });
    if (!claimed) return false;
    await this.sendClaimed(claimed, task.status === 'pending' ? 'first' : 'republish');
    return true;
  }

  /** Moves a task to a final status (conditional), then supersedes older ones on success. */
  async finish(task: StoredTask, status: TaskStatus, error?: { code: ErrorCode; message: string }, extra: Partial<StoredTask> = {}, note?: string): Promise<StoredTask | null> {
    const now = this.ctx.clock.now();
    const at = iso(now);
    const r = await this.ctx.store.tasks.mutate(
      task.taskId,
      (cur) => {
        if (isTerminal(cur.status)) return null;
        const next: StoredTask = {
          ...without(cur, 'dispatchPending', 'verifying'),
          ...extra,
          status,
          updatedAt: at,
          ...(error ? { error } : {}),
          events: event(cur, at, status, error?.message ?? note),
        };
        return withDue(next, now);
      },
      task,
    );
    if (!r?.changed) return null;
    this.ctx.metrics.taskTransitions.inc({ taskType: task.taskType, status });
    if (status === 'succeeded') await this.supersedeOlder(r.after);
    return r.after;
  }

  /** Older unfinished tasks of the same appliance and type are moot once a newer one succeeded. */
  async supersedeOlder(task: StoredTask): Promise<number> {
    if (task.taskType === 'heartbeat') return 0; // unanswered heartbeats time out in the sweep; no query per heartbeat
    const older = await this.ctx.store.tasksOfType(task.ownerId, task.taskType, 'before', task.createdAt, ['pending', 'sent', 'accepted', 'running']);
    let n = 0;
    for (const t of older) {
      if (await this.finish(t, 'superseded', { code: 'superseded', message: `task ${task.taskId} of the same type succeeded` })) n += 1;
    }
    return n;
  }

  /** Applies an appliance's result to its own task. Idempotent. */
  async applyResult(task: StoredTask, received: TaskResult): Promise<{ outcome: ResultOutcome; task: StoredTask }> {
    const result = resultInProtocol2(received);
    let outcome: ResultOutcome = { kind: 'ignore', reason: 'no change' };
    const now = this.ctx.clock.now();
    const at = iso(now);
    const r = await this.ctx.store.tasks.mutate(
      task.taskId,
      (cur) => {
        outcome = applyResult(cur, result);
        if (outcome.kind === 'ignore') return null;
        let next: StoredTask = {
          ...without(cur, 'dispatchPending'),
          status: outcome.status,
          updatedAt: at,
          lastActivityAt: at,
          ...(result.seq !== undefined ? { resultSeq: result.seq } : {}),
          ...(result.progress ? { progress: result.progress } : {}),
          ...(result.detail ? { detail: result.detail } : {}),
          ...('error' in result ? { error: result.error } : {}),
          events: outcome.changed ? event(cur, at, outcome.verifying ? 'verifying' : outcome.status, outcome.note) : cur.events,
        };
        if (outcome.verifying) next = { ...next, verifying: true, verifyingSince: at };
        return withDue(next, now);
      },
      task,
    );
    const after = r?.after ?? task;
    const o = outcome as ResultOutcome;
    if (r?.changed && o.kind === 'apply' && o.changed) {
      this.ctx.metrics.taskTransitions.inc({ taskType: task.taskType, status: o.verifying ? 'verifying' : o.status });
      if (o.status === 'succeeded') await this.supersedeOlder(after);
    }
    return { outcome: o, task: after };
  }
}

export type { TaskRecord };
