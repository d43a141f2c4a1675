// Task dispatch, results, presence and retry sweeps over the embedded stack (dynalite + aedes),
// with a clock the test moves. Sweeps run through the scheduler's tick (under their leases).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mqtt } from 'aws-iot-device-sdk-v2';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { connectTestClient, type TestClient } from '../../helpers/crt-client.js';
import { call, heartbeatBody, registerFleet } from '../../helpers/operator-api.js';

const clock = new ManualClock();
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let fleet: Awaited<ReturnType<typeof registerFleet>>;
const subscribers: TestClient[] = [];

before(async () => {
  backend = await startTestBackend({}, undefined, { clock });
  fleet = await registerFleet(backend, { n: 6 });
});
after(async () => {
  for (const s of subscribers) await s.close();
  await backend.cleanup();
});

const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
const dev = (i: number, m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: fleet.appliances[i]!.applianceToken, json });
const task = (id: string) => backend.data.tasks.get(id);
const result = (i: number, taskId: string, json: unknown) => dev(i, 'POST', `/v1/tasks/${taskId}/result`, json);
const sweep = (name: 'presence' | 'heartbeats' | 'tasks') => backend.sweeps.run(name);

async function subscribe(i: number, url = backend.urls.mqtt): Promise<TestClient> {
  const a = fleet.appliances[i]!;
  const c = await connectTestClient(url, a.applianceId, a.applianceToken);
  await c.connection.subscribe(a.mqtt.topic, mqtt.QoS.AtLeastOnce);
  subscribers.push(c);
  return c;
}
const messagesFor = (c: TestClient, taskId: string) => c.messages.filter((m) => (JSON.parse(m.payload) as { taskId: string }).taskId === taskId);

test('a task is written pending, published QoS 1 on the appliance topic, then marked sent', async () => {
  const sub = await subscribe(0);
  const r = await op('POST', `/v1/appliances/${fleet.appliances[0]!.applianceId}/tasks`, { taskType: 'reboot', body: { delaySeconds: 5 } });
  assert.equal(r.status, 202);
  assert.equal(r.body.status, 'sent');
  await sub.waitForMessages(1);
  const msg = JSON.parse(sub.messages[0]!.payload) as Record<string, unknown>;
  assert.equal(msg.taskId, r.body.taskId);
  assert.equal(msg.taskType, 'reboot');
  assert.deepEqual(msg.body, { delaySeconds: 5 });
  const t = await task(r.body.taskId as string);
  assert.deepEqual(t?.events.map((e) => e.status), ['pending', 'sent']);
  const bad = await op('POST', `/v1/appliances/${fleet.appliances[0]!.applianceId}/tasks`, { taskType: 'reboot', body: { delaySeconds: 'soon' } });
  assert.equal(bad.status, 400);
  const notHere = await op('POST', `/v1/appliances/${fleet.appliances[0]!.applianceId}/tasks`, { taskType: 'upgrade', body: {} });
  assert.equal(notHere.status, 400, 'upgrade has its own route');
});

test('results: in order, duplicate, out of order and stale results; final states stay final', async () => {
  const r = await op('POST', `/v1/appliances/${fleet.appliances[1]!.applianceId}/tasks`, { taskType: 'collectLogs', body: { uploadUrl: 'http://127.0.0.1:9/upload/x' } });
  const id = r.body.taskId as string;
  assert.equal((await result(1, id, { status: 'accepted', seq: 1 })).body.applied, true);
  assert.equal((await result(1, id, { status: 'running', seq: 2, progress: { phase: 'collect', percent: 40 } })).body.applied, true);
  const dup = await result(1, id, { status: 'running', seq: 2, progress: { phase: 'collect', percent: 40 } });
  assert.deepEqual([dup.status, dup.body.applied], [200, false]);
  const late = await result(1, id, { status: 'accepted' });
  assert.equal(late.body.applied, false);
  assert.match(String(late.body.reason), /out of order/);
  const stale = await result(1, id, { status: 'running', seq: 1 });
  assert.match(String(stale.body.reason), /stale/);
  assert.equal((await result(1, id, { status: 'succeeded', seq: 3, detail: { bytes: 1234 } })).body.status, 'succeeded');
  const again = await result(1, id, { status: 'succeeded', seq: 3 });
  assert.deepEqual([again.status, again.body.applied], [200, false]);
  const afterFail = await result(1, id, { status: 'failed', seq: 4, error: { code: 'x', message: 'late failure' } });
  assert.equal(afterFail.body.status, 'succeeded', 'nothing leaves a final state');
  const t = await task(id);
  assert.deepEqual(t?.events.map((e) => e.status), ['pending', 'sent', 'accepted', 'running', 'succeeded']);
  assert.equal(t?.progress?.percent, 40);
  assert.equal(t?.dueAt, undefined, 'a finished task leaves the due index');
  const bad = await result(1, id, { status: 'failed' });
  assert.equal(bad.status, 400, 'failed without an error is refused');
  const rejected = await op('POST', `/v1/appliances/${fleet.appliances[1]!.applianceId}/tasks`, { taskType: 'reboot' });
  await result(1, rejected.body.taskId as string, { status: 'rejected', error: { code: 'unsupported_task_type', message: 'no' } });
  const rt = await task(rejected.body.taskId as string);
  assert.equal(rt?.status, 'failed');
  assert.equal(rt?.error?.code, 'unsupported_task_type');
});

test('protocol 1 and 2 results both land, stored in protocol 2\'s spelling (one release of compatibility)', async () => {
  const mk = async () => (await op('POST', `/v1/appliances/${fleet.appliances[1]!.applianceId}/tasks`, { taskType: 'collectLogs', body: { uploadUrl: 'http://127.0.0.1:9/upload/y' } })).body.taskId as string;
  const old = await mk();
  // An agent of protocol 1 (no protocolVersion) spelt the upgrade's phases and states in kebab-case.
  await result(1, old, { status: 'running', seq: 1, progress: { phase: 'sync-config' } });
  assert.equal((await task(old))?.progress?.phase, 'sync_config');
  await result(1, old, { status: 'succeeded', seq: 2, detail: { state: 'boot-configured', slot: 'B' } });
  assert.deepEqual((await task(old))?.detail, { state: 'boot_configured', slot: 'B' });
  const current = await mk();
  await result(1, current, { status: 'running', seq: 1, protocolVersion: 2, progress: { phase: 'boot_config' } });
  assert.equal((await task(current))?.progress?.phase, 'boot_config');
  // Protocol 2 values are never rewritten, even ones that look like protocol 1's.
  await result(1, current, { status: 'succeeded', seq: 2, protocolVersion: 2, detail: { state: 'my-own-state' } });
  assert.deepEqual((await task(current))?.detail, { state: 'my-own-state' });
});

test('heartbeat pings every 5 minutes, not stored; silent for 15 minutes → disconnected, then pinged every 15; a heartbeat brings it back', async () => {
  const a = fleet.appliances[2]!;
  const sub = await subscribe(2);
  const pings = () => sub.messages.map((m) => JSON.parse(m.payload) as { taskId: string; taskType: string }).filter((m) => m.taskType === 'heartbeat');
  const status = async () => (await op('GET', `/v1/appliances/${a.applianceId}`)).body.status;
  const tick = async () => {
    clock.advance(5);
    await backend.scheduler.tick();
  };
  await tick();
  await sub.waitForMessages(1);
  const [first] = pings();
  assert.match(first!.taskId, /^ping-/, 'a routine ping');
  assert.equal(await task(first!.taskId), null, 'a ping is not stored');
  assert.deepEqual(await backend.data.tasksOfType(a.applianceId, 'heartbeat', 'after', '2000-01-01T00:00:00.000Z'), []);
  const answer = await dev(2, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, heartbeatBody({ taskId: first!.taskId }));
  assert.equal(answer.status, 200);
  // An older agent also reports results for the ping: answered without a store read.
  const old = await result(2, first!.taskId, { status: 'succeeded', seq: 1 });
  assert.deepEqual([old.status, old.body.applied, old.body.status], [200, false, 'not_stored']);
  const seen = (await op('GET', `/v1/appliances/${a.applianceId}`)).body as { recentHeartbeats?: string[]; lastSeenAt: string };
  assert.equal(seen.recentHeartbeats?.[0], seen.lastSeenAt, 'the heartbeat is kept on the appliance');
  // Now silent.
  await tick(); // +10: ping #2
  assert.equal(await status(), 'connected');
  await tick(); // +15: ping #3
  assert.equal(await status(), 'connected', 'silent for 10 minutes only');
  await tick(); // +20: ping #4, silent for 15 minutes
  assert.equal(await status(), 'disconnected');
  await sub.waitForMessages(4);
  assert.equal(pings().length, 4, 'an unanswered ping is sent again at every sweep');
  const view = await op('GET', `/v1/appliances?status=disconnected`);
  assert.ok((view.body.items as { applianceId: string }[]).some((x) => x.applianceId === a.applianceId));
  await tick(); // +25: disconnected appliances are pinged every 15 minutes, not every 5
  await tick(); // +30
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(pings().length, 4, 'no ping 5 and 10 minutes after the disconnect');
  await tick(); // +35: 15 minutes after the last
  await sub.waitForMessages(5);
  assert.equal(pings().length, 5);
  // Back: a heartbeat (no task id needed) reconnects it.
  assert.equal((await dev(2, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, heartbeatBody())).body.status, 'connected');
  assert.equal(await status(), 'connected');
});

test('an operator\'s heartbeat task is stored, and the heartbeat that answers it finishes it', async () => {
  const a = fleet.appliances[2]!;
  const r = await op('POST', `/v1/appliances/${a.applianceId}/tasks`, { taskType: 'heartbeat' });
  assert.equal(r.status, 202);
  const id = r.body.taskId as string;
  assert.equal((await task(id))?.status, 'sent');
  await dev(2, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, heartbeatBody({ taskId: id }));
  assert.equal((await task(id))?.status, 'succeeded');
});

test('retry policy: minor tasks are not re-sent; rollback is re-sent 3 times then times out; upgrade waits 30 minutes', async () => {
  const sub = await subscribe(3);
  const id = fleet.appliances[3]!.applianceId;
  const reboot = (await op('POST', `/v1/appliances/${id}/tasks`, { taskType: 'reboot' })).body.taskId as string;
  const rollback = (await op('POST', `/v1/appliances/${id}/rollback`, {})).body.taskId as string;
  await backend.data.releases.create({ releaseId: 'rel-2', version: '2.0.0', manifestUrl: 'http://127.0.0.1:9/rel-2/manifest.json', createdAt: new Date(clock.now()).toISOString(), rev: 0 });
  const upgrade = (await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'rel-2', mode: 'download' })).body.taskId as string;
  const attempts = async (t: string) => (await task(t))?.attempts;
  for (let minute = 5; minute <= 50; minute += 5) {
    clock.advance(5);
    await sweep('tasks');
    if (minute === 25) assert.equal(await attempts(upgrade), 1, 'upgrade not re-sent within 30 minutes');
  }
  assert.equal((await task(reboot))?.status, 'timed_out');
  assert.equal((await task(reboot))?.attempts, 1);
  assert.equal((await task(rollback))?.status, 'timed_out');
  assert.equal((await task(rollback))?.error?.code, 'no_response');
  assert.equal(await attempts(rollback), 4, 'first send + 3 retries');
  assert.equal(await attempts(upgrade), 2, 'upgrade re-sent once after 30 minutes (next at 60)');
  await sub.waitForMessages(7);
  assert.equal(messagesFor(sub, rollback).length, 4, 'the same taskId published 4 times');
  assert.equal(messagesFor(sub, reboot).length, 1);
  assert.equal(messagesFor(sub, upgrade).length, 2);
});

test('an accepted task that goes quiet times out; progress keeps it alive', async () => {
  const id = fleet.appliances[4]!.applianceId;
  const quiet = (await op('POST', `/v1/appliances/${id}/rollback`, { reboot: false })).body.taskId as string;
  await result(4, quiet, { status: 'accepted' });
  await backend.data.releases.create({ releaseId: 'rel-3', version: '3.0.0', manifestUrl: 'http://127.0.0.1:9/rel-3/manifest.json', createdAt: new Date(clock.now()).toISOString(), rev: 0 });
  const busy = (await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'rel-3', mode: 'download' })).body.taskId as string;
  await result(4, busy, { status: 'running', progress: { phase: 'download', bytes: 1 } });
  for (let i = 0; i < 8; i++) {
    clock.advance(20);
    await result(4, busy, { status: 'running', progress: { phase: 'download', bytes: i + 2 } });
    await sweep('tasks');
  }
  const q = await task(quiet);
  assert.equal(q?.status, 'timed_out');
  assert.equal(q?.error?.code, 'no_progress');
  assert.equal((await task(busy))?.status, 'running', 'still reporting progress after 160 minutes');
  clock.advance(121);
  await sweep('tasks');
  assert.equal((await task(busy))?.status, 'timed_out');
  const a = await op('GET', `/v1/appliances/${id}`);
  assert.equal(a.body.upgrade, undefined, 'a timed-out upgrade no longer marks the appliance upgrading');
});

test('a newer succeeded task supersedes older unfinished ones of the same type', async () => {
  const id = fleet.appliances[5]!.applianceId;
  const svc = (version: string) => ({ serviceCode: 'metrics-agent', version, bundleUrl: 'http://127.0.0.1:9/b.tgz', manifestUrl: 'http://127.0.0.1:9/b.tgz.manifest.json' });
  const older = (await op('POST', `/v1/appliances/${id}/services`, svc('1.0.0'))).body.taskId as string;
  clock.advance(1);
  const newer = (await op('POST', `/v1/appliances/${id}/services`, svc('1.1.0'))).body.taskId as string;
  await result(5, newer, { status: 'succeeded' });
  const o = await task(older);
  assert.equal(o?.status, 'superseded');
  assert.equal(o?.dueAt, undefined);
  const a = await op('GET', `/v1/appliances/${id}`);
  assert.deepEqual((a.body.desiredServices as { version: string }[]).map((s) => s.version), ['1.1.0']);
  const gone = await op('DELETE', `/v1/appliances/${id}/services/metrics-agent`);
  assert.equal(gone.status, 202);
  assert.equal((await op('DELETE', `/v1/appliances/${id}/services/metrics-agent`)).status, 404);
});
