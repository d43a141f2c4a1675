// The agent's start-up boot check and the rollback task, with `dir` slots, the real embedded
// broker and a device-API test server: the results must reach the backend across "reboots"
// (agent restarts, which is what a reboot is for dir slots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirSlotDriver, UpgradeJournal } from '@twinroot/agent';
import { useDeviceStack, waitFor } from '../../helpers/device-api.js';
import { startTestAgent, task, type TestAgent } from '../../helpers/agent.js';

const stack = useDeviceStack({ before, after });

function payload(files: Record<string, { text: string; mode?: number }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-payload-'));
  const src = join(dir, 'root');
  mkdirSync(join(src, 'etc'), { recursive: true });
  for (const [rel, f] of Object.entries(files)) {
    mkdirSync(join(src, rel, '..'), { recursive: true });
    writeFileSync(join(src, rel), f.text);
    chmodSync(join(src, rel), f.mode ?? 0o644);
  }
  execFileSync('bash', ['-c', 'tar -C "$1" -cf - . | zstd -q -o "$2"', '_', src, join(dir, 'p.tar.zst')]);
  return join(dir, 'p.tar.zst');
}

/**
 * What an upgrade does before its reboot: install, boot-config, try, and the journal's
 * `rebooting` state with the boot that armed it — or, with `legacy`, the two records an agent
 * ≤ 0.9 left (journal format 1 and pending-boot.json), which the agent must migrate and finish.
 */
async function arrangeTrial(a: TestAgent, taskId: string, version: string, file: string, legacy: false | 'both' | 'pending-only' = false): Promise<'A' | 'B'> {
  const d = a.agent.driver as DirSlotDriver;
  const s = await d.status();
  const slot = s.bootedSlot === 'A' ? 'B' : 'A';
  await d.install({ slot, payloadFile: file, compression: 'zstd', version });
  await d.syncConfig(slot);
  await d.bootConfig(slot);
  await d.tryBoot(slot);
  const at = new Date().toISOString();
  if (legacy) {
    const v1 = { taskId, version, location: 'https://example.invalid/manifest.json', mode: 'install-reboot', allowDowngrade: false, state: 'rebooting', slot, payloadSha256: 'a'.repeat(64), error: null, history: [{ state: 'boot_configured', at }, { state: 'rebooting', at }], updatedAt: at };
    if (legacy === 'both') writeFileSync(join(a.config.stateDir, 'upgrade.json'), JSON.stringify(v1));
    writeFileSync(join(a.config.stateDir, 'pending-boot.json'), JSON.stringify({ taskId, slot, version, bootId: d.bootId(), arrangedAt: at }));
    return slot;
  }
  const j = new UpgradeJournal(a.config.stateDir);
  const rec = j.begin({ taskId, version, location: 'https://example.invalid/manifest.json', mode: 'install-reboot', allowDowngrade: false, state: 'boot_configured', slot, payloadSha256: 'a'.repeat(64) });
  j.transition(rec, 'rebooting', { bootId: d.bootId() });
  return slot;
}

const resultOf = (taskId: string) => stack.api.resultsFor(taskId).at(-1)?.result;

test('a healthy trial boot commits and reports the task succeeded', async () => {
  let reboots = 0;
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { reboot: async () => void reboots++ });
  try {
    assert.equal(a.agent.bootCheck, 'nothing');
    const slot = await arrangeTrial(a, 'up-ok', '2.0.0', payload({ 'etc/app': { text: 'v2' } }));
    // (An agent restart without a reboot waits: see the state-machine unit test; for dir
    // slots every agent start is a boot.)
    // The reboot: booted in trial, health checks pass, committed, reported.
    await a.restart();
    assert.equal(a.agent.bootCheck, 'committed');
    const s = await a.agent.driver.status();
    assert.deepEqual([s.bootedSlot, s.committedSlot, s.trial], [slot, slot, false]);
    await waitFor('up-ok result', () => resultOf('up-ok')?.status === 'succeeded');
    assert.deepEqual(resultOf('up-ok')!.detail, { slot, version: '2.0.0', committed: true, checks: 1 });
    assert.deepEqual(new UpgradeJournal(a.config.stateDir).read()!.history.map((h) => h.state), ['boot_configured', 'rebooting', 'trial', 'committed']);
    assert.equal(reboots, 0);
  } finally {
    await a.stop();
  }
});

test('an upgrade an older agent left in its reboot (journal format 1 + pending-boot.json) is migrated and finished', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { reboot: async () => {} });
  try {
    const slot = await arrangeTrial(a, 'up-legacy', '2.5.0', payload({ 'etc/app': { text: 'v2.5' } }), 'both');
    await a.restart();
    assert.equal(a.agent.bootCheck, 'committed');
    await waitFor('up-legacy result', () => resultOf('up-legacy')?.status === 'succeeded');
    assert.equal(existsSync(join(a.config.stateDir, 'pending-boot.json')), false, 'the second record is gone');
    const rec = new UpgradeJournal(a.config.stateDir).read()!;
    assert.deepEqual([rec.formatVersion, rec.state, rec.slot, rec.location], [2, 'committed', slot, 'https://example.invalid/manifest.json']);
    // Then a pending-boot record alone, newer than today's journal (what the VM harness writes):
    // its trial is the one to settle, not the committed upgrade the journal remembers.
    const bad = payload({ 'etc/twinroot/health.d/50-app': { text: '#!/bin/sh\necho "app did not start"\nexit 1\n', mode: 0o755 } });
    await arrangeTrial(a, 'up-legacy-2', '2.6.0', bad, 'pending-only');
    await a.restart();
    assert.equal(a.agent.bootCheck, 'rolled_back');
    await waitFor('up-legacy-2 result', () => resultOf('up-legacy-2')?.status === 'failed');
    assert.equal(resultOf('up-legacy-2')!.error!.code, 'health_check_failed');
  } finally {
    await a.stop();
  }
});

test('an unhealthy trial rolls back, reboots, and reports health_check_failed', async () => {
  let reboots = 0;
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { reboot: async () => void reboots++ });
  try {
    const bad = payload({ 'etc/twinroot/health.d/50-app': { text: '#!/bin/sh\necho "app did not start"\nexit 1\n', mode: 0o755 } });
    const slot = await arrangeTrial(a, 'up-bad', '3.0.0', bad);
    await a.restart();
    assert.equal(a.agent.bootCheck, 'rolled_back');
    assert.equal(reboots, 1);
    await waitFor('up-bad result', () => resultOf('up-bad')?.status === 'failed');
    const r = resultOf('up-bad')!;
    assert.equal(r.error!.code, 'health_check_failed');
    assert.match(r.error!.message, new RegExp(`slot ${slot} \\(version 3\\.0\\.0\\): 50-app: app did not start`));
    // The reboot after the rollback lands on the committed slot; nothing more to report, but the
    // backend hears at once what runs now (it used to wait for the next heartbeat task).
    const before = stack.api.received.heartbeats.length;
    await a.restart();
    assert.equal(a.agent.bootCheck, 'nothing');
    const s = await a.agent.driver.status();
    assert.deepEqual([s.bootedSlot, s.committedSlot], ['A', 'A']);
    await waitFor('a heartbeat at start', () => stack.api.received.heartbeats.slice(before).some((h) => h.heartbeat.bootedSlot === 'A' && !h.heartbeat.trial));
  } finally {
    await a.stop();
  }
});

test('a trial slot that never came up (panic, power cut) is reported as trial_boot_failed after the fallback', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { reboot: async () => {} });
  try {
    const slot = await arrangeTrial(a, 'up-panic', '4.0.0', payload({ 'etc/app': { text: 'v4' } }));
    await a.agent.stop();
    // GRUB booted the trial once (clearing it), the kernel panicked, and the next boot was A.
    const d = a.agent.driver as DirSlotDriver;
    d.boot();
    assert.equal((await d.status()).bootedSlot, slot);
    await a.restart();
    assert.equal(a.agent.bootCheck, 'report_fallback');
    await waitFor('up-panic result', () => resultOf('up-panic')?.status === 'failed');
    assert.equal(resultOf('up-panic')!.error!.code, 'trial_boot_failed');
    assert.match(resultOf('up-panic')!.error!.message, /slot B \(version 4\.0\.0\) did not come up; the appliance is back on committed slot A/);
  } finally {
    await a.stop();
  }
});

test('a rollback task over MQTT switches the default slot, reports, then reboots', async () => {
  let reboots = 0;
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { reboot: async () => void reboots++ });
  try {
    // Nothing to roll back to yet: a clear failure.
    await stack.backend.broker.publish(a.topic, task('rb-0', 'rollback', { reboot: true }));
    await waitFor('rb-0 failed', () => resultOf('rb-0')?.status === 'failed');
    assert.equal(resultOf('rb-0')!.error!.code, 'rollback_failed');
    assert.match(resultOf('rb-0')!.error!.message, /slot B has no installed system/);

    await arrangeTrial(a, 'up-2', '2.0.0', payload({ 'etc/app': { text: 'v2' } }));
    await a.restart(); // trial B, committed
    await stack.backend.broker.publish(a.topic, task('rb-1', 'rollback', { reboot: true }));
    await waitFor('rb-1 succeeded', () => resultOf('rb-1')?.status === 'succeeded');
    assert.deepEqual(resultOf('rb-1')!.detail, { committedSlot: 'A', reboot: true });
    await waitFor('reboot', () => reboots === 1);
    await a.restart();
    assert.equal((await a.agent.driver.status()).bootedSlot, 'A');
  } finally {
    await a.stop();
  }
});
