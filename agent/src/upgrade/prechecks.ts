import { compareVersions, type CpuLevel, type Manifest } from '@twinroot/protocol';
import { cpuLevelOf, missingForLevel } from './cpu-level.js';

/** What the appliance knows about itself, gathered before a download. */
export interface ApplianceFacts {
  compatible: string | null;
  cpuFlags: Set<string>;
  committedVersion: string | null;
  runningVersion: string | null;
  agentVersion: string;
  /** Free bytes where the payload goes. */
  downloadFreeBytes: number;
  /** Payload bytes already downloaded (a resume needs only the rest). */
  alreadyDownloadedBytes: number;
  /** Capacity of the slot to install into, if the driver knows it. */
  slotSizeBytes: number | null;
}

export interface PrecheckFailure {
  code: 'incompatible' | 'cpu_level' | 'downgrade' | 'agent_too_old' | 'no_space' | 'slot_too_small';
  message: string;
}

/** Space kept free on the data volume beyond the payload (logs, state, the outbox). */
export const DOWNLOAD_RESERVE_BYTES = 64 * 1024 * 1024;

/**
 * Everything that can be decided before a single payload byte is fetched (pure). An empty
 * list means: go ahead.
 */
export function precheck(m: Manifest, f: ApplianceFacts, opts: { allowDowngrade?: boolean } = {}): PrecheckFailure[] {
  const out: PrecheckFailure[] = [];
  if (f.compatible === null) out.push({ code: 'incompatible', message: 'this appliance has no compatible string configured (agent.json `compatible`); refusing any package' });
  else if (m.compatible !== f.compatible) out.push({ code: 'incompatible', message: `package is for ${m.compatible}; this appliance is ${f.compatible}` });
  const level: CpuLevel | undefined = m.requires.cpuLevel;
  if (level) {
    const missing = missingForLevel(f.cpuFlags, level);
    if (missing.length > 0) out.push({ code: 'cpu_level', message: `package needs ${level}; this CPU is ${cpuLevelOf(f.cpuFlags) ?? 'not x86-64'} (missing ${missing.join(' ')})` });
  }
  if (f.committedVersion && compareVersions(m.version, f.committedVersion) < 0 && !opts.allowDowngrade) {
    out.push({ code: 'downgrade', message: `package version ${m.version} is lower than the committed ${f.committedVersion} (the task does not allow a downgrade)` });
  }
  if (m.minAgentVersion && compareVersions(f.agentVersion, m.minAgentVersion) < 0) {
    out.push({ code: 'agent_too_old', message: `package needs agent ${m.minAgentVersion} or newer; this agent is ${f.agentVersion}` });
  }
  const needed = m.payload.size - f.alreadyDownloadedBytes + DOWNLOAD_RESERVE_BYTES;
  if (f.downloadFreeBytes < needed) out.push({ code: 'no_space', message: `the download needs ${mib(needed)} MiB free; the data volume has ${mib(f.downloadFreeBytes)} MiB` });
  if (f.slotSizeBytes !== null && f.slotSizeBytes < m.requires.minDiskBytes) {
    out.push({ code: 'slot_too_small', message: `the package needs a ${mib(m.requires.minDiskBytes)} MiB slot; the inactive slot has ${mib(f.slotSizeBytes)} MiB` });
  }
  return out;
}

const mib = (n: number) => Math.ceil(n / 1048576);
