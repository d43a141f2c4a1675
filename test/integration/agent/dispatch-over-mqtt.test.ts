// The agent against the real embedded broker (aedes) and a device-API test server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useDeviceStack, waitFor } from '../../helpers/device-api.js';
import { startTestAgent, task } from '../../helpers/agent.js';

const stack = useDeviceStack({ before, after });

const heartbeatsFor = (taskId: string) => stack.api.received.heartbeats.filter((h) => h.heartbeat.taskId === taskId);

test('a heartbeat task is answered with version, slots, services and uptime; results follow accepted → running → succeeded', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  try {
    await stack.backend.broker.publish(a.topic, task('hb-1', 'heartbeat'));
    await waitFor('succeeded result', () => stack.api.resultsFor('hb-1').some((r) => r.result.status === 'succeeded'));
    const [hb] = heartbeatsFor('hb-1');
    assert.ok(hb);
    assert.equal(hb.applianceId, a.applianceId);
    assert.deepEqual({ ...hb.heartbeat, uptimeS: 0 }, { taskId: 'hb-1', version: '1.0.0', bootedSlot: 'A', committedSlot: 'A', trial: false, services: [], uptimeS: 0 });
    assert.deepEqual(stack.api.resultsFor('hb-1').map((r) => r.result.status), ['accepted', 'running', 'succeeded']);
    const seqs = stack.api.resultsFor('hb-1').map((r) => r.result.seq!);
    assert.deepEqual([...seqs].sort((x, y) => x - y), seqs, 'delivered in order');
  } finally {
    await a.stop();
  }
});

test('a duplicate taskId delivered twice, and again after an agent restart, runs once', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  try {
    await stack.backend.broker.publish(a.topic, task('dup-1', 'heartbeat'));
    await stack.backend.broker.publish(a.topic, task('dup-1', 'heartbeat'));
    await waitFor('first run', () => stack.api.resultsFor('dup-1').some((r) => r.result.status === 'succeeded'));
    await a.restart();
    await stack.backend.broker.publish(a.topic, task('dup-1', 'heartbeat'));
    await stack.backend.broker.publish(a.topic, task('dup-2', 'heartbeat')); // proves the agent is listening
    await waitFor('dup-2 run', () => stack.api.resultsFor('dup-2').some((r) => r.result.status === 'succeeded'));
    assert.equal(heartbeatsFor('dup-1').length, 1, 'dup-1 ran once');
    assert.equal(stack.api.resultsFor('dup-1').filter((r) => r.result.status === 'accepted').length, 1);
    assert.equal(a.records.filter((r) => r.msg === 'task dropped: duplicate taskId' && r.taskId === 'dup-1').length, 2);
  } finally {
    await a.stop();
  }
});

test('a QoS 1 task published while the agent is down is delivered and run after it starts', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  await a.stop();
  await stack.backend.broker.publish(a.topic, task('offline-1', 'heartbeat'));
  await a.restart();
  try {
    await waitFor('offline task run', () => heartbeatsFor('offline-1').length === 1);
  } finally {
    await a.stop();
  }
});

test('an expired task is rejected, not run', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  try {
    await stack.backend.broker.publish(a.topic, task('exp-1', 'heartbeat', {}, { expiresAt: new Date(Date.now() - 1000).toISOString() }));
    await waitFor('rejected', () => stack.api.resultsFor('exp-1').length === 1);
    const [r] = stack.api.resultsFor('exp-1');
    assert.equal(r!.result.status, 'rejected');
    assert.equal(r!.result.status === 'rejected' && r!.result.error.code, 'expired');
    assert.equal(heartbeatsFor('exp-1').length, 0);
  } finally {
    await a.stop();
  }
});

test('a task type this agent has no handler for fails with unsupported_task_type', async () => {
  // An agent embedded with its upgrade handler switched off (e.g. a monitoring-only build).
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { handlers: { upgrade: undefined } });
  try {
    await stack.backend.broker.publish(a.topic, task('up-1', 'upgrade', { releaseId: 'r1', version: '2.0.0', manifestUrl: 'http://127.0.0.1:1/m.json', mode: 'download' }));
    await waitFor('failed', () => stack.api.resultsFor('up-1').some((r) => r.result.status === 'failed'));
    const f = stack.api.resultsFor('up-1').find((r) => r.result.status === 'failed')!;
    assert.equal(f.result.status === 'failed' && f.result.error.code, 'unsupported_task_type');
  } finally {
    await a.stop();
  }
});

test('a heartbeat never waits behind a long upgrade', async () => {
  let release!: () => void;
  const blocker = new Promise<void>((r) => (release = r));
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt, { handlers: { upgrade: async () => { await blocker; } } });
  try {
    await stack.backend.broker.publish(a.topic, task('long-up', 'upgrade', { releaseId: 'r1', version: '2.0.0', manifestUrl: 'http://127.0.0.1:1/m.json', mode: 'download' }));
    await waitFor('upgrade running', () => stack.api.resultsFor('long-up').some((r) => r.result.status === 'running'));
    await stack.backend.broker.publish(a.topic, task('hb-during-up', 'heartbeat'));
    await waitFor('heartbeat during upgrade', () => heartbeatsFor('hb-during-up').length === 1);
    assert.equal(stack.api.resultsFor('long-up').some((r) => r.result.status === 'succeeded'), false, 'upgrade still running');
    // and a rollback waits for the upgrade (same queue)
    await stack.backend.broker.publish(a.topic, task('rb-after-up', 'rollback'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(stack.api.resultsFor('rb-after-up').some((r) => r.result.status === 'running'), false, 'rollback waits for the upgrade');
    release();
    await waitFor('rollback ran after the upgrade', () => stack.api.resultsFor('rb-after-up').some((r) => r.result.status === 'failed'));
  } finally {
    release();
    await a.stop();
  }
});

test('a task published to another appliance\'s topic never reaches this agent', async () => {
  const mine = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  const other = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  try {
    await stack.backend.broker.publish(other.topic, task('theirs-1', 'heartbeat'));
    await stack.backend.broker.publish(mine.topic, task('mine-1', 'heartbeat'));
    await waitFor('both ran', () => heartbeatsFor('theirs-1').length === 1 && heartbeatsFor('mine-1').length === 1);
    assert.deepEqual(new Set(stack.api.resultsFor('theirs-1').map((r) => r.applianceId)), new Set([other.applianceId]));
    assert.equal(mine.records.some((r) => r.taskId === 'theirs-1'), false, 'this agent never saw it');
  } finally {
    await mine.stop();
    await other.stop();
  }
});

test('results queued while the backend is down arrive, in order, after it comes back (across an agent restart)', async () => {
  const a = await startTestAgent(stack.api, stack.backend.urls.mqtt);
  try {
    await stack.api.stop();
    await stack.backend.broker.publish(a.topic, task('svc-1', 'uninstallService', { serviceCode: 'billing' }));
    await waitFor('queued in the outbox', () => a.agent.outbox.pending().filter((e) => e.taskId === 'svc-1').length === 3);
    assert.ok(a.records.some((r) => r.msg === 'outbox: delivery failed, will retry'));
    await a.restart(); // still down: the outbox survives the restart
    assert.equal(a.agent.outbox.pending().filter((e) => e.taskId === 'svc-1').length, 3);
    await stack.api.start();
    await waitFor('delivered', () => stack.api.resultsFor('svc-1').length >= 3);
    assert.deepEqual(stack.api.resultsFor('svc-1').map((r) => r.result.status), ['accepted', 'running', 'succeeded']);
    await waitFor('outbox empty', () => a.agent.outbox.pending().length === 0);
  } finally {
    if (!stack.api.app) await stack.api.start();
    await a.stop();
  }
});
