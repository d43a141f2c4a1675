import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Manifest, TaskProgress, UpgradeMode } from '@twinroot/protocol';
import type { SlotDriver } from '../slots/driver.js';
import { otherSlot } from '../slots/driver.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import { writePendingBoot } from '../boot/pending-boot.js';
import { AGENT_VERSION } from '../version.js';
import { cpuFlags } from './cpu-level.js';
import { PayloadDownload, PAYLOAD_FILE, PayloadError, type DownloadOptions } from './download.js';
import type { HashPool } from './hash-pool.js';
import { fetchManifest, ManifestError, payloadSourceFor, SeenManifests } from './manifest-fetch.js';
import type { PayloadSource } from './payload-source.js';
import { nextStep, startingState, TERMINAL_STATES, type UpgradeState } from './machine.js';
import { UpgradeJournal, type UpgradeRecord } from './journal.js';
import { precheck } from './prechecks.js';
import { VerifiedPrefixReader } from './verified-reader.js';

export class UpgradeError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'UpgradeError';
  }
}

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface UpgradeDeps {
  stateDir: string;
  downloadRoot: string;
  driver: SlotDriver;
  /** The pinned release-signing key (loaded when needed, so a missing key fails the task, not the agent). */
  publicKey: () => KeyObject;
  compatible: string | null;
  cpuinfo: () => string;
  pool: HashPool;
  log: Logger;
  reboot: () => Promise<void>;
  /** Runs just before the reboot (e.g. flush queued results). */
  beforeReboot?: () => Promise<void>;
  freeBytes?: (dir: string) => number;
  download?: Pick<DownloadOptions, 'maxAttempts' | 'backoffMs' | 'maxChunkFailures'>;
  /** Start extracting while the payload downloads (default true). */
  overlapInstall?: boolean;
  /** Test hook, called after each persisted transition: throwing there simulates a crash. */
  afterTransition?: (state: UpgradeState) => void;
}

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

function errorCode(err: unknown): string {
  if (err instanceof UpgradeError || err instanceof PayloadError || err instanceof ManifestError) return err.code;
  // Errors that carry their own task error code (e.g. the reboot command's `reboot_failed`).
  const own = (err as { code?: unknown } | null)?.code;
  if (typeof own === 'string' && /^[a-z][a-z0-9_]{2,63}$/.test(own)) return own;
  if (err && typeof err === 'object' && 'operation' in err) return `${String((err as { operation: string }).operation).replace(/-/g, '_')}_failed`;
  return 'upgrade_failed';
}

/**
 * Runs (or resumes) one upgrade task through the state machine. Every transition is persisted
 * before its step runs; on a crash the same task resumes from the recorded state. Nothing
 * switches what boots until the whole payload is verified and installed.
 */
export async function runUpgrade(req: UpgradeRequest, deps: UpgradeDeps, run: UpgradeRun = {}): Promise<UpgradeOutcome> {
  try {
    return await runSteps(req, deps, run);
  } catch (err) {
    if (run.signal?.aborted || isCrash(err) || err instanceof UpgradeError) throw err;
    throw new UpgradeError(errorCode(err), (err as Error).message);
  }
}

async function runSteps(req: UpgradeRequest, deps: UpgradeDeps, run: UpgradeRun): Promise<UpgradeOutcome> {
  const journal = new UpgradeJournal(deps.stateDir);
  const seen = new SeenManifests(deps.stateDir);
  const progress = (p: TaskProgress) => run.progress?.(p);
  const dir = join(deps.downloadRoot, req.version);
  const previous = journal.read();
  const resuming = previous?.taskId === req.taskId ? previous : null;

  if (resuming && TERMINAL_STATES.includes(resuming.state)) return finishedOutcome(resuming);
  if (resuming && (resuming.state === 'trial' || resuming.state === 'rolling-back')) {
    throw new UpgradeError('boot_check_pending', `the upgrade is in state ${resuming.state}; the boot check settles it`);
  }
  if (!resuming && previous && ['rebooting', 'trial', 'rolling-back'].includes(previous.state)) {
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
  const beforeSwitch = !resuming || ['idle', 'downloading', 'verified', 'installing', 'boot-configured'].includes(resuming.state);
  if (beforeSwitch && status.trial) throw new UpgradeError('trial_in_progress', `slot ${status.bootedSlot} is booted on trial; commit or roll back first`);
  const committedVersion = status.slots[status.committedSlot].version;
  if (!resuming) {
    const partial = new PayloadDownload({ manifest: m, source, dir: ensureDir(dir), pool: deps.pool });
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
    if (start === 'boot-configured' && !(status.slots[target].version === m.version && (status.slots[target] as { bootable?: boolean }).bootable !== false)) start = 'verified';
    if (start === 'verified' && !new PayloadDownload({ manifest: m, source, dir, pool: deps.pool }).complete) start = 'downloading';
    removeOtherDownloads(deps.downloadRoot, req.version);
    ensureDir(dir);
    writeFileAtomic(join(dir, 'manifest.json'), fetched.bytes, 0o644);
    writeFileAtomic(join(dir, 'manifest.json.sig'), fetched.signature, 0o644);
    seen.record(m);
    rec = journal.begin({ taskId: req.taskId, version: m.version, location: req.location, mode: req.mode, allowDowngrade: req.allowDowngrade === true, state: start, slot: target, payloadSha256: m.payload.sha256 });
    deps.log.info({ taskId: req.taskId, version: m.version, mode: req.mode, from: start }, 'upgrade: started');
  }
  const slot = rec.slot ?? otherSlot(status.bootedSlot);

  if (req.notBefore && Date.parse(req.notBefore) > Date.now()) {
    progress({ phase: 'waiting' });
    deps.log.info({ notBefore: req.notBefore }, 'upgrade: waiting for notBefore');
    await sleepUntil(Date.parse(req.notBefore), run.signal);
  }

  const to = (state: UpgradeState, patch: Parameters<UpgradeJournal['transition']>[2] = {}) => {
    rec = journal.transition(rec, state, patch);
    deps.afterTransition?.(state);
  };

  // Work still in flight when a step fails (an overlapped install) is stopped before the error propagates.
  const inflight = new AbortController();
  let overlapped: Promise<void> | null = null;
  try {
    for (;;) {
      const step = nextStep(rec.state, req.mode);
      switch (step) {
        case 'download': {
          to('downloading');
          const overlap = req.mode !== 'download' && deps.overlapInstall !== false;
          const install = await downloadPayload(m, source, dir, slot, overlap, deps, run, inflight, (p) => (overlapped = p));
          to('verified');
          if (req.mode === 'download') break;
          to('installing');
          progress({ phase: 'installing' });
          await install();
          await configureSlot(slot, deps, progress);
          to('boot-configured');
          break;
        }
        case 'install': {
          to('installing');
          progress({ phase: 'installing' });
          await deps.driver.install({ slot, payloadFile: join(dir, PAYLOAD_FILE), compression: m.payload.compression, version: m.version, ...(run.signal ? { signal: run.signal } : {}) });
          await configureSlot(slot, deps, progress);
          to('boot-configured');
          break;
        }
        case 'try-and-reboot': {
          progress({ phase: 'try' });
          await deps.driver.tryBoot(slot);
          writePendingBoot(deps.stateDir, { taskId: req.taskId, slot, version: m.version, bootId: deps.driver.bootId(), arrangedAt: new Date().toISOString() });
          to('rebooting');
          // The payload has served its purpose; the space is the data volume's.
          rmSync(join(dir, PAYLOAD_FILE), { force: true });
          break;
        }
        case 'reboot': {
          progress({ phase: 'rebooting' });
          deps.log.info({ slot, version: m.version }, 'upgrade: rebooting into the trial slot');
          await deps.beforeReboot?.();
          await deps.reboot();
          return { state: 'rebooting', rebooting: true, detail: { slot, version: m.version } };
        }
        case 'finished':
          return finishedOutcome(rec);
        case 'boot-check':
          throw new UpgradeError('boot_check_pending', `the upgrade is in state ${rec.state}; the boot check settles it`);
      }
    }
  } catch (err) {
    inflight.abort(err);
    await (overlapped as Promise<void> | null)?.catch(() => undefined);
    if (run.signal?.aborted || isCrash(err)) throw err; // parked: resumes from the journal
    const code = errorCode(err);
    const message = (err as Error).message;
    if (!TERMINAL_STATES.includes(rec.state)) rec = journal.transition(rec, 'failed', { error: { code, message: message.slice(0, 2000) } });
    throw new UpgradeError(code, message);
  }
}

/** A test's simulated crash (thrown from afterTransition) must look like the process dying. */
export class SimulatedCrash extends Error {}
const isCrash = (err: unknown) => err instanceof SimulatedCrash;

function finishedOutcome(rec: UpgradeRecord): UpgradeOutcome {
  if (rec.state === 'failed' || rec.state === 'rolled-back') throw new UpgradeError(rec.error?.code ?? 'upgrade_failed', rec.error?.message ?? `upgrade ended in ${rec.state}`);
  return { state: rec.state, rebooting: false, detail: { version: rec.version, slot: rec.slot, state: rec.state } };
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

async function configureSlot(slot: 'A' | 'B', deps: UpgradeDeps, progress: (p: TaskProgress) => void): Promise<void> {
  progress({ phase: 'sync-config' });
  await deps.driver.syncConfig(slot);
  progress({ phase: 'boot-config' });
  await deps.driver.bootConfig(slot);
}

/**
 * Downloads and verifies the payload. With `overlap`, extraction into the slot starts at once,
 * fed only the verified prefix; the returned function waits for it (or installs from the file).
 */
async function downloadPayload(m: Manifest, source: PayloadSource, dir: string, slot: 'A' | 'B', overlap: boolean, deps: UpgradeDeps, run: UpgradeRun, inflight: AbortController, onInstallStarted: (p: Promise<void>) => void): Promise<() => Promise<void>> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(run.signal?.reason);
  run.signal?.addEventListener('abort', onAbort, { once: true });
  const onInflightAbort = () => stop.abort(inflight.signal.reason);
  inflight.signal.addEventListener('abort', onInflightAbort, { once: true });
  const dl = new PayloadDownload({
    manifest: m, source, dir, pool: deps.pool, signal: stop.signal, ...deps.download,
    onProgress: (p) => run.progress?.({ phase: 'downloading', bytes: p.bytes, totalBytes: p.totalBytes, percent: p.percent, rateBytesPerSecond: p.rateBytesPerSecond, etaSeconds: p.etaSeconds }),
  });
  const installFromFile = () => deps.driver.install({ slot, payloadFile: join(dir, PAYLOAD_FILE), compression: m.payload.compression, version: m.version, ...(run.signal ? { signal: run.signal } : {}) });
  let installing: Promise<void> | null = null as Promise<void> | null;
  let installError: Error | null = null as Error | null;
  let reader: VerifiedPrefixReader | null = null as VerifiedPrefixReader | null;
  // The slot is first touched once the first chunk is verified: a payload bad from its first
  // byte (a wrong file, a tampered mirror) never wipes the inactive slot.
  const startInstall = () => {
    if (installing) return;
    reader = new VerifiedPrefixReader(dl);
    installing = deps.driver.install({ slot, payloadFile: '-', payloadStream: reader, compression: m.payload.compression, version: m.version, signal: stop.signal });
    onInstallStarted(installing);
    installing.catch((err: Error) => {
      if (stop.signal.aborted) return; // stopped on purpose: not the cause
      installError = err;
      stop.abort(err);
    });
  };
  if (overlap && !dl.complete) {
    if (dl.verifiedBytes > 0) startInstall();
    else dl.events.once('verified', startInstall);
  }
  try {
    const stats = await dl.run();
    deps.log.info({ ...stats, bytes: m.payload.size }, 'upgrade: payload downloaded and verified');
  } catch (err) {
    // If the install failed first, the download was stopped because of it: report the install's error.
    const cause = installError;
    reader?.fail(err as Error);
    await installing?.catch(() => undefined);
    if (cause) throw cause;
    throw err;
  } finally {
    dl.events.off('verified', startInstall);
    run.signal?.removeEventListener('abort', onAbort);
    inflight.signal.removeEventListener('abort', onInflightAbort);
  }
  return installing ? () => installing! : installFromFile;
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

