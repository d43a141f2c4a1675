import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advanceRollout, applyOperatorAction, countTargets, judgeStage, targetStateFromTasks, type RolloutRecord } from '@twinroot/backend';

const c = (over: Partial<ReturnType<typeof countTargets>>) => ({ ...countTargets([]), ...over });

test('gate: passes at the success threshold with nothing in progress', () => {
  assert.deepEqual(judgeStage(c({ appliances: 20, succeeded: 19, pending: 1 }), 0.95, 0.05), { kind: 'passed' });
  assert.equal(judgeStage(c({ appliances: 20, succeeded: 19, inProgress: 1 }), 0.95, 0.05).kind, 'wait');
  assert.equal(judgeStage(c({ appliances: 20, succeeded: 18, pending: 2 }), 0.95, 0.05).kind, 'wait');
  assert.equal(judgeStage(c({ appliances: 3, cancelled: 3 }), 0.95, 0.05).kind, 'passed', 'all cancelled: nothing to wait for');
});

test('gate: failures plus rollbacks over the error threshold pause, with the numbers', () => {
  const v = judgeStage(c({ appliances: 10, succeeded: 8, failed: 1, rolledBack: 1 }), 0.95, 0.05);
  assert.equal(v.kind, 'pause');
  assert.match((v as { reason: string }).reason, /error threshold: 2 of 10 appliances failed or rolled back \(1 failed, 1 rolled back; 0\.2 > 0\.05\)/);
  assert.equal(judgeStage(c({ appliances: 100, succeeded: 95, failed: 5 }), 0.95, 0.05).kind, 'passed', '5% is not over 5%');
  assert.equal(judgeStage(c({ appliances: 10, succeeded: 8, failed: 2 }), 0.8, 0.05, 2).kind, 'passed', 'accepted failures do not pause again');
  assert.equal(judgeStage(c({ appliances: 10, succeeded: 7, failed: 3 }), 0.7, 0.05, 2).kind, 'pause', 'a new failure does');
});

test('target state from its tasks', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  const base = { state: 'pending' as const };
  assert.equal(targetStateFromTasks(base, null, null, now, 60).state, 'pending');
  assert.equal(targetStateFromTasks({ ...base, downloadTaskId: 'd' }, { status: 'running' }, null, now, 60).state, 'downloading');
  assert.equal(targetStateFromTasks({ ...base, downloadTaskId: 'd' }, { status: 'succeeded' }, null, now, 60).state, 'downloaded');
  assert.deepEqual(targetStateFromTasks({ ...base, downloadTaskId: 'd' }, { status: 'timed_out' }, null, now, 60), { state: 'pending', downloadFailed: true, note: 'pre-download timed_out' });
  const inst = { ...base, installTaskId: 'i', installSentAt: '2026-12-01T11:30:00Z' };
  assert.equal(targetStateFromTasks(inst, null, { status: 'running' }, now, 60).state, 'installing');
  assert.deepEqual(targetStateFromTasks(inst, null, { status: 'running' }, now, 30), { state: 'failed', note: 'stage_timeout' });
  assert.equal(targetStateFromTasks(inst, null, { status: 'succeeded' }, now, 60).state, 'succeeded');
  assert.equal(targetStateFromTasks(inst, null, { status: 'succeeded', rolledBack: { at: 'x', toVersion: '1.0.0' } }, now, 60).state, 'rolled_back');
  assert.equal(targetStateFromTasks(inst, null, { status: 'failed', error: { code: 'health_check_failed', message: '' } }, now, 60).state, 'rolled_back');
  assert.equal(targetStateFromTasks(inst, null, { status: 'failed', error: { code: 'payload_corrupt', message: '' } }, now, 60).state, 'failed');
  assert.equal(targetStateFromTasks(inst, null, { status: 'superseded' }, now, 60).state, 'cancelled');
});

function rollout(stages: number, over: Partial<RolloutRecord> = {}): RolloutRecord {
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  return {
    rolloutId: 'r1',
    releaseId: 'v2.0.0',
    version: '2.0.0',
    manifestUrl: 'http://x/manifest.json',
    status: 'running',
    policy: { startAt: new Date(t0).toISOString(), successThreshold: 0.95, errorThreshold: 0.05, stageTimeoutMinutes: 60, preDownloadWindowHours: 12, mode: 'install-reboot' },
    canaryCustomerIds: [],
    stages: Array.from({ length: stages }, (_, i) => ({
      index: i,
      region: 'r',
      kind: 'first-half' as const,
      customers: 1,
      status: 'waiting' as const,
      plannedStartAt: new Date(t0 + i * 3600_000).toISOString(),
      preDownloadFrom: new Date(t0 + i * 3600_000 - 12 * 3600_000).toISOString(),
      counts: c({ appliances: 10, pending: 10 }),
      acceptedFailures: 0,
    })),
    createdAt: new Date(t0 - 86400_000).toISOString(),
    updatedAt: new Date(t0).toISOString(),
    createdBy: 'test',
    rev: 0,
    ...over,
  };
}

test('rollout machine: starts stage 0 at its time, passes it, waits for stage 1 planned time, completes', () => {
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  let r = rollout(2);
  assert.equal(advanceRollout(r, new Map(), t0 - 1000).started, null, 'not before startAt');
  let step = advanceRollout(r, new Map(), t0);
  assert.equal(step.started, 0);
  r = step.next;
  const ok = { counts: c({ appliances: 10, succeeded: 10 }), allFinal: true };
  step = advanceRollout(r, new Map([[0, ok]]), t0 + 10 * 60_000);
  assert.equal(step.next.stages[0]!.status, 'passed');
  assert.equal(step.next.stages[0]!.settled, true);
  assert.equal(step.started, null, 'stage 1 waits for its planned time');
  step = advanceRollout(step.next, new Map(), t0 + 3600_000);
  assert.equal(step.started, 1);
  step = advanceRollout(step.next, new Map([[1, ok]]), t0 + 3700_000);
  assert.equal(step.next.status, 'completed');
});

test('rollout machine: a late stage slips the plan; an error pauses; resume accepts the failures seen', () => {
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  let r = advanceRollout(rollout(3), new Map(), t0).next;
  const slow = { counts: c({ appliances: 10, succeeded: 10 }), allFinal: true };
  // Stage 0 passes only at t0+5h: stage 1 starts then, stage 2 moves to t0+6h.
  r = advanceRollout(r, new Map([[0, slow]]), t0 + 5 * 3600_000).next;
  assert.equal(r.stages[1]!.status, 'running');
  assert.equal(r.stages[2]!.plannedStartAt, new Date(t0 + 6 * 3600_000).toISOString());
  const bad = { counts: c({ appliances: 10, succeeded: 5, failed: 1, inProgress: 4 }), allFinal: false };
  r = advanceRollout(r, new Map([[1, bad]]), t0 + 5.5 * 3600_000).next;
  assert.equal(r.status, 'paused');
  assert.match(r.pausedReason!, /error threshold: 1 of 10 .* in stage 1/);
  assert.equal(advanceRollout(r, new Map([[1, bad]]), t0 + 6 * 3600_000).started, null, 'paused: nothing starts');
  const resumed = applyOperatorAction(r, 'resume', t0 + 6 * 3600_000);
  assert.ok('next' in resumed);
  r = resumed.next;
  assert.equal(r.stages[1]!.acceptedFailures, 1);
  const done = { counts: c({ appliances: 10, succeeded: 9, failed: 1 }), allFinal: true };
  r = advanceRollout({ ...r, policy: { ...r.policy, successThreshold: 0.9 } }, new Map([[1, done]]), t0 + 6 * 3600_000).next;
  assert.equal(r.stages[1]!.status, 'passed');
  assert.deepEqual(applyOperatorAction(r, 'resume', 0), { refused: 'rollout is running, not paused' });
  assert.equal((applyOperatorAction(r, 'abort', 0) as { next: RolloutRecord }).next.status, 'aborted');
});

test('rollout machine: a stage started a pass late does not move the plan; a real wait or a pause does', () => {
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  const H = 3600_000;
  const ok = { counts: c({ appliances: 10, succeeded: 10 }), allFinal: true };
  let r = advanceRollout(rollout(4), new Map(), t0 + 8_000).next; // stage 0, a pass 8 s late
  r = advanceRollout(r, new Map([[0, ok]]), t0 + 600_000).next; // passed long before stage 1's time
  r = advanceRollout(r, new Map(), t0 + H + 7_700).next; // stage 1, a pass 7.7 s late
  assert.equal(r.stages[1]!.status, 'running');
  // Before: stage 2 moved to t0+2h+7.7 s, and each later stage added its own lateness.
  assert.equal(r.stages[2]!.plannedStartAt, new Date(t0 + 2 * H).toISOString(), 'pass lateness does not slip the plan');
  assert.equal(r.stages[3]!.plannedStartAt, new Date(t0 + 3 * H).toISOString());
  // A pause that holds stage 2 back past its time slips the rest from the resume.
  r = advanceRollout(r, new Map([[1, ok]]), t0 + H + 900_000).next;
  r = (applyOperatorAction(r, 'pause', t0 + 1.5 * H) as { next: RolloutRecord }).next;
  r = (applyOperatorAction(r, 'resume', t0 + 2.5 * H) as { next: RolloutRecord }).next;
  r = advanceRollout(r, new Map(), t0 + 2.5 * H + 5_000).next;
  assert.equal(r.stages[2]!.status, 'running');
  assert.equal(r.stages[3]!.plannedStartAt, new Date(t0 + 3.5 * H).toISOString(), 'one stage timeout after the resume');
});
