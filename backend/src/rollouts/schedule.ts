import { createHash } from 'node:crypto';

const MIN = 60_000;

/**
 * When each stage is planned to start: the first at the rollout's start, each next one a stage
 * timeout later (the longest a stage may take). A stage starts at its planned time or, if the
 * one before has not passed by then, as soon as it does; the plan then slips (see slipAfter).
 */
export function plannedStarts(startAt: number, stages: number, stageTimeoutMinutes: number): number[] {
  return Array.from({ length: stages }, (_, i) => startAt + i * stageTimeoutMinutes * MIN);
}

/** A stage that started late pushes the stages after it back by as much, keeping their spacing. */
export function slipAfter(planned: readonly number[], index: number, startedAt: number, stageTimeoutMinutes: number): number[] {
  return planned.map((p, i) => (i <= index ? p : Math.max(p, startedAt + (i - index) * stageTimeoutMinutes * MIN)));
}

/** A customer's place in the spread: a hash of its id, so it is the same on every computation. */
function spreadKey(customerId: string): string {
  return createHash('sha256').update(customerId).digest('hex');
}

/**
 * Pre-download times of a stage's customers: evenly spaced through the window that ends at the
 * stage's planned start, in the order of a hash of the customer id — deterministic, and no two
 * customers together unless there are more customers than the window has minutes. The window
 * starts no earlier than `notBefore` (a rollout created now has no past to download in).
 * Returns customer id → time (ms); empty when the window is empty.
 */
export function preDownloadTimes(customerIds: readonly string[], stageStart: number, windowHours: number, notBefore: number): Map<string, number> {
  const out = new Map<string, number>();
  const from = Math.max(stageStart - windowHours * 3600_000, notBefore);
  if (customerIds.length === 0 || from >= stageStart) return out;
  const step = (stageStart - from) / customerIds.length;
  const order = [...customerIds].map((id) => ({ id, key: spreadKey(id) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  order.forEach(({ id }, i) => out.set(id, Math.floor(from + i * step)));
  return out;
}

/** The first moment of a stage's pre-download window (for display and for when to prepare it). */
export function preDownloadFrom(stageStart: number, windowHours: number, notBefore: number): number {
  return Math.min(stageStart, Math.max(stageStart - windowHours * 3600_000, notBefore));
}
