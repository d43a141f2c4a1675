import { ROLLED_BACK_CODES, ROLLOUT_TARGET_STATES, type StageCounts } from '@twinroot/protocol';
import type { TaskRecord } from '../domain/task-record.js';

/** Where one appliance is in a rollout. */
export const TARGET_STATES = ROLLOUT_TARGET_STATES;
export type TargetState = (typeof TARGET_STATES)[number];

export const FINAL_TARGET_STATES: ReadonlySet<TargetState> = new Set(['succeeded', 'failed', 'rolled_back', 'cancelled']);

/** An appliance in a rollout, as stored (the rollout-targets table). */
export interface TargetRecord {
  /** `<rolloutId>#<applianceId>`: one target per appliance and rollout. */
  targetId: string;
  rolloutId: string;
  /** `<rolloutId>#<stage index, 4 digits>`: the byStage index lists a stage's appliances. */
  stageKey: string;
  stageIndex: number;
  applianceId: string;
  customerId: string;
  state: TargetState;
  downloadTaskId?: string;
  /** The pre-download failed; the install task downloads instead. */
  downloadFailed?: boolean;
  installTaskId?: string;
  installSentAt?: string;
  note?: string;
  updatedAt: string;
  rev: number;
}

/** Agent error codes that mean the new root was tried and the appliance went back by itself. */

type TaskFacts = Pick<TaskRecord, 'status' | 'error' | 'rolledBack'>;

/**
 * A target's state from its tasks (pure). The install task decides once there is one: succeeded
 * (verified by a heartbeat for install-reboot) unless the appliance went back later; failed,
 * or rolled back when the agent reports the trial boot or health check failed; in progress
 * until then — or failed when it is still unfinished a stage timeout after it was sent.
 */
export function targetStateFromTasks(
  t: Pick<TargetRecord, 'state' | 'downloadTaskId' | 'installTaskId' | 'installSentAt' | 'downloadFailed'>,
  download: TaskFacts | null,
  install: TaskFacts | null,
  now: number,
  stageTimeoutMinutes: number,
): { state: TargetState; downloadFailed?: boolean; note?: string } {
  if (t.state === 'cancelled') return { state: 'cancelled' };
  if (t.installTaskId) {
    if (!install) return { state: 'installing' }; // claimed; the engine (re)creates the task
    switch (install.status) {
      case 'succeeded':
        return install.rolledBack ? { state: 'rolled_back', note: `appliance went back to ${install.rolledBack.toVersion}` } : { state: 'succeeded' };
      case 'failed':
        if (install.error && ROLLED_BACK_CODES.has(install.error.code)) return { state: 'rolled_back', note: install.error.code };
        return { state: 'failed', note: install.error?.code ?? 'failed' };
      case 'timed_out':
        return { state: 'failed', note: install.error?.code ?? 'timed_out' };
      case 'superseded':
      case 'cancelled':
        return { state: 'cancelled', note: install.status };
      default: {
        const sent = t.installSentAt ? Date.parse(t.installSentAt) : now;
        if (now >= sent + stageTimeoutMinutes * 60_000) return { state: 'failed', note: 'stage_timeout' };
        return { state: 'installing' };
      }
    }
  }
  if (t.downloadTaskId) {
    if (!download) return { state: 'downloading' };
    if (download.status === 'succeeded') return { state: 'downloaded' };
    if (['failed', 'timed_out', 'superseded', 'cancelled'].includes(download.status)) return { state: 'pending', downloadFailed: true, note: `pre-download ${download.status}` };
    return { state: 'downloading' };
  }
  return { state: 'pending' };
}

export function emptyCounts(): StageCounts {
  return { appliances: 0, pending: 0, downloading: 0, downloaded: 0, inProgress: 0, succeeded: 0, failed: 0, rolledBack: 0, cancelled: 0 };
}

const BUCKET: Record<TargetState, keyof StageCounts> = {
  pending: 'pending',
  downloading: 'downloading',
  downloaded: 'downloaded',
  installing: 'inProgress',
  succeeded: 'succeeded',
  failed: 'failed',
  rolled_back: 'rolledBack',
  cancelled: 'cancelled',
};

export function countTargets(states: Iterable<TargetState>): StageCounts {
  const c = emptyCounts();
  for (const s of states) {
    c.appliances += 1;
    c[BUCKET[s]] += 1;
  }
  return c;
}

export function addCounts(a: StageCounts, b: StageCounts): StageCounts {
  const out = emptyCounts();
  for (const k of Object.keys(out) as (keyof StageCounts)[]) out[k] = a[k] + b[k];
  return out;
}
