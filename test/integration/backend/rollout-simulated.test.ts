// A full staged rollout over the embedded stack (real HTTP API, dynalite, aedes) with simulated
// appliances that hold their own MQTT sessions and answer like the agent. Time is a manual
// clock; the rollout engine runs as the sweep does (a pass per tick).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutView, TaskView } from '@twinroot/protocol';
import { splitHalves } from '@twinroot/backend';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call } from '../../helpers/operator-api.js';
import { makeKeys, makePackage, packageForm, type TestKeys } from '../../helpers/packages.js';
import { registerSimulated, simulateCustomer, type SimulatedAppliance } from '../../helpers/fleet-simulator.js';

const T0 = Date.parse('2026-11-02T10:00:00Z'); // a Monday
let keys: TestKeys;
before(() => {
  keys = makeKeys();
});

type Stack = Awaited<ReturnType<typeof startTestBackend>>;

async function uploadRelease(b: Stack, version: string): Promise<string> {
  const pkg = await makePackage({ keys, version, randomKiB: 64 });
  const form = await packageForm(pkg);
  const res = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: form });
  const body = (await res.json()) as { releaseId: string };
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.releaseId;
}

function ops(b: Stack) {
  return <T = Record<string, unknown>>(m: string, p: string, json?: unknown) => call<T>(b.urls.http, m, p, { token: b.operatorKey, json });
}

/** Runs engine passes (as the sweep would) until `done` holds for the rollout, or fails after 20 s. */
async function until(b: Stack, rolloutId: string, what: string, done: (r: RolloutView) => boolean): Promise<RolloutView> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    await b.services.rollouts.pass(rolloutId);
    const r = (await ops(b)<RolloutView>('GET', `/v1/rollouts/${rolloutId}`)).body;
    if (done(r)) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}\n${JSON.stringify(r, null, 1)}`);
    await new Promise((res) => setTimeout(res, 40));
  }
}

const upgradeTasks = (s: SimulatedAppliance, mode: string) => s.tasks.filter((t) => t.taskType === 'upgrade' && t.body.mode === mode);

test('a rollout over 3 regions: plan, pre-downloads spread before each stage, stage by stage, a maintenance window honoured, completed', async () => {
  const clock = new ManualClock(T0);
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey }, undefined, { clock });
  const sims: SimulatedAppliance[] = [];
  try {
    const op = ops(b);
    const ap = await simulateCustomer(b, { name: 'p1', region: 'ap-south', n: 2 });
    const e1 = await simulateCustomer(b, { name: 'e1', region: 'eu-west', n: 2, canary: true });
    const e2 = await simulateCustomer(b, { name: 'e2', region: 'eu-west', n: 3 });
    const u1 = await simulateCustomer(b, { name: 'u1', region: 'us-east', n: 1 });
    const u2 = await simulateCustomer(b, { name: 'u2', region: 'us-east', n: 2 });
    // Tuesday 03:00-04:00 in New York (EST) = 08:00-09:00 UTC.
    const u3 = await simulateCustomer(b, { name: 'u3', region: 'us-east', n: 2, maintenanceWindow: { timeZone: 'America/New_York', windows: [{ day: 'tue', start: '03:00', durationMinutes: 60 }] } });
    for (const c of [ap, e1, e2, u1, u2, u3]) sims.push(...c.appliances);
    const releaseId = await uploadRelease(b, '2.0.0');

    const startAt = new Date(T0 + 13 * 3600_000).toISOString(); // 23:00 UTC; pre-downloads from 11:00
    const created = await op('POST', '/v1/rollouts', { releaseId, startAt, stageTimeoutMinutes: 60 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const rolloutId = created.body.rolloutId as string;
    let r = (await op<RolloutView>('GET', `/v1/rollouts/${rolloutId}`)).body;
    assert.equal(r.status, 'running');
    assert.deepEqual(
      r.stages.map((s) => `${s.region} ${s.kind} ${s.customers}/${s.counts.appliances}`),
      ['ap-south first-half 1/1', 'ap-south second-half 1/1', 'eu-west canary-first-half 1/1', 'eu-west canary-second-half 1/1', 'eu-west first-half 1/2', 'eu-west second-half 1/1', 'us-east first-half 3/3', 'us-east second-half 2/2'],
    );
    assert.equal(r.stages[0]!.preDownloadFrom, '2026-11-02T11:00:00.000Z');
    assert.equal(r.stages[3]!.plannedStartAt, '2026-11-03T02:00:00.000Z');
    assert.deepEqual(r.policy, { startAt, successThreshold: 0.95, errorThreshold: 0.05, stageTimeoutMinutes: 60, preDownloadWindowHours: 12, mode: 'install-reboot' });
    assert.equal((await op('GET', '/v1/rollouts')).body.items instanceof Array, true);
    // Which appliance is in which stage, paged: us-east's first half holds the first half (by id) of u1's, u2's and u3's appliances.
    type StagePage = { items: { applianceId: string; customerId: string; stage: number; state: string }[]; nextToken?: string };
    const p1 = (await op<StagePage>('GET', `/v1/rollouts/${rolloutId}/stages/6/appliances?limit=2`)).body;
    assert.equal(p1.items.length, 2);
    assert.ok(p1.nextToken);
    const p2 = (await op<StagePage>('GET', `/v1/rollouts/${rolloutId}/stages/6/appliances?limit=2&nextToken=${encodeURIComponent(p1.nextToken!)}`)).body;
    const members = [...p1.items, ...p2.items];
    const firstHalves = [u1, u2, u3].flatMap((c) => splitHalves(c.appliances.map((x) => x.applianceId))[0]);
    assert.deepEqual(members.map((m) => m.applianceId).sort(), firstHalves.sort());
    assert.ok(members.every((m) => m.stage === 6 && m.state === 'pending'));
    assert.equal((await op('GET', `/v1/rollouts/${rolloutId}/stages/8/appliances`)).status, 404, 'no stage 8');
    assert.equal((await op('GET', `/v1/rollouts/${rolloutId}/stages/0/appliances?nextToken=bm90LWEta2V5`)).status, 400);

    await b.services.rollouts.pass(rolloutId);
    assert.equal(sims.flatMap((s) => s.tasks).filter((t) => t.taskType === 'upgrade').length, 0, 'nothing before the windows open');

    // Step through the day in 20-minute ticks up to the start: pre-downloads go out one customer at a time.
    while (clock.now() < Date.parse(startAt) - 20 * 60_000) {
      clock.advance(20);
      await b.services.rollouts.pass(rolloutId);
    }
    await until(b, rolloutId, 'pre-downloads answered', (v) => v.stages[0]!.counts.downloaded === 1 && v.stages[1]!.counts.downloaded === 1);
    const apDl = ap.appliances.map((s) => upgradeTasks(s, 'download'));
    assert.deepEqual(apDl.map((l) => l.length), [1, 1], "both of p1's appliances pre-downloaded (stages 0 and 1)");
    const dlTasks = (await op<{ items: TaskView[] }>('GET', `/v1/appliances/${ap.appliances[0]!.applianceId}/tasks`)).body.items.filter((t) => t.body.mode === 'download');
    const dlAt = Date.parse(dlTasks[0]!.createdAt);
    assert.ok(dlAt >= T0 + 3600_000 && dlAt < Date.parse(startAt), `pre-download inside the window (${dlTasks[0]!.createdAt})`);
    r = (await op<RolloutView>('GET', `/v1/rollouts/${rolloutId}`)).body;
    assert.equal(r.stages[6]!.preDownloadFrom, '2026-11-02T17:00:00.000Z', 'us-east first half starts at 05:00: its window opens at 17:00');
    const usDl: string[] = [];
    for (const s of [...u1.appliances, ...u2.appliances, ...u3.appliances]) {
      const items = (await op<{ items: TaskView[] }>('GET', `/v1/appliances/${s.applianceId}/tasks`)).body.items;
      usDl.push(...items.filter((t) => t.body.mode === 'download').map((t) => t.createdAt));
    }
    assert.ok(usDl.length > 0 && usDl.every((t) => t >= '2026-11-02T17:00:00.000Z'), `us-east pre-downloads inside their window: ${usDl.join(' ')}`);
    const dlTimes = new Set(sims.flatMap((s) => s.tasks.filter((t) => t.body.mode === 'download').map((t) => t.taskId)));
    assert.ok(dlTimes.size >= 8, 'every appliance of stages whose window opened got one pre-download');
    assert.equal(r.stages[0]!.status, 'waiting');

    // Start: stage by stage, each install-reboot verified by the appliance's heartbeat.
    clock.advance(20);
    r = await until(b, rolloutId, 'stage 0 passed', (v) => v.stages[0]!.status === 'passed');
    assert.equal(r.stages[0]!.counts.succeeded, 1);
    assert.equal(r.stages[1]!.status, 'waiting', 'stage 1 waits for its planned start');
    const order: string[] = [];
    while (r.status === 'running' && clock.now() < T0 + 30 * 3600_000) {
      clock.advance(20);
      r = await until(b, rolloutId, 'a pass', () => true);
      for (const s of r.stages) if (s.startedAt && !order.includes(`${s.index}`)) order.push(`${s.index}`);
      for (const s of r.stages.filter((x) => x.status === 'running' && x.counts.inProgress > 0)) {
        await until(b, rolloutId, `stage ${s.index} installs answered`, (v) => v.stages[s.index]!.counts.inProgress === 0);
      }
    }
    assert.equal(r.status, 'completed', JSON.stringify(r.stages.map((s) => [s.index, s.status, s.counts])));
    assert.deepEqual(order, ['0', '1', '2', '3', '4', '5', '6', '7'], 'stages in plan order');
    for (let i = 1; i < r.stages.length; i++) assert.ok(r.stages[i]!.startedAt! >= r.stages[i - 1]!.passedAt!, `stage ${i} started after stage ${i - 1} passed`);
    assert.deepEqual(r.totals, { appliances: 12, pending: 0, downloading: 0, downloaded: 0, inProgress: 0, succeeded: 12, failed: 0, rolledBack: 0, cancelled: 0 });
    for (const s of sims) assert.equal(s.version, '2.0.0');
    const list = (await op<{ items: { version: string; status: string }[] }>('GET', '/v1/appliances?limit=100')).body.items;
    assert.deepEqual([...new Set(list.map((a) => `${a.version} ${a.status}`))], ['2.0.0 connected']);

    // u3's installs went out only inside its window (Tue 08:00-09:00 UTC); stage 6 waited for it.
    for (const s of u3.appliances) {
      const tasks = (await op<{ items: TaskView[] }>('GET', `/v1/appliances/${s.applianceId}/tasks`)).body.items.filter((t) => t.body.mode === 'install-reboot');
      assert.equal(tasks.length, 1);
      const at = Date.parse(tasks[0]!.createdAt);
      assert.ok(at >= Date.parse('2026-11-03T08:00:00Z') && at < Date.parse('2026-11-03T09:00:00Z'), `u3 install at ${tasks[0]!.createdAt}`);
    }
    const u1Install = Date.parse((await op<{ items: TaskView[] }>('GET', `/v1/appliances/${u1.appliances[0]!.applianceId}/tasks`)).body.items.find((t) => t.body.mode === 'install-reboot')!.createdAt);
    assert.ok(u1Install < Date.parse('2026-11-03T08:00:00Z'), 'u1 (no window) did not wait');
    assert.equal(r.stages[6]!.passedAt, '2026-11-03T08:00:00.000Z', 'stage 6 waited for u3 (success 2 of 3 < 0.95 until then)');
    assert.equal(r.stages[7]!.startedAt, '2026-11-03T08:00:00.000Z', 'and the last stage started late, when it passed');
  } finally {
    for (const s of sims) await s.close();
    await b.cleanup();
  }
});

test('errors pause the rollout with the numbers; resume accepts them; a new appliance joins; a restart resumes; abort cancels what is not started', async () => {
  const clock = new ManualClock(T0);
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey }, undefined, { clock });
  const sims: SimulatedAppliance[] = [];
  let b2: Stack | null = null;
  try {
    const op = ops(b);
    // Canary c1: the new root of the appliance in its first half fails the health check and rolls back.
    const c1 = await simulateCustomer(b, { name: 'c1', region: 'eu-west', n: 2, canary: true, behaviours: ['rollback', 'rollback'] });
    const c2 = await simulateCustomer(b, { name: 'c2', region: 'eu-west', n: 4, behaviours: ['silent', 'silent', 'silent', 'silent'] });
    sims.push(...c1.appliances, ...c2.appliances);
    const releaseId = await uploadRelease(b, '3.0.0');
    const rolloutId = (await op('POST', '/v1/rollouts', { releaseId, stageTimeoutMinutes: 30, preDownloadWindowHours: 1 })).body.rolloutId as string;

    let r = await until(b, rolloutId, 'paused by the error threshold', (v) => v.status === 'paused');
    assert.match(r.pausedReason!, /^error threshold: 1 of 1 appliances failed or rolled back \(0 failed, 1 rolled back; 1 > 0\.05\) in stage 0 \(eu-west, canary-first-half\)$/);
    assert.equal(r.stages[0]!.counts.rolledBack, 1);
    const [first, second] = upgradeTasks(c1.appliances[0]!, 'install-reboot').length > 0 ? c1.appliances : [...c1.appliances].reverse();
    const bad = (await op('GET', `/v1/appliances/${first!.applianceId}`)).body;
    assert.equal(bad.version, '1.0.0');
    assert.equal(bad.status, 'connected');
    second!.behaviour = 'ok';
    clock.advance(120);
    r = await until(b, rolloutId, 'still paused', () => true);
    assert.equal(r.status, 'paused');
    assert.equal(r.stages[1]!.status, 'waiting', 'nothing starts while paused');
    assert.equal(upgradeTasks(second!, 'install-reboot').length, 0);
    assert.equal((await op('POST', `/v1/rollouts/${rolloutId}/pause`)).status, 409);

    // A new appliance of c2 registers while the rollout runs: it joins c2's first-half stage.
    const late = await registerSimulated(b, c2.registerToken, 'c2-late', '1.0.0', 'silent');
    sims.push(late);
    const target = await b.data.targets.get(`${rolloutId}#${late.applianceId}`);
    assert.equal(target?.stageIndex, 2);

    const resumed = await op<RolloutView>('POST', `/v1/rollouts/${rolloutId}/resume`);
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    r = await until(b, rolloutId, 'stage 1 passed', (v) => v.stages[1]!.status === 'passed');
    clock.advance(40); // stage 2's planned start (it slipped with stage 1's late start)
    r = await until(b, rolloutId, 'stage 2 installs sent', (v) => v.stages[2]!.status === 'running' && v.stages[2]!.counts.inProgress === 3);
    assert.equal(r.stages[0]!.status, 'passed', 'the accepted rollback no longer holds stage 0');
    assert.equal(r.stages[1]!.status, 'passed');
    assert.equal(r.stages[2]!.counts.appliances, 3, 'c2 first half (2) plus the appliance that joined');

    // A restart: a new backend on the same data directory picks the rollout up where it was, and
    // its passes repeat nothing (one install task per appliance).
    await b.close();
    b2 = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey }, b.dataDir, { clock });
    const op2 = ops(b2);
    const same = (await op2<RolloutView>('GET', `/v1/rollouts/${rolloutId}`)).body;
    assert.equal(same.status, 'running');
    assert.deepEqual(same.stages.map((s) => [s.status, s.counts]), r.stages.map((s) => [s.status, s.counts]));
    clock.advance(10);
    for (let i = 0; i < 3; i++) await b2.services.rollouts.pass(rolloutId);
    const installsOf = async (id: string) => (await op2<{ items: TaskView[] }>('GET', `/v1/appliances/${id}/tasks`)).body.items.filter((t) => t.body.mode === 'install-reboot');
    const c2All = [...c2.appliances, late];
    let withInstall = 0;
    for (const x of c2All) withInstall += (await installsOf(x.applianceId)).length;
    assert.equal(withInstall, 3, 'exactly one install task for each of the 3 appliances of stage 2, none for stage 3');

    const aborted = await op2<RolloutView>('POST', `/v1/rollouts/${rolloutId}/abort`);
    assert.equal(aborted.status, 200);
    r = await until(b2, rolloutId, 'abort settled', (v) => v.stages.every((s) => s.counts.inProgress === 0 && s.counts.pending === 0));
    assert.equal(r.status, 'aborted');
    assert.equal(r.stages[2]!.counts.cancelled, 3);
    assert.equal(r.stages[3]!.counts.cancelled, 2);
    assert.equal(r.stages[1]!.counts.succeeded, 1, 'an appliance already upgraded stays');
    const stage2Task = (await installsOf(late.applianceId))[0]!;
    assert.equal(stage2Task.status, 'cancelled', 'a sent install nobody accepted is cancelled');
    assert.equal(stage2Task.error?.code, 'rollout_aborted');
    const a = (await op2('GET', `/v1/appliances/${late.applianceId}`)).body;
    assert.notEqual(a.status, 'upgrading', 'no longer marked upgrading');
    assert.equal((await op2('POST', `/v1/rollouts/${rolloutId}/resume`)).status, 409);
  } finally {
    for (const s of sims) await s.close();
    await b.cleanup();
    await b2?.cleanup();
  }
});

test('pre-downloads: none for an appliance already on the version; none sent milliseconds before the install when the window passed during a pause', async () => {
  const clock = new ManualClock(T0);
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey }, undefined, { clock });
  const sims: SimulatedAppliance[] = [];
  try {
    const op = ops(b);
    const done = await simulateCustomer(b, { name: 'on-2', region: 'eu-west', n: 1, version: '2.0.0' });
    const later = await simulateCustomer(b, { name: 'old', region: 'eu-west', n: 1 });
    sims.push(...done.appliances, ...later.appliances);
    const releaseId = await uploadRelease(b, '2.0.0');
    const startAt = T0 + 3 * 3600_000;
    const rolloutId = (await op('POST', '/v1/rollouts', { releaseId, startAt: new Date(startAt).toISOString(), stageTimeoutMinutes: 60, preDownloadWindowHours: 2 })).body.rolloutId as string;
    // Paused before the windows open, resumed after stage 0's start: its window passed in the pause.
    assert.equal((await op('POST', `/v1/rollouts/${rolloutId}/pause`)).status, 200);
    while (clock.now() < startAt + 10 * 60_000) {
      clock.advance(20);
      await b.services.rollouts.pass(rolloutId);
    }
    assert.equal((await op('POST', `/v1/rollouts/${rolloutId}/resume`)).status, 200);
    const r = await until(b, rolloutId, 'completed', (v) => v.status === 'completed' || (clock.advance(20), false));
    assert.equal(r.status, 'completed');
    assert.deepEqual(upgradeTasks(done.appliances[0]!, 'download').length + upgradeTasks(done.appliances[0]!, 'install-reboot').length, 0, 'already on 2.0.0: no task at all');
    // The stage of `old` started at the resume: its install downloads; no pre-download beside it.
    const old = later.appliances[0]!;
    assert.deepEqual([upgradeTasks(old, 'download').length, upgradeTasks(old, 'install-reboot').length], [0, 1]);
    assert.equal(old.version, '2.0.0');
  } finally {
    for (const s of sims) await s.close();
    await b.cleanup();
  }
});

test('rollout requests: unknown release, region, canary customer, thresholds out of range', async () => {
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey });
  try {
    const op = ops(b);
    await simulateCustomer(b, { name: 'x', region: 'eu-west', n: 0 });
    assert.equal((await op('POST', '/v1/rollouts', { releaseId: 'v9.9.9' })).status, 404);
    const releaseId = await uploadRelease(b, '4.0.0');
    const region = await op('POST', '/v1/rollouts', { releaseId, regionsOrder: ['mars'] });
    assert.equal(region.status, 400);
    assert.equal(region.body.code, 'unknown_region');
    const canary = await op('POST', '/v1/rollouts', { releaseId, canaryCustomers: ['nobody'] });
    assert.equal(canary.body.code, 'unknown_customer');
    assert.equal((await op('POST', '/v1/rollouts', { releaseId, successThreshold: 1.5 })).status, 400);
    assert.equal((await op('POST', '/v1/rollouts', { releaseId, errorThreshold: -1 })).status, 400);
    assert.equal((await op('POST', '/v1/rollouts', { releaseId, extra: 1 })).status, 400);
    assert.equal((await op('GET', '/v1/rollouts/nope')).status, 404);
    assert.equal((await op('POST', '/v1/rollouts/nope/pause')).status, 404);
    const empty = await op('POST', '/v1/rollouts', { releaseId });
    assert.equal(empty.status, 201, 'a fleet without appliances: nothing to do');
    const r = (await op<RolloutView>('GET', `/v1/rollouts/${empty.body.rolloutId}`)).body;
    assert.equal(r.status, 'completed');
  } finally {
    await b.cleanup();
  }
});
