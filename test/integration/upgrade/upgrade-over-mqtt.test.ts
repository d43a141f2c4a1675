// The upgrade task as the backend sends it: over the real broker to a running agent (dir
// slots), results to the device API, across the "reboot" (an agent restart for dir slots);
// and the appliance CLI's download / upgrade / rollback commands as processes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltPackage } from '@twinroot/image-build';
import { buildPackage, verifyPackage } from '@twinroot/image-build';
import { useDeviceStack, waitFor } from '../../helpers/device-api.js';
import { makeDirSlots, startTestAgent, task } from '../../helpers/agent.js';
import { makeKeys, makePackage, makeRootfs, servePackage, type PackageServer, type TestKeys } from '../../helpers/packages.js';

const stack = useDeviceStack({ before, after });
let keys: TestKeys;
let pkg: BuiltPackage;
let server: PackageServer;

before(async () => {
  keys = makeKeys();
  pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 1024, chunkSize: 64 * 1024 });
  server = await servePackage(pkg);
});
after(async () => server.stop());

const upgradeConfig = () => ({ compatible: 'twinroot-test', releasePublicKeyFile: keys.publicKey });
const results = (taskId: string) => stack.api.resultsFor(taskId).map((r) => r.result);

test('an install-reboot task: progress reported, reboot, trial committed, success and a heartbeat with the new version', async () => {
  let reboots = 0;
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { config: upgradeConfig(), reboot: async () => void reboots++ });
  try {
    await stack.backend.broker.publish(a.topic, task('up-1', 'upgrade', { releaseId: 'rel-2', version: '2.0.0', manifestUrl: server.manifestUrl, mode: 'install-reboot' }));
    await waitFor('the reboot', () => reboots === 1);
    const before = results('up-1');
    assert.deepEqual([...new Set(before.map((r) => r.status))], ['accepted', 'running'], 'no final result before the reboot');
    const progress = before.map((r) => r.progress).filter((p) => p?.phase === 'downloading' || p?.phase === 'installing');
    assert.ok(progress.length > 0, 'download/install progress is reported');
    // The reboot (dir slots: the agent starts again, GRUB's part played by the driver).
    await a.restart();
    assert.equal(a.agent.bootCheck, 'committed');
    await waitFor('up-1 succeeded', () => results('up-1').some((r) => r.status === 'succeeded'));
    assert.deepEqual(results('up-1').at(-1)!.detail, { slot: 'B', version: '2.0.0', committed: true, checks: 1 });
    await waitFor('a heartbeat from the new version', () => stack.api.received.heartbeats.some((h) => h.applianceId === a.applianceId && h.heartbeat.version === '2.0.0' && !h.heartbeat.trial));
  } finally {
    await a.stop();
  }
});

test('refused upgrades fail the task with the reason: downgrade, wrong compatible', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { config: upgradeConfig() });
  try {
    writeFileSync(join(a.config.stateDir, '..', 'slots/A/etc/twinroot/version'), '3.0.0\n');
    await stack.backend.broker.publish(a.topic, task('up-down', 'upgrade', { releaseId: 'rel-2', version: '2.0.0', manifestUrl: server.manifestUrl, mode: 'install-reboot' }));
    await waitFor('up-down failed', () => results('up-down').some((r) => r.status === 'failed'));
    assert.equal(results('up-down').at(-1)!.error!.code, 'downgrade');
    // The operator allows it explicitly.
    await stack.backend.broker.publish(a.topic, task('up-down-ok', 'upgrade', { releaseId: 'rel-2', version: '2.0.0', manifestUrl: server.manifestUrl, mode: 'download', allowDowngrade: true }));
    await waitFor('up-down-ok succeeded', () => results('up-down-ok').some((r) => r.status === 'succeeded'));
    assert.equal(results('up-down-ok').at(-1)!.detail!.state, 'verified');
  } finally {
    await a.stop();
  }
  const b = await startTestAgent(stack.api, stack.backend.urls.mqtt, { config: { ...upgradeConfig(), compatible: 'someone-else' } });
  try {
    await stack.backend.broker.publish(b.topic, task('up-compat', 'upgrade', { releaseId: 'rel-2', version: '2.0.0', manifestUrl: server.manifestUrl, mode: 'install' }));
    await waitFor('up-compat failed', () => results('up-compat').some((r) => r.status === 'failed'));
    assert.match(results('up-compat').at(-1)!.error!.message, /package is for twinroot-test; this appliance is someone-else/);
  } finally {
    await b.stop();
  }
});

function twinroot(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=twinroot-source', '--import', 'tsx', 'agent/src/cli/twinroot.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

test('CLI: twinroot download, then a console-less twinroot upgrade from the files, then twinroot rollback', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-cli-up-'));
  makeDirSlots(join(dir, 'slots'));
  const config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ stateDir: join(dir, 'state'), logFile: join(dir, 'agent.log'), slots: { driver: 'dir', root: join(dir, 'slots') }, rebootCommand: ['true'], ...upgradeConfig() }));
  server.faults = { cutAfter: [300_000] }; // the first attempt is cut; the command resumes by itself
  const dest = join(dir, 'pkg');
  const dl = await twinroot(['--config', config, 'download', server.manifestUrl, '--dest', dest, '--pubkey', keys.publicKey]);
  server.faults = {};
  assert.equal(dl.code, 0, dl.err);
  assert.match(dl.out, /^downloaded 2\.0\.0 to .*rootfs-2\.0\.0\.tar\.zst \([0-9]+ bytes, all [0-9]+ chunks verified/);
  assert.match(dl.err, /\[#+\] 100\.0%/, 'a progress line');
  await verifyPackage(dest, keys.publicKey); // a complete package directory

  const bad = await twinroot(['--config', config, 'upgrade', '--manifest', join(dest, 'manifest.json'), '--mode', 'sideways']);
  assert.equal(bad.code, 2);
  const up = await twinroot(['--config', config, 'upgrade', '--manifest', join(dest, 'manifest.json'), '--mode', 'install']);
  assert.equal(up.code, 0, up.err);
  assert.equal(up.out.trim(), '2.0.0: boot_configured (slot B)');
  assert.equal(readFileSync(join(dir, 'slots/B/etc/twinroot/version'), 'utf8'), '2.0.0\n');
  const again = await twinroot(['--config', config, 'upgrade', '--manifest', join(dest, 'manifest.json'), '--mode', 'install-reboot']);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /installed 2\.0\.0 into slot B; rebooting into it on trial/);
  const journal = JSON.parse(readFileSync(join(dir, 'state/upgrade.json'), 'utf8')) as { state: string; bootId: string | null };
  assert.equal(journal.state, 'rebooting');
  assert.ok(journal.bootId, 'the journal records the boot that armed the trial');

  const rb = await twinroot(['--config', config, 'rollback']);
  assert.equal(rb.code, 0, rb.err);
  assert.equal(rb.out.trim(), 'slot B is now the default (takes effect at the next boot)');
});

test('security #4 end to end: a signed package whose tree plants a link at sync-config\'s old temporary name installs without writing outside its slot', async () => {
  // The "running root's" file the link points at (for dir slots, anything outside the slot).
  const host = mkdtempSync(join(tmpdir(), 'twinroot-host-'));
  writeFileSync(join(host, 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  const work = mkdtempSync(join(tmpdir(), 'twinroot-hostile-'));
  const root = makeRootfs(join(work, 'rootfs'), { randomKiB: 64, marker: '2.1.0' });
  symlinkSync(join(host, 'passwd'), join(root, 'etc/hostname.twinroot-new'));
  const hostile = await buildPackage({ rootDir: root, version: '2.1.0', compatible: 'twinroot-test', keyFile: keys.privateKey, outDir: join(work, 'out'), chunkSize: 64 * 1024, level: 1 });
  const hostileServer = await servePackage(hostile);
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { config: upgradeConfig(), reboot: async () => undefined });
  try {
    writeFileSync(join(a.config.stateDir, '..', 'slots/A/etc/hostname'), 'appliance-9\n');
    await stack.backend.broker.publish(a.topic, task('up-hostile', 'upgrade', { releaseId: 'rel-21', version: '2.1.0', manifestUrl: hostileServer.manifestUrl, mode: 'install' }));
    await waitFor('up-hostile finished', () => results('up-hostile').some((r) => r.status === 'succeeded' || r.status === 'failed'));
    assert.equal(readFileSync(join(host, 'passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n', 'the file outside the slot is untouched');
    assert.equal(results('up-hostile').at(-1)!.status, 'succeeded');
    assert.equal(readFileSync(join(a.config.stateDir, '..', 'slots/B/etc/hostname'), 'utf8'), 'appliance-9\n', 'the slot got the running root\'s hostname');
  } finally {
    await a.stop();
    await hostileServer.stop();
  }
});
