import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applianceStatus, applyResult, decideDue, judgeHeartbeat, schedulePeriodMs, slotOf, TASK_POLICIES, type TaskRecord } from '@twinroot/backend';

const T0 = Date.parse('2026-11-02T10:00:00.000Z');
const at = (min: number) => new Date(T0 + min * 60_000).toISOString();

function task(over: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId: 't1',
    taskType: 'rollback',
    ownerId: 'a1',
    applianceId: 'a1',
    applianceType: 'a1#rollback',
    body: {},
    status: 'sent',
    rev: 1,
    createdAt: at(0),
    updatedAt: at(0),
    attempts: 1,
    lastSentAt: at(0),
    createdBy: 'test',
    events: [],
    ...over,
  };
}
const now = (min: number) => T0 + min * 60_000;

test('decideDue: re-send after the ack timeout until retries run out, then time out', () => {
  assert.deepEqual(decideDue(task(), now(5), false), { action: 'wait', until: now(10) });
  assert.deepEqual(decideDue(task(), now(10), false), { action: 'resend' });
  assert.deepEqual(decideDue(task({ attempts: 3 }), now(10), false), { action: 'resend' });
  const out = decideDue(task({ attempts: 4 }), now(10), false);
  assert.equal(out.action, 'finish');
  assert.equal(out.action === 'finish' && out.status, 'timed_out');
});

test('decideDue: per-type policy (heartbeat and minor tasks never re-sent, upgrade after 30 minutes)', () => {
  for (const t of ['heartbeat', 'reboot', 'collectLogs'] as const) {
    assert.equal(TASK_POLICIES[t].maxRetries, 0, t);
    const d = decideDue(task({ taskType: t, applianceType: `a1#${t}` }), now(10), false);
    assert.equal(d.action, 'finish', t);
  }
  assert.deepEqual(decideDue(task({ taskType: 'upgrade' }), now(29), false), { action: 'wait', until: now(30) });
  assert.deepEqual(decideDue(task({ taskType: 'upgrade' }), now(30), false), { action: 'resend' });
});

test('decideDue: superseded, expired, unconfirmed publishes, progress and verification timeouts', () => {
  assert.deepEqual(decideDue(task(), now(10), true), { action: 'finish', status: 'superseded', error: { code: 'superseded', message: 'a newer task of the same type succeeded' } });
  const exp = decideDue(task({ expiresAt: at(5) }), now(10), false);
  assert.equal(exp.action === 'finish' && exp.error?.code, 'expired');
  assert.deepEqual(decideDue(task({ status: 'pending' }), now(1), false), { action: 'publish', kind: 'first' });
  assert.deepEqual(decideDue(task({ dispatchPending: true }), now(1), false), { action: 'publish', kind: 'republish' });
  assert.deepEqual(decideDue(task({ status: 'running', lastActivityAt: at(20) }), now(40), false), { action: 'wait', until: now(50) });
  const quiet = decideDue(task({ status: 'running', lastActivityAt: at(20) }), now(50), false);
  assert.equal(quiet.action === 'finish' && quiet.error?.code, 'no_progress');
  const unverified = decideDue(task({ taskType: 'upgrade', status: 'running', verifying: true, verifyingSince: at(0) }), now(30), false);
  assert.equal(unverified.action === 'finish' && unverified.error?.code, 'not_verified');
  assert.deepEqual(decideDue(task({ status: 'succeeded' }), now(30), false), { action: 'unindex' });
  assert.equal(decideDue(task({ status: 'running', lastActivityAt: at(0) }), now(5), true).action, 'wait', 'a running task is not superseded by the sweep');
});

test('applyResult: order, duplicates, staleness and final states', () => {
  assert.equal(applyResult(task(), { status: 'accepted' }).kind, 'apply');
  assert.match(JSON.stringify(applyResult(task({ status: 'running' }), { status: 'accepted' })), /out of order/);
  assert.deepEqual(applyResult(task({ status: 'running' }), { status: 'running' }), { kind: 'apply', status: 'running', changed: false, verifying: false });
  assert.match(JSON.stringify(applyResult(task({ resultSeq: 5 }), { status: 'running', seq: 5 })), /stale/);
  assert.match(JSON.stringify(applyResult(task({ status: 'failed' }), { status: 'succeeded' })), /already failed/);
  const up = task({ taskType: 'upgrade', body: { mode: 'install-reboot' } });
  assert.deepEqual(applyResult(up, { status: 'succeeded' }), { kind: 'apply', status: 'running', changed: true, verifying: true, note: 'agent reports done; waiting for a heartbeat from the committed new version' });
  assert.equal(applyResult(task({ taskType: 'upgrade', body: { mode: 'download' } }), { status: 'succeeded' }).kind, 'apply');
  const rej = applyResult(task(), { status: 'rejected', error: { code: 'expired', message: 'x' } });
  assert.equal(rej.kind === 'apply' && rej.status, 'failed');
});

test('judgeHeartbeat: verification needs the target version on a committed slot; lower committed version = rollback', () => {
  const hb = (version: string, booted: 'A' | 'B', committed: 'A' | 'B', trial = false) => ({ version, bootedSlot: booted, committedSlot: committed, trial, services: [], uptimeS: 1 });
  const upgrading = { upgrade: { taskId: 'u1', version: '2.0.0', releaseId: 'r', mode: 'install-reboot' } };
  assert.equal(judgeHeartbeat(upgrading, hb('2.0.0', 'B', 'A', true)).kind, 'none');
  assert.equal(judgeHeartbeat(upgrading, hb('2.0.0', 'B', 'B')).kind, 'upgrade-verified');
  assert.equal(judgeHeartbeat(upgrading, hb('1.0.0', 'A', 'A')).kind, 'none');
  const done = { lastUpgrade: { taskId: 'u1', version: '2.0.0', at: at(0) } };
  assert.deepEqual(judgeHeartbeat(done, hb('1.0.0', 'A', 'A')), { kind: 'rollback-detected', fromVersion: '2.0.0', toVersion: '1.0.0', taskId: 'u1' });
  assert.equal(judgeHeartbeat({ ...done, rollback: { detectedAt: at(1), fromVersion: '2.0.0', toVersion: '1.0.0' } }, hb('1.0.0', 'A', 'A')).kind, 'none', 'reported once');
  assert.equal(judgeHeartbeat(done, hb('2.0.1', 'A', 'A')).kind, 'none');
});

test('applianceStatus and sweep slots', () => {
  assert.equal(applianceStatus({ connection: 'disconnected', upgrade: { taskId: 'x', version: '1.0.0', releaseId: 'r', mode: 'install' } }), 'disconnected');
  assert.equal(applianceStatus({ connection: 'connected', upgrade: { taskId: 'x', version: '1.0.0', releaseId: 'r', mode: 'install' } }), 'upgrading');
  assert.equal(applianceStatus({ connection: 'connected', rollback: { detectedAt: at(0), fromVersion: '2.0.0', toVersion: '1.0.0' } }), 'rolled_back');
  assert.equal(applianceStatus({ connection: 'connected' }), 'connected');
  assert.equal(slotOf(now(7), 300_000), at(5));
  assert.equal(slotOf(now(10), 300_000), at(10));
  // The grid follows the schedule: the shortest gap between its runs, so no run shares a slot.
  const runs = (...m: number[]) => m.map((x) => new Date(now(x)));
  assert.equal(schedulePeriodMs(runs(0, 1, 2, 3), 300_000), 60_000);
  assert.equal(schedulePeriodMs(runs(0, 5, 10), 60_000), 300_000);
  assert.equal(schedulePeriodMs(runs(49, 56, 60, 67), 60_000), 4 * 60_000, '*/7: the gap over the hour is the shortest');
  assert.equal(schedulePeriodMs(runs(0), 300_000), 300_000, 'one run known: the default');
});
