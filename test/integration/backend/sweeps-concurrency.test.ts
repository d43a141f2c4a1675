// Several backend instances share one store: leases make one of them run each sweep, the
// conditional writes make each re-send happen once even without the lease, and an instance
// that dies between claiming and publishing loses and duplicates nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mqtt } from 'aws-iot-device-sdk-v2';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { connectTestClient, type TestClient } from '../../helpers/crt-client.js';
import { call, registerFleet } from '../../helpers/operator-api.js';
import { waitFor } from '../../helpers/device-api.js';

type TestBackend = Awaited<ReturnType<typeof startTestBackend>>;
const clock = new ManualClock();
let first: TestBackend;
let fleet: Awaited<ReturnType<typeof registerFleet>>;
const clients: TestClient[] = [];

before(async () => {
  first = await startTestBackend({}, undefined, { clock });
  fleet = await registerFleet(first, { n: 1 });
});
after(async () => {
  for (const c of clients) await c.close();
  await first.cleanup();
});

/** Another instance on the same DynamoDB (its own embedded broker), optionally with a fault. */
function instance(faults?: Parameters<typeof startTestBackend>[2]['faults']) {
  return startTestBackend({ TWINROOT_DYNAMODB_ENDPOINT: first.urls.dynamodb }, undefined, { clock, faults });
}

/** The appliance listening on an instance's broker; counts what that instance published. */
async function listen(b: TestBackend): Promise<TestClient> {
  const a = fleet.appliances[0]!;
  const c = await connectTestClient(b.urls.mqtt, a.applianceId, a.applianceToken);
  await c.connection.subscribe(a.mqtt.topic, mqtt.QoS.AtLeastOnce);
  clients.push(c);
  return c;
}

async function rollbackTasks(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await call(first.urls.http, 'POST', `/v1/appliances/${fleet.appliances[0]!.applianceId}/rollback`, { token: first.operatorKey, json: {} });
    ids.push(r.body.taskId as string);
  }
  return ids;
}

function publishesPerTask(clientsSeen: TestClient[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of clientsSeen) for (const msg of c.messages) {
    const id = (JSON.parse(msg.payload) as { taskId: string }).taskId;
    m.set(id, (m.get(id) ?? 0) + 1);
  }
  return m;
}

test('two instances: the lease lets one run each sweep; without it, conditional writes still re-send each task once', async () => {
  const second = await instance();
  try {
    const l1 = await listen(first);
    const l2 = await listen(second);
    const ids = await rollbackTasks(20);
    await l1.waitForMessages(20);

    clock.advance(10); // past the 10-minute ack timeout: every task is due for a re-send
    const [t1, t2] = await Promise.all([first.scheduler.tick(), second.scheduler.tick()]);
    const ran = [t1.tasks.outcome, t2.tasks.outcome].sort();
    assert.deepEqual(ran, ['ran', 'skipped'], 'one instance ran the tasks sweep, the other skipped it');

    clock.advance(10); // due again (second retry): now both run the sweep body at once, no lease
    await Promise.all([first.sweeps.run('tasks'), second.sweeps.run('tasks')]);
    for (const id of ids) assert.equal((await first.data.tasks.get(id))?.attempts, 3, `task ${id}: first send + exactly 2 re-sends`);
    await waitFor('every re-send delivered', () => ids.every((id) => (publishesPerTask([l1, l2]).get(id) ?? 0) >= 3));
    await new Promise((r) => setTimeout(r, 300)); // and nothing more (a doubled send would arrive by now)
    const counts = publishesPerTask([l1, l2]);
    for (const id of ids) assert.equal(counts.get(id), 3, `task ${id} published 3 times in all`);
  } finally {
    await second.cleanup();
  }
});

test('an instance killed between claiming and publishing: a restarted one finishes the sweep, nothing lost or doubled', async () => {
  const ids = await rollbackTasks(10);
  let publishes = 0;
  const crash = Object.assign(new Error('simulated kill -9'), { simulatedCrash: true });
  const doomed = await instance({
    beforePublish(taskId) {
      if (ids.includes(taskId)) publishes += 1;
      if (publishes === 5) throw crash; // dies after claiming the 5th re-send of ours, before publishing it
    },
  });
  const lDoomed = await listen(doomed);
  const lFirst = clients[0]!; // `first` published the initial sends
  clock.advance(10);
  await assert.rejects(doomed.scheduler.runLeased('tasks'), /simulated kill/);
  // What it published before dying reached its broker; let the broker deliver it before the process
  // goes (an embedded broker dies with its process, and the test counts what was on the wire).
  await waitFor('the doomed instance’s 4 re-sends delivered', () => ids.filter((id) => (publishesPerTask([lDoomed]).get(id) ?? 0) > 0).length === 4);
  await doomed.cleanup(); // the process is gone; its lease stays held until it expires
  const claimed = [];
  for (const id of ids) if ((await first.data.tasks.get(id))?.dispatchPending) claimed.push(id);
  assert.equal(claimed.length, 1, 'exactly one re-send was claimed but never published');

  const restarted = await instance();
  try {
    const lRestarted = await listen(restarted);
    assert.equal((await restarted.scheduler.runLeased('tasks')).outcome, 'skipped', 'the dead holder’s lease still holds this slot');
    clock.advance(5); // the next five-minute slot: the claimed-but-unpublished task is past its grace
    const out = await restarted.scheduler.runLeased('tasks');
    assert.equal(out.outcome, 'ran');
    await waitFor('every re-send delivered', () => ids.every((id) => (publishesPerTask([lFirst, lDoomed, lRestarted]).get(id) ?? 0) >= 2));
    await new Promise((r) => setTimeout(r, 300)); // and nothing more (a doubled send would arrive by now)
    const counts = publishesPerTask([lFirst, lDoomed, lRestarted]);
    for (const id of ids) {
      const t = await restarted.data.tasks.get(id);
      assert.equal(t?.attempts, 2, `task ${id}: one re-send, counted once`);
      assert.equal(t?.dispatchPending, undefined);
      assert.equal(counts.get(id), 2, `task ${id}: first send + one re-send on the wire`);
    }
  } finally {
    await restarted.cleanup();
  }
});

test('the lease slot follows sweepSchedule: a one-minute schedule runs every minute (it was held to a five-minute grid)', async () => {
  // Every minute of 29 February only: the real cron never fires during the test, the schedule's
  // period is still one minute.
  const b = await startTestBackend({ TWINROOT_DYNAMODB_ENDPOINT: first.urls.dynamodb, TWINROOT_SWEEP_SCHEDULE: '* * 29 2 *' }, undefined, { clock });
  try {
    assert.equal(b.scheduler.periodMs, 60_000);
    clock.advance(60); // a fresh slot, whatever ran before
    assert.equal((await b.scheduler.runLeased('presence')).outcome, 'ran');
    clock.advance(1);
    assert.equal((await b.scheduler.runLeased('presence')).outcome, 'ran', 'one minute later: its own slot (before: skipped until the next five-minute slot)');
    assert.equal((await b.scheduler.runLeased('presence')).outcome, 'skipped', 'the same minute: taken');
  } finally {
    await b.cleanup();
  }
});
