import { FINAL_TARGET_STATES, type TargetRecord } from './target-state.js';

/** What a rollout pass does for one target (pure, like decideDue for tasks). */
export type TargetAction =
  /** Send the pre-download (a `download`-mode task): its stage waits and its window has opened. */
  | 'download'
  /** Send the install, if the customer's maintenance window is open now: its stage runs. */
  | 'install'
  | 'none';

export interface TargetFacts {
  rolloutRunning: boolean;
  stageWaiting: boolean;
  /** The waiting stage starts in this very pass (its time came and the stage before passed): its install downloads. */
  stageStartsNow: boolean;
  /** When the target's customer may start pre-downloading (undefined: no pre-download for it). */
  downloadAt: number | undefined;
  now: number;
}

export function decideTargetAction(t: Pick<TargetRecord, 'state' | 'downloadTaskId' | 'downloadFailed' | 'installTaskId'>, f: TargetFacts): TargetAction {
  if (!f.rolloutRunning) return 'none';
  if (f.stageWaiting) {
    // A window that opened during a pause, or a stage about to start: no pre-download sent
    // milliseconds before the install that does the same download.
    const due = !f.stageStartsNow && f.downloadAt !== undefined && f.now >= f.downloadAt;
    return due && t.state === 'pending' && !t.downloadTaskId && !t.downloadFailed ? 'download' : 'none';
  }
  return t.installTaskId || FINAL_TARGET_STATES.has(t.state) ? 'none' : 'install';
}
