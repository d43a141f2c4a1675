import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Outbox, SeenTasks, needsRefresh, parseAgentConfig, readIdentity, writeIdentity } from '@twinroot/agent';

const silent = pino({ level: 'silent' });
const tmp = () => mkdtempSync(join(tmpdir(), 'twinroot-u-'));

test('outbox: delivers in order, retries failures with backoff, drops permanent refusals', async () => {
  const dir = tmp();
  const seen: string[] = [];
  let failures = 2;
  const ob = new Outbox(dir, async (e) => {
    if (e.taskId === 'bad') return 'drop';
    if (failures-- > 0) throw new Error('backend down');
    seen.push(`${e.taskId}:${e.result.status}`);
    return 'delivered';
  }, silent, { baseMs: 5, maxMs: 20 });
  ob.add('a', { status: 'accepted' });
  ob.add('bad', { status: 'accepted' });
  ob.add('a', { status: 'succeeded' });
  ob.start();
  assert.ok(await ob.drained(5000));
  await ob.stop();
  assert.deepEqual(seen, ['a:accepted', 'a:succeeded']);
});

test('outbox: entries survive a restart and keep increasing sequence numbers', async () => {
  const dir = tmp();
  const first = new Outbox(dir, async () => 'delivered', silent);
  first.add('t', { status: 'accepted' });
  first.add('t', { status: 'running' });
  const second = new Outbox(dir, async () => 'delivered', silent);
  assert.deepEqual(second.pending().map((e) => e.seq), [1, 2]);
  assert.equal(second.add('t', { status: 'succeeded' }).seq, 3);
  assert.equal(statSync(join(dir, 'outbox')).mode & 0o777, 0o700);
  assert.equal(readdirSync(join(dir, 'outbox')).length, 3);
});

test('outbox: sequence numbers keep rising after everything was delivered and the agent restarted (a reboot)', async () => {
  const dir = tmp();
  const first = new Outbox(dir, async () => 'delivered', silent, { baseMs: 5, maxMs: 20 });
  for (const status of ['accepted', 'running', 'running'] as const) first.add('t', { status });
  first.start();
  assert.ok(await first.drained(5000));
  await first.stop();
  // The outbox directory holds only undelivered entries (the VM test's helper waits for it to be empty).
  assert.deepEqual(readdirSync(join(dir, 'outbox')), []);
  // After the reboot the outbox is empty; the trial's result must still be newer than "running" (seq 3).
  const second = new Outbox(dir, async () => 'delivered', silent);
  assert.equal(second.add('t', { status: 'failed', error: { code: 'health_check_failed', message: 'x' } }).seq, 4);
});

test('seen tasks: persisted across instances, forgotten after the TTL', async () => {
  const dir = tmp();
  const s = new SeenTasks({ stateDir: dir, ttlMs: 150, max: 100 });
  s.add('t1');
  assert.equal(new SeenTasks({ stateDir: dir, ttlMs: 150, max: 100 }).has('t1'), true);
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(new SeenTasks({ stateDir: dir, ttlMs: 150, max: 100 }).has('t1'), false, 'expired entries do not come back');
});

test('seen tasks: bounded by max entries', () => {
  const s = new SeenTasks({ stateDir: tmp(), ttlMs: 3600_000, max: 100 });
  for (let i = 0; i < 150; i++) s.add(`t${i}`);
  assert.equal(s.size, 100);
  assert.equal(s.has('t149'), true);
  assert.equal(s.has('t0'), false);
});

test('token refresh is due 10 days before expiry', () => {
  const now = new Date('2026-11-21T00:00:00Z');
  assert.equal(needsRefresh('2026-12-21T00:00:00Z', now), false);
  assert.equal(needsRefresh('2026-12-01T00:00:01Z', now), false);
  assert.equal(needsRefresh('2026-12-01T00:00:00Z', now), true);
  assert.equal(needsRefresh('2026-11-01T00:00:00Z', now), true);
});

test('identity is written 0600 and validated when read', () => {
  const dir = tmp();
  const id = {
    applianceId: 'a-1',
    applianceToken: 't'.repeat(43),
    tokenExpiresAt: '2027-01-01T00:00:00Z',
    backendUrl: 'http://127.0.0.1:8080',
    mqtt: { url: 'mqtt://127.0.0.1:1883', clientId: 'a-1', topic: 'twinroot/appliances/a-1/tasks' },
    registeredAt: '2026-11-21T00:00:00Z',
  };
  writeIdentity(dir, id);
  assert.equal(statSync(join(dir, 'identity.json')).mode & 0o777, 0o600);
  assert.deepEqual(readIdentity(dir), id);
  writeIdentity(dir, { ...id, applianceToken: 'short' } as typeof id);
  assert.throws(() => readIdentity(dir), /identity.json is invalid.*re-register/);
});

test('agent config: defaults fill an empty file; bad values are named', () => {
  const c = parseAgentConfig({});
  assert.equal(c.stateDir, '/var/lib/twinroot');
  assert.deepEqual(c.rebootCommand, ['systemctl', 'reboot']);
  assert.equal(c.slots.driver, 'lvm-grub');
  assert.throws(() => parseAgentConfig({ dedupeTtlHours: 0 }), /dedupeTtlHours/);
  assert.throws(() => parseAgentConfig({ rebootCommand: 'reboot now' }), /rebootCommand/);
  assert.throws(() => parseAgentConfig({ slots: { driver: 'zfs' } }), /slots/);
  assert.throws(() => parseAgentConfig({ stateDirr: '/x' }), /unknown property "stateDirr"/);
});
