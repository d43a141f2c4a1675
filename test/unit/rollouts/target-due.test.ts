import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsFullRead, nextTargetDue, stagePhase, STAGE_RECONCILE_MS, TARGET_RECHECK_MS, type DueFacts } from '../../../backend/src/rollouts/target-due.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const at = (ms: number) => new Date(ms).toISOString();
const facts = (f: Partial<DueFacts> = {}): DueFacts => ({ rolloutRunning: true, stageWaiting: false, now: NOW, downloadAt: undefined, windowOpensAt: NOW, installTaskExists: true, downloadTaskExists: true, stageTimeoutMs: 120 * 60_000, ...f });
const target = (t: Record<string, unknown> = {}) => ({ state: 'pending' as const, updatedAt: at(NOW), ...t });

test('final targets are never due by time (a rollback after success touches them)', () => {
  for (const state of ['succeeded', 'failed', 'rolled_back', 'cancelled'] as const) assert.equal(nextTargetDue(target({ state, installTaskId: 'i' }), facts()), null, state);
});

test('an install out is due at its stage timeout (its result touches it before); a claim without its task after the grace', () => {
  const sent = NOW - 5 * 60_000;
  assert.equal(nextTargetDue(target({ state: 'installing', installTaskId: 'i', installSentAt: at(sent) }), facts()), sent + 120 * 60_000);
  assert.equal(nextTargetDue(target({ state: 'installing', installTaskId: 'i', installSentAt: at(sent), updatedAt: at(sent) }), facts({ installTaskExists: false })), sent + TARGET_RECHECK_MS);
  assert.equal(nextTargetDue(target({ state: 'downloading', downloadTaskId: 'd', updatedAt: at(sent) }), facts({ stageWaiting: true, downloadTaskExists: false })), sent + TARGET_RECHECK_MS);
  assert.equal(nextTargetDue(target({ state: 'downloading', downloadTaskId: 'd' }), facts({ stageWaiting: true })), null, 'a pre-download out: its end touches it, the start reads it');
});

test('a waiting stage: due at the pre-download time if still ahead, else not until the stage starts', () => {
  assert.equal(nextTargetDue(target(), facts({ stageWaiting: true, downloadAt: NOW + 3600_000 })), NOW + 3600_000);
  assert.equal(nextTargetDue(target(), facts({ stageWaiting: true, downloadAt: NOW - 1 })), null, 'its time came and nothing was sent (already on the version)');
  assert.equal(nextTargetDue(target({ downloadFailed: true }), facts({ stageWaiting: true, downloadAt: NOW + 1 })), null);
  assert.equal(nextTargetDue(target(), facts({ stageWaiting: true })), null, 'no window');
});

test('a running stage without its install yet: at the window opening, or a recheck later (busy appliance)', () => {
  assert.equal(nextTargetDue(target(), facts({ windowOpensAt: NOW + 7200_000 })), NOW + 7200_000);
  assert.equal(nextTargetDue(target({ state: 'downloaded', downloadTaskId: 'd' }), facts()), NOW + TARGET_RECHECK_MS);
  assert.equal(nextTargetDue(target(), facts({ rolloutRunning: false })), null, 'paused: the resume reads the stage');
});

test('a stage is read whole when its phase changes (rollout status, stage status, planned start) and every reconcile period', () => {
  const stage = { status: 'running' as const, plannedStartAt: at(NOW) };
  const r = { status: 'running' as const };
  assert.equal(needsFullRead(r, stage, NOW), true, 'never read whole');
  const read = { ...stage, fullRead: { at: at(NOW), phase: stagePhase(r, stage) } };
  assert.equal(needsFullRead(r, read, NOW + 1000), false);
  assert.equal(needsFullRead({ status: 'paused' }, read, NOW + 1000), true);
  assert.equal(needsFullRead(r, { ...read, status: 'passed' }, NOW + 1000), true);
  assert.equal(needsFullRead(r, { ...read, plannedStartAt: at(NOW + 60_000) }, NOW + 1000), true);
  assert.equal(needsFullRead(r, read, NOW + STAGE_RECONCILE_MS), true);
});
