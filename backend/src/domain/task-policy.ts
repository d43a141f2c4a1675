import type { ErrorCode, TaskType } from '@twinroot/protocol';
import { isTerminal, type TaskRecord } from './task-record.js';

/**
 * How long the backend waits on each kind of task, and how often it re-sends one that was
 * never acknowledged. Retries only re-publish the same task (same taskId: the agent drops a
 * duplicate it has already seen); a task the agent accepted is never re-sent.
 */
export interface TaskPolicy {
  /** Re-sends after the first publish. */
  maxRetries: number;
  /** Wait this long for `accepted` before re-sending (or timing out when no retries are left). */
  ackTimeoutS: number;
  /** An accepted or running task with no news for this long is timed out. */
  activityTimeoutS: number;
  /** An upgrade reported done waits this long for a heartbeat that proves it. */
  verifyTimeoutS: number;
  /** Default lifetime of the message; the agent drops an expired task. */
  expiresInS?: number;
}

const MIN = 60;
export const TASK_POLICIES: Record<TaskType, TaskPolicy> = {
  // A heartbeat is replaced by the next one five minutes later: never re-sent.
  heartbeat: { maxRetries: 0, ackTimeoutS: 10 * MIN, activityTimeoutS: 10 * MIN, verifyTimeoutS: 0, expiresInS: 5 * MIN },
  // Downloads take long and report progress; re-sending sooner than 30 min only piles up duplicates.
  upgrade: { maxRetries: 3, ackTimeoutS: 30 * MIN, activityTimeoutS: 2 * 60 * MIN, verifyTimeoutS: 30 * MIN },
  rollback: { maxRetries: 3, ackTimeoutS: 10 * MIN, activityTimeoutS: 30 * MIN, verifyTimeoutS: 0 },
  installService: { maxRetries: 3, ackTimeoutS: 10 * MIN, activityTimeoutS: 30 * MIN, verifyTimeoutS: 0 },
  uninstallService: { maxRetries: 3, ackTimeoutS: 10 * MIN, activityTimeoutS: 30 * MIN, verifyTimeoutS: 0 },
  // Minor tasks: an operator asks again if they still want it.
  collectLogs: { maxRetries: 0, ackTimeoutS: 10 * MIN, activityTimeoutS: 30 * MIN, verifyTimeoutS: 0, expiresInS: 60 * MIN },
  reboot: { maxRetries: 0, ackTimeoutS: 10 * MIN, activityTimeoutS: 15 * MIN, verifyTimeoutS: 0, expiresInS: 60 * MIN },
};

/** A publish that is claimed but not confirmed is retried after this grace (crash between claim and publish). */
export const DISPATCH_GRACE_S = 60;

export type DueDecision =
  | { action: 'publish'; kind: 'first' | 'republish' }
  | { action: 'resend' }
  | { action: 'wait'; until: number }
  | { action: 'finish'; status: 'timed_out' | 'superseded'; error?: { code: ErrorCode; message: string } }
  | { action: 'unindex' };

const ms = (s: string | undefined) => (s ? Date.parse(s) : NaN);

/**
 * What the due-task sweep does with a task whose due time has come. Pure: the caller passes
 * whether a newer task of the same appliance and type has succeeded.
 */
export function decideDue(task: TaskRecord, now: number, newerSucceeded: boolean, policy: TaskPolicy = TASK_POLICIES[task.taskType]): DueDecision {
  if (isTerminal(task.status)) return { action: 'unindex' };
  const waiting = task.status === 'pending' || task.status === 'sent';
  if (newerSucceeded && (waiting || task.taskType === 'heartbeat')) {
    return { action: 'finish', status: 'superseded', error: { code: 'superseded', message: 'a newer task of the same type succeeded' } };
  }
  if (waiting && task.expiresAt && now >= ms(task.expiresAt)) {
    return { action: 'finish', status: 'timed_out', error: { code: 'expired', message: `not acknowledged before it expired at ${task.expiresAt}` } };
  }
  if (task.status === 'pending') return { action: 'publish', kind: 'first' };
  if (task.status === 'sent') {
    if (task.dispatchPending) return { action: 'publish', kind: 'republish' };
    const ackBy = ms(task.lastSentAt) + policy.ackTimeoutS * 1000;
    if (now < ackBy) return { action: 'wait', until: ackBy };
    if (task.attempts <= policy.maxRetries) return { action: 'resend' };
    return {
      action: 'finish',
      status: 'timed_out',
      error: { code: 'no_response', message: `no acknowledgement after ${task.attempts} send(s)` },
    };
  }
  if (task.verifying) {
    const by = ms(task.verifyingSince) + policy.verifyTimeoutS * 1000;
    if (now < by) return { action: 'wait', until: by };
    return { action: 'finish', status: 'timed_out', error: { code: 'not_verified', message: 'no heartbeat reported the target version on a committed slot' } };
  }
  const by = ms(task.lastActivityAt ?? task.lastSentAt ?? task.createdAt) + policy.activityTimeoutS * 1000;
  if (now < by) return { action: 'wait', until: by };
  return { action: 'finish', status: 'timed_out', error: { code: 'no_progress', message: `no news from the appliance for ${policy.activityTimeoutS} s while ${task.status}` } };
}

/** When a task in its current state next needs the sweep's attention (null: never). */
export function nextDueAt(task: Pick<TaskRecord, 'status' | 'taskType' | 'lastSentAt' | 'lastActivityAt' | 'verifying' | 'verifyingSince' | 'dispatchPending' | 'createdAt'>, now: number): number | null {
  if (isTerminal(task.status)) return null;
  const p = TASK_POLICIES[task.taskType];
  if (task.status === 'pending' || task.dispatchPending) return now + DISPATCH_GRACE_S * 1000;
  if (task.status === 'sent') return ms(task.lastSentAt) + p.ackTimeoutS * 1000;
  if (task.verifying) return ms(task.verifyingSince) + p.verifyTimeoutS * 1000;
  return ms(task.lastActivityAt ?? task.lastSentAt ?? task.createdAt) + p.activityTimeoutS * 1000;
}
