// The rollout pass's decision for one target (pure): pre-download in a waiting stage once the
// customer's window opened, install in a running stage, nothing otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideTargetAction, type TargetFacts } from '@twinroot/backend';

const t = (o: Partial<Parameters<typeof decideTargetAction>[0]> = {}) => ({ state: 'pending' as const, ...o });
const facts = (o: Partial<TargetFacts> = {}): TargetFacts => ({ rolloutRunning: true, stageWaiting: false, stageStartsNow: false, downloadAt: undefined, now: 1000, ...o });

test('a running stage installs every target that is not finished and has no install task', () => {
  assert.equal(decideTargetAction(t(), facts()), 'install');
  assert.equal(decideTargetAction(t({ state: 'downloaded', downloadTaskId: 'd' }), facts()), 'install');
  assert.equal(decideTargetAction(t({ state: 'installing', installTaskId: 'i' }), facts()), 'none');
  for (const state of ['succeeded', 'failed', 'rolled_back', 'cancelled'] as const) assert.equal(decideTargetAction(t({ state }), facts()), 'none', state);
});

test('a waiting stage pre-downloads once the customer\'s time came, once per target', () => {
  assert.equal(decideTargetAction(t(), facts({ stageWaiting: true, downloadAt: 900 })), 'download');
  assert.equal(decideTargetAction(t(), facts({ stageWaiting: true, downloadAt: 1000 })), 'download', 'at the instant itself');
  assert.equal(decideTargetAction(t(), facts({ stageWaiting: true, downloadAt: 1001 })), 'none', 'not yet');
  assert.equal(decideTargetAction(t(), facts({ stageWaiting: true })), 'none', 'no pre-download for this customer');
  assert.equal(decideTargetAction(t({ downloadTaskId: 'd', state: 'downloading' }), facts({ stageWaiting: true, downloadAt: 0 })), 'none');
  assert.equal(decideTargetAction(t({ downloadFailed: true }), facts({ stageWaiting: true, downloadAt: 0 })), 'none', 'a failed pre-download is not retried; the install downloads');
  // A window that opened during a pause (or a stage about to start): the install does the download.
  assert.equal(decideTargetAction(t(), facts({ stageWaiting: true, stageStartsNow: true, downloadAt: 0 })), 'none');
});

test('a paused or aborted rollout sends nothing', () => {
  assert.equal(decideTargetAction(t(), facts({ rolloutRunning: false })), 'none');
  assert.equal(decideTargetAction(t(), facts({ rolloutRunning: false, stageWaiting: true, downloadAt: 0 })), 'none');
});
