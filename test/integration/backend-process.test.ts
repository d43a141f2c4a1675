// Runs the backend as `npm start` does (a separate process) and checks start, health and a clean stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function startProcess(dataDir: string, extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--conditions=twinroot-source', '--import', 'tsx', 'backend/src/main.ts'], {
    env: { ...process.env, TWINROOT_DATA_DIR: dataDir, TWINROOT_HTTP_PORT: '0', TWINROOT_MQTT_PORT: '0', TWINROOT_LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not up in 30 s: ${out}${err}`)), 30_000);
    child.stdout.on('data', () => {
      const m = /HTTP API\s+(http:\/\/\S+)/.exec(out);
      if (m && /operator key/.test(out)) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`exited ${code}: ${err}`));
    });
  });
  return { child, ready, exited, output: () => out, errors: () => err };
}

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
