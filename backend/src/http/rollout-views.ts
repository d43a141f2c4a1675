import type { RolloutSummary, RolloutTarget, RolloutView } from '@twinroot/protocol';
import { currentStage, totalsOf, type Preparation, type RolloutRecord } from '../rollouts/rollout-record.js';
import type { TargetRecord } from '../rollouts/target-state.js';

// What operators see of a rollout (the rollout routes' views; the rest are in views.ts).

/** What the list and the detail view of a rollout both start with. */
function rolloutHead(r: RolloutRecord): Pick<RolloutView, 'rolloutId' | 'releaseId' | 'version' | 'status' | 'pausedReason'> {
  return { rolloutId: r.rolloutId, releaseId: r.releaseId, version: r.version, status: r.status, ...(r.pausedReason ? { pausedReason: r.pausedReason } : {}) };
}

export function rolloutView(r: RolloutRecord): RolloutView {
  return {
    ...rolloutHead(r),
    policy: r.policy,
    stages: r.stages.map((s) => ({
      index: s.index,
      region: s.region,
      kind: s.kind,
      status: s.status,
      customers: s.customers,
      counts: s.counts,
      preDownloadFrom: s.preDownloadFrom,
      plannedStartAt: s.plannedStartAt,
      ...(s.startedAt ? { startedAt: s.startedAt } : {}),
      ...(s.passedAt ? { passedAt: s.passedAt } : {}),
    })),
    totals: totalsOf(r),
    ...(r.preparation ? { preparation: preparationView(r.preparation) } : {}),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.completedAt ? { completedAt: r.completedAt } : {}),
  };
}

export function rolloutSummary(r: RolloutRecord): RolloutSummary {
  const cur = currentStage(r);
  return {
    ...rolloutHead(r),
    stages: r.stages.length,
    ...(cur ? { currentStage: cur.index } : {}),
    totals: totalsOf(r),
    createdAt: r.createdAt,
  };
}

/** One appliance of a stage, as operators see it (not its claim bookkeeping). */
export function rolloutTargetView(t: TargetRecord): RolloutTarget {
  return {
    applianceId: t.applianceId,
    customerId: t.customerId,
    stage: t.stageIndex,
    state: t.state,
    ...(t.downloadTaskId ? { downloadTaskId: t.downloadTaskId } : {}),
    ...(t.installTaskId ? { installTaskId: t.installTaskId } : {}),
    ...(t.note ? { note: t.note } : {}),
    updatedAt: t.updatedAt,
  };
}

/** What an operator sees of a preparation: progress and timing, not which instance holds it. */
function preparationView(p: Preparation): NonNullable<RolloutView['preparation']> {
  return {
    written: p.written,
    ...(p.total !== undefined ? { total: p.total } : {}),
    attempts: p.attempts,
    startedAt: p.startedAt,
    ...(p.finishedAt ? { finishedAt: p.finishedAt } : {}),
    ...(p.durationMs !== undefined ? { durationMs: p.durationMs } : {}),
  };
}
