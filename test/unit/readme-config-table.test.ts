import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configTable } from '../../scripts/config-table.js';

test('README configuration table matches the backend\'s configuration keys', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const m = /<!-- config-table:start[^>]*-->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
  assert.ok(m, 'README has the config-table markers');
  assert.equal(m[1], configTable(), 'regenerate with: npx tsx --conditions=twinroot-source scripts/config-table.ts');
});

test('.ci/run runs exactly the README\'s test command', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
  const cmd = /The test command that `\.ci\/run` runs, once its packages are installed, is\n`([^`]+)`/.exec(readme)?.[1];
  assert.ok(cmd, 'README names the test command');
  assert.ok(ci.split('\n').includes(cmd), `.ci/run must contain the line: ${cmd}`);
});
