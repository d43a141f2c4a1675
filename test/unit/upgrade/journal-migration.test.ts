// The journal's format migration (pure): what an agent ≤ 0.9 left — a format-1 journal and
// pending-boot.json, either missing or damaged — becomes one format-2 record an updated agent
// finishes from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JOURNAL_FORMAT, migrateJournal } from '@twinroot/agent';

const at = '2026-11-30T10:00:00.000Z';
const v1 = (state: string, taskId = 'up-1') => ({
  taskId, version: '2.0.0', location: 'https://backend/artifacts/2.0.0/manifest.json', mode: 'install-reboot', allowDowngrade: false,
  state, slot: 'B', payloadSha256: 'a'.repeat(64), error: null, history: [{ state: 'idle', at }, { state, at }], updatedAt: at,
});
const pending = (taskId = 'up-1') => ({ taskId, slot: 'B', version: '2.0.0', bootId: 'boot-1', arrangedAt: at });

test('a format-1 journal in its reboot with its pending-boot record: one record in rebooting with the arming boot', () => {
  const rec = migrateJournal(v1('rebooting'), pending())!;
  assert.equal(rec.formatVersion, JOURNAL_FORMAT);
  assert.deepEqual([rec.state, rec.bootId, rec.slot, rec.location, rec.resumes], ['rebooting', 'boot-1', 'B', 'https://backend/artifacts/2.0.0/manifest.json', 0]);
  assert.deepEqual(rec.history.map((h) => h.state), ['idle', 'rebooting', 'rebooting']);
});

test('a format-1 journal before the switch keeps its state (no boot armed yet)', () => {
  for (const state of ['downloading', 'verified', 'committed', 'failed']) {
    const rec = migrateJournal(v1(state), null)!;
    assert.deepEqual([rec.state, rec.bootId, rec.formatVersion], [state, null, JOURNAL_FORMAT], state);
  }
  // Format 1 spelt states in kebab-case; format 2 uses the protocol's snake_case.
  const kebab = migrateJournal(v1('boot-configured'), null)!;
  assert.deepEqual([kebab.state, kebab.history.at(-1)!.state], ['boot_configured', 'boot_configured']);
  assert.equal(migrateJournal(v1('rolled-back'), null)!.state, 'rolled_back');
});

test('a pending-boot record alone (its journal lost or another task\'s) is still finished', () => {
  for (const journal of [null, 'not json', v1('committed', 'up-0')]) {
    const rec = migrateJournal(journal, pending())!;
    assert.deepEqual([rec.taskId, rec.state, rec.bootId, rec.mode], ['up-1', 'rebooting', 'boot-1', 'install-reboot']);
  }
});

test('a pending-boot record newer than today\'s journal of an earlier task wins; an older one is stale', () => {
  const earlier = migrateJournal(v1('committed', 'up-0'), null)!; // format 2, updated at `at`
  const newer = { ...pending('up-1'), arrangedAt: '2026-11-30T11:00:00.000Z' };
  const rec = migrateJournal(earlier, newer)!;
  assert.deepEqual([rec.taskId, rec.state, rec.bootId], ['up-1', 'rebooting', 'boot-1']);
  const stale = { ...pending('up-1'), arrangedAt: '2026-11-30T09:00:00.000Z' };
  assert.deepEqual(migrateJournal(earlier, stale), earlier);
});

test('damaged records migrate to nothing rather than to a guess', () => {
  assert.equal(migrateJournal(null, null), null);
  assert.equal(migrateJournal({ taskId: 'x' }, { slot: 'C' }), null);
  // A damaged pending record does not hide a readable journal.
  assert.equal(migrateJournal(v1('verified'), { slot: 'C' })!.state, 'verified');
});

test('a record already in today\'s format is returned as it is', () => {
  const rec = migrateJournal(v1('verified'), null)!;
  assert.deepEqual(migrateJournal(rec, null), rec);
});
