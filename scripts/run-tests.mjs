#!/usr/bin/env node
// Runs the unit and integration tests with node's own test runner (TypeScript through tsx).
// Usage: npm test [-- unit|integration|<file>...]; npm run test:e2e (= --e2e: the browser tests in test/e2e)
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const suites = ['test/unit', 'test/integration'];
const args = process.argv.slice(2);

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => f.endsWith('.test.ts') && statSync(f).isFile())
    .sort();
}

let files;
if (args[0] === '--e2e') files = testFiles('test/e2e');
else if (args.length === 0) files = suites.flatMap(testFiles);
else files = args.flatMap((a) => (suites.includes(`test/${a}`) ? testFiles(`test/${a}`) : [a]));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

const res = spawnSync(
  process.execPath,
  [
    '--conditions=twinroot-source',
    '--import', 'tsx',
    '--test',
    '--test-force-exit', // aws-crt keeps native handles alive after a client is closed
    '--test-reporter=spec',
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, TWINROOT_LOG_LEVEL: process.env.TWINROOT_LOG_LEVEL ?? 'silent', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
);
process.exit(res.status ?? 1);
