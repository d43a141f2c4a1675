import type { RolloutPolicy, RolloutStatus, StageCounts, StageKind, StageStatus } from '@twinroot/protocol';
import { iso } from '../clock.js';
import { preDownloadFrom, slipAfter } from './schedule.js';
import { judgeStage } from './stage-gate.js';
import { addCounts, emptyCounts } from './target-state.js';

export interface StageRecord {
  index: number;
  region: string;
  kind: StageKind;
  customers: number;
  status: StageStatus;
  plannedStartAt: string;
  preDownloadFrom: string;
  startedAt?: string;
  passedAt?: string;
  /** Passed (or aborted) and every appliance in a final state: the engine stops reading it. */
  settled?: boolean;
  counts: StageCounts;
  /** Failures an operator accepted by resuming after an error-threshold pause. */
  acceptedFailures: number;
}

/** A rollout as stored (the rollouts table item). Its targets are in their own table. */
export interface RolloutRecord {
  rolloutId: string;
  releaseId: string;
  version: string;
  manifestUrl: string;
  status: RolloutStatus;
  pausedReason?: string;
  policy: RolloutPolicy;
  /** The customers treated as canaries when the plan was made (new appliances join by it). */
  canaryCustomerIds: string[];
  stages: StageRecord[];
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  /** The last resume after a pause: a stage held back by the pause is late from then on. */
  resumedAt?: string;
  createdBy: string;
  /** While `preparing`: the background preparation's progress and lease (any instance may take over an expired one). */
  preparation?: Preparation;
  rev: number;
}

/** The background preparation of a rollout: which instance holds it until when, and how far it got. */
export interface Preparation {
  /** Targets written by the current attempt, of `total` (known once the fleet was read). */
  written: number;
  total?: number;
  attempts: number;
  startedAt: string;
  owner?: string;
  leaseUntil?: string;
  /** When the rollout left `preparing`, and how long its last attempt took. */
  finishedAt?: string;
  durationMs?: number;
}

/**
 * Pure: may an instance take the preparation lease now? When nobody holds it or it expired. Its
 * holder renews it with every chunk, so a held lease means a preparation is under way somewhere
 * (in this instance too: never two at once).
 */
export function preparationLeaseFree(p: Preparation | undefined, now: number): boolean {
  return !p?.owner || !p.leaseUntil || Date.parse(p.leaseUntil) <= now;
}

export function stageKeyOf(rolloutId: string, index: number): string {
  return `${rolloutId}#${String(index).padStart(4, '0')}`;
}

export function totalsOf(r: Pick<RolloutRecord, 'stages'>): StageCounts {
  return r.stages.reduce((acc, s) => addCounts(acc, s.counts), emptyCounts());
}

/** The stage the rollout is at: the first one that has not passed. */
export function currentStage(r: Pick<RolloutRecord, 'stages'>): StageRecord | undefined {
  return r.stages.find((s) => s.status !== 'passed');
}

export interface Observation {
  counts: StageCounts;
  allFinal: boolean;
}

/**
 * One step of the rollout state machine (pure): records what the engine observed of each stage,
 * then, while running, passes stages whose gate opened, starts the next one when its planned time
 * has come (later stages slip when it starts late), pauses on the error threshold, and completes
 * after the last stage. Paused, aborted and completed rollouts only take the observations.
 * Returns the next record (unchanged fields kept) and whether a stage started.
 */
export function advanceRollout(r: RolloutRecord, observed: ReadonlyMap<number, Observation>, now: number): { next: RolloutRecord; started: number | null } {
  let stages = r.stages.map((s) => {
    const o = observed.get(s.index);
    if (!o) return s;
    const settled = (s.status === 'passed' || r.status === 'aborted') && o.allFinal ? true : s.settled;
    return { ...s, counts: o.counts, ...(settled ? { settled } : {}) };
  });
  let next: RolloutRecord = { ...r, stages };
  let started: number | null = null;
  if (r.status !== 'running') return { next, started };
  const at = iso(now);
  for (;;) {
    const i = stages.findIndex((s) => s.status !== 'passed');
    if (i < 0) {
      next = { ...next, stages, status: 'completed', completedAt: at };
      break;
    }
    const s = stages[i]!;
    if (s.status === 'waiting') {
      if (now < Date.parse(s.plannedStartAt)) break;
      const planned = slipAfter(stages.map((x) => Date.parse(x.plannedStartAt)), i, dueAt(s, stages[i - 1], r), r.policy.stageTimeoutMinutes);
      const createdAt = Date.parse(r.createdAt);
      stages = stages.map((x, j) =>
        j === i
          ? { ...x, status: 'running', startedAt: at }
          : j > i
            ? { ...x, plannedStartAt: iso(planned[j]!), preDownloadFrom: iso(preDownloadFrom(planned[j]!, r.policy.preDownloadWindowHours, createdAt)) }
            : x,
      );
      started = i;
      break;
    }
    const verdict = judgeStage(s.counts, r.policy.successThreshold, r.policy.errorThreshold, s.acceptedFailures);
    if (verdict.kind === 'pause') {
      next = { ...next, stages, status: 'paused', pausedReason: `${verdict.reason} in stage ${i} (${s.region}, ${s.kind})` };
      return { next, started };
    }
    if (verdict.kind === 'wait') break;
    stages = stages.map((x, j) => (j === i ? { ...x, status: 'passed', passedAt: at, ...(observed.get(i)?.allFinal ? { settled: true } : {}) } : x));
  }
  return { next: { ...next, stages }, started };
}

/**
 * When a stage could start: its planned time, or later when the stage before passed after it or
 * a pause held it back. Later stages slip by that much only — never by how long the engine took
 * to notice (a pass every few seconds, or a five-minute sweep), so such delays do not add up.
 */
function dueAt(s: StageRecord, previous: StageRecord | undefined, r: RolloutRecord): number {
  const times = [Date.parse(s.plannedStartAt)];
  if (previous?.passedAt) times.push(Date.parse(previous.passedAt));
  if (r.resumedAt) times.push(Date.parse(r.resumedAt));
  return Math.max(...times);
}

export type OperatorAction = 'pause' | 'resume' | 'abort';

/**
 * What an operator's pause, resume or abort does (pure). Null when it is refused, with why.
 * Resuming after an error-threshold pause accepts the failures seen so far: only new ones pause again.
 */
export function applyOperatorAction(r: RolloutRecord, action: OperatorAction, now: number): { next: RolloutRecord } | { refused: string } {
  const at = iso(now);
  switch (action) {
    case 'pause':
      if (r.status !== 'running') return { refused: `rollout is ${r.status}` };
      return { next: { ...r, status: 'paused', pausedReason: 'operator', updatedAt: at } };
    case 'resume': {
      if (r.status !== 'paused') return { refused: `rollout is ${r.status}, not paused` };
      const rest = { ...r };
      delete rest.pausedReason;
      const stages = r.stages.map((s) => (s.status === 'running' ? { ...s, acceptedFailures: s.counts.failed + s.counts.rolledBack } : s));
      return { next: { ...rest, stages, status: 'running', resumedAt: at, updatedAt: at } };
    }
    case 'abort':
      if (r.status === 'completed' || r.status === 'aborted') return { refused: `rollout is already ${r.status}` };
      return { next: { ...r, status: 'aborted', updatedAt: at, completedAt: at } };
  }
}
