// Heartbeat handling rate of the backend with 10,000 appliances (embedded dynalite, real
// HTTP), against a baseline measured in the same run: the store work a heartbeat cannot
// avoid (read the appliance, write it back) done directly through the SDK, same concurrency.
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { startTestBackend } from '../test/helpers/backend.js';
import { seedAppliances } from './lib/fleet.js';

const APPLIANCES = 10_000;
const CONCURRENCY = 32;

async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
  return (performance.now() - start) / 1000;
}

export async function run(): Promise<{ name: string; ratio: number }> {
  const backend = await startTestBackend();
  try {
    const seedStart = performance.now();
    const fleet = await seedAppliances(backend, APPLIANCES, { prefix: 'hb', dueInMin: 60, withTokens: true });
    console.log(`heartbeats: seeded ${APPLIANCES.toLocaleString('en')} appliances in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
    const body = JSON.stringify({ version: '1.0.0', bootedSlot: 'A', committedSlot: 'A', trial: false, services: [{ name: 'collector', status: 'running' }], uptimeS: 1234 });

    const baselineS = await pool(fleet, async (a) => {
      const out = await backend.data.doc.send(new GetCommand({ TableName: backend.tables.appliances, Key: { applianceId: a.applianceId }, ConsistentRead: true }));
      const item = out.Item!;
      await backend.data.doc.send(new PutCommand({ TableName: backend.tables.appliances, Item: { ...item, rev: (item.rev as number) + 1, lastSeenAt: new Date().toISOString() }, ConditionExpression: '#r = :r', ExpressionAttributeNames: { '#r': 'rev' }, ExpressionAttributeValues: { ':r': item.rev } }));
    });
    const requestsBefore = backend.metrics.dynamoRequests;
    let failures = 0;
    const oursS = await pool(fleet, async (a) => {
      const res = await fetch(`${backend.urls.http}/v1/appliances/${a.applianceId}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${a.applianceToken}`, 'content-type': 'application/json' }, body });
      if (res.status !== 200) failures += 1;
      await res.arrayBuffer();
    });
    if (failures > 0) throw new Error(`${failures} heartbeats failed`);
    const perHeartbeat = (backend.metrics.dynamoRequests - requestsBefore) / APPLIANCES;
    const ours = APPLIANCES / oursS;
    const base = APPLIANCES / baselineS;
    console.log(`heartbeats: ${Math.round(ours).toLocaleString('en')} heartbeats/s over HTTP (${perHeartbeat.toFixed(2)} DynamoDB requests each, ${CONCURRENCY} in flight)`);
    console.log(`heartbeats: baseline ${Math.round(base).toLocaleString('en')} read+conditional-write pairs/s straight to the store`);
    console.log(`heartbeats: handling runs at ${(ours / base).toFixed(2)}x the rate of the bare store work`);
    return { name: 'heartbeats', ratio: ours / base };
  } finally {
    await backend.cleanup();
  }
}
