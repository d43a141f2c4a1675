import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUpload, loadConfig, RolloutTicker, summarizeFleet, uploadSignature, type FleetRow } from '@twinroot/backend';

test('summarizeFleet: status by the operator rule, versions newest first (unknown last), regions largest first', () => {
  const rows: FleetRow[] = [
    { connection: 'connected', version: '1.0.0', region: 'eu', customerId: 'a' },
    { connection: 'connected', version: '1.10.0', region: 'eu', customerId: 'a', upgrade: { taskId: 't', version: '2.0.0', releaseId: 'v2.0.0', mode: 'install-reboot' } },
    { connection: 'disconnected', version: '1.10.0', region: 'us', customerId: 'b', upgrade: { taskId: 't2', version: '2.0.0', releaseId: 'v2.0.0', mode: 'install-reboot' } },
    { connection: 'connected', version: '1.9.0', region: 'us', customerId: 'b', rollback: { detectedAt: '2026-01-01T00:00:00Z', fromVersion: '2.0.0', toVersion: '1.9.0' } },
    { connection: 'connected', region: 'ap', customerId: 'c' },
  ];
  const s = summarizeFleet(rows);
  // Disconnected outranks upgrading; the row without a version still counts (as connected).
  assert.deepEqual(s.byStatus, { connected: 2, disconnected: 1, upgrading: 1, rolled_back: 1 });
  assert.equal(s.appliances, 5);
  assert.deepEqual(s.byVersion.map((v) => `${v.version}:${v.count}`), ['1.10.0:2', '1.9.0:1', '1.0.0:1', 'unknown:1']);
  assert.deepEqual(s.byRegion.map((r) => `${r.region}:${r.count}`), ['eu:2', 'us:2', 'ap:1']);
  assert.equal(summarizeFleet(rows, { region: 'us' }).appliances, 2);
  assert.equal(summarizeFleet(rows, { customerId: 'c' }).appliances, 1);
  assert.equal(summarizeFleet([], {}).byVersion.length, 0);
});

test('log upload URLs: the signature binds appliance, bundle and expiry; expired or malformed parts are named', () => {
  const key = Buffer.alloc(32, 7);
  const a = '11111111-1111-4111-8111-111111111111';
  const b = '22222222-2222-4222-8222-222222222222';
  const exp = 1_800_000_000_000;
  const sig = uploadSignature(key, a, b, exp);
  assert.deepEqual(checkUpload(key, a, b, String(exp), sig, exp - 1), { ok: true });
  assert.deepEqual(checkUpload(key, a, b, String(exp), sig, exp + 1), { ok: false, reason: 'upload URL expired' });
  assert.deepEqual(checkUpload(key, b, b, String(exp), sig, 0), { ok: false, reason: 'bad signature' });
  assert.deepEqual(checkUpload(key, a, a, String(exp), sig, 0), { ok: false, reason: 'bad signature' });
  assert.deepEqual(checkUpload(key, a, b, String(exp + 1), sig, 0), { ok: false, reason: 'bad signature' });
  assert.deepEqual(checkUpload(Buffer.alloc(32, 8), a, b, String(exp), sig, 0), { ok: false, reason: 'bad signature' });
  assert.deepEqual(checkUpload(key, a, '../etc', String(exp), sig, 0), { ok: false, reason: 'bad bundle id' });
  assert.deepEqual(checkUpload(key, a, b, '1e12', sig, 0), { ok: false, reason: 'bad expiry' });
});

test('config: rolloutPassSeconds takes whole seconds 0-86400 and names the key otherwise', () => {
  assert.equal(loadConfig({ env: {} }).rolloutPassSeconds, 30);
  assert.equal(loadConfig({ env: { TWINROOT_ROLLOUT_PASS_SECONDS: '0' } }).rolloutPassSeconds, 0);
  for (const bad of ['-1', '1.5', 'often', '90000']) {
    assert.throws(() => loadConfig({ env: { TWINROOT_ROLLOUT_PASS_SECONDS: bad } }), /TWINROOT_ROLLOUT_PASS_SECONDS \(rolloutPassSeconds\): expected whole seconds 0-86400/);
  }
});

test('rollout ticker: one pass at a time, a failing pass is logged and the next tick runs; stop waits for the pass at work', async () => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  const errors: string[] = [];
  const ticker = new RolloutTicker(
    {
      async sweep() {
        calls += 1;
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 1500)); // longer than the period
        running -= 1;
        if (calls === 1) throw new Error('store unreachable');
        return { handled: 1, changed: 0 };
      },
    },
    { error: (o: object) => void errors.push(JSON.stringify(o)) },
  );
  ticker.start(1);
  await new Promise((r) => setTimeout(r, 4200));
  await ticker.stop();
  assert.equal(running, 0, 'stop waited for the pass');
  assert.equal(maxRunning, 1);
  assert.ok(calls >= 2 && calls <= 3, `${calls} passes`);
  assert.deepEqual(errors, [JSON.stringify({ err: 'store unreachable' })]);
  const idle = new RolloutTicker({ sweep: async () => ({ handled: 0, changed: 0 }) }, { error: () => undefined });
  idle.start(0); // 0 = off
  await idle.stop();
});
