import { decodeTaskMessage, isHeartbeatPing, type ErrorCode, type TaskMessage, type TaskProgress, type TaskResult, type TaskType } from '@twinroot/protocol';
import type { Outbox } from '../outbox/outbox.js';
import type { Inbox } from './inbox.js';
import type { SeenTasks } from './seen-tasks.js';
import { QUEUE_OF, SerialQueue, type QueueName } from './queues.js';

export interface TaskContext {
  /** Reports progress; calls closer together than the reporter's interval are coalesced. */
  progress(p: TaskProgress): void;
  /** Aborted when the agent is stopping: park the work at a safe point and throw. */
  signal: AbortSignal;
}

export interface HandlerOutcome {
  detail?: Record<string, string | number | boolean | null>;
  /** A handler that finishes its own reporting (e.g. a reboot) returns 'reported'. */
  reported?: boolean;
}

export type TaskHandler<K extends TaskType = TaskType> = (task: Extract<TaskMessage, { taskType: K }>, ctx: TaskContext) => Promise<HandlerOutcome | void>;
export type Handlers = { [K in TaskType]?: TaskHandler<K> };

/** An error a handler throws to fail a task with a specific code. */
export class TaskFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export type DropReason = 'duplicate' | 'expired' | 'invalid' | 'wrong_topic' | 'stopping';

/**
 * Takes raw MQTT messages, turns them into tasks and runs each exactly once:
 * validate → drop duplicates (persisted taskId cache) → drop expired → persist (inbox, seen,
 * `accepted` in the outbox) → run in its queue → `succeeded` or `failed` in the outbox.
 * Nothing a message contains can make it throw.
 */
/**
 * Whether a task's accepted/running/succeeded results are reported. A routine heartbeat ping is
 * not stored by the backend and is answered by the heartbeat itself: three more requests per
 * heartbeat round would be the fleet's largest load for nothing. Failures are always reported.
 */
function reportsProgress(task: TaskMessage): boolean {
  return !(task.taskType === 'heartbeat' && isHeartbeatPing(task.taskId));
}

export class Dispatcher {
  private readonly queues = new Map<QueueName, SerialQueue>();
  private readonly abort = new AbortController();
  private stopping = false;
  readonly current = new Map<string, { taskType: TaskType; startedAt: string; progress?: TaskProgress }>();

  constructor(
    private readonly deps: {
      topic: string;
      seen: SeenTasks;
      inbox: Inbox;
      outbox: Outbox;
      handlers: Handlers;
      log: Logger;
      now?: () => Date;
      progressIntervalMs?: number;
      onChange?: () => void;
    },
  ) {}

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  private queue(name: QueueName): SerialQueue {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new SerialQueue()));
    return q;
  }

  private report(taskId: string, result: TaskResult): void {
    this.deps.outbox.add(taskId, result);
  }

  /** Handles one MQTT message; returns what happened (for logs and tests). Never throws. */
  handleMessage(topic: string, payload: Buffer): 'queued' | DropReason {
    const { log } = this.deps;
    try {
      if (topic !== this.deps.topic) {
        log.warn({ topic: topic.slice(0, 256) }, 'task dropped: message on a topic that is not ours');
        return 'wrong_topic';
      }
      const decoded = decodeTaskMessage(payload);
      if (!decoded.ok) {
        log.warn({ reason: decoded.reason, code: decoded.code, taskId: decoded.taskId, bytes: payload.byteLength }, 'task rejected: malformed message');
        // Report only once per taskId: a redelivered bad message is not reported again.
        if (decoded.taskId && !this.deps.seen.has(decoded.taskId)) {
          this.deps.seen.add(decoded.taskId);
          this.report(decoded.taskId, { status: 'rejected', error: { code: decoded.code, message: decoded.reason.slice(0, 1000) } });
        }
        return 'invalid';
      }
      const task = decoded.task;
      if (this.deps.seen.has(task.taskId)) {
        log.info({ taskId: task.taskId, taskType: task.taskType }, 'task dropped: duplicate taskId');
        return 'duplicate';
      }
      if (this.stopping) {
        // Not taken: after the restart the broker redelivers it (QoS 1, persistent session).
        log.info({ taskId: task.taskId }, 'task not taken: agent is stopping');
        return 'stopping';
      }
      if (task.expiresAt && Date.parse(task.expiresAt) <= this.now().getTime()) {
        this.deps.seen.add(task.taskId);
        log.warn({ taskId: task.taskId, expiresAt: task.expiresAt }, 'task rejected: expired');
        this.report(task.taskId, { status: 'rejected', error: { code: 'expired', message: `task expired at ${task.expiresAt}` } });
        return 'expired';
      }
      this.deps.inbox.put(task);
      this.deps.seen.add(task.taskId);
      if (reportsProgress(task)) this.report(task.taskId, { status: 'accepted' });
      log.info({ taskId: task.taskId, taskType: task.taskType }, 'task accepted');
      this.enqueue(task);
      return 'queued';
    } catch (err) {
      // Disk full or similar: do not crash; the task was not acknowledged as taken.
      log.error({ err: (err as Error).message }, 'task not taken: could not persist it');
      return 'invalid';
    }
  }

  /** Re-runs tasks taken before a restart but not finished. */
  resumeInbox(): number {
    const pending = this.deps.inbox.list();
    for (const { task } of pending) {
      this.deps.log.info({ taskId: task.taskId, taskType: task.taskType }, 'resuming a task taken before the restart');
      this.enqueue(task);
    }
    return pending.length;
  }

  private enqueue(task: TaskMessage): void {
    void this.queue(QUEUE_OF[task.taskType]).push(() => this.run(task));
  }

  private async run(task: TaskMessage): Promise<void> {
    const { log } = this.deps;
    if (this.abort.signal.aborted) return; // stays in the inbox, runs after the restart
    const handler = this.deps.handlers[task.taskType] as TaskHandler | undefined;
    this.current.set(task.taskId, { taskType: task.taskType, startedAt: this.now().toISOString() });
    this.deps.onChange?.();
    let lastProgressAt = 0;
    const interval = this.deps.progressIntervalMs ?? 2000;
    const ctx: TaskContext = {
      signal: this.abort.signal,
      progress: (p) => {
        const cur = this.current.get(task.taskId);
        if (cur) cur.progress = p;
        const t = Date.now();
        if (t - lastProgressAt < interval) return;
        lastProgressAt = t;
        this.report(task.taskId, { status: 'running', progress: p });
      },
    };
    try {
      if (!handler) throw new TaskFailure('unsupported_task_type', `this agent cannot run ${task.taskType} tasks (no handler configured)`);
      if (reportsProgress(task)) this.report(task.taskId, { status: 'running' });
      const out = (await handler(task as never, ctx)) ?? {};
      if (!out.reported && reportsProgress(task)) this.report(task.taskId, { status: 'succeeded', ...(out.detail ? { detail: out.detail } : {}) });
      log.info({ taskId: task.taskId, taskType: task.taskType }, 'task succeeded');
      this.deps.inbox.done(task.taskId);
    } catch (err) {
      if (this.abort.signal.aborted) {
        log.info({ taskId: task.taskId }, 'task parked: agent is stopping; it resumes after the restart');
      } else {
        const code = err instanceof TaskFailure ? err.code : 'internal_error';
        const message = (err as Error).message ?? String(err);
        log.warn({ taskId: task.taskId, taskType: task.taskType, code, err: message }, 'task failed');
        this.report(task.taskId, { status: 'failed', error: { code, message: message.slice(0, 2000) } });
        this.deps.inbox.done(task.taskId);
      }
    } finally {
      this.current.delete(task.taskId);
      this.deps.onChange?.();
    }
  }

  /** Stops taking tasks; running ones get an abort signal and up to graceMs to park or finish. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    // Long steps (downloads, installs) watch the signal and park at a safe point; short tasks just finish.
    this.abort.abort();
    const all = Promise.all([...this.queues.values()].map((q) => q.idle()));
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
  }

  get busy(): boolean {
    return [...this.queues.values()].some((q) => q.busy);
  }
}
