import type { StageCounts } from '@twinroot/protocol';

export type StageVerdict = { kind: 'passed' } | { kind: 'pause'; reason: string } | { kind: 'wait'; reason: string };

/**
 * Whether a running stage passed, must pause the rollout, or is still at work (pure).
 * Ratios are of the stage's appliances that were not cancelled. The error ratio counts failures
 * and rollbacks. Failures an operator accepted by resuming (`acceptedFailures`) leave the
 * reckoning: they neither pause the rollout again nor hold the stage back — new ones do. A stage
 * passes when its verified success ratio reaches the threshold and no appliance is still in
 * progress (an in-progress one ends at the latest at its stage timeout).
 */
export function judgeStage(c: StageCounts, successThreshold: number, errorThreshold: number, acceptedFailures = 0): StageVerdict {
  const bad = c.failed + c.rolledBack;
  const accepted = Math.min(acceptedFailures, bad);
  const total = c.appliances - c.cancelled - accepted;
  if (total <= 0) return { kind: 'passed' };
  const newBad = bad - accepted;
  const errorRatio = newBad / total;
  if (newBad > 0 && errorRatio > errorThreshold) {
    const was = accepted > 0 ? ` after ${accepted} accepted` : '';
    return {
      kind: 'pause',
      reason: `error threshold: ${newBad} of ${total} appliances failed or rolled back${was} (${c.failed} failed, ${c.rolledBack} rolled back; ${round(errorRatio)} > ${errorThreshold})`,
    };
  }
  const successRatio = c.succeeded / total;
  if (c.inProgress > 0) return { kind: 'wait', reason: `${c.inProgress} in progress` };
  if (successRatio + 1e-9 >= successThreshold) return { kind: 'passed' };
  return { kind: 'wait', reason: `success ${c.succeeded} of ${total} (${round(successRatio)} < ${successThreshold})` };
}

function round(x: number): string {
  return x.toFixed(3).replace(/\.?0+$/, '');
}
