import type { TaskError, TaskProgress, TaskType, TaskStatus } from '@twinroot/protocol';

/** A task as stored (the tasks table item). Times are ISO strings; `rev` guards every update. */
export interface TaskRecord {
  taskId: string;
  taskType: TaskType;
  /** The appliance the task is for (always set; used for authorization). */
  ownerId: string;
  /** Set on every task but heartbeats, so an appliance's timeline index skips them. */
  applianceId?: string;
  applianceType: string;
  body: Record<string, unknown>;
  status: TaskStatus;
  rev: number;
  createdAt: string;
  updatedAt: string;
  expiresAt?: string;
  /** Publishes so far (the first send counts). */
  attempts: number;
  lastSentAt?: string;
  /** When the appliance last said anything about the task (result or progress). */
  lastActivityAt?: string;
  /** Set between claiming a send and confirming its publish; a sweep re-publishes if it stays. */
  dispatchPending?: boolean;
  /** An install-reboot upgrade the agent reported done; waiting for a heartbeat to prove it. */
  verifying?: boolean;
  verifyingSince?: string;
  resultSeq?: number;
  progress?: TaskProgress;
  error?: TaskError;
  detail?: Record<string, unknown>;
  rolledBack?: { at: string; toVersion: string };
  createdBy: string;
  events: { at: string; status: string; note?: string }[];
  dueShard?: string;
  dueAt?: string;
  /** Epoch seconds after which DynamoDB TTL may delete the item (heartbeat tasks only). */
  ttl?: number;
}

export const TERMINAL: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'timed_out', 'superseded', 'cancelled']);

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL.has(status);
}

/** Order of the non-terminal statuses: a result never moves a task backwards. */
export const STATUS_RANK: Record<TaskStatus, number> = {
  pending: 0,
  sent: 1,
  accepted: 2,
  running: 3,
  succeeded: 4,
  failed: 4,
  timed_out: 4,
  superseded: 4,
  cancelled: 4,
};
