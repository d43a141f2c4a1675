// Fills a backend's store with appliances directly (BatchWrite, 25 at a time, several in
// flight), the way registration would leave them, without paying for 100k HTTP registrations.
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { hashApplianceToken, newApplianceToken, type Backend, type StoredAppliance } from '@twinroot/backend';

export interface BenchAppliance {
  applianceId: string;
  applianceToken: string;
}

const SHARDS = 4;

/** `n` connected appliances whose heartbeat and presence deadlines are `dueInMin` minutes away. */
export async function seedAppliances(backend: Backend, n: number, opts: { prefix: string; dueInMin: number; withTokens?: boolean }): Promise<BenchAppliance[]> {
  const now = backend.clock.now();
  const out: BenchAppliance[] = [];
  const items: StoredAppliance[] = [];
  for (let i = 0; i < n; i++) {
    const applianceId = `${opts.prefix}-${String(i).padStart(7, '0')}`;
    const applianceToken = opts.withTokens ? newApplianceToken(applianceId) : `${applianceId}.unused`;
    if (opts.withTokens) out.push({ applianceId, applianceToken });
    const due = new Date(now + opts.dueInMin * 60_000 + (i % 1000)).toISOString();
    items.push({
      applianceId,
      customerId: `cust-${i % 500}`,
      region: `region-${i % 10}`,
      hostname: `va-${i}`,
      cpu: 'bench',
      memoryMb: 4096,
      ip: '10.0.0.1',
      version: '1.0.0',
      bootedSlot: 'A',
      committedSlot: 'A',
      trial: false,
      services: [],
      tokenHash: hashApplianceToken(applianceToken),
      tokenExpiresAt: new Date(now + 60 * 86400_000).toISOString(),
      registeredAt: new Date(now).toISOString(),
      lastSeenAt: new Date(now).toISOString(),
      connection: 'connected',
      presenceShard: `presence#${i % SHARDS}`,
      presenceDueAt: due,
      hbShard: `hb#${i % SHARDS}`,
      hbDueAt: due,
      desiredServices: {},
      rev: 0,
    });
  }
  const batches: StoredAppliance[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      let pending = batches[next++]!.map((Item) => ({ PutRequest: { Item } }));
      while (pending.length > 0) {
        const res = await backend.data.doc.send(new BatchWriteCommand({ RequestItems: { [backend.tables.appliances]: pending } }));
        pending = (res.UnprocessedItems?.[backend.tables.appliances] ?? []) as typeof pending;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return out;
}
