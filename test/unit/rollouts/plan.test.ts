import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRollout, PlanError, splitHalves, type FleetAppliance, type FleetCustomer } from '@twinroot/backend';

/** A fleet from a compact table: region → [customer name, appliance count, canary?]. */
function fleet(table: Record<string, [string, number, boolean?][]>): { customers: FleetCustomer[]; appliances: FleetAppliance[] } {
  const customers: FleetCustomer[] = [];
  const appliances: FleetAppliance[] = [];
  for (const [region, list] of Object.entries(table)) {
    for (const [name, n, canary] of list) {
      customers.push({ customerId: name, region, canary: !!canary });
      for (let i = 0; i < n; i++) appliances.push({ applianceId: `${name}-${String(i).padStart(3, '0')}`, customerId: name });
    }
  }
  return { customers, appliances };
}

/** A plan as short lines: "region kind: customer(count) …". */
function describe(stages: ReturnType<typeof planRollout>): string[] {
  return stages.map((s) => {
    const per = new Map<string, number>();
    for (const a of s.appliances) per.set(a.replace(/-\d+$/, ''), (per.get(a.replace(/-\d+$/, '')) ?? 0) + 1);
    return `${s.region} ${s.kind}: ${[...per].map(([c, n]) => `${c}(${n})`).join(' ')}`;
  });
}

const cases: { name: string; table: Record<string, [string, number, boolean?][]>; policy?: Parameters<typeof planRollout>[2]; expect: string[] }[] = [
  {
    name: 'one region, one single-appliance customer: one stage',
    table: { 'eu-west': [['a', 1]] },
    expect: ['eu-west first-half: a(1)'],
  },
  {
    name: 'regions by ascending customer count; canaries first; halves rounded up first',
    table: {
      'us-east': [['u1', 4], ['u2', 1], ['u3', 3, true]],
      'eu-west': [['e1', 2], ['e2', 5, true]],
      'ap-south': [['p1', 3]],
    },
    expect: [
      'ap-south first-half: p1(2)',
      'ap-south second-half: p1(1)',
      'eu-west canary-first-half: e2(3)',
      'eu-west canary-second-half: e2(2)',
      'eu-west first-half: e1(1)',
      'eu-west second-half: e1(1)',
      'us-east canary-first-half: u3(2)',
      'us-east canary-second-half: u3(1)',
      'us-east first-half: u1(2) u2(1)',
      'us-east second-half: u1(2)',
    ],
  },
  {
    name: 'ties in customer count go by region name; customers without appliances are not planned',
    table: { b: [['b1', 1], ['b0', 0]], a: [['a1', 1]] },
    expect: ['a first-half: a1(1)', 'b first-half: b1(1)'],
  },
  {
    name: 'a given region order comes first, the rest follow in the default order',
    table: { x: [['x1', 1]], y: [['y1', 1], ['y2', 1]], z: [['z1', 1], ['z2', 1], ['z3', 1]] },
    policy: { regionsOrder: ['z'] },
    expect: ['z first-half: z1(1) z2(1) z3(1)', 'x first-half: x1(1)', 'y first-half: y1(1) y2(1)'],
  },
  {
    name: 'canaryCustomers overrides the customers own flags',
    table: { r: [['c1', 2, true], ['c2', 2]] },
    policy: { canaryCustomers: ['c2'] },
    expect: ['r canary-first-half: c2(1)', 'r canary-second-half: c2(1)', 'r first-half: c1(1)', 'r second-half: c1(1)'],
  },
  {
    name: 'only single-appliance canaries: no empty second-half stage',
    table: { r: [['c1', 1, true], ['c2', 1, true], ['c3', 2]] },
    expect: ['r canary-first-half: c1(1) c2(1)', 'r first-half: c3(1)', 'r second-half: c3(1)'],
  },
];

for (const c of cases) {
  test(`plan: ${c.name}`, () => {
    const f = fleet(c.table);
    assert.deepEqual(describe(planRollout(f.customers, f.appliances, c.policy)), c.expect);
  });
}

test('plan: every appliance exactly once; the second half never larger than the first', () => {
  const f = fleet({ r1: [['a', 7], ['b', 2], ['c', 1, true]], r2: [['d', 10], ['e', 3, true]] });
  const plan = planRollout(f.customers, f.appliances);
  const all = plan.flatMap((s) => s.appliances);
  assert.equal(all.length, f.appliances.length);
  assert.equal(new Set(all).size, f.appliances.length);
  const [first, second] = splitHalves(['x3', 'x1', 'x2']);
  assert.deepEqual([first, second], [['x1', 'x2'], ['x3']]);
});

test('plan: deterministic whatever the input order', () => {
  const f = fleet({ r1: [['a', 5], ['b', 4, true]], r2: [['c', 3]] });
  const p1 = planRollout(f.customers, f.appliances);
  const p2 = planRollout([...f.customers].reverse(), [...f.appliances].reverse());
  assert.deepEqual(p1, p2);
});

test('plan: unknown canary customers and orphan appliances are refused with the ids', () => {
  const f = fleet({ r: [['a', 1]] });
  assert.throws(() => planRollout(f.customers, f.appliances, { canaryCustomers: ['nope'] }), (e: Error) => e instanceof PlanError && /nope/.test(e.message));
  assert.throws(() => planRollout([], f.appliances), (e: Error) => e instanceof PlanError && /unknown customers: a/.test(e.message));
});

test('plan: a region order naming a region without appliances', () => {
  const f = fleet({ r: [['a', 1]] });
  assert.throws(() => planRollout(f.customers, f.appliances, { regionsOrder: ['mars', 'r'] }), /mars/);
});
