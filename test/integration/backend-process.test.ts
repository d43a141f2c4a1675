// Runs the backend as `npm start` does (a separate process) and checks start, health and a clean stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackendProcess } from '../helpers/backend-process.js';

const startProcess = (dataDir: string, env: Record<string, string> = {}) => {
  const p = startBackendProcess(dataDir, env);
  return { ...p, ready: p.ready.then((u) => u.http) };
};

test('the backend process starts, answers /healthz, prints the operator key and stops on SIGTERM and SIGINT', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-proc-'));
  try {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const p = startProcess(dataDir);
      const url = await p.ready;
      const res = await fetch(`${url}/healthz`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { store: { status: string }; broker: { status: string } };
      assert.equal(body.store.status, 'up');
      assert.equal(body.broker.status, 'up');
      const key = /operator key\s+(\S+)/.exec(p.output())?.[1];
      assert.equal(key, readFileSync(join(dataDir, 'operator-key'), 'utf8').trim(), 'the printed key is the kept one');
      assert.equal(statSync(join(dataDir, 'operator-key')).mode & 0o777, 0o600);
      p.child.kill(signal);
      assert.equal(await p.exited, 0, `clean exit on ${signal}`);
      assert.match(p.output(), /backend stopped/);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a bad configuration stops the start with one line naming the key and exit code 2', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-proc-'));
  try {
    const p = startProcess(dataDir, { TWINROOT_HTTP_PORT: 'abc' });
    await assert.rejects(p.ready);
    assert.equal(await p.exited, 2);
    assert.match(p.errors(), /configuration error: TWINROOT_HTTP_PORT \(httpPort\)/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
