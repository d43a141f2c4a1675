import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideBootAction, type PendingBoot, type SlotStatus } from '@twinroot/agent';

const st = (booted: 'A' | 'B', committed: 'A' | 'B'): SlotStatus => ({
  bootedSlot: booted,
  committedSlot: committed,
  trial: booted !== committed,
  slots: { A: { version: '1.0.0' }, B: { version: '2.0.0' } },
});
const pending: PendingBoot = { taskId: 'up-1', slot: 'B', version: '2.0.0', bootId: 'boot-1', arrangedAt: '2026-11-21T10:00:00Z' };

test('no record and no trial: nothing to do', () => {
  assert.deepEqual(decideBootAction(st('A', 'A'), null, 'boot-1'), { kind: 'nothing' });
});

test('the agent restarted before the reboot: wait for it', () => {
  assert.equal(decideBootAction(st('A', 'A'), pending, 'boot-1').kind, 'await-reboot');
});

test('booted in trial: check it, and report to the task that arranged it', () => {
  assert.deepEqual(decideBootAction(st('B', 'A'), pending, 'boot-2'), { kind: 'check-trial', pending });
  // A trial nobody recorded (an operator ran `twinroot-slot try`) is still checked.
  assert.deepEqual(decideBootAction(st('B', 'A'), null, 'boot-2'), { kind: 'check-trial', pending: null });
  // A record for the other slot does not belong to this trial.
  assert.deepEqual(decideBootAction(st('A', 'B'), pending, 'boot-2'), { kind: 'check-trial', pending: null });
});

test('rebooted but back on the committed slot: the trial did not come up', () => {
  assert.equal(decideBootAction(st('A', 'A'), pending, 'boot-2').kind, 'report-fallback');
});

test('the trial slot is already committed (stopped between commit and report): report success', () => {
  assert.equal(decideBootAction(st('B', 'B'), pending, 'boot-2').kind, 'report-committed');
});
