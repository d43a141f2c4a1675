import { APPLIANCE_STATUSES, compareVersions, type ApplianceStatus, type FleetSummary } from '@twinroot/protocol';
import { applianceStatus, type ApplianceRecord } from './appliance-record.js';

/** The attributes a summary reads (a projection of the appliances table; scans may miss any). */
export type FleetRow = Partial<Pick<ApplianceRecord, 'version' | 'region' | 'customerId'>> & Pick<ApplianceRecord, 'connection' | 'upgrade' | 'rollback'>;

/** Counts appliances by status, version (newest first) and region (largest first), optionally of one region or customer. */
export function summarizeFleet(rows: readonly FleetRow[], only: { region?: string; customerId?: string } = {}): FleetSummary {
  const byStatus = Object.fromEntries(APPLIANCE_STATUSES.map((s) => [s, 0])) as Record<ApplianceStatus, number>;
  const versions = new Map<string, number>();
  const regions = new Map<string, number>();
  let appliances = 0;
  for (const r of rows) {
    if (only.region && r.region !== only.region) continue;
    if (only.customerId && r.customerId !== only.customerId) continue;
    appliances += 1;
    byStatus[applianceStatus(r)] += 1;
    const v = r.version ?? 'unknown';
    versions.set(v, (versions.get(v) ?? 0) + 1);
    const g = r.region ?? 'unknown';
    regions.set(g, (regions.get(g) ?? 0) + 1);
  }
  const byVersion = [...versions].map(([version, count]) => ({ version, count }));
  byVersion.sort((a, b) => (a.version === 'unknown' ? 1 : b.version === 'unknown' ? -1 : compareVersions(b.version, a.version)));
  const byRegion = [...regions].map(([region, count]) => ({ region, count })).sort((a, b) => b.count - a.count || a.region.localeCompare(b.region));
  return { appliances, byStatus, byVersion, byRegion };
}
