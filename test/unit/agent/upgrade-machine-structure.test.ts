// The shape the upgrade state machine keeps: one step per non-terminal state, in the states
// folder; the runner the only code that writes the journal; steps that cannot write it at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isFinished, UPGRADE_STATES } from '@twinroot/agent';

const AGENT = join(import.meta.dirname, '../../../agent/src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}
const sources = files(AGENT).map((f) => ({ path: relative(AGENT, f), text: readFileSync(f, 'utf8') }));

test('only the runner holds the journal; only the journal writes upgrade.json', () => {
  const holders = sources.filter((s) => /\bnew UpgradeJournal\(/.test(s.text)).map((s) => s.path);
  assert.deepEqual(holders, ['upgrade/runner.ts']);
  const writers = sources.filter((s) => /\.(transition|begin|setResumes)\(/.test(s.text) && /journal/i.test(s.text)).map((s) => s.path).sort();
  assert.deepEqual(writers, ['upgrade/pipeline.ts', 'upgrade/runner.ts']);
  // pipeline.ts only starts a record through the runner (runner.begin), never the journal itself.
  assert.doesNotMatch(sources.find((s) => s.path === 'upgrade/pipeline.ts')!.text, /journal\.(transition|begin|setResumes)\(/);
  const named = sources.filter((s) => s.text.includes("'upgrade.json'")).map((s) => s.path);
  assert.deepEqual(named, ['upgrade/journal.ts']);
  const legacy = sources.filter((s) => s.text.includes('pending-boot.json')).map((s) => s.path).sort();
  assert.deepEqual(legacy, ['upgrade/journal-migration.ts', 'upgrade/journal.ts'], 'the second record is gone: only the migration knows it');
});

test('every state that is not final has one step, in upgrade/states/, and no step imports the journal\'s writer', async () => {
  const { STEPS } = (await import('../../../agent/src/upgrade/states/index.js')) as { STEPS: Record<string, unknown> };
  const running = UPGRADE_STATES.filter((s) => !isFinished(s, 'install-reboot'));
  assert.deepEqual(Object.keys(STEPS).sort(), [...running].sort());
  for (const s of sources.filter((f) => f.path.startsWith('upgrade/states/'))) {
    assert.doesNotMatch(s.text, /import \{[^}]*UpgradeJournal[^}]*\} from/, `${s.path} must not write the journal`);
    assert.doesNotMatch(s.text, /writeFileAtomic/, `${s.path} persists nothing itself`);
  }
});
