// Rollout preparation leaves the request: creation answers within its inline budget, the
// preparation (read the fleet, plan, one target per appliance) goes on in the background under
// a lease, its progress is visible, and when the instance preparing it dies another instance
// takes the expired lease over and finishes — each appliance a target exactly once, nothing
// stuck in `preparing`. Two backends share one store (the second uses the first's endpoint).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutView } from '@twinroot/protocol';
import { PREPARE_LEASE_MS } from '../../../backend/src/services/rollouts.js';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call } from '../../helpers/operator-api.js';
import { makeKeys, makePackage, packageForm, type TestKeys } from '../../helpers/packages.js';

type Stack = Awaited<ReturnType<typeof startTestBackend>>;
let keys: TestKeys;
before(() => {
  keys = makeKeys();
});

const op = (b: Stack) => <T = Record<string, unknown>>(m: string, p: string, json?: unknown) => call<T>(b.urls.http, m, p, { token: b.operatorKey, json });

/** A release and `n` registered appliances (records only: preparation reads the fleet, nobody needs to answer). */
async function fleet(b: Stack, n: number): Promise<{ releaseId: string; applianceIds: string[] }> {
  const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 16 });
  const res = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: await packageForm(pkg) });
  const body = (await res.json()) as { releaseId: string };
  assert.equal(res.status, 201, JSON.stringify(body));
  const releaseId = body.releaseId;
  const applianceIds: string[] = [];
  for (const [name, region] of [['north', 'eu-north-1'], ['south', 'eu-south-1']] as const) {
    const c = await op(b)('POST', '/v1/customers', { name, region });
    const token = (await op(b)('POST', `/v1/customers/${c.body.customerId}/register-tokens`, {})).body.registerToken as string;
    for (let i = 0; i < n / 2; i++) {
      const r = await call(b.urls.http, 'POST', '/v1/register', { json: { registerToken: token, hostname: `${name}-${i}`, cpu: 'x86_64', memoryMb: 1024, ip: '10.0.0.3', version: '1.0.0', slot: 'A' } });
      applianceIds.push(r.body.applianceId as string);
    }
  }
  return { releaseId, applianceIds };
}

async function targetsOf(b: Stack, r: RolloutView): Promise<string[]> {
  const ids: string[] = [];
  for (const s of r.stages) ids.push(...(await b.data.targetsOfStage(`${r.rolloutId}#${String(s.index).padStart(4, '0')}`)).map((t) => t.applianceId));
  return ids;
}

test('creation answers `preparing` within its inline budget while the preparation goes on in the background; its progress is visible; then it runs', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey }, undefined, {
    rollouts: { prepareChunk: 10, prepareInlineMs: 200 },
    // The preparation stops after its first chunk until the test lets it go on.
    faults: { afterPreparationChunk: (_id, written) => (written === 10 ? gate : undefined) },
  });
  try {
    const { releaseId, applianceIds } = await fleet(b, 40);
    const t0 = Date.now();
    const created = await op(b)<RolloutView>('POST', '/v1/rollouts', { releaseId });
    const ms = Date.now() - t0;
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'preparing');
    assert.ok(ms < 2000, `answered in ${ms} ms`);
    const seen = (await op(b)<RolloutView>('GET', `/v1/rollouts/${created.body.rolloutId}`)).body;
    assert.equal(seen.status, 'preparing');
    assert.deepEqual({ written: seen.preparation?.written, total: seen.preparation?.total, attempts: seen.preparation?.attempts }, { written: 0, total: 40, attempts: 1 });
    // A pass of this or any instance meanwhile leaves the lease holder alone.
    assert.equal((await b.services.rollouts.pass(created.body.rolloutId)).status, 'preparing');
    // An appliance that registers now (after the fleet was read) is placed when the preparation ends.
    const customers = (await op(b)<{ items: { customerId: string; name: string }[] }>('GET', '/v1/customers')).body.items;
    const north = customers.find((c) => c.name === 'north')!;
    const token = (await op(b)('POST', `/v1/customers/${north.customerId}/register-tokens`, {})).body.registerToken as string;
    const late = await call(b.urls.http, 'POST', '/v1/register', { json: { registerToken: token, hostname: 'late', cpu: 'x86_64', memoryMb: 1024, ip: '10.0.0.3', version: '1.0.0', slot: 'A' } });
    applianceIds.push(late.body.applianceId as string);
    release();
    let r = seen;
    for (let i = 0; i < 100 && r.status === 'preparing'; i++) {
      await new Promise((res) => setTimeout(res, 50));
      r = (await op(b)<RolloutView>('GET', `/v1/rollouts/${created.body.rolloutId}`)).body;
    }
    assert.equal(r.status, 'running');
    assert.equal(r.preparation?.written, 40);
    assert.equal(r.totals.appliances, 41, 'the appliance that registered during the preparation is in the rollout');
    assert.ok(r.preparation?.finishedAt && typeof r.preparation.durationMs === 'number');
    assert.deepEqual((await targetsOf(b, r)).sort(), applianceIds.sort());
  } finally {
    await b.cleanup();
  }
});

test('an instance that dies while preparing: its lease expires, another instance takes over and finishes — every appliance a target exactly once, nothing stuck in preparing', async () => {
  const clock = new ManualClock(Date.now());
  class Died extends Error {}
  const first = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey }, undefined, {
    clock,
    rollouts: { prepareChunk: 7, prepareInlineMs: 10_000 },
    // The first instance "dies" after writing its second chunk: it never records progress again.
    faults: {
      afterPreparationChunk: (_id, written) => {
        if (written >= 14) throw new Died('simulated death of the preparing instance');
      },
    },
  });
  const second = await startTestBackend({ TWINROOT_DYNAMODB_ENDPOINT: first.urls.dynamodb, TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey }, undefined, { clock, rollouts: { prepareChunk: 7 } });
  try {
    const { releaseId, applianceIds } = await fleet(first, 30);
    const created = await op(first)<RolloutView>('POST', '/v1/rollouts', { releaseId });
    assert.equal(created.status, 500, 'the creating request saw its instance die');
    const [rec] = (await first.data.listRollouts()).filter((x) => x.status === 'preparing');
    assert.ok(rec, 'the rollout was recorded, preparing');
    const id = rec.rolloutId;
    // While the dead instance's lease is valid, the other one does not touch the preparation.
    assert.equal((await second.services.rollouts.pass(id)).status, 'preparing');
    assert.equal((await second.data.rollouts.get(id))?.preparation?.attempts, 1);
    clock.advance(PREPARE_LEASE_MS / 60_000 + 0.1);
    const report = await second.services.rollouts.pass(id);
    assert.equal(report.status, 'running');
    const r = (await op(second)<RolloutView>('GET', `/v1/rollouts/${id}`)).body;
    assert.equal(r.preparation?.attempts, 2);
    assert.equal(r.preparation?.written, 30);
    const targets = await targetsOf(second, r);
    assert.equal(targets.length, 30, 'no appliance twice');
    assert.deepEqual(targets.sort(), applianceIds.sort());
    assert.equal(r.totals.appliances, 30);
  } finally {
    await second.cleanup();
    await first.cleanup();
  }
});
