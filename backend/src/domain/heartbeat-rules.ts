import { compareVersions, type Heartbeat } from '@twinroot/protocol';
import type { ApplianceRecord } from './appliance-record.js';

export type HeartbeatFinding =
  | { kind: 'upgrade-verified'; taskId: string; version: string }
  | { kind: 'rollback-detected'; fromVersion: string; toVersion: string; taskId: string }
  | { kind: 'none' };

/** The heartbeat proves the running root is committed (not a trial). */
export function onCommittedSlot(hb: Heartbeat): boolean {
  return !hb.trial && hb.bootedSlot === hb.committedSlot;
}

/**
 * What a heartbeat tells about upgrades (pure). An upgrade succeeds only when the appliance
 * runs the target version from a committed slot; a committed version lower than the last
 * successful upgrade means the appliance went back (by itself or on command).
 */
export function judgeHeartbeat(a: Pick<ApplianceRecord, 'upgrade' | 'lastUpgrade' | 'rollback'>, hb: Heartbeat): HeartbeatFinding {
  if (!onCommittedSlot(hb)) return { kind: 'none' };
  if (a.upgrade && a.upgrade.mode === 'install-reboot' && compareVersions(hb.version, a.upgrade.version) === 0) {
    return { kind: 'upgrade-verified', taskId: a.upgrade.taskId, version: hb.version };
  }
  if (a.lastUpgrade && compareVersions(hb.version, a.lastUpgrade.version) < 0) {
    const already = a.rollback && a.rollback.toVersion === hb.version && a.rollback.fromVersion === a.lastUpgrade.version;
    if (!already) return { kind: 'rollback-detected', fromVersion: a.lastUpgrade.version, toVersion: hb.version, taskId: a.lastUpgrade.taskId };
  }
  return { kind: 'none' };
}
