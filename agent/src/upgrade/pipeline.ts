import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { asErrorCode, type TaskProgress, type UpgradeMode } from '@twinroot/protocol';
import { otherSlot } from '../slots/driver.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import { AGENT_VERSION } from '../version.js';
import { cpuFlags } from './cpu-level.js';
import { PayloadDownload } from './download.js';
import { fetchManifest, ManifestError, payloadSourceFor, SeenManifests } from './manifest-fetch.js';
import type { PayloadSource } from './payload-source.js';
import { AFTER_SWITCH_STATES, startingState, TERMINAL_STATES, type UpgradeState } from './machine.js';
import type { UpgradeRecord } from './journal.js';
import { precheck } from './prechecks.js';
import { errorCode, SimulatedCrash, UpgradeError, UpgradeRunner } from './runner.js';
import type { UpgradeDeps } from './states/step.js';

export { SimulatedCrash, UpgradeError } from './runner.js';
export type { UpgradeDeps } from './states/step.js';

export interface UpgradeRequest {
  taskId: string;
  version: string;
  /** manifest.json URL or local path. */
  location: string;
  mode: UpgradeMode;
  allowDowngrade?: boolean;
  notBefore?: string;
}

export interface UpgradeRun {
  signal?: AbortSignal;
  progress?: (p: TaskProgress) => void;
}

export interface UpgradeOutcome {
  state: UpgradeState;
  /** True when the appliance is rebooting into the trial slot: the boot check reports the result. */
  rebooting: boolean;
  detail: Record<string, string | number | boolean | null>;
}

const defaultFreeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/**
 * Starts (or resumes) one upgrade task: the signed manifest, the pre-checks, the state to start
 * from; then the runner takes it through the state machine. Nothing switches what boots until
 * the whole payload is verified and installed.
 */
export async function runUpgrade(req: UpgradeRequest, deps: UpgradeDeps, run: UpgradeRun = {}): Promise<UpgradeOutcome> {
  try {
    return await runSteps(req, deps, run);
  } catch (err) {
    if (run.signal?.aborted || err instanceof SimulatedCrash || err instanceof UpgradeError) throw err;
    throw new UpgradeError(errorCode(err), (err as Error).message);
  }
}

async function runSteps(req: UpgradeRequest, deps: UpgradeDeps, run: UpgradeRun): Promise<UpgradeOutcome> {
  const runner = new UpgradeRunner(deps.stateDir, deps);
  const seen = new SeenManifests(deps.stateDir);
  const progress = (p: TaskProgress) => run.progress?.(p);
  const dir = join(deps.downloadRoot, req.version);
  const previous = runner.read();
  const resuming = previous?.taskId === req.taskId ? previous : null;

  if (resuming && TERMINAL_STATES.includes(resuming.state)) return finishedOutcome(resuming);
  // After the switch only the boot check moves an upgrade on, except the reboot itself in the boot that armed it.
  const rebootPending = resuming?.state === 'rebooting' && resuming.bootId === deps.driver.bootId();
  if (resuming && AFTER_SWITCH_STATES.includes(resuming.state) && !rebootPending) {
    throw new UpgradeError('boot_check_pending', `the upgrade is in state ${resuming.state}; the boot check settles it`);
  }
  if (!resuming && previous && AFTER_SWITCH_STATES.includes(previous.state)) {
    throw new UpgradeError('busy', `upgrade ${previous.taskId} to ${previous.version} is ${previous.state}; try again when it is settled`);
  }

  // 1. The manifest: signature first. A resumed task uses the copy it saved, so it continues with the same payload.
  progress({ phase: 'manifest' });
  const key = loadKey(deps);
  const saved = resuming ? savedManifest(dir) : null;
  const fetched = await fetchManifest(saved ?? req.location, key).catch((err: Error) => {
    throw err instanceof ManifestError ? err : new UpgradeError('manifest_unavailable', err.message);
  });
  const m = fetched.manifest;
  if (m.version !== req.version) throw new UpgradeError('version_mismatch', `the task says version ${req.version}; the signed manifest is for ${m.version}`);
  if (!resuming) seen.check(m);
  // A resumed task read its saved manifest; the payload still comes from where the task said.
  const source: PayloadSource = payloadSourceFor(req.location, m);

  // 2. Pre-checks: nothing is written if one fails.
  const status = await deps.driver.status();
  if (!rebootPending && status.trial) throw new UpgradeError('trial_in_progress', `slot ${status.bootedSlot} is booted on trial; commit or roll back first`);
  const committedVersion = status.slots[status.committedSlot].version;
  if (!resuming) {
    const partial = new PayloadDownload({ manifest: m, source, dir: ensureDir(dir) });
    const failures = precheck(m, {
      compatible: deps.compatible,
      cpuFlags: cpuFlags(deps.cpuinfo()),
      committedVersion,
      runningVersion: status.slots[status.bootedSlot].version,
      agentVersion: AGENT_VERSION,
      downloadFreeBytes: (deps.freeBytes ?? defaultFreeBytes)(dir),
      alreadyDownloadedBytes: partial.verifiedBytes,
      slotSizeBytes: status.slots[otherSlot(status.bootedSlot)].sizeBytes ?? null,
    }, { allowDowngrade: req.allowDowngrade === true });
    if (failures.length > 0) throw new UpgradeError(failures[0]!.code, failures.map((f) => f.message).join('; '));
    if (committedVersion === m.version && status.bootedSlot === status.committedSlot) {
      deps.log.info({ version: m.version }, 'upgrade: already running this version');
      return { state: 'committed', rebooting: false, detail: { version: m.version, slot: status.committedSlot, alreadyRunning: true } };
    }
  }

  // 3. The journal: a new task starts from what an earlier one left for the same payload.
  let rec: UpgradeRecord;
  if (resuming) rec = resuming;
  else {
    let start = startingState(previous, { version: m.version, payloadSha256: m.payload.sha256 });
    const target = otherSlot(status.bootedSlot);
    if (start === 'boot_configured' && !(status.slots[target].version === m.version && (status.slots[target] as { bootable?: boolean }).bootable !== false)) start = 'verified';
    if (start === 'verified' && !new PayloadDownload({ manifest: m, source, dir }).complete) start = 'downloading';
    removeOtherDownloads(deps.downloadRoot, req.version);
    ensureDir(dir);
    writeFileAtomic(join(dir, 'manifest.json'), fetched.bytes, 0o644);
    writeFileAtomic(join(dir, 'manifest.json.sig'), fetched.signature, 0o644);
    seen.record(m);
    rec = runner.begin({ taskId: req.taskId, version: m.version, location: req.location, mode: req.mode, allowDowngrade: req.allowDowngrade === true, state: start, slot: target, payloadSha256: m.payload.sha256 });
    deps.log.info({ taskId: req.taskId, version: m.version, mode: req.mode, from: start }, 'upgrade: started');
  }

  if (req.notBefore && Date.parse(req.notBefore) > Date.now()) {
    progress({ phase: 'waiting' });
    deps.log.info({ notBefore: req.notBefore }, 'upgrade: waiting for notBefore');
    await sleepUntil(Date.parse(req.notBefore), run.signal);
  }

  const end = await runner.run(rec, { payload: { manifest: m, source, dir }, resumed: resuming !== null, ...(run.signal ? { signal: run.signal } : {}), progress });
  if (end.rebooting) return { state: 'rebooting', rebooting: true, detail: { slot: end.rec.slot, version: m.version } };
  return finishedOutcome(end.rec);
}

function finishedOutcome(rec: UpgradeRecord): UpgradeOutcome {
  if (rec.state === 'failed' || rec.state === 'rolled_back') throw new UpgradeError(asErrorCode(rec.error?.code ?? 'upgrade_failed', 'upgrade_failed'), rec.error?.message ?? `upgrade ended in ${rec.state}`);
  return { state: rec.state, rebooting: false, detail: { version: rec.version, slot: rec.slot, state: rec.state, ...rec.detail } };
}

function loadKey(deps: UpgradeDeps): KeyObject {
  try {
    return deps.publicKey();
  } catch (err) {
    throw new UpgradeError('no_public_key', (err as Error).message);
  }
}

function savedManifest(dir: string): string | null {
  const f = join(dir, 'manifest.json');
  return existsSync(f) && existsSync(`${f}.sig`) ? f : null;
}

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function removeOtherDownloads(root: string, keep: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) if (name !== keep) rmSync(join(root, name), { recursive: true, force: true });
}

function sleepUntil(t: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, Math.max(0, t - Date.now()));
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    }, { once: true });
  });
}

