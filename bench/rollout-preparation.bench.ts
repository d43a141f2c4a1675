// Creating a rollout over 100,000 appliances (embedded dynalite): how long the creating request
// takes (goal < 1 s: preparation leaves the request) and how long the background preparation
// takes to read the fleet, plan it and write one target per appliance. Baseline, same run: the
// bare store work of the preparation — the same targets written with BatchWriteItem directly.
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { startTestBackend } from '../test/helpers/backend.js';
import { makeKeys, makePackage, packageForm } from '../test/helpers/packages.js';
import { seedAppliances } from './lib/fleet.js';

const APPLIANCES = Number(process.env.PREP_APPLIANCES ?? 100_000);

export async function run(): Promise<{ name: string; ratio: number }> {
  const keys = makeKeys();
  const backend = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey });
  try {
    const t0 = performance.now();
    const fleet = await seedAppliances(backend, APPLIANCES, { prefix: 'prep', dueInMin: 60 });
    for (let i = 0; i < 500; i++) await backend.data.customers.create({ customerId: `cust-${i}`, name: `customer ${i}`, region: `region-${i % 10}`, canary: i % 50 === 0, createdAt: new Date().toISOString(), rev: 0 } as never);
    console.log(`rollout-preparation: seeded ${APPLIANCES.toLocaleString('en')} appliances of 500 customers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 16 });
    const up = await fetch(`${backend.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${backend.operatorKey}` }, body: await packageForm(pkg) });
    const { releaseId } = (await up.json()) as { releaseId: string };

    const c0 = performance.now();
    const res = await fetch(`${backend.urls.http}/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${backend.operatorKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ releaseId, startAt: new Date(Date.now() + 86400_000).toISOString() }) });
    const created = (await res.json()) as { rolloutId: string; status: string };
    const createMs = performance.now() - c0;
    if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(created)}`);
    let r: { status: string; preparation?: { written: number; total?: number; durationMs?: number } } = created;
    while (r.status === 'preparing') {
      await new Promise((x) => setTimeout(x, 500));
      r = (await (await fetch(`${backend.urls.http}/v1/rollouts/${created.rolloutId}`, { headers: { authorization: `Bearer ${backend.operatorKey}` } })).json()) as typeof r;
    }
    const prepS = (performance.now() - c0) / 1000;
    if (r.status !== 'running' || r.preparation?.written !== APPLIANCES) throw new Error(`preparation ended ${r.status}, ${r.preparation?.written} targets`);

    // Baseline: the same number of target items written straight to the store, 25 per BatchWrite.
    const b0 = performance.now();
    for (let i = 0; i < fleet.length || i < APPLIANCES; i += 25) {
      const items = Array.from({ length: Math.min(25, APPLIANCES - i) }, (_, k) => ({ PutRequest: { Item: { targetId: `baseline#${i + k}`, rolloutId: 'baseline', stageKey: 'baseline#0000', stageIndex: 0, applianceId: `prep-${String(i + k).padStart(7, '0')}`, customerId: 'c', state: 'pending', updatedAt: new Date().toISOString(), rev: 0 } } }));
      await backend.data.doc.send(new BatchWriteCommand({ RequestItems: { [backend.tables.rolloutTargets]: items } }));
    }
    const baseS = (performance.now() - b0) / 1000;
    console.log(`rollout-preparation: the creating request answered in ${createMs.toFixed(0)} ms (${created.status}; goal < 1 s)`);
    console.log(`rollout-preparation: prepared in the background in ${prepS.toFixed(1)} s (${r.preparation.durationMs} ms inside the preparation; ${APPLIANCES.toLocaleString('en')} targets)`);
    console.log(`rollout-preparation: baseline: the same targets written straight to the store in ${baseS.toFixed(1)} s`);
    console.log(`rollout-preparation: preparation takes ${(prepS / baseS).toFixed(2)}x the bare target writes`);
    return { name: 'rollout-preparation', ratio: prepS / baseS };
  } finally {
    await backend.cleanup();
  }
}
