// What one heartbeat round costs per appliance — DynamoDB requests, writes among them, HTTP
// requests and publishes — with 1,000 connected appliances due (embedded dynalite, real HTTP).
// Now: the sweep publishes a routine ping (not stored) and the appliance answers with one
// heartbeat. Baseline, same run: the stored heartbeat task every round used to be (an
// operator's heartbeat task still is) — task written, sent, published; the agent's accepted,
// running and succeeded results beside its heartbeat.
import type { Backend } from '@twinroot/backend';
import { startTestBackend } from '../test/helpers/backend.js';
import { ManualClock } from '../test/helpers/clock.js';
import { seedAppliances, type BenchAppliance } from './lib/fleet.js';

const APPLIANCES = 1000;
const CONCURRENCY = 16;
const WRITES = ['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand'];

interface Cost {
  dynamo: number;
  writes: number;
  http: number;
  publishes: number;
}

async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Counts what `round` costs: DynamoDB requests and writes (from the backend's instrumentation), HTTP requests and publishes (counted here). */
async function measure(backend: Backend, round: (count: { http: () => void }) => Promise<void>, published: () => number): Promise<Cost> {
  const writes = () => WRITES.reduce((n, c) => n + (backend.metrics.dynamoCommands[c] ?? 0), 0);
  const [d0, w0, p0] = [backend.metrics.dynamoRequests, writes(), published()];
  let http = 0;
  await round({ http: () => void http++ });
  return { dynamo: (backend.metrics.dynamoRequests - d0) / APPLIANCES, writes: (writes() - w0) / APPLIANCES, http: http / APPLIANCES, publishes: (published() - p0) / APPLIANCES };
}

export async function run(): Promise<{ name: string; ratio: number }> {
  const clock = new ManualClock(Date.now());
  const backend = await startTestBackend({}, undefined, { clock });
  try {
    const fleet = await seedAppliances(backend, APPLIANCES, { prefix: 'round', dueInMin: 1, withTokens: true });
    const token = new Map(fleet.map((a) => [a.applianceId, a.applianceToken]));
    // Every task message the backend publishes, captured where it leaves the backend.
    const messages: { applianceId: string; taskId: string }[] = [];
    const publish = backend.broker.publish.bind(backend.broker);
    backend.broker.publish = async (topic, payload) => {
      messages.push({ applianceId: topic.split('/')[2]!, taskId: (JSON.parse(payload.toString()) as { taskId: string }).taskId });
      return publish(topic, payload);
    };
    const post = async (a: string, path: string, json: unknown) => {
      const res = await fetch(`${backend.urls.http}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token.get(a)}`, 'content-type': 'application/json' }, body: JSON.stringify(json) });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    };
    const hb = (taskId: string) => ({ taskId, version: '1.0.0', bootedSlot: 'A', committedSlot: 'A', trial: false, services: [{ name: 'collector', status: 'running' }], uptimeS: 600 });

    clock.advance(2);
    const now = await measure(backend, async (count) => {
      const from = messages.length;
      const report = await backend.sweeps.run('heartbeats');
      if (report.handled !== APPLIANCES) throw new Error(`the sweep pinged ${report.handled}, expected ${APPLIANCES}`);
      await pool(messages.slice(from), async (m) => {
        count.http();
        await post(m.applianceId, `/v1/appliances/${m.applianceId}/heartbeat`, hb(m.taskId));
      });
    }, () => messages.length);

    const base = await measure(backend, async (count) => {
      await pool(fleet, async (a: BenchAppliance) => {
        const t = await backend.services.tasks.create({ applianceId: a.applianceId, taskType: 'heartbeat', body: {}, createdBy: 'scheduler' });
        for (const [i, status] of ['accepted', 'running'].entries()) {
          count.http();
          await post(a.applianceId, `/v1/tasks/${t.taskId}/result`, { status, seq: i + 1 });
        }
        count.http();
        await post(a.applianceId, `/v1/appliances/${a.applianceId}/heartbeat`, hb(t.taskId));
        count.http();
        await post(a.applianceId, `/v1/tasks/${t.taskId}/result`, { status: 'succeeded', seq: 3 });
      });
    }, () => messages.length);

    const line = (what: string, c: Cost) => `${what}: ${c.dynamo.toFixed(2)} DynamoDB requests (${c.writes.toFixed(2)} writes), ${c.http.toFixed(2)} HTTP requests, ${c.publishes.toFixed(2)} publishes per appliance`;
    console.log(`heartbeat-round: ${line('routine ping round', now)}`);
    console.log(`heartbeat-round: baseline ${line('stored heartbeat task round', base)}`);
    const ratio = now.writes / base.writes;
    console.log(`heartbeat-round: writes per round ${ratio.toFixed(2)}x the stored-task round; DynamoDB requests ${(now.dynamo / base.dynamo).toFixed(2)}x; HTTP requests ${(now.http / base.http).toFixed(2)}x`);
    console.log(`heartbeat-round: at 100,000 appliances every 5 minutes: ${Math.round((now.writes * 100_000) / 300)} writes/s (was ${Math.round((base.writes * 100_000) / 300)})`);
    return { name: 'heartbeat-round', ratio };
  } finally {
    await backend.cleanup();
  }
}
