// Runs the backend as `npm start` does (a separate process) and checks start, health and a clean stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackendProcess } from '../helpers/backend-process.js';

const startProcess = (dataDir: string, env: Record<string, string> = {}) => {
  const p = startBackendProcess(dataDir, env);
  return { ...p, ready: p.ready.then((u) => u.http) };
};

test('the backend process starts, answers /healthz, prints the operator key once and stops on SIGTERM and SIGINT', async () => {
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
      const key = readFileSync(join(dataDir, 'operator-key'), 'utf8').trim();
      // Printed when generated (the first start), never again: logs and terminals keep what is printed.
      assert.equal(p.output().includes(key), signal === 'SIGTERM', p.output());
      assert.match(p.output(), new RegExp(`operator key\\s+.*${join(dataDir, 'operator-key')}`));
      assert.equal(statSync(join(dataDir, 'operator-key')).mode & 0o777, 0o600);
      p.child.kill(signal);
      assert.equal(await p.exited, 0, `clean exit on ${signal}`);
      assert.match(p.output(), /backend stopped/);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('security #8 and #9: /healthz tells status only without the operator key; the embedded store is a 0600 Unix socket and its files 0600 in 0700 directories', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-proc-'));
  const p = startProcess(dataDir, { TWINROOT_OPERATOR_KEY: 'trk_process-test-operator-key-0123', TWINROOT_LOG_LEVEL: 'info' });
  try {
    const url = await p.ready;
    // Security #9: a signed upload URL's signature never reaches the request log.
    await fetch(`${url}/v1/log-uploads/00000000-0000-0000-0000-000000000000/00000000-0000-0000-0000-000000000001?expires=1&sig=SECRETSIGNATURE`, { method: 'PUT', body: 'x' });
    await new Promise((r) => setTimeout(r, 300));
    assert.doesNotMatch(p.output(), /SECRETSIGNATURE/);
    assert.match(p.output(), /sig=redacted/);
    const anon = (await (await fetch(`${url}/healthz`)).json()) as Record<string, Record<string, unknown>>;
    assert.deepEqual(anon, { status: 'ok', store: { status: 'up' }, broker: { status: 'up' } });
    const op = (await (await fetch(`${url}/healthz`, { headers: { authorization: 'Bearer trk_process-test-operator-key-0123' } })).json()) as Record<string, Record<string, unknown>>;
    assert.match(String(op.store!.endpoint), /^unix:\//, 'the store is reached through its socket');
    assert.match(String(op.broker!.url), /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.match(p.output(), /DynamoDB\s+unix:\//);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, 'dynamodb.sock')).mode & 0o777, 0o600);
    assert.ok(statSync(join(dataDir, 'dynamodb.sock')).isSocket());
    // Another local user cannot reach the store (it takes any credentials): the connect is refused.
    if (process.getuid?.() === 0) {
      const probe = "require('net').connect(process.argv[1]).on('error',(e)=>{console.log(e.code);process.exit(0)}).on('connect',()=>{console.log('CONNECTED');process.exit(1)})";
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe, join(dataDir, 'dynamodb.sock')], { encoding: 'utf8' });
      assert.equal(r.stdout.trim(), 'EACCES', `as nobody: ${r.stdout}${r.stderr}`);
    }
    // A write, so the store has data files; every file the backend made is 0600, every directory 0700.
    assert.equal((await fetch(`${url}/v1/customers`, { method: 'POST', headers: { authorization: 'Bearer trk_process-test-operator-key-0123', 'content-type': 'application/json' }, body: '{"name":"A","region":"eu-west-1"}' })).status, 201);
    const loose = readdirSync(dataDir, { recursive: true, withFileTypes: true })
      .map((d) => ({ path: join(d.parentPath, d.name), mode: statSync(join(d.parentPath, d.name)).mode & 0o777, dir: d.isDirectory(), file: d.isFile() }))
      .filter((f) => (f.dir && f.mode !== 0o700) || (f.file && f.mode !== 0o600));
    assert.deepEqual(loose, []);
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('bad operator keys are refused at start with one line: too short, too long, with spaces', async () => {
  for (const [key, why] of [['x', /at least 16/], ['k'.repeat(1025), /at most 1024/], ['a key with spaces 123', /visible ASCII/]] as const) {
    const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-proc-'));
    try {
      const p = startProcess(dataDir, { TWINROOT_OPERATOR_KEY: key });
      await assert.rejects(p.ready);
      assert.equal(await p.exited, 2, key.slice(0, 20));
      assert.match(p.errors(), why);
      assert.equal(p.errors().trim().split('\n').length, 1, p.errors());
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
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

test('the bare backend in embedded-mTLS mode is one setting (TWINROOT_MQTT_AUTH=certificate): it prints its mqtts:// listener, generates its CA (key 0600) and reports the broker up', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-proc-mtls-'));
  try {
    // The ports are free ones only so tests can run side by side.
    const p = startBackendProcess(dataDir, { TWINROOT_MQTT_AUTH: 'certificate', TWINROOT_MQTT_TLS_PORT: '0' });
    const { http, mqtt } = await p.ready;
    assert.match(mqtt, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    assert.match(p.output(), /MQTT over TLS, client certificates of the embedded CA/);
    assert.doesNotMatch(p.output(), /id \+ token/);
    assert.equal(statSync(join(dataDir, 'ca', 'ca-key.pem')).mode & 0o777, 0o600);
    const key = readFileSync(join(dataDir, 'operator-key'), 'utf8').trim();
    const health = (await (await fetch(`${http}/healthz`, { headers: { authorization: `Bearer ${key}` } })).json()) as { broker: { status: string } };
    assert.equal(health.broker.status, 'up');
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
