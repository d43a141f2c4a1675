import { randomBytes, randomUUID } from 'node:crypto';
import { compareVersions, type CreateRolloutRequest, type MaintenanceWindow, type RolloutPolicy } from '@twinroot/protocol';
import { iso } from '../clock.js';
import { windowOpenAt } from '../rollouts/maintenance-window.js';
import { planRollout } from '../rollouts/plan.js';
import { advanceRollout, applyOperatorAction, preparationLeaseFree, stageKeyOf, type Observation, type OperatorAction, type RolloutRecord, type StageRecord } from '../rollouts/rollout-record.js';
import { plannedStarts, preDownloadFrom, preDownloadTimes } from '../rollouts/schedule.js';
import { decideTargetAction, type TargetAction } from '../rollouts/target-action.js';
import { addCounts, countTargets, FINAL_TARGET_STATES, targetStateFromTasks, type TargetRecord, type TargetState } from '../rollouts/target-state.js';
import type { CustomerRecord, ReleaseRecord, StoredAppliance } from '../store/store.js';
import { without } from '../store/versioned.js';
import { UpgradeInProgressError, type ApplianceService } from './appliances.js';
import type { ServiceContext } from './context.js';
import type { TaskService } from './tasks.js';
import { DomainError } from '../domain/domain-error.js';

export const ROLLOUT_DEFAULTS = { successThreshold: 0.95, errorThreshold: 0.05, stageTimeoutMinutes: 120, preDownloadWindowHours: 12, mode: 'install-reboot' } as const;
/** A claimed task that still does not exist after this long is created again (a crash in between). */
const CLAIM_GRACE_MS = 60_000;
/** How long a rollout creation waits for its preparation before answering `preparing` (it goes on in the background). */
export const PREPARE_INLINE_MS = 500;
/** The preparation lease: renewed with every chunk; an instance that died lets it expire and another takes over. */
export const PREPARE_LEASE_MS = 60_000;
/** Targets written per chunk (and per progress update). */
const PREPARE_CHUNK = 2000;
const sleep = (ms: number) => new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref());

export interface RolloutServiceOptions {
  instanceId?: string;
  /** Targets written per chunk (default 2000). */
  prepareChunk?: number;
  /** How long a creation waits for its preparation (default PREPARE_INLINE_MS). */
  prepareInlineMs?: number;
}

/** Where the targets of appliances that registered during a rollout's preparation wait to be placed. */
const lateJoinersKey = (rolloutId: string) => `${rolloutId}#late`;

/** Pure: the stage an appliance that joins after the plan goes to — its region's first stage of its customer's kind (canary or not). */
function joiningStage(stages: readonly StageRecord[], canaries: readonly string[], customerId: string, region: string | undefined): StageRecord | undefined {
  const kinds = canaries.includes(customerId) ? ['canary-first-half', 'canary-second-half'] : ['first-half', 'second-half'];
  return stages.find((s) => s.region === region && kinds.includes(s.kind));
}

/** A rollout request or action the rules refuse (sent as the catalogue's status for its code). */
export class RolloutError extends DomainError {}

/** What one pass reads once and shares between its stages. */
interface PassScope {
  release: ReleaseRecord;
  now: number;
  customers: Map<string, CustomerRecord | null>;
  report: PassReport;
}

export interface PassReport {
  rolloutId: string;
  status: string;
  downloadsSent: number;
  installsSent: number;
  started: number[];
}

/**
 * The rollout engine. A rollout is planned once (targets written, one per appliance), then
 * moved forward by passes: each pass reads the stages at work, brings every target up to date
 * from its tasks, sends the pre-downloads and installs that are due, and steps the pure state
 * machine (advanceRollout) with one conditional write. Everything is in the store, every step
 * is claimed by a conditional write first, so passes are idempotent and a restarted backend
 * continues exactly where it was.
 */
export class RolloutService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly tasks: TaskService,
    private readonly appliances: ApplianceService,
    private readonly opts: RolloutServiceOptions = {},
  ) {
    this.instanceId = opts.instanceId ?? `backend-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  /** This instance, as the holder of preparation leases. */
  private readonly instanceId: string;

  /**
   * Creates a rollout: validates and records it (`preparing`), then prepares it — reads the
   * fleet, plans the stages, writes one target per appliance. The answer does not wait for more
   * than PREPARE_INLINE_MS: a small fleet is prepared (and its first pass run) by then, a large
   * one goes on in the background, under a lease any instance takes over if this one dies.
   */
  async create(req: CreateRolloutRequest, createdBy: string): Promise<RolloutRecord> {
    const release = await this.ctx.store.releases.get(req.releaseId);
    if (!release) throw new RolloutError('not_found', `no release ${req.releaseId}`);
    const now = this.ctx.clock.now();
    const startAt = req.startAt ? Date.parse(req.startAt) : now;
    if (!Number.isFinite(startAt)) throw new RolloutError('bad_start', `startAt ${req.startAt} is not a time`);
    for (const id of req.canaryCustomers ?? []) {
      if (!(await this.ctx.store.customers.get(id, false))) throw new RolloutError('unknown_customer', `canaryCustomers: no customer ${id}`);
    }
    if (req.regionsOrder) {
      const { customers } = await this.ctx.store.fleetSnapshot();
      const known = new Set(customers.map((c) => c.region));
      const unknown = req.regionsOrder.filter((r) => !known.has(r));
      if (unknown.length > 0) throw new RolloutError('unknown_region', `regionsOrder: no customers in ${unknown.join(', ')}`);
    }
    const policy: RolloutPolicy = {
      startAt: iso(Math.max(startAt, now)),
      ...(req.regionsOrder ? { regionsOrder: req.regionsOrder } : {}),
      ...(req.canaryCustomers ? { canaryCustomers: req.canaryCustomers } : {}),
      successThreshold: req.successThreshold ?? ROLLOUT_DEFAULTS.successThreshold,
      errorThreshold: req.errorThreshold ?? ROLLOUT_DEFAULTS.errorThreshold,
      stageTimeoutMinutes: req.stageTimeoutMinutes ?? ROLLOUT_DEFAULTS.stageTimeoutMinutes,
      preDownloadWindowHours: req.preDownloadWindowHours ?? ROLLOUT_DEFAULTS.preDownloadWindowHours,
      mode: req.mode ?? ROLLOUT_DEFAULTS.mode,
    };
    const at = iso(now);
    const r: RolloutRecord = {
      rolloutId: randomUUID(),
      releaseId: release.releaseId,
      version: release.version,
      manifestUrl: release.manifestUrl,
      status: 'preparing',
      policy,
      canaryCustomerIds: [],
      stages: [],
      createdAt: at,
      updatedAt: at,
      createdBy,
      preparation: { written: 0, attempts: 0, startedAt: at },
      rev: 0,
    };
    await this.ctx.store.rollouts.create(r);
    const work = this.prepareIfFree(r.rolloutId).then(async (prepared) => {
      if (prepared) await this.pass(r.rolloutId);
    });
    const settled = await Promise.race([work.then(() => true), sleep(this.opts.prepareInlineMs ?? PREPARE_INLINE_MS)]);
    if (!settled) {
      work.catch((err: Error) => this.ctx.log.error({ rolloutId: r.rolloutId, err: err.message }, 'rollout preparation failed; the next pass retries'));
      this.ctx.log.info({ rolloutId: r.rolloutId }, 'rollout preparation continues in the background');
    }
    return (await this.ctx.store.rollouts.get(r.rolloutId)) ?? r;
  }

  /**
   * Takes the preparation lease of a `preparing` rollout if it is free (or expired) and prepares
   * it. False when the rollout is not preparing or another live instance holds the lease.
   */
  private async prepareIfFree(rolloutId: string): Promise<boolean> {
    const now = this.ctx.clock.now();
    const took = await this.ctx.store.rollouts.mutate(rolloutId, (cur) =>
      cur.status !== 'preparing' || !preparationLeaseFree(cur.preparation, now)
        ? null
        : {
            ...cur,
            preparation: {
              ...(cur.preparation ?? { startedAt: iso(now), attempts: 0 }),
              written: 0,
              attempts: (cur.preparation?.attempts ?? 0) + 1,
              owner: this.instanceId,
              leaseUntil: iso(now + PREPARE_LEASE_MS),
            },
          },
    );
    if (!took?.changed) return false;
    if (took.before.preparation?.owner) {
      this.ctx.log.warn({ rolloutId, from: took.before.preparation?.owner }, 'rollout preparation: lease expired; taking over');
    }
    await this.prepare(took.after);
    return true;
  }

  /** Records progress and renews the lease; false when this instance lost the lease (another took over) or the rollout left `preparing`. */
  private async preparationProgress(rolloutId: string, written: number, total: number): Promise<boolean> {
    const now = this.ctx.clock.now();
    const out = await this.ctx.store.rollouts.mutate(rolloutId, (cur) =>
      cur.status !== 'preparing' || cur.preparation?.owner !== this.instanceId ? null : { ...cur, preparation: { ...cur.preparation, written, total, leaseUntil: iso(now + PREPARE_LEASE_MS) } },
    );
    return !!out?.changed;
  }

  /**
   * Plans a rollout in `preparing` and writes its targets in chunks, renewing the lease with each
   * (overwriting is harmless: nothing is sent before the rollout leaves `preparing`, and a target
   * is keyed by rollout and appliance, so a second attempt rewrites the same items), then records
   * the stages and starts it — all only while this instance holds the lease.
   */
  private async prepare(r: RolloutRecord): Promise<RolloutRecord> {
    const t0 = Date.now();
    const fleet = await this.ctx.store.fleetSnapshot();
    const plan = planRollout(
      fleet.customers.map((c) => ({ customerId: c.customerId, region: c.region, canary: c.canary })),
      fleet.appliances,
      { regionsOrder: r.policy.regionsOrder, canaryCustomers: r.policy.canaryCustomers },
    );
    const customerOf = new Map(fleet.appliances.map((a) => [a.applianceId, a.customerId]));
    const at = iso(this.ctx.clock.now());
    const targets: TargetRecord[] = plan.flatMap((s, index) =>
      s.appliances.map((applianceId) => ({
        targetId: `${r.rolloutId}#${applianceId}`,
        rolloutId: r.rolloutId,
        stageKey: stageKeyOf(r.rolloutId, index),
        stageIndex: index,
        applianceId,
        customerId: customerOf.get(applianceId)!,
        state: 'pending' as const,
        updatedAt: at,
        rev: 0,
      })),
    );
    if (!(await this.preparationProgress(r.rolloutId, 0, targets.length))) return r;
    const size = this.opts.prepareChunk ?? PREPARE_CHUNK;
    for (let i = 0; i < targets.length; i += size) {
      const chunk = targets.slice(i, i + size);
      await this.ctx.store.putTargets(chunk);
      await this.ctx.faults?.afterPreparationChunk?.(r.rolloutId, i + chunk.length);
      if (!(await this.preparationProgress(r.rolloutId, i + chunk.length, targets.length))) {
        this.ctx.log.warn({ rolloutId: r.rolloutId }, 'rollout preparation: lease lost to another instance; stopping here');
        return r;
      }
    }
    const createdAt = Date.parse(r.createdAt);
    const starts = plannedStarts(Date.parse(r.policy.startAt), plan.length, r.policy.stageTimeoutMinutes);
    const stages: StageRecord[] = plan.map((s, index) => ({
      index,
      region: s.region,
      kind: s.kind,
      customers: s.customers.length,
      status: 'waiting',
      plannedStartAt: iso(starts[index]!),
      preDownloadFrom: iso(preDownloadFrom(starts[index]!, r.policy.preDownloadWindowHours, createdAt)),
      counts: countTargets(s.appliances.map(() => 'pending' as const)),
      acceptedFailures: 0,
    }));
    const canaries = r.policy.canaryCustomers ?? fleet.customers.filter((c) => c.canary).map((c) => c.customerId);
    await this.placeLateJoiners(r.rolloutId, stages, canaries, fleet.customers);
    const finishedAt = iso(this.ctx.clock.now());
    const done = await this.ctx.store.rollouts.mutate(r.rolloutId, (cur) =>
      cur.status !== 'preparing' || cur.preparation?.owner !== this.instanceId
        ? null
        : {
            ...cur,
            status: 'running',
            stages,
            canaryCustomerIds: canaries,
            preparation: { written: targets.length, total: targets.length, attempts: cur.preparation.attempts, startedAt: cur.preparation.startedAt, finishedAt, durationMs: Date.now() - t0 },
            updatedAt: finishedAt,
          },
    );
    if (done?.changed) this.ctx.log.info({ rolloutId: r.rolloutId, version: r.version, stages: stages.length, appliances: targets.length, ms: Date.now() - t0 }, 'rollout planned');
    return done?.after ?? r;
  }

  /**
   * Appliances that registered while the rollout was being prepared (and that its fleet read
   * missed) join their customer's first waiting stage of their kind — as join() does for a
   * running rollout — or are cancelled when the plan has no stage for them (a new region).
   */
  private async placeLateJoiners(rolloutId: string, stages: StageRecord[], canaries: string[], customers: CustomerRecord[]): Promise<void> {
    const late = await this.ctx.store.targetsOfStage(lateJoinersKey(rolloutId));
    const regionOf = new Map(customers.map((c) => [c.customerId, c.region]));
    for (const listed of late) {
      // The index may lag: a target the preparation planned meanwhile is left where it was planned.
      const t = await this.ctx.store.targets.get(listed.targetId);
      if (!t || t.stageKey !== lateJoinersKey(rolloutId)) continue;
      const stage = joiningStage(stages, canaries, t.customerId, regionOf.get(t.customerId));
      const at = iso(this.ctx.clock.now());
      const placed = stage
        ? { ...t, stageKey: stageKeyOf(rolloutId, stage.index), stageIndex: stage.index, updatedAt: at }
        : { ...t, state: 'cancelled' as const, note: 'registered while the rollout was being prepared, in a region the rollout has no stage for', updatedAt: at };
      if (!(await this.ctx.store.targets.replace(t, placed))) continue;
      if (stage) stage.counts = addCounts(stage.counts, countTargets(['pending']));
    }
  }

  /**
   * One engine pass over one rollout (the sweep runs this for every unfinished rollout): read
   * each stage at work, decide each target's action (pure: decideTargetAction) and act on it,
   * then advance the rollout on what was observed (pure: advanceRollout). A stage that starts
   * is read again in the same pass (up to 4 rounds).
   */
  async pass(rolloutId: string): Promise<PassReport> {
    const report: PassReport = { rolloutId, status: '', downloadsSent: 0, installsSent: 0, started: [] };
    for (let round = 0; round < 4; round++) {
      let r = await this.ctx.store.rollouts.get(rolloutId);
      if (!r) throw new RolloutError('not_found', `no rollout ${rolloutId}`);
      if (r.status === 'preparing') {
        // Prepared here if no live instance holds the lease; otherwise the holder finishes it.
        await this.prepareIfFree(rolloutId);
        r = (await this.ctx.store.rollouts.get(rolloutId)) ?? r;
        if (r.status === 'preparing') {
          report.status = r.status;
          return report;
        }
      }
      report.status = r.status;
      if (r.status === 'completed' || (r.status === 'aborted' && r.stages.every((s) => s.settled))) return report;
      const observed = await this.observeStages(r, report);
      const started = await this.advance(rolloutId, observed, report);
      if (started === null) return report;
      report.started.push(started);
      this.ctx.log.info({ rolloutId, stage: started }, 'rollout: stage started');
    }
    return report;
  }

  private async observeStages(r: RolloutRecord, report: PassReport): Promise<Map<number, Observation>> {
    const release = await this.ctx.store.releases.get(r.releaseId, false);
    if (!release) throw new Error(`rollout ${r.rolloutId}: release ${r.releaseId} vanished`);
    const now = this.ctx.clock.now();
    const customers = new Map<string, CustomerRecord | null>();
    const observed = new Map<number, Observation>();
    for (const stage of r.stages) {
      if (this.needsReading(r, stage, now)) observed.set(stage.index, await this.observeStage(r, stage, { release, now, customers, report }));
    }
    return observed;
  }

  private async observeStage(r: RolloutRecord, stage: StageRecord, pass: PassScope): Promise<Observation> {
    const targets = await this.ctx.store.targetsOfStage(stageKeyOf(r.rolloutId, stage.index));
    const stageWaiting = stage.status === 'waiting';
    const previous = r.stages[stage.index - 1];
    const stageStartsNow = stageWaiting && pass.now >= Date.parse(stage.plannedStartAt) && (!previous || previous.status === 'passed');
    const downloadAt = stageWaiting ? preDownloadTimes([...new Set(targets.map((t) => t.customerId))], Date.parse(stage.plannedStartAt), r.policy.preDownloadWindowHours, Date.parse(r.createdAt)) : null;
    const states: TargetState[] = [];
    for (const target of targets) {
      const t = await this.refresh(target, r, pass.release, pass.now);
      const action = decideTargetAction(t, { rolloutRunning: r.status === 'running', stageWaiting, stageStartsNow, downloadAt: downloadAt?.get(t.customerId), now: pass.now });
      states.push((await this.actOnTarget(action, t, r, pass)).state);
    }
    return { counts: countTargets(states), allFinal: states.every((s) => FINAL_TARGET_STATES.has(s)) };
  }

  /** Carries out a target's decided action; an install waits for the customer's maintenance window. */
  private async actOnTarget(action: TargetAction, t: TargetRecord, r: RolloutRecord, pass: PassScope): Promise<TargetRecord> {
    if (action === 'download') {
      const sent = await this.sendDownload(t, pass.release);
      if (sent) pass.report.downloadsSent += 1;
      return sent ?? t;
    }
    if (action !== 'install') return t;
    const c = await this.customer(pass.customers, t.customerId);
    if (windowOpenAt(c?.maintenanceWindow as MaintenanceWindow | undefined, pass.now) > pass.now) return t;
    const sent = await this.sendInstall(t, r, pass.release);
    if (sent?.installTaskId) pass.report.installsSent += 1;
    return sent ?? t;
  }

  /** Applies the pass's observations to the rollout record; returns the stage that started, if one did. */
  private async advance(rolloutId: string, observed: Map<number, Observation>, report: PassReport): Promise<number | null> {
    let started: number | null = null;
    const out = await this.ctx.store.rollouts.mutate(rolloutId, (cur) => {
      const step = advanceRollout(cur, observed, this.ctx.clock.now());
      started = step.started;
      return { ...step.next, updatedAt: iso(this.ctx.clock.now()) };
    });
    if (out && out.before.status !== out.after.status) {
      this.ctx.log.info({ rolloutId, from: out.before.status, to: out.after.status, reason: out.after.pausedReason }, 'rollout status');
    }
    report.status = out?.after.status ?? report.status;
    return started;
  }

  /** Which stages a pass reads: those at work, and waiting ones whose pre-download window is open. */
  private needsReading(r: RolloutRecord, s: StageRecord, now: number): boolean {
    if (s.settled) return false;
    if (r.status === 'aborted') return true;
    if (s.status !== 'waiting') return true;
    return r.policy.mode !== 'download' && now >= Date.parse(s.preDownloadFrom) && r.status === 'running';
  }

  private async customer(cache: Map<string, CustomerRecord | null>, id: string): Promise<CustomerRecord | null> {
    if (!cache.has(id)) cache.set(id, await this.ctx.store.customers.get(id, false));
    return cache.get(id)!;
  }

  /** Brings a target up to date with its tasks; re-creates a claimed task lost to a crash. */
  private async refresh(t: TargetRecord, r: RolloutRecord, release: ReleaseRecord, now: number): Promise<TargetRecord> {
    if (FINAL_TARGET_STATES.has(t.state) && !(t.state === 'succeeded' && t.installTaskId)) return t;
    const download = t.downloadTaskId ? await this.ctx.store.tasks.get(t.downloadTaskId, false) : null;
    const install = t.installTaskId ? await this.ctx.store.tasks.get(t.installTaskId, false) : null;
    if (r.status === 'running' && now - Date.parse(t.updatedAt) > CLAIM_GRACE_MS) {
      if (t.installTaskId && !install) return (await this.sendInstall(t, r, release, true)) ?? t;
      if (t.downloadTaskId && !download && !t.installTaskId) return (await this.sendDownload(t, release, true)) ?? t;
    }
    const s = targetStateFromTasks(t, download, install, now, r.policy.stageTimeoutMinutes);
    if (s.state === t.state && !!s.downloadFailed === !!t.downloadFailed) return t;
    const out = await this.ctx.store.targets.mutate(t.targetId, (cur) => ({
      ...without(cur, 'note'),
      state: s.state,
      ...(s.downloadFailed ? { downloadFailed: true } : {}),
      ...(s.note ? { note: s.note } : {}),
      updatedAt: iso(now),
    }));
    return out?.after ?? t;
  }

  /** Claims the target's pre-download (a task id written first), then sends the download-mode task. */
  private async sendDownload(t: TargetRecord, release: ReleaseRecord, again = false): Promise<TargetRecord | null> {
    const now = this.ctx.clock.now();
    // Already on the version (or newer): nothing to download; the stage's install pass settles it.
    const a = again ? null : await this.ctx.store.appliances.get(t.applianceId, false);
    if (a && !a.trial && compareVersions(a.version, release.version) >= 0) return null;
    const taskId = t.downloadTaskId ?? randomUUID();
    const claimed = again ? t : (await this.ctx.store.targets.mutate(t.targetId, (cur) => (cur.downloadTaskId || cur.state !== 'pending' ? null : { ...cur, downloadTaskId: taskId, state: 'downloading', updatedAt: iso(now) })))?.after;
    if (!claimed || claimed.downloadTaskId !== taskId) return null;
    await this.appliances.startUpgrade(t.applianceId, release, { mode: 'download', createdBy: `rollout:${t.rolloutId}`, taskId });
    return claimed;
  }

  /**
   * Starts an appliance's install: an appliance already on the version (or newer) counts as
   * succeeded without a task; one busy with another upgrade waits for the next pass.
   */
  private async sendInstall(t: TargetRecord, r: RolloutRecord, release: ReleaseRecord, again = false): Promise<TargetRecord | null> {
    const now = this.ctx.clock.now();
    const a: StoredAppliance | null = await this.ctx.store.appliances.get(t.applianceId, false);
    const settle = async (state: 'succeeded' | 'cancelled', note: string) =>
      (await this.ctx.store.targets.mutate(t.targetId, (cur) => (cur.installTaskId && !again ? null : { ...without(cur, 'installTaskId', 'installSentAt'), state, note, updatedAt: iso(now) })))?.after ?? null;
    if (!a) return settle('cancelled', 'appliance no longer exists');
    if (!again && !a.trial && compareVersions(a.version, release.version) >= 0) return settle('succeeded', `already on ${a.version}`);
    const taskId = t.installTaskId ?? randomUUID();
    const claimed = again
      ? t
      : (await this.ctx.store.targets.mutate(t.targetId, (cur) => (cur.installTaskId || FINAL_TARGET_STATES.has(cur.state) ? null : { ...cur, installTaskId: taskId, installSentAt: iso(now), state: 'installing', updatedAt: iso(now) })))?.after;
    if (!claimed || claimed.installTaskId !== taskId) return null;
    try {
      await this.appliances.startUpgrade(t.applianceId, release, { mode: r.policy.mode, createdBy: `rollout:${r.rolloutId}`, taskId });
    } catch (err) {
      if (!(err instanceof UpgradeInProgressError)) throw err;
      // Busy with another upgrade: give the claim back and try again on a later pass.
      const back = await this.ctx.store.targets.mutate(t.targetId, (cur) =>
        cur.installTaskId === taskId ? { ...without(cur, 'installTaskId', 'installSentAt'), state: cur.downloadTaskId ? 'downloaded' : 'pending', note: err.message, updatedAt: iso(now) } : null,
      );
      return back?.after ?? null;
    }
    return claimed;
  }

  /** Pause, resume or abort (operator). Abort cancels what has not reached an appliance yet. */
  async act(rolloutId: string, action: OperatorAction): Promise<RolloutRecord> {
    let refused: string | null = null;
    const out = await this.ctx.store.rollouts.mutate(rolloutId, (cur) => {
      const res = applyOperatorAction(cur, action, this.ctx.clock.now());
      if ('refused' in res) {
        refused = res.refused;
        return null;
      }
      refused = null;
      return res.next;
    });
    if (!out) throw new RolloutError('not_found', `no rollout ${rolloutId}`);
    if (refused) throw new RolloutError('bad_state', `cannot ${action}: ${refused}`);
    this.ctx.log.info({ rolloutId, action }, 'rollout: operator action');
    if (action === 'abort') await this.cancelUnstarted(out.after);
    if (action === 'resume') await this.pass(rolloutId);
    return (await this.ctx.store.rollouts.get(rolloutId)) ?? out.after;
  }

  /**
   * After an abort: targets not yet installing are cancelled, and so are their tasks that no
   * appliance has accepted yet. Installs already accepted finish; upgraded appliances stay.
   */
  private async cancelUnstarted(r: RolloutRecord): Promise<number> {
    let n = 0;
    for (const stage of r.stages) {
      if (stage.settled) continue;
      for (const t of await this.ctx.store.targetsOfStage(stageKeyOf(r.rolloutId, stage.index))) {
        if (FINAL_TARGET_STATES.has(t.state)) continue;
        let cancelTarget = !t.installTaskId;
        for (const id of [t.downloadTaskId, t.installTaskId]) {
          if (!id) continue;
          const task = await this.ctx.store.tasks.get(id);
          if (task && (task.status === 'pending' || task.status === 'sent')) {
            const done = await this.tasks.finish(task, 'cancelled', { code: 'rollout_aborted', message: `rollout ${r.rolloutId} was aborted` });
            if (done && id === t.installTaskId) {
              await this.appliances.upgradeEnded(t.applianceId, id);
              cancelTarget = true;
            }
          } else if (!task && id === t.installTaskId) cancelTarget = true;
        }
        if (cancelTarget) {
          await this.ctx.store.targets.mutate(t.targetId, (cur) => (FINAL_TARGET_STATES.has(cur.state) ? null : { ...cur, state: 'cancelled', note: 'rollout aborted', updatedAt: iso(this.ctx.clock.now()) }));
          n += 1;
        }
      }
    }
    await this.pass(r.rolloutId);
    return n;
  }

  /**
   * A newly registered appliance joins its customer's stage of every unfinished rollout, if that
   * stage has not started yet (first half, else second half). Best effort: logged, never fatal.
   */
  async join(a: Pick<StoredAppliance, 'applianceId' | 'customerId' | 'region'>): Promise<string[]> {
    const joined: string[] = [];
    for (const r of await this.ctx.store.listRollouts()) {
      let placed: { stageKey: string; stageIndex: number; note: string } | null = null;
      if (r.status === 'preparing') {
        // The preparation may have read the fleet before this appliance existed: it is placed
        // when the preparation finishes (if the preparation saw it, its planned target replaces this one).
        placed = { stageKey: lateJoinersKey(r.rolloutId), stageIndex: -1, note: 'registered while the rollout was being prepared' };
      } else if (r.status === 'running' || r.status === 'paused') {
        const stage = joiningStage(r.stages.filter((s) => s.status === 'waiting'), r.canaryCustomerIds, a.customerId, a.region);
        if (stage) placed = { stageKey: stageKeyOf(r.rolloutId, stage.index), stageIndex: stage.index, note: 'joined after the rollout was planned' };
      }
      if (!placed) continue;
      const created = await this.ctx.store.targets.create({
        targetId: `${r.rolloutId}#${a.applianceId}`,
        rolloutId: r.rolloutId,
        ...placed,
        applianceId: a.applianceId,
        customerId: a.customerId,
        state: 'pending',
        updatedAt: iso(this.ctx.clock.now()),
        rev: 0,
      });
      if (created) joined.push(r.rolloutId);
    }
    if (joined.length > 0) this.ctx.log.info({ applianceId: a.applianceId, rollouts: joined }, 'new appliance joined rollouts');
    return joined;
  }

  /** The rollout sweep: one pass over every unfinished rollout. */
  async sweep(): Promise<{ handled: number; changed: number }> {
    let handled = 0;
    let changed = 0;
    for (const r of await this.ctx.store.listRollouts()) {
      if (r.status === 'completed' || (r.status === 'aborted' && r.stages.every((s) => s.settled))) continue;
      handled += 1;
      try {
        const rep = await this.pass(r.rolloutId);
        if (rep.downloadsSent + rep.installsSent + rep.started.length > 0 || rep.status !== r.status) changed += 1;
      } catch (err) {
        if ((err as { simulatedCrash?: boolean }).simulatedCrash) throw err;
        this.ctx.log.error({ rolloutId: r.rolloutId, err: (err as Error).message }, 'rollout pass failed; the next sweep retries');
      }
    }
    return { handled, changed };
  }
}

