// The appliance CLI and daemon as processes, and the collectLogs / installService tasks end to end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_REGISTER_TOKEN, useDeviceStack, waitFor } from '../../helpers/device-api.js';
import { makeDirSlots, startTestAgent, task } from '../../helpers/agent.js';
import { makeKeys } from '../../helpers/packages.js';
import { signServiceBundle } from '@twinroot/image-build';

const stack = useDeviceStack({ before, after });

const CLI = ['--conditions=twinroot-source', '--import', 'tsx'];
// Async: the device API under test is served by this same process, so it must not be blocked.
function twinroot(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, 'agent/src/cli/twinroot.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

function applianceConfig(): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-cli-'));
  makeDirSlots(join(dir, 'slots'), '1.4.2');
  const file = join(dir, 'agent.json');
  writeFileSync(file, JSON.stringify({ stateDir: join(dir, 'state'), logFile: join(dir, 'agent.log'), slots: { driver: 'dir', root: join(dir, 'slots') }, stopGraceMs: 3000 }));
  return { file, dir };
}

test('twinroot register stores the identity (0600) and sends the appliance facts', async () => {
  const { file, dir } = applianceConfig();
  const r = await twinroot(['--config', file, 'register', '--token', TEST_REGISTER_TOKEN, '--backend', stack.api.url, '--hostname', 'edge-17.example']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^registered as [0-9a-f-]{36}; token expires .*; MQTT mqtt:\/\/127\.0\.0\.1:\d+\n$/);
  assert.equal(stack.api.received.registrations.at(-1)!.hostname, 'edge-17.example', 'the name operators see');
  const idFile = join(dir, 'state/identity.json');
  assert.equal(statSync(idFile).mode & 0o777, 0o600);
  const id = JSON.parse(readFileSync(idFile, 'utf8')) as { applianceId: string; backendUrl: string };
  assert.equal(id.backendUrl, stack.api.url);
  const reg = stack.api.received.registrations.at(-1)!;
  assert.equal(reg.version, '1.4.2');
  assert.equal(reg.slot, 'A');
  assert.ok(reg.memoryMb > 0 && reg.cpu.length > 0 && reg.hostname.length > 0 && reg.ip.length > 0);
  // The idempotency key is kept before the first attempt, so a retried registration sends the same one.
  const key = readFileSync(join(dir, 'state/registration-key'), 'utf8').trim();
  assert.equal(reg.idempotencyKey, key);
  assert.equal(statSync(join(dir, 'state/registration-key')).mode & 0o777, 0o600);

  const s = await twinroot(['--config', file, 'status', '--json']);
  assert.equal(s.code, 0, s.err);
  const status = JSON.parse(s.out) as { registered: boolean; applianceId: string; connection: string; slots: { bootedSlot: string } };
  assert.equal(status.registered, true);
  assert.equal(status.applianceId, id.applianceId);
  assert.equal(status.connection, 'not running');
  assert.equal(status.slots.bootedSlot, 'A');
  const human = await twinroot(['--config', file, 'status']);
  assert.match(human.out, /slots\s+booted A, committed A; A=1\.4\.2 B=-/);
});

test('CLI errors are one line with a non-zero exit', async () => {
  const { file } = applianceConfig();
  const cases: [string[], number, RegExp][] = [
    [['--config', file, 'register', '--token', 'wrong-token-wrong-token', '--backend', stack.api.url], 1, /^twinroot: registration failed: HTTP 401/],
    [['--config', file, 'register', '--backend', stack.api.url], 2, /^twinroot: register needs --token/],
    [['--config', file, 'register', '--token', 'x'.repeat(20), '--backend', 'ftp://x'], 2, /--backend http/],
    [['--config', file, 'register', '--token', 'x'.repeat(20), '--backend', stack.api.url, '--hostname', 'a b;reboot'], 2, /--hostname must be a host name/],
    [['--config', file, 'frobnicate'], 2, /^twinroot: unknown command: frobnicate/],
    [['--config', join(tmpdir(), 'missing.json'), 'status'], 1, /cannot read config .*ENOENT/],
    [['--config', file, 'diagnose'], 2, /diagnose needs --out/],
  ];
  for (const [args, code, re] of cases) {
    const r = await twinroot(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
  }
});

test('twinroot diagnose writes a tar.gz with logs, network, disk, LVM and slot status', async () => {
  const { file, dir } = applianceConfig();
  writeFileSync(join(dir, 'agent.log'), '{"msg":"hello from the agent"}\n');
  const out = join(dir, 'diag.tar.gz');
  const r = await twinroot(['--config', file, 'diagnose', '--out', out]);
  assert.equal(r.code, 0, r.err);
  const list = spawnSync('tar', ['-tzf', out], { encoding: 'utf8' }).stdout.split('\n');
  for (const f of ['journal.txt', 'ip-addr.txt', 'ip-route.txt', 'df.txt', 'lvs.txt', 'agent.log', 'slot-status.json']) assert.ok(list.includes(`twinroot-diagnostics/${f}`), f);
  const slot = spawnSync('tar', ['-xzOf', out, 'twinroot-diagnostics/slot-status.json'], { encoding: 'utf8' }).stdout;
  assert.equal((JSON.parse(slot) as { bootedSlot: string }).bootedSlot, 'A');
});

test('twinroot-agent run: connects, runs a task, exits 0 on SIGTERM', async () => {
  const { file } = applianceConfig();
  assert.equal((await twinroot(['--config', file, 'register', '--token', TEST_REGISTER_TOKEN, '--backend', stack.api.url])).code, 0);
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as { stateDir: string };
  const id = JSON.parse(readFileSync(join(cfg.stateDir, 'identity.json'), 'utf8')) as { applianceId: string; mqtt: { topic: string } };
  const child = spawn(process.execPath, [...CLI, 'agent/src/cli/twinroot-agent.ts', 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  try {
    await waitFor('connected', () => out.includes('mqtt: connected and subscribed'), 30_000);
    await stack.backend.broker.publish(id.mqtt.topic, task('proc-hb-1', 'heartbeat'));
    await waitFor('heartbeat', () => stack.api.received.heartbeats.some((h) => h.heartbeat.taskId === 'proc-hb-1'), 15_000);
    const s = await twinroot(['--config', file, 'status', '--json']);
    assert.equal((JSON.parse(s.out) as { connection: string }).connection, 'connected');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out.slice(-2000));
  assert.match(out, /agent stopped/);
});

test('collectLogs: the bundle is PUT to the upload URL', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  try {
    await stack.backend.broker.publish(a.topic, task('logs-1', 'collectLogs', { uploadUrl: `${stack.api.url}/upload/logs-1.tar.gz` }));
    await waitFor('succeeded', () => stack.api.resultsFor('logs-1').some((r) => r.result.status === 'succeeded'), 30_000);
    const body = stack.api.uploads.get('logs-1.tar.gz');
    assert.ok(body && body.length > 100);
    assert.equal(body[0], 0x1f, 'gzip magic');
    assert.equal(body[1], 0x8b);
  } finally {
    await a.stop();
  }
});

test('installService: the signed manifest is verified, then the bundle, then the installer runs with an argument array; a bad hash never reaches it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-svc-'));
  const calls = join(dir, 'calls.txt');
  const installer = join(dir, 'installer.sh');
  writeFileSync(installer, `#!/bin/sh\nfor a in "$@"; do printf '%s|' "$a" >> '${calls}'; done\necho >> '${calls}'\n`);
  chmodSync(installer, 0o755);
  const keys = makeKeys();
  const bundle = Buffer.from('pretend this is a tar.gz of images and manifests');
  stack.api.files.set('billing.tgz', bundle);
  writeFileSync(join(dir, 'billing.tgz'), bundle);
  await serveSigned(dir, 'billing.tgz', 'billing', '3.2.1', keys.privateKey);
  // A manifest signed for another service, used with the billing bundle: the task lies about what it installs.
  writeFileSync(join(dir, 'reports.tgz'), Buffer.from('a different bundle'));
  await serveSigned(dir, 'reports.tgz', 'reports', '1.0.0', keys.privateKey);
  const url = (f: string) => `${stack.api.url}/files/${f}`;
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { config: { serviceInstaller: [installer], serviceSigningKeyFile: keys.publicKey } });
  try {
    await stack.backend.broker.publish(a.topic, task('svc-ok', 'installService', { serviceCode: 'billing', version: '3.2.1', bundleUrl: url('billing.tgz'), manifestUrl: url('billing.tgz.manifest.json') }));
    await waitFor('installed', () => stack.api.resultsFor('svc-ok').some((r) => r.result.status === 'succeeded'), 15_000);
    const line = readFileSync(calls, 'utf8').trim().split('\n')[0]!.split('|');
    assert.deepEqual(line.slice(0, 3), ['install', 'billing', '3.2.1']);
    assert.match(line[3]!, /bundles\/billing-3\.2\.1\.tar\.gz$/);
    assert.equal(existsSync(line[3]!), false, 'the bundle is removed after install');

    // The reports manifest is genuine, but the bundle served at its URL is billing's: its hash differs.
    await stack.backend.broker.publish(a.topic, task('svc-bad', 'installService', { serviceCode: 'reports', version: '1.0.0', bundleUrl: url('billing.tgz'), manifestUrl: url('reports.tgz.manifest.json') }));
    await waitFor('failed', () => stack.api.resultsFor('svc-bad').some((r) => r.result.status === 'failed'), 15_000);
    const f = stack.api.resultsFor('svc-bad').find((r) => r.result.status === 'failed')!.result;
    assert.equal(f.status === 'failed' && f.error.code, 'checksum_mismatch');
    assert.equal(readFileSync(calls, 'utf8').trim().split('\n').length, 1, 'installer not called for the bad bundle');

    await stack.backend.broker.publish(a.topic, task('svc-hb', 'heartbeat'));
    await waitFor('heartbeat', () => stack.api.received.heartbeats.some((h) => h.heartbeat.taskId === 'svc-hb'));
    const hb = stack.api.received.heartbeats.find((h) => h.heartbeat.taskId === 'svc-hb')!.heartbeat;
    assert.deepEqual(hb.services, [{ name: 'billing', status: 'running' }, { name: 'reports', status: 'failed' }]);

    await stack.backend.broker.publish(a.topic, task('svc-rm', 'uninstallService', { serviceCode: 'billing' }));
    await waitFor('uninstalled', () => stack.api.resultsFor('svc-rm').some((r) => r.result.status === 'succeeded'));
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n')[1]!.split('|').slice(0, 2), ['uninstall', 'billing']);
  } finally {
    await a.stop();
  }
});

test('security #5: unsigned, wrongly signed and mismatched service bundles are refused with a code before the installer runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-svc-'));
  const calls = join(dir, 'calls.txt');
  const installer = join(dir, 'installer.sh');
  writeFileSync(installer, `#!/bin/sh\necho "$@" >> '${calls}'\n`);
  chmodSync(installer, 0o755);
  const pinned = makeKeys();
  const other = makeKeys();
  const bundle = Buffer.from('#!/bin/sh\nrm -rf / # a hostile bundle');
  stack.api.files.set('evil.tgz', bundle);
  writeFileSync(join(dir, 'evil.tgz'), bundle);
  await serveSigned(dir, 'evil.tgz', 'evil', '1.0.0', other.privateKey);
  const url = (f: string) => `${stack.api.url}/files/${f}`;
  const sha = createHash('sha256').update(bundle).digest('hex');
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { config: { serviceInstaller: [installer], serviceSigningKeyFile: pinned.publicKey } });
  try {
    const cases: [string, Record<string, unknown>, string][] = [
      ['svc-unsigned', { serviceCode: 'evil', version: '1.0.0', bundleUrl: url('evil.tgz'), sha256: sha }, 'bundle_unsigned'],
      ['svc-other-key', { serviceCode: 'evil', version: '1.0.0', bundleUrl: url('evil.tgz'), manifestUrl: url('evil.tgz.manifest.json') }, 'bad_signature'],
    ];
    for (const [id, body, code] of cases) {
      await stack.backend.broker.publish(a.topic, task(id, 'installService', body));
      await waitFor(`${id} failed`, () => stack.api.resultsFor(id).some((r) => r.result.status === 'failed'), 15_000);
      const f = stack.api.resultsFor(id).find((r) => r.result.status === 'failed')!.result;
      assert.equal(f.status === 'failed' && f.error.code, code, id);
    }
    // Signed with the pinned key, but for another version than the task names.
    await serveSigned(dir, 'evil.tgz', 'evil', '1.0.0', pinned.privateKey);
    await stack.backend.broker.publish(a.topic, task('svc-version', 'installService', { serviceCode: 'evil', version: '2.0.0', bundleUrl: url('evil.tgz'), manifestUrl: url('evil.tgz.manifest.json') }));
    await waitFor('svc-version failed', () => stack.api.resultsFor('svc-version').some((r) => r.result.status === 'failed'), 15_000);
    const f = stack.api.resultsFor('svc-version').find((r) => r.result.status === 'failed')!.result;
    assert.equal(f.status === 'failed' && f.error.code, 'bad_manifest');
    assert.equal(existsSync(calls), false, 'the installer never ran');
  } finally {
    await a.stop();
  }
});

/** Signs a bundle in `dir` and serves its manifest and signature beside it on the fake device API. */
async function serveSigned(dir: string, file: string, code: string, version: string, key: string): Promise<void> {
  const s = await signServiceBundle({ bundleFile: join(dir, file), serviceCode: code, version, keyFile: key });
  stack.api.files.set(`${file}.manifest.json`, readFileSync(s.manifestFile));
  stack.api.files.set(`${file}.manifest.json.sig`, readFileSync(s.signatureFile));
}

test('a token that expires within 10 days is refreshed at start; the agent reconnects with the new one', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  try {
    const idFile = join(a.config.stateDir, 'identity.json');
    const before = JSON.parse(readFileSync(idFile, 'utf8')) as { applianceToken: string; tokenExpiresAt: string };
    writeFileSync(idFile, JSON.stringify({ ...before, tokenExpiresAt: new Date(Date.now() + 5 * 86400_000).toISOString() }), { mode: 0o600 });
    const refreshes = stack.api.refreshes;
    await a.restart();
    await waitFor('refreshed', () => stack.api.refreshes === refreshes + 1);
    await waitFor('identity rewritten', () => (JSON.parse(readFileSync(idFile, 'utf8')) as { applianceToken: string }).applianceToken !== before.applianceToken);
    const after = JSON.parse(readFileSync(idFile, 'utf8')) as { tokenExpiresAt: string };
    assert.ok(Date.parse(after.tokenExpiresAt) > Date.now() + 50 * 86400_000);
    assert.equal(statSync(idFile).mode & 0o777, 0o600);
    // The broker's store now holds only the new token's hash: MQTT works again only with the new token.
    await waitFor('reconnected', () => a.agent.transport()?.state === 'connected');
    await stack.backend.broker.publish(a.topic, task('after-refresh', 'heartbeat'));
    await waitFor('heartbeat with the new token', () => stack.api.received.heartbeats.some((h) => h.heartbeat.taskId === 'after-refresh'));
  } finally {
    await a.stop();
  }
});

test('reboot: reported succeeded before the reboot command runs, and not run again after the restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-reboot-'));
  const marker = join(dir, 'reboots');
  const script = join(dir, 'reboot.sh');
  writeFileSync(script, `#!/bin/sh\necho reboot >> '${marker}'\n`);
  chmodSync(script, 0o755);
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { config: { rebootCommand: [script] } });
  try {
    await stack.backend.broker.publish(a.topic, task('reboot-1', 'reboot'));
    await waitFor('reboot issued', () => existsSync(marker));
    await waitFor('succeeded', () => stack.api.resultsFor('reboot-1').some((r) => r.result.status === 'succeeded'));
    await a.restart();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(readFileSync(marker, 'utf8').trim().split('\n').length, 1, 'rebooted once');
  } finally {
    await a.stop();
  }
});
