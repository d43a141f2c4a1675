// Planning a rollout of 1,000,000 appliances (10 regions, 50,000 customers, 2-38 appliances
// each): time and memory of the pure planner, plus the pre-download times of every stage.
// Baseline, measured in the same run: grouping the same appliances by customer and sorting
// each customer's ids — the least work any plan of halves must do.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { planRollout, preDownloadTimes, type FleetAppliance, type FleetCustomer } from '@twinroot/backend';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

function fleet(): { customers: FleetCustomer[]; appliances: FleetAppliance[] } {
  const customers: FleetCustomer[] = [];
  const appliances: FleetAppliance[] = [];
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let c = 0; c < 50_000; c++) {
    const customerId = `cust-${c.toString(36).padStart(6, '0')}-${Math.floor(rnd() * 1e9).toString(36)}`;
    customers.push({ customerId, region: `region-${c % 10}`, canary: c % 97 === 3 });
  }
  // 20 appliances per customer on average, between 2 and 38.
  for (const c of customers) {
    const n = 2 + Math.floor(rnd() * 37);
    for (let i = 0; i < n && appliances.length < 1_000_000; i++) appliances.push({ applianceId: `${c.customerId}-va-${i}-${Math.floor(rnd() * 1e12).toString(36)}`, customerId: c.customerId });
  }
  while (appliances.length < 1_000_000) appliances.push({ applianceId: `extra-${appliances.length}`, customerId: customers[appliances.length % customers.length]!.customerId });
  return { customers, appliances };
}

function heapMiB(): number {
  gc();
  return process.memoryUsage().heapUsed / 1048576;
}

function baseline(f: { appliances: FleetAppliance[] }): number {
  const t = performance.now();
  const groups = new Map<string, string[]>();
  for (const a of f.appliances) {
    const g = groups.get(a.customerId);
    if (g) g.push(a.applianceId);
    else groups.set(a.customerId, [a.applianceId]);
  }
  for (const g of groups.values()) g.sort();
  return performance.now() - t;
}

export function run(): { name: string; ratio: number } {
  const f = fleet();
  // One untimed round of each, so both are measured with a warm JIT.
  baseline(f);
  planRollout(f.customers, f.appliances);
  const baselineMs = Math.min(baseline(f), baseline(f));

  const before = heapMiB();
  let t = performance.now();
  const plan = planRollout(f.customers, f.appliances);
  const planMs = performance.now() - t;
  const rssAfter = process.memoryUsage().rss;
  const retained = heapMiB() - before;
  t = performance.now();
  const start = Date.parse('2026-12-01T00:00:00Z');
  let scheduled = 0;
  plan.forEach((s, i) => (scheduled += preDownloadTimes(s.customers, start + i * 3600_000, 12, 0).size));
  const spreadMs = performance.now() - t;

  const planned = plan.reduce((n, s) => n + s.appliances.length, 0);
  if (planned !== 1_000_000) throw new Error(`planned ${planned} appliances`);
  console.log(`rollout plan: ${planned.toLocaleString('en')} appliances, ${f.customers.length.toLocaleString('en')} customers, 10 regions → ${plan.length} stages in ${(planMs / 1000).toFixed(2)} s`);
  console.log(`rollout plan: the plan holds ${retained.toFixed(0)} MiB of heap (ids shared with the input); process RSS ${(rssAfter / 1048576).toFixed(0)} MiB right after planning, the 1M-appliance fleet input included`);
  console.log(`rollout plan: pre-download times for ${scheduled.toLocaleString('en')} customer-stages in ${spreadMs.toFixed(0)} ms`);
  console.log(`rollout plan: ${(planMs / baselineMs).toFixed(2)}x the time of grouping by customer and sorting (${(baselineMs / 1000).toFixed(2)} s)`);
  return { name: 'rollout-plan', ratio: planMs / baselineMs };
}
