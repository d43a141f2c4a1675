import type { TaskResult, TaskStatus } from '@twinroot/protocol';
import { isTerminal, STATUS_RANK, type TaskRecord } from './task-record.js';

export type ResultOutcome =
  | { kind: 'ignore'; reason: string }
  | {
      kind: 'apply';
      status: TaskStatus;
      /** The new status is new (an event for the timeline, a metric); false for progress updates. */
      changed: boolean;
      verifying: boolean;
      note?: string;
    };

/** Install-reboot upgrades are proven by a heartbeat, not by the agent's word. */
export function needsVerification(task: Pick<TaskRecord, 'taskType' | 'body'>): boolean {
  return task.taskType === 'upgrade' && task.body.mode === 'install-reboot';
}

/**
 * What an appliance's result does to a task. Pure and idempotent: a duplicate, a stale
 * (lower seq) or an out-of-order result (accepted after running) is ignored, and nothing
 * moves a task out of a final status.
 */
export function applyResult(task: TaskRecord, result: TaskResult): ResultOutcome {
  if (isTerminal(task.status)) return { kind: 'ignore', reason: `task is already ${task.status}` };
  if (result.seq !== undefined && task.resultSeq !== undefined && result.seq <= task.resultSeq) {
    return { kind: 'ignore', reason: `stale result (seq ${result.seq} ≤ ${task.resultSeq})` };
  }
  switch (result.status) {
    case 'accepted':
    case 'running': {
      if (task.verifying) return { kind: 'ignore', reason: 'task already reported done; waiting for verification' };
      const status: TaskStatus = result.status;
      if (STATUS_RANK[task.status] > STATUS_RANK[status]) return { kind: 'ignore', reason: `out of order: ${status} after ${task.status}` };
      return { kind: 'apply', status, changed: status !== task.status, verifying: false };
    }
    case 'succeeded':
      if (needsVerification(task)) {
        if (task.verifying) return { kind: 'ignore', reason: 'duplicate: already waiting for verification' };
        return { kind: 'apply', status: 'running', changed: true, verifying: true, note: 'agent reports done; waiting for a heartbeat from the committed new version' };
      }
      return { kind: 'apply', status: 'succeeded', changed: true, verifying: false };
    case 'failed':
    case 'rejected':
      return { kind: 'apply', status: 'failed', changed: true, verifying: false, note: result.status === 'rejected' ? `rejected: ${result.error.code}` : result.error.code };
  }
}
