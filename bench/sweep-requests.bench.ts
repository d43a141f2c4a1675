// DynamoDB requests per sweep must follow the due work, not the fleet: the same due work
// (100 appliances silent and due a heartbeat, 100 unacknowledged tasks) is swept with 1,000
// and with 100,000 appliances in the table. Baseline: the 1,000-appliance run.
import { startTestBackend } from '../test/helpers/backend.js';
import { ManualClock } from '../test/helpers/clock.js';
import { seedAppliances } from './lib/fleet.js';

const DUE_APPLIANCES = 50;
const DUE_TASKS = 100;

async function measure(fleetSize: number): Promise<{ requests: Record<string, number>; seconds: Record<string, number>; seedS: number }> {
  const clock = new ManualClock(Date.now());
  const backend = await startTestBackend({}, undefined, { clock });
  try {
    const seedStart = performance.now();
    // The quiet majority: nothing due for an hour.
    await seedAppliances(backend, fleetSize - 2 * DUE_APPLIANCES, { prefix: 'quiet', dueInMin: 60 });
    // Due in 10 minutes: heartbeat and presence deadlines of these pass when the clock moves.
    await seedAppliances(backend, 2 * DUE_APPLIANCES, { prefix: 'due', dueInMin: 10 });
    const seedS = (performance.now() - seedStart) / 1000;
    // Unacknowledged rollback tasks, due for a re-send 10 minutes after they are sent.
    for (let i = 0; i < DUE_TASKS; i++) {
      await backend.services.tasks.create({ applianceId: `due-${String(i % DUE_APPLIANCES).padStart(7, '0')}`, taskType: 'rollback', body: { reboot: true }, createdBy: 'bench' });
    }
    clock.advance(11);
    const requests: Record<string, number> = {};
    const seconds: Record<string, number> = {};
    for (const sweep of ['presence', 'heartbeats', 'tasks'] as const) {
      const before = backend.metrics.dynamoRequests;
      const start = performance.now();
      const report = await backend.sweeps.run(sweep);
      seconds[sweep] = (performance.now() - start) / 1000;
      requests[sweep] = backend.metrics.dynamoRequests - before;
      if (report.handled === 0) throw new Error(`${sweep}: found no due work`);
    }
    return { requests, seconds, seedS };
  } finally {
    await backend.cleanup();
  }
}

export async function run(): Promise<{ name: string; ratio: number }> {
  const small = await measure(1_000);
  const large = await measure(100_000);
  let totalSmall = 0;
  let totalLarge = 0;
  for (const sweep of Object.keys(small.requests)) {
    totalSmall += small.requests[sweep]!;
    totalLarge += large.requests[sweep]!;
    console.log(
      `sweep ${sweep.padEnd(10)}: ${small.requests[sweep]} requests (${small.seconds[sweep]!.toFixed(2)} s) with 1,000 appliances, ${large.requests[sweep]} requests (${large.seconds[sweep]!.toFixed(2)} s) with 100,000`,
    );
  }
  console.log(`sweeps: seeding took ${small.seedS.toFixed(1)} s and ${large.seedS.toFixed(1)} s`);
  console.log(`sweeps: DynamoDB requests at 100,000 appliances = ${(totalLarge / totalSmall).toFixed(2)}x those at 1,000 (same due work)`);
  return { name: 'sweep-requests', ratio: totalLarge / totalSmall };
}
