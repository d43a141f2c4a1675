// An upgrade is done only when a heartbeat shows the target version on a committed slot; a
// lower committed version later is a rollback; recorded services are reinstalled after success.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call, heartbeatBody, registerFleet } from '../../helpers/operator-api.js';

const clock = new ManualClock();
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let fleet: Awaited<ReturnType<typeof registerFleet>>;

before(async () => {
  backend = await startTestBackend({}, undefined, { clock });
  fleet = await registerFleet(backend, { n: 2 });
  await backend.data.releases.create({ releaseId: 'rel-2', version: '2.0.0', manifestUrl: 'http://127.0.0.1:9/rel-2/manifest.json', createdAt: new Date(clock.now()).toISOString(), rev: 0 });
});
after(async () => backend.cleanup());

const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
const dev = (i: number, m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: fleet.appliances[i]!.applianceToken, json });

test('install-reboot upgrade: agent success waits for a heartbeat; trial is not enough; committed target = succeeded; services reinstalled', async () => {
  const id = fleet.appliances[0]!.applianceId;
  const svc = { serviceCode: 'collector', version: '1.2.3', bundleUrl: 'http://127.0.0.1:9/c.tgz', manifestUrl: 'http://127.0.0.1:9/c.tgz.manifest.json' };
  const install = (await op('POST', `/v1/appliances/${id}/services`, svc)).body.taskId as string;
  await dev(0, 'POST', `/v1/tasks/${install}/result`, { status: 'succeeded' });

  assert.equal((await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'nope' })).status, 404);
  const up = await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'rel-2' });
  assert.equal(up.status, 202);
  const taskId = up.body.taskId as string;
  const sent = await backend.data.tasks.get(taskId);
  assert.deepEqual(sent?.body, { releaseId: 'rel-2', version: '2.0.0', manifestUrl: 'http://127.0.0.1:9/rel-2/manifest.json', mode: 'install-reboot' });
  assert.equal((await op('GET', `/v1/appliances/${id}`)).body.status, 'upgrading');
  const second = await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'rel-2' });
  assert.equal(second.status, 409);
  assert.equal(second.body.code, 'upgrade_in_progress');

  await dev(0, 'POST', `/v1/tasks/${taskId}/result`, { status: 'accepted' });
  await dev(0, 'POST', `/v1/tasks/${taskId}/result`, { status: 'running', progress: { phase: 'install', percent: 50 } });
  const done = await dev(0, 'POST', `/v1/tasks/${taskId}/result`, { status: 'succeeded' });
  assert.equal(done.body.status, 'running', 'the agent’s word alone does not finish an install-reboot upgrade');
  assert.equal((await backend.data.tasks.get(taskId))?.verifying, true);

  // The trial boot reports 2.0.0 but is not committed yet.
  await dev(0, 'POST', `/v1/appliances/${id}/heartbeat`, heartbeatBody({ version: '2.0.0', bootedSlot: 'B', committedSlot: 'A', trial: true }));
  assert.equal((await backend.data.tasks.get(taskId))?.status, 'running');
  // Committed.
  const hb = await dev(0, 'POST', `/v1/appliances/${id}/heartbeat`, heartbeatBody({ version: '2.0.0', bootedSlot: 'B', committedSlot: 'B' }));
  assert.equal(hb.body.finding, 'upgrade-verified');
  const t = await backend.data.tasks.get(taskId);
  assert.equal(t?.status, 'succeeded');
  assert.equal(t?.detail?.verifiedVersion, '2.0.0');
  assert.deepEqual(t?.events.slice(-2).map((e) => [e.status, e.note]), [
    ['verifying', 'agent reports done; waiting for a heartbeat from the committed new version'],
    ['succeeded', 'verified: a heartbeat from 2.0.0 committed on slot B'],
  ]);
  const a = (await op('GET', `/v1/appliances/${id}`)).body;
  assert.equal(a.status, 'connected');
  assert.equal((a.lastUpgrade as { version: string }).version, '2.0.0');
  assert.equal(a.committedSlot, 'B');
  const tasks = (await op('GET', `/v1/appliances/${id}/tasks`)).body.items as { taskType: string; createdBy: string; body: { version?: string } }[];
  const reinstall = tasks.filter((x) => x.taskType === 'installService' && x.createdBy === `upgrade:${taskId}`);
  assert.equal(reinstall.length, 1, 'the recorded service is reinstalled once');
  assert.equal(reinstall[0]!.body.version, '1.2.3');
  // The same heartbeat again changes nothing and queues nothing more.
  await dev(0, 'POST', `/v1/appliances/${id}/heartbeat`, heartbeatBody({ version: '2.0.0', bootedSlot: 'B', committedSlot: 'B' }));
  const again = (await op('GET', `/v1/appliances/${id}/tasks`)).body.items as { createdBy: string }[];
  assert.equal(again.filter((x) => x.createdBy === `upgrade:${taskId}`).length, 1);

  // Later the appliance runs 1.0.0 from a committed slot: a rollback.
  const back = await dev(0, 'POST', `/v1/appliances/${id}/heartbeat`, heartbeatBody({ version: '1.0.0', bootedSlot: 'A', committedSlot: 'A' }));
  assert.equal(back.body.finding, 'rollback-detected');
  const ra = (await op('GET', `/v1/appliances/${id}`)).body;
  assert.equal(ra.status, 'rolled_back');
  assert.deepEqual({ ...(ra.rollback as object), detectedAt: undefined }, { detectedAt: undefined, fromVersion: '2.0.0', toVersion: '1.0.0', taskId });
  const rt = await op('GET', `/v1/tasks/${taskId}`);
  assert.equal(rt.body.status, 'succeeded');
  assert.equal((rt.body.rolledBack as { toVersion: string }).toVersion, '1.0.0');
  const listed = await op('GET', `/v1/appliances?status=rolled_back&customerId=${fleet.customerId}`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual((listed.body.items as { applianceId: string }[]).map((x) => x.applianceId), [id]);
});

test('a failed upgrade ends the upgrading status; a verification that never comes times out', async () => {
  const id = fleet.appliances[1]!.applianceId;
  const first = (await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'rel-2' })).body.taskId as string;
  await dev(1, 'POST', `/v1/tasks/${first}/result`, { status: 'failed', error: { code: 'health_check_failed', message: 'rolled back by itself' } });
  assert.equal((await op('GET', `/v1/appliances/${id}`)).body.status, 'connected');
  const second = (await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'rel-2' })).body.taskId as string;
  await dev(1, 'POST', `/v1/tasks/${second}/result`, { status: 'succeeded' });
  clock.advance(31);
  await backend.sweeps.run('tasks');
  const t = await backend.data.tasks.get(second);
  assert.equal(t?.status, 'timed_out');
  assert.equal(t?.error?.code, 'not_verified');
  assert.equal((await op('GET', `/v1/appliances/${id}`)).body.status, 'connected');
});

test('listing filters: by customer, region, status and version, with pagination', async () => {
  const other = await registerFleet(backend, { n: 3, region: 'ap-east-1', name: 'Other', version: '1.5.0' });
  const byRegion = await op('GET', '/v1/appliances?region=ap-east-1');
  assert.equal((byRegion.body.items as unknown[]).length, 3);
  const byVersion = await op('GET', '/v1/appliances?version=1.5.0');
  assert.equal((byVersion.body.items as unknown[]).length, 3);
  const page1 = await op('GET', `/v1/appliances?customerId=${other.customerId}&limit=2`);
  assert.equal((page1.body.items as unknown[]).length, 2);
  assert.ok(page1.body.nextToken);
  const page2 = await op('GET', `/v1/appliances?customerId=${other.customerId}&limit=2&nextToken=${page1.body.nextToken}`);
  assert.equal((page2.body.items as unknown[]).length, 1);
  const bad = await op('GET', `/v1/appliances?nextToken=${Buffer.from('{"$where":1}').toString('base64url')}`);
  assert.equal(bad.status, 400);
  assert.equal((await op('GET', '/v1/appliances?status=sleeping')).status, 400);
  assert.equal((await op('GET', '/v1/appliances?limit=0')).status, 400);
});
