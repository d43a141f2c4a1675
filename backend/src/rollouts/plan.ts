import type { StageKind } from '@twinroot/protocol';

/** What the planner needs to know of the fleet: customers and their appliances. */
export interface FleetCustomer {
  customerId: string;
  region: string;
  canary: boolean;
}
export interface FleetAppliance {
  applianceId: string;
  customerId: string;
}
export interface PlanPolicy {
  /** Regions in this order first; regions not listed follow in the default order. */
  regionsOrder?: readonly string[];
  /** These customers are the canaries (instead of the customers' own canary flags). */
  canaryCustomers?: readonly string[];
}

export interface PlannedStage {
  region: string;
  kind: StageKind;
  customers: string[];
  appliances: string[];
}

export class PlanError extends Error {
  override name = 'PlanError';
}

/**
 * A customer's appliances in two waves: the first half (rounded up, so a single appliance goes
 * first) and the rest. Sorted by id, so the split is the same every time it is computed.
 */
export function splitHalves(applianceIds: readonly string[]): [string[], string[]] {
  const sorted = [...applianceIds].sort();
  const first = Math.ceil(sorted.length / 2);
  return [sorted.slice(0, first), sorted.slice(first)];
}

/**
 * The default region order: fewest customers first (a problem hits the fewest customers),
 * ties by name. Only regions with at least one appliance take part.
 */
export function regionOrder(customerCount: ReadonlyMap<string, number>, given: readonly string[] = []): string[] {
  const known = new Set(customerCount.keys());
  const unknown = given.filter((r) => !known.has(r));
  if (unknown.length > 0) throw new PlanError(`regionsOrder names regions without appliances: ${unknown.join(', ')}`);
  const rest = [...known].filter((r) => !given.includes(r)).sort((a, b) => customerCount.get(a)! - customerCount.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
  return [...given, ...rest];
}

const KINDS: StageKind[] = ['canary-first-half', 'canary-second-half', 'first-half', 'second-half'];

/**
 * The rollout plan, a pure function of the fleet and the policy: regions one after another;
 * inside a region the canary customers' first halves, their second halves, then everyone
 * else's first halves and second halves. Empty stages are left out. Customers without
 * appliances are not in the plan.
 */
export function planRollout(customers: readonly FleetCustomer[], appliances: readonly FleetAppliance[], policy: PlanPolicy = {}): PlannedStage[] {
  const byCustomer = new Map<string, string[]>();
  for (const a of appliances) {
    let list = byCustomer.get(a.customerId);
    if (!list) byCustomer.set(a.customerId, (list = []));
    list.push(a.applianceId);
  }
  const customerById = new Map(customers.map((c) => [c.customerId, c]));
  const orphans = [...byCustomer.keys()].filter((id) => !customerById.has(id));
  if (orphans.length > 0) throw new PlanError(`appliances of unknown customers: ${orphans.slice(0, 5).join(', ')}`);
  const canaries = policy.canaryCustomers ? new Set(policy.canaryCustomers) : null;
  if (canaries) {
    const unknown = [...canaries].filter((id) => !customerById.has(id));
    if (unknown.length > 0) throw new PlanError(`canaryCustomers names unknown customers: ${unknown.slice(0, 5).join(', ')}`);
  }
  const isCanary = (c: FleetCustomer) => (canaries ? canaries.has(c.customerId) : c.canary);

  // Per region: the four stage buckets, filled customer by customer (in id order: deterministic).
  const buckets = new Map<string, PlannedStage[]>();
  const customerCount = new Map<string, number>();
  for (const customerId of [...byCustomer.keys()].sort()) {
    const c = customerById.get(customerId)!;
    customerCount.set(c.region, (customerCount.get(c.region) ?? 0) + 1);
    let stages = buckets.get(c.region);
    if (!stages) buckets.set(c.region, (stages = KINDS.map((kind) => ({ region: c.region, kind, customers: [], appliances: [] }))));
    const [first, second] = splitHalves(byCustomer.get(customerId)!);
    const base = isCanary(c) ? 0 : 2;
    stages[base]!.customers.push(customerId);
    stages[base]!.appliances.push(...first);
    if (second.length > 0) {
      stages[base + 1]!.customers.push(customerId);
      stages[base + 1]!.appliances.push(...second);
    }
  }
  return regionOrder(customerCount, policy.regionsOrder).flatMap((region) => buckets.get(region)!.filter((s) => s.appliances.length > 0));
}
