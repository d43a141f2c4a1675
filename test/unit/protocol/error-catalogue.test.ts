// The error catalogue is the only source of codes: every code the sources raise, report or
// compare is catalogued, every catalogued code is raised somewhere, and the backend's rollout
// rule for "rolled back" is read from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_CATALOGUE, ERROR_CODES, errorEntry, isErrorCode, ROLLED_BACK_CODES } from '@twinroot/protocol';

const ROOT = join(import.meta.dirname, '../../..');
const SOURCE_DIRS = ['agent/src', 'backend/src', 'backend/console/js', 'protocol/src', 'image-build/src', 'demo'];
const CATALOGUE_FILE = 'protocol/src/errors.ts';

// Where a code appears in source: a `code:` property, an error constructed with its code first,
// the backend's HTTP error helpers, a comparison with a code, a code-valued map entry.
const USES = [
  /\bcode: '([a-z][a-z0-9_]*)'/g,
  /\bnew (?!SlotCommandError|LimitedFetchError|ConfigError|Error\b)\w*(?:Error|Failure)\(\s*(?:\d+,\s*)?'([a-z][a-z0-9_]*)'/g,
  /\b(?:badRequest|unauthorized|conflict)\(\s*'([a-z][a-z0-9_]*)'/g,
  /\.code === '([a-z][a-z0-9_]*)'/g,
  /\b(?:code|fallback)\): ErrorCode \{[^}]*'([a-z][a-z0-9_]*)'/g,
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every code a text uses, with its line. */
export function codesUsed(text: string): Array<{ code: string; line: number }> {
  const found: Array<{ code: string; line: number }> = [];
  for (const re of USES) {
    for (const m of text.matchAll(re)) found.push({ code: m[1]!, line: text.slice(0, m.index).split('\n').length });
  }
  return found;
}

const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d))).filter((f) => relative(ROOT, f) !== CATALOGUE_FILE);

test('the scanner finds a code used but not catalogued (it would fail the next test)', () => {
  const used = codesUsed("throw new TaskFailure('disk_on_fire', 'x');\nreturn { code: 'payload_corrupt', message };\nthrow badRequest('bad_body', 'y');");
  assert.deepEqual(used.map((u) => u.code).sort(), ['bad_body', 'disk_on_fire', 'payload_corrupt']);
  assert.deepEqual(used.filter((u) => !isErrorCode(u.code)).map((u) => [u.code, u.line]), [['disk_on_fire', 1]]);
});

test('every error code the sources use is in the catalogue', () => {
  const missing: string[] = [];
  let uses = 0;
  for (const f of files) {
    for (const u of codesUsed(readFileSync(f, 'utf8'))) {
      uses++;
      if (!isErrorCode(u.code)) missing.push(`${relative(ROOT, f)}:${u.line}: ${u.code}`);
    }
  }
  assert.deepEqual(missing, [], 'codes used but not catalogued');
  assert.ok(uses > 100, `the scanner saw the sources' codes (${uses} uses)`);
});

test('every catalogued code is raised somewhere (no dead entries), and entries are complete', () => {
  const all = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  const unused = ERROR_CODES.filter((c) => !all.includes(`'${c}'`));
  assert.deepEqual(unused, [], 'catalogued but never used');
  for (const code of ERROR_CODES) {
    const e = errorEntry(code)!;
    assert.match(code, /^[a-z][a-z0-9_]{1,63}$/, code);
    assert.ok(e.meaning.length > 10, `${code} says what it means`);
    if (e.scope === 'http') assert.ok(e.httpStatus && e.httpStatus >= 400 && e.httpStatus < 600, `${code} has its HTTP status`);
  }
  assert.equal(errorEntry('no_such_code'), null);
});

test('the rollout rule "rolled back" is the catalogue\'s, not a list of its own', () => {
  assert.deepEqual([...ROLLED_BACK_CODES].sort(), ['health_check_failed', 'trial_boot_failed', 'trial_crash_loop']);
  for (const c of ROLLED_BACK_CODES) assert.equal(ERROR_CATALOGUE[c as keyof typeof ERROR_CATALOGUE].raisedBy, 'agent');
  const rule = readFileSync(join(ROOT, 'backend/src/rollouts/target-state.ts'), 'utf8');
  assert.match(rule, /ROLLED_BACK_CODES\.has\(/);
  assert.doesNotMatch(rule, /'health_check_failed'|'trial_boot_failed'/, 'no code literal in the rule');
});
