// The real agent against the real backend: registration with a register token, the embedded
// broker's per-appliance login, heartbeat tasks from the sweep answered by the agent, and
// operator tasks with their results (the agent's `dir` slot driver stands in for disks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirSlotDriver, register, startAgent, type RunningAgent } from '@twinroot/agent';
import { startTestBackend } from '../helpers/backend.js';
import { ManualClock } from '../helpers/clock.js';
import { captureLogger, makeDirSlots, testAgentConfig } from '../helpers/agent.js';
import { waitFor } from '../helpers/device-api.js';
import { call } from '../helpers/operator-api.js';

// Task expiry is checked by the agent against real time, so the backend's clock starts now.
const clock = new ManualClock(Date.now());
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let agent: RunningAgent;
let applianceId: string;
const dir = mkdtempSync(join(tmpdir(), 'twinroot-agent-backend-'));
const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });

before(async () => {
  backend = await startTestBackend({}, undefined, { clock });
  const c = await op('POST', '/v1/customers', { name: 'Real Agent Inc', region: 'us-east-1' });
  const t = await op('POST', `/v1/customers/${c.body.customerId}/register-tokens`, { ttlHours: 1 });
  makeDirSlots(join(dir, 'slots'), '1.4.0');
  const identity = await register({ backendUrl: backend.urls.http, registerToken: t.body.registerToken as string, stateDir: join(dir, 'state'), slots: new DirSlotDriver(join(dir, 'slots')) });
  applianceId = identity.applianceId;
  const config = testAgentConfig(dir);
  agent = await startAgent(config, captureLogger().log, {});
  await agent.connected;
});
after(async () => {
  await agent?.stop();
  await backend.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const taskStatus = async (taskId: string) => (await backend.data.tasks.get(taskId))?.status;

test('the registered appliance shows up with what the agent reported', async () => {
  const a = await op('GET', `/v1/appliances/${applianceId}`);
  assert.equal(a.status, 200);
  assert.equal(a.body.version, '1.4.0');
  assert.equal(a.body.bootedSlot, 'A');
  assert.equal(a.body.region, 'us-east-1');
});

test('the heartbeat sweep pings the agent over MQTT (a routine ping, not stored); its heartbeat answers it, and nothing else is sent', async () => {
  const requestsBefore = backend.metrics.dynamoRequests;
  clock.advance(5);
  const out = await backend.scheduler.tick();
  assert.equal(out.heartbeats.outcome, 'ran');
  let a: Awaited<ReturnType<typeof backend.data.appliances.get>>;
  await waitFor('the heartbeat answering the ping', () => {
    void backend.data.appliances.get(applianceId).then((x) => (a = x));
    return a?.lastSeenAt === new Date(clock.now()).toISOString();
  });
  assert.deepEqual(await backend.data.tasksOfType(applianceId, 'heartbeat', 'after', '2000-01-01T00:00:00.000Z'), [], 'no heartbeat task stored');
  assert.ok(backend.metrics.dynamoRequests > requestsBefore);
});

test('operator tasks reach the agent and their results come back: reboot succeeds, rollback with nothing to roll back to fails', async () => {
  const reboot = await op('POST', `/v1/appliances/${applianceId}/tasks`, { taskType: 'reboot' });
  const rollback = await op('POST', `/v1/appliances/${applianceId}/rollback`, { reboot: false });
  let r1: string | undefined;
  let r2: string | undefined;
  await waitFor('both results', () => {
    void taskStatus(reboot.body.taskId as string).then((x) => (r1 = x));
    void taskStatus(rollback.body.taskId as string).then((x) => (r2 = x));
    return r1 === 'succeeded' && r2 === 'failed';
  });
  const t = await op('GET', `/v1/tasks/${rollback.body.taskId}`);
  assert.ok((t.body.error as { code: string }).code.length > 0);
  assert.deepEqual((t.body.events as { status: string }[]).map((e) => e.status).slice(0, 3), ['pending', 'sent', 'accepted']);
});

test('collect logs: the agent uploads its diagnostic bundle to the signed URL; the operator lists and downloads it', async () => {
  const sent = await op('POST', `/v1/appliances/${applianceId}/collect-logs`);
  assert.equal(sent.status, 202);
  const { taskId, bundleId } = sent.body as { taskId: string; bundleId: string };
  let s: string | undefined;
  await waitFor('collectLogs succeeded', () => {
    void taskStatus(taskId).then((x) => (s = x));
    return s === 'succeeded';
  });
  const list = await op('GET', `/v1/appliances/${applianceId}/logs`);
  const items = (list.body as { items: { bundleId: string; bytes: number }[] }).items;
  assert.equal(items.length, 1);
  assert.equal(items[0]!.bundleId, bundleId);
  const res = await fetch(`${backend.urls.http}/v1/appliances/${applianceId}/logs/${bundleId}`, { headers: { authorization: `Bearer ${backend.operatorKey}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="twinroot-logs-/);
  const gz = Buffer.from(await res.arrayBuffer());
  assert.equal(gz.length, items[0]!.bytes);
  const listing = execFileSync('tar', ['-tz'], { input: gz }).toString();
  assert.match(listing, /twinroot-diagnostics\/slot-status\.json/);
  // Without the key nothing is listed or fetched.
  assert.equal((await call(backend.urls.http, 'GET', `/v1/appliances/${applianceId}/logs/${bundleId}`)).status, 401);
});

test('log upload URLs are capabilities: another appliance, bundle, expiry or signature is refused (403) and nothing is stored', async () => {
  const { path } = backend.logBundles.issue(applianceId, clock.now());
  const u = new URL(backend.urls.http + path);
  const put = (p: string) => fetch(backend.urls.http + p, { method: 'PUT', body: 'x', headers: { 'content-type': 'application/gzip' } });
  const other = '00000000-0000-4000-8000-000000000000';
  const parts = u.pathname.split('/');
  const forged = [
    u.pathname.replace(applianceId, other) + u.search,
    [...parts.slice(0, -1), other].join('/') + u.search,
    u.pathname + u.search.replace(/expires=(\d+)/, (_m, e: string) => `expires=${Number(e) + 1}`),
    u.pathname + u.search.replace(/sig=[^&]+/, 'sig=AAAA'),
  ];
  for (const p of forged) {
    const r = await put(p);
    assert.equal(r.status, 403, p);
    assert.match(((await r.json()) as { message: string }).message, /^upload refused: /);
  }
  clock.advance(25 * 60);
  const late = await put(u.pathname + u.search);
  assert.equal(late.status, 403);
  assert.match(((await late.json()) as { message: string }).message, /expired/);
  assert.deepEqual(await backend.logBundles.list(other), []);
});
