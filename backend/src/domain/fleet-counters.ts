import { APPLIANCE_STATUSES, compareVersions, type ApplianceStatus, type FleetSummary } from '@twinroot/protocol';
import { applianceStatus } from './appliance-record.js';
import type { FleetRow } from './fleet-summary.js';

/**
 * The fleet summary as counters kept on the write path: one counters item per scope (the whole
 * fleet, each region, each customer), with one number attribute per status, version and region
 * (`status:connected`, `version:2.0.0`, `region:eu-west-1`) and `appliances`. Every appliance
 * write adds its row's change; the summary is one read, never a scan.
 */
export const ALL_SCOPE = 'all';
export const regionScope = (region: string) => `region#${region}`;
export const customerScope = (customerId: string) => `customer#${customerId}`;

function attributes(r: FleetRow): string[] {
  return ['appliances', `status:${applianceStatus(r)}`, `version:${r.version ?? 'unknown'}`, `region:${r.region ?? 'unknown'}`];
}

function scopes(r: FleetRow): string[] {
  return [ALL_SCOPE, ...(r.region ? [regionScope(r.region)] : []), ...(r.customerId ? [customerScope(r.customerId)] : [])];
}

/** Pure: what changes in which counters when an appliance's row goes from `before` to `after` (null: absent). Zero deltas are left out. */
export function counterDeltas(before: FleetRow | null, after: FleetRow | null): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const add = (row: FleetRow, d: number) => {
    for (const scope of scopes(row)) {
      let m = out.get(scope);
      if (!m) out.set(scope, (m = new Map()));
      for (const a of attributes(row)) m.set(a, (m.get(a) ?? 0) + d);
    }
  };
  if (before) add(before, -1);
  if (after) add(after, +1);
  for (const [scope, m] of out) {
    for (const [a, d] of m) if (d === 0) m.delete(a);
    if (m.size === 0) out.delete(scope);
  }
  return out;
}

/** Pure: the summary a counters item holds (attributes at zero are left out of the lists). */
export function summaryFromCounters(item: Record<string, unknown> | null): FleetSummary {
  const n = (k: string) => Math.max(0, Number(item?.[k] ?? 0));
  const byStatus = Object.fromEntries(APPLIANCE_STATUSES.map((s) => [s, n(`status:${s}`)])) as Record<ApplianceStatus, number>;
  const listed = (prefix: string) =>
    Object.keys(item ?? {})
      .filter((k) => k.startsWith(prefix) && n(k) > 0)
      .map((k) => [k.slice(prefix.length), n(k)] as const);
  const byVersion = listed('version:').map(([version, count]) => ({ version, count }));
  byVersion.sort((a, b) => (a.version === 'unknown' ? 1 : b.version === 'unknown' ? -1 : compareVersions(b.version, a.version)));
  const byRegion = listed('region:').map(([region, count]) => ({ region, count })).sort((a, b) => b.count - a.count || a.region.localeCompare(b.region));
  return { appliances: n('appliances'), byStatus, byVersion, byRegion };
}
