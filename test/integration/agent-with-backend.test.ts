// The real agent against the real backend: registration with a register token, the embedded
// broker's per-appliance login, heartbeat tasks from the sweep answered by the agent, and
// operator tasks with their results (the agent's `dir` slot driver stands in for disks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

test('the heartbeat sweep pings the agent over MQTT; its heartbeat answers the task', async () => {
  clock.advance(5);
  const out = await backend.scheduler.tick();
  assert.equal(out.heartbeats.outcome, 'ran');
  const [hb] = await backend.data.tasksOfType(applianceId, 'heartbeat', 'after', '2000-01-01T00:00:00.000Z');
  assert.ok(hb, 'a heartbeat task was sent');
  let s: string | undefined;
  await waitFor('heartbeat task succeeded', () => {
    void taskStatus(hb.taskId).then((x) => (s = x));
    return s === 'succeeded';
  });
  const a = await backend.data.appliances.get(applianceId);
  assert.equal(a?.lastSeenAt, new Date(clock.now()).toISOString());
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
