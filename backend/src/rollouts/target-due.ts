import type { RolloutRecord, StageRecord } from './rollout-record.js';
import { FINAL_TARGET_STATES, type TargetRecord } from './target-state.js';

/**
 * When a rollout pass next needs to look at a target (pure). Passes read only the targets that
 * are due (the sparse byStageDue index: a target without `dueAt` is not in it), so a pass costs
 * what is due, not the stage's size. What makes a target due without a time known in advance
 * comes from elsewhere: its task reaching a final state or a detected rollback touches it (the
 * task service), and a stage is read whole when its phase changes (see needsFullRead).
 */

/** A busy appliance, or a claim whose task does not exist yet, is looked at again this much later. */
export const TARGET_RECHECK_MS = 60_000;
/** A stage at work is read whole this often anyway: it repairs a lost touch and recounts the stage. */
export const STAGE_RECONCILE_MS = 10 * 60_000;

export interface DueFacts {
  rolloutRunning: boolean;
  stageWaiting: boolean;
  now: number;
  /** The target's pre-download time (a waiting stage's window), if it has one. */
  downloadAt: number | undefined;
  /** When the customer's maintenance window opens next (now when open). */
  windowOpensAt: number;
  /** Whether the claimed task exists (a claim without its task is re-created after a grace). */
  installTaskExists: boolean;
  downloadTaskExists: boolean;
  stageTimeoutMs: number;
}

export function nextTargetDue(t: Pick<TargetRecord, 'state' | 'installTaskId' | 'installSentAt' | 'downloadTaskId' | 'downloadFailed' | 'updatedAt'>, f: DueFacts): number | null {
  if (FINAL_TARGET_STATES.has(t.state)) return null; // a rollback after success touches it
  if (t.installTaskId) {
    if (!f.installTaskExists) return Date.parse(t.updatedAt) + TARGET_RECHECK_MS;
    return (t.installSentAt ? Date.parse(t.installSentAt) : f.now) + f.stageTimeoutMs; // its result touches it before that
  }
  if (t.downloadTaskId && !f.downloadTaskExists && t.state === 'downloading') return Date.parse(t.updatedAt) + TARGET_RECHECK_MS;
  if (!f.rolloutRunning) return null; // resuming changes the phase: the stage is read whole
  if (f.stageWaiting) {
    const waitsForDownload = t.state === 'pending' && !t.downloadTaskId && !t.downloadFailed && f.downloadAt !== undefined;
    return waitsForDownload && f.downloadAt! > f.now ? f.downloadAt! : null; // the stage's start reads it
  }
  // A running stage and no install yet: the window is closed or the appliance was busy.
  return f.windowOpensAt > f.now ? f.windowOpensAt : f.now + TARGET_RECHECK_MS;
}

/** What a stage's whole read was for: a new rollout status, stage status or planned start needs another. */
export function stagePhase(r: Pick<RolloutRecord, 'status'>, s: Pick<StageRecord, 'status' | 'plannedStartAt'>): string {
  return `${r.status}/${s.status}/${s.plannedStartAt}`;
}

/** Whether a pass reads the whole stage (its phase changed, or it is time to reconcile) rather than its due targets. */
export function needsFullRead(r: Pick<RolloutRecord, 'status'>, s: Pick<StageRecord, 'status' | 'plannedStartAt' | 'fullRead'>, now: number): boolean {
  if (!s.fullRead || s.fullRead.phase !== stagePhase(r, s)) return true;
  return now - Date.parse(s.fullRead.at) >= STAGE_RECONCILE_MS;
}
