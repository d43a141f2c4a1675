import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import { isHeartbeatPing, taskTopic, type Heartbeat, type MqttSettings, type RegisterRequest, type RegisterResponse, type TokenRefreshResponse } from '@twinroot/protocol';
import { iso } from '../clock.js';
import {
  DISCONNECTED_HEARTBEAT_INTERVAL_S,
  HEARTBEAT_INTERVAL_S,
  PRESENCE_TIMEOUT_S,
} from '../domain/appliance-record.js';
import { judgeHeartbeat } from '../domain/heartbeat-rules.js';
import { isTerminal } from '../domain/task-record.js';
import { hashApplianceToken, newApplianceToken } from '../auth/appliance-token.js';
import type { RegisterClaims } from '../auth/register-token.js';
import { shardOf } from '../store/shards.js';
import type { ReleaseRecord, StoredAppliance, StoredTask } from '../store/store.js';
import { without } from '../store/versioned.js';
import type { ServiceContext } from './context.js';
import type { TaskService } from './tasks.js';
import { DomainError } from '../domain/domain-error.js';
import { afterNewCertificate, mqttCredentials, rotationCompleted } from '../domain/mqtt-credentials.js';
import type { CertificateRef } from '../domain/appliance-record.js';
import { checkCertificateRequest } from '../identity/csr.js';
import type { CertificateIssuer } from '../identity/issuer.js';

export const APPLIANCE_TOKEN_TTL_DAYS = 60;
/** Heartbeat times kept on the appliance item (the routine ones are not stored as tasks). */
export const RECENT_HEARTBEATS = 12;
/** How long a retried registration (same register token and idempotency key) returns the same appliance. */
export const REGISTRATION_REPLAY_MS = 24 * 3600_000;

function registrationKey(tokenId: string, idempotencyKey: string): string {
  return `${tokenId}#${createHash('sha256').update(idempotencyKey).digest('hex')}`;
}

/** An install is refused while another upgrade of the appliance is in flight (one at a time). */
export class UpgradeInProgressError extends DomainError {
  constructor(readonly otherTaskId: string | undefined) {
    super('upgrade_in_progress', `appliance is already upgrading (task ${otherTaskId})`);
  }
}

export interface StartUpgradeOptions {
  mode: 'download' | 'install' | 'install-reboot';
  createdBy: string;
  notBefore?: string;
  allowDowngrade?: boolean;
  /** Who allowed a downgrade and why: recorded as the task's first timeline event. */
  downgradeNote?: string;
  /** A task id chosen (and recorded) by the caller beforehand; starting again with it is a no-op. */
  taskId?: string;
}
/** Sweeps run on a fixed five-minute grid; due times are set this much early so a grid tick catches them. */
const SWEEP_SLACK_S = 60;

/** A heartbeat due time spread over the interval by appliance id, so a fleet is not pinged at once. */
function spreadOffsetMs(applianceId: string, intervalS: number): number {
  return createHash('sha1').update(applianceId).digest().readUInt32BE(4) % (intervalS * 1000);
}

/** Seen now: connected, and disconnected by the presence sweep if nothing is heard for three heartbeats. */
function presence(now: number): { connection: 'connected'; presenceDueAt: string } {
  return { connection: 'connected', presenceDueAt: iso(now + (PRESENCE_TIMEOUT_S - SWEEP_SLACK_S) * 1000) };
}

/**
 * How appliances log in to MQTT: with their token at `tokenUrl` (absent: not allowed), and/or
 * with a client certificate from `issuer` at `certificateUrl`.
 */
export interface MqttLogin {
  tokenUrl(): string | undefined;
  certificateUrl(): string | undefined;
  issuer: CertificateIssuer | null;
}

/**
 * Appliances: registration, token refresh, heartbeats (presence, upgrade verification,
 * rollback detection), and the presence and heartbeat sweeps' per-appliance steps.
 */
export class ApplianceService {
  /** Called after a registration (the rollout engine lets new appliances join pending stages). */
  onRegistered: ((a: StoredAppliance) => Promise<unknown>) | null = null;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly tasks: TaskService,
    private readonly login: MqttLogin,
  ) {}

  /**
   * The issuer, when this request carries a CSR it should sign. A registration without one is
   * refused (csr_required) when the broker takes certificates only; a token refresh without one
   * just refreshes the token (the certificate is renewed only when it is due).
   */
  private async certificateWanted(csr: string | undefined, registering: boolean): Promise<CertificateIssuer | null> {
    const issuer = this.login.issuer;
    if (!issuer || !this.login.certificateUrl()) return null;
    if (!csr) {
      if (registering && !this.login.tokenUrl()) throw new DomainError('csr_required', 'this backend takes MQTT logins by client certificate only: send a csr (agent ≥ 0.10)');
      return null;
    }
    await checkCertificateRequest(csr);
    return issuer;
  }

  private mqttSettings(applianceId: string, certificate: boolean): MqttSettings {
    const base = { clientId: applianceId, topic: taskTopic(applianceId) };
    if (certificate) {
      const caPem = this.login.issuer?.brokerCaPem;
      return { ...base, url: this.login.certificateUrl()!, auth: 'certificate', ...(caPem ? { caPem } : {}) };
    }
    return { ...base, url: this.login.tokenUrl()!, auth: 'token' };
  }

  async register(req: RegisterRequest, claims: RegisterClaims): Promise<RegisterResponse> {
    const issuer = await this.certificateWanted(req.csr, true);
    const applianceId = randomUUID();
    // Issued before the record exists: if the issuer fails, nothing is registered.
    const issued = issuer ? await issuer.issue({ applianceId, customerId: claims.customerId, region: claims.region }, req.csr!) : null;
    const now = this.ctx.clock.now();
    const at = iso(now);
    const applianceToken = newApplianceToken(applianceId);
    const tokenExpiresAt = iso(now + APPLIANCE_TOKEN_TTL_DAYS * 86400_000);
    const record: StoredAppliance = {
      applianceId,
      customerId: claims.customerId,
      region: claims.region,
      hostname: req.hostname,
      cpu: req.cpu,
      memoryMb: req.memoryMb,
      ip: req.ip,
      version: req.version,
      bootedSlot: req.slot,
      committedSlot: req.slot,
      trial: false,
      services: [],
      tokenHash: hashApplianceToken(applianceToken),
      tokenExpiresAt,
      ...(issued ? { certificate: issued.ref } : {}),
      registeredAt: at,
      lastSeenAt: at,
      ...presence(now),
      presenceShard: shardOf(applianceId, 'presence#'),
      hbShard: shardOf(applianceId, 'hb#'),
      hbDueAt: iso(now + spreadOffsetMs(applianceId, HEARTBEAT_INTERVAL_S)),
      desiredServices: {},
      rev: 0,
    };
    if (!(await this.ctx.store.appliances.create(record))) throw new Error(`appliance id collision: ${applianceId}`);
    if (req.idempotencyKey) {
      await this.ctx.store.registrations.create({ registrationKey: registrationKey(claims.tokenId, req.idempotencyKey), applianceId, createdAt: at, rev: 0 });
    }
    this.ctx.log.info({ applianceId, customerId: claims.customerId, region: claims.region }, 'appliance registered');
    try {
      await this.onRegistered?.(record);
    } catch (err) {
      this.ctx.log.error({ applianceId, err: (err as Error).message }, 'after registration: joining rollouts failed');
    }
    return { applianceId, applianceToken, tokenExpiresAt, mqtt: this.mqttSettings(applianceId, !!issued), ...(issued ? { certificate: issued.certificate } : {}) };
  }

  /**
   * A registration retried with the same register token and idempotency key (its answer was
   * lost) within a day: the same appliance, with a new token (the lost one is replaced). Null
   * when there is no such earlier registration.
   */
  async replayRegistration(req: RegisterRequest, claims: RegisterClaims): Promise<RegisterResponse | null> {
    if (!req.idempotencyKey) return null;
    const reg = await this.ctx.store.registrations.get(registrationKey(claims.tokenId, req.idempotencyKey));
    if (!reg || this.ctx.clock.now() - Date.parse(reg.createdAt) > REGISTRATION_REPLAY_MS) return null;
    const a = await this.ctx.store.appliances.get(reg.applianceId);
    if (!a) return null;
    const { applianceToken, tokenExpiresAt, certificate } = await this.refreshToken(a, req.csr);
    this.ctx.log.info({ applianceId: a.applianceId }, 'registration retried: same appliance, new token');
    return { applianceId: a.applianceId, applianceToken, tokenExpiresAt, mqtt: this.mqttSettings(a.applianceId, !!certificate), ...(certificate ? { certificate } : {}) };
  }

  /**
   * Decommissions an appliance: its record goes (so its token no longer authenticates on HTTP
   * or MQTT), its live MQTT sessions are closed and its unfinished tasks cancelled. Its task
   * history stays. False if there was no such appliance.
   */
  async decommission(applianceId: string, by: string): Promise<boolean> {
    const a = await this.ctx.store.appliances.get(applianceId);
    if (!a || !(await this.ctx.store.appliances.remove(applianceId))) return false;
    this.ctx.broker.dropSessions(applianceId, []);
    const certs = [a.certificate, a.previousCertificate].filter((c): c is CertificateRef => !!c);
    if (certs.length > 0 && this.login.issuer) {
      try {
        await this.login.issuer.revoke(applianceId, certs);
      } catch (err) {
        this.ctx.log.error({ applianceId, certificates: certs.map((c) => c.certificateId), err: (err as Error).message }, 'decommission: revoking the certificates failed; revoke them by hand');
      }
    }
    let next: Record<string, unknown> | undefined;
    do {
      const page = await this.ctx.store.tasksOfAppliance(applianceId, 100, next);
      for (const t of page.items) if (!isTerminal(t.status)) await this.tasks.finish(t, 'cancelled', { code: 'decommissioned', message: `appliance decommissioned by ${by}` });
      next = page.next;
    } while (next);
    this.ctx.log.warn({ applianceId, by }, 'appliance decommissioned');
    return true;
  }

  /**
   * A new token replaces the old one atomically (the write is conditional on the appliance's rev);
   * with a CSR, a new certificate is issued too, and the old one stays valid until a heartbeat
   * says the new one is in use (rotationCompleted).
   */
  async refreshToken(a: StoredAppliance, csr?: string): Promise<TokenRefreshResponse> {
    const issuer = await this.certificateWanted(csr, false);
    const issued = issuer ? await issuer.issue({ applianceId: a.applianceId, customerId: a.customerId, region: a.region }, csr!) : null;
    const now = this.ctx.clock.now();
    const applianceToken = newApplianceToken(a.applianceId);
    const tokenExpiresAt = iso(now + APPLIANCE_TOKEN_TTL_DAYS * 86400_000);
    let retireNow: CertificateRef[] = [];
    const r = await this.ctx.store.appliances.mutate(
      a.applianceId,
      (cur) => {
        let next: StoredAppliance = { ...cur, tokenHash: hashApplianceToken(applianceToken), tokenExpiresAt };
        if (issued) {
          const c = afterNewCertificate(cur, issued.ref);
          retireNow = c.retireNow;
          next = { ...without(next, 'previousCertificate'), certificate: c.certificate, ...(c.previousCertificate ? { previousCertificate: c.previousCertificate } : {}) };
        }
        return next;
      },
      a,
    );
    if (!r) throw new Error('appliance vanished');
    // Sessions opened with the old token (or a retired certificate) end now; the agent reconnects with the new one.
    this.ctx.broker.dropSessions(a.applianceId, mqttCredentials(r.after));
    for (const old of retireNow) await this.retire(a.applianceId, old);
    if (issued) this.ctx.log.info({ applianceId: a.applianceId, certificateId: issued.ref.certificateId, expiresAt: issued.ref.expiresAt }, 'certificate renewed');
    return { applianceToken, tokenExpiresAt, ...(issued ? { certificate: issued.certificate, mqtt: this.mqttSettings(a.applianceId, true) } : {}) };
  }

  private async retire(applianceId: string, ref: CertificateRef): Promise<void> {
    try {
      await this.login.issuer?.retire(applianceId, ref);
    } catch (err) {
      this.ctx.log.error({ applianceId, certificateId: ref.certificateId, err: (err as Error).message }, 'retiring a certificate failed; set it INACTIVE by hand');
    }
  }

  /**
   * A heartbeat from a connection that uses the new certificate of a rotation: the previous one is
   * retired at the issuer first, then dropped from the record (so a failed retirement is tried
   * again at the next heartbeat), and sessions still using it are closed.
   */
  private async completeRotation(a: StoredAppliance, inUse: string | undefined): Promise<void> {
    const old = rotationCompleted(a, inUse);
    if (!old) return;
    await this.login.issuer?.retire(a.applianceId, old);
    const r = await this.ctx.store.appliances.mutate(a.applianceId, (cur) => (cur.previousCertificate?.certificateId === old.certificateId ? without(cur, 'previousCertificate') : null));
    if (r) this.ctx.broker.dropSessions(a.applianceId, mqttCredentials(r.after));
    this.ctx.log.info({ applianceId: a.applianceId, retired: old.certificateId, inUse }, 'certificate rotation completed');
  }

  /**
   * The appliance has just subscribed on a new MQTT session, so a task published to it before
   * (status `sent`: never accepted) may have reached nobody — e.g. a rollout that started right
   * after it registered. Each is sent again now instead of after the retry policy's delay; the
   * agent drops a taskId it already has.
   */
  private async resendUnreceived(applianceId: string): Promise<void> {
    const recent = await this.ctx.store.tasksOfAppliance(applianceId, 50);
    for (const t of recent.items.filter((x) => x.status === 'sent')) await this.tasks.resend(t);
  }

  /**
   * A heartbeat: marks the appliance seen (and connected), records what it runs, finishes the
   * heartbeat task it answers, verifies a pending upgrade, and detects a rollback. Task side
   * effects happen before the appliance write, and each is idempotent, so a crash in between
   * is repaired by the next heartbeat.
   */
  async heartbeat(a: StoredAppliance, hb: Heartbeat): Promise<{ status: string; finding: string }> {
    this.ctx.metrics.heartbeats.inc();
    const now = this.ctx.clock.now();
    const at = iso(now);

    // A routine ping is not stored: nothing to finish (and nothing to read).
    if (hb.taskId && !isHeartbeatPing(hb.taskId)) {
      const t = await this.ctx.store.tasks.get(hb.taskId);
      if (t && t.ownerId === a.applianceId && t.taskType === 'heartbeat' && !isTerminal(t.status)) {
        await this.tasks.finish(t, 'succeeded');
      }
    }
    if (hb.mqttSessionStarted) await this.resendUnreceived(a.applianceId);
    try {
      await this.completeRotation(a, hb.certificateId);
    } catch (err) {
      this.ctx.log.warn({ applianceId: a.applianceId, err: (err as Error).message }, 'retiring the previous certificate failed; tried again at the next heartbeat');
    }

    const finding = judgeHeartbeat(a, hb);
    if (finding.kind === 'upgrade-verified') {
      const t = await this.ctx.store.tasks.get(finding.taskId);
      // With or without the agent's own report before it (`verifying`): the heartbeat is the proof.
      const note = `verified: a heartbeat from ${hb.version} committed on slot ${hb.committedSlot}${t?.verifying ? '' : ' (before the agent reported done)'}`;
      if (t) await this.tasks.finish(t, 'succeeded', undefined, { detail: { ...(t.detail ?? {}), verifiedVersion: hb.version, verifiedSlot: hb.committedSlot } }, note);
    } else if (finding.kind === 'rollback-detected') {
      await this.ctx.store.tasks.mutate(finding.taskId, (t) =>
        t.rolledBack ? null : { ...t, rolledBack: { at, toVersion: finding.toVersion }, events: [...t.events, { at, status: 'rolled_back', note: `appliance back on ${finding.toVersion}` }] },
      );
      this.ctx.log.warn({ applianceId: a.applianceId, from: finding.fromVersion, to: finding.toVersion }, 'rollback detected');
    }

    let reconnected = false;
    const r = await this.ctx.store.appliances.mutate(
      a.applianceId,
      (cur) => {
        const f = judgeHeartbeat(cur, hb);
        reconnected = cur.connection === 'disconnected';
        let next: StoredAppliance = {
          ...without(cur, 'disconnectedAt'),
          version: hb.version,
          bootedSlot: hb.bootedSlot,
          committedSlot: hb.committedSlot,
          trial: hb.trial,
          services: hb.services,
          uptimeS: hb.uptimeS,
          lastSeenAt: at,
          recentHeartbeats: [at, ...(cur.recentHeartbeats ?? [])].slice(0, RECENT_HEARTBEATS),
          ...presence(now),
          presenceShard: shardOf(cur.applianceId, 'presence#'),
          // The next ping is due an interval after this heartbeat: the sweep that pings does not write.
          hbShard: shardOf(cur.applianceId, 'hb#'),
          hbDueAt: iso(now + (HEARTBEAT_INTERVAL_S - SWEEP_SLACK_S) * 1000),
        };
        if (f.kind === 'upgrade-verified') {
          next = {
            ...without(next, 'upgrade', 'rollback'),
            lastUpgrade: { taskId: f.taskId, version: f.version, at },
            // Re-install the recorded services; cleared once their tasks are queued.
            ...(Object.keys(cur.desiredServices ?? {}).length > 0 ? { pendingReinstall: f.taskId } : {}),
          };
        } else if (f.kind === 'rollback-detected') {
          next = { ...next, rollback: { detectedAt: at, fromVersion: f.fromVersion, toVersion: f.toVersion, taskId: f.taskId } };
        }
        return next;
      },
      a,
    );
    if (!r) throw new Error('appliance vanished');
    if (reconnected) {
      this.ctx.metrics.appliancePresence.inc({ to: 'connected' });
      this.ctx.log.info({ applianceId: a.applianceId }, 'appliance reconnected');
    }
    await this.reinstallServices(r.after);
    return { status: r.after.connection, finding: finding.kind };
  }

  /** Queues installService for every recorded service after a verified upgrade (once: the marker is cleared after). */
  async reinstallServices(a: StoredAppliance): Promise<number> {
    if (!a.pendingReinstall) return 0;
    const services = Object.values(a.desiredServices ?? {});
    for (const s of services) {
      await this.tasks.create({ applianceId: a.applianceId, taskType: 'installService', body: { ...s }, createdBy: `upgrade:${a.pendingReinstall}` });
    }
    await this.ctx.store.appliances.mutate(a.applianceId, (cur) => (cur.pendingReinstall ? without(cur, 'pendingReinstall') : null));
    return services.length;
  }

  /** Presence sweep step: an appliance whose presence deadline passed becomes disconnected. */
  async markDisconnectedIfSilent(a: StoredAppliance): Promise<boolean> {
    const now = this.ctx.clock.now();
    const r = await this.ctx.store.appliances.mutate(
      a.applianceId,
      (cur) => {
        if (cur.connection !== 'connected' || !cur.presenceDueAt || Date.parse(cur.presenceDueAt) > now) {
          return cur.connection === 'disconnected' && cur.presenceDueAt ? without(cur, 'presenceShard', 'presenceDueAt') : null;
        }
        return { ...without(cur, 'presenceShard', 'presenceDueAt'), connection: 'disconnected', disconnectedAt: iso(now) };
      },
      a,
    );
    const went = !!r?.changed && r.before.connection === 'connected' && r.after.connection === 'disconnected';
    if (went) {
      this.ctx.metrics.appliancePresence.inc({ to: 'disconnected' });
      this.ctx.log.warn({ applianceId: a.applianceId, lastSeenAt: a.lastSeenAt }, 'appliance disconnected: 3 heartbeats missed');
    }
    return went;
  }

  /**
   * Heartbeat sweep step: a connected appliance whose heartbeat is due gets a ping (published,
   * neither it nor the appliance written: the heartbeat that answers sets the next due time, so
   * a round costs that one write; an unanswered ping is sent again at the next sweep until the
   * presence sweep marks the appliance disconnected). A disconnected one is pinged less often,
   * its next due time written here.
   */
  async sendHeartbeatIfDue(a: StoredAppliance): Promise<boolean> {
    const now = this.ctx.clock.now();
    if (!a.hbDueAt || Date.parse(a.hbDueAt) > now) return false;
    if (a.connection === 'connected') {
      await this.tasks.ping(a.applianceId);
      return true;
    }
    const r = await this.ctx.store.appliances.mutate(
      a.applianceId,
      (cur) => {
        if (!cur.hbDueAt || Date.parse(cur.hbDueAt) > now) return null;
        const interval = cur.connection === 'connected' ? HEARTBEAT_INTERVAL_S : DISCONNECTED_HEARTBEAT_INTERVAL_S;
        return { ...cur, hbShard: shardOf(cur.applianceId, 'hb#'), hbDueAt: iso(now + (interval - SWEEP_SLACK_S) * 1000) };
      },
      a,
    );
    if (!r?.changed) return false;
    await this.tasks.ping(a.applianceId);
    return true;
  }

  /**
   * Sends an upgrade task. An install marks the appliance upgrading first (one at a time; the
   * mark is how a later heartbeat verifies it), then the task is sent; a download-only task
   * (pre-download) changes nothing on the appliance. Idempotent for a given taskId.
   */
  async startUpgrade(applianceId: string, release: ReleaseRecord, opts: StartUpgradeOptions): Promise<StoredTask> {
    const taskId = opts.taskId ?? randomUUID();
    const existing = opts.taskId ? await this.ctx.store.tasks.get(taskId) : null;
    if (existing) return existing;
    const installs = opts.mode !== 'download';
    if (installs) {
      const marked = await this.ctx.store.appliances.mutate(applianceId, (cur) =>
        cur.upgrade ? null : { ...cur, upgrade: { taskId, version: release.version, releaseId: release.releaseId, mode: opts.mode } },
      );
      if (!marked) throw new Error(`no appliance ${applianceId}`);
      if (marked.after.upgrade?.taskId !== taskId) throw new UpgradeInProgressError(marked.after.upgrade?.taskId);
    }
    try {
      return await this.tasks.create({
        applianceId,
        taskType: 'upgrade',
        body: {
          releaseId: release.releaseId,
          version: release.version,
          manifestUrl: release.manifestUrl,
          mode: opts.mode,
          ...(opts.notBefore ? { notBefore: opts.notBefore } : {}),
          ...(opts.allowDowngrade ? { allowDowngrade: true } : {}),
        },
        createdBy: opts.createdBy,
        taskId,
        ...(opts.allowDowngrade && opts.downgradeNote ? { note: opts.downgradeNote } : {}),
      });
    } catch (err) {
      if (installs) await this.upgradeEnded(applianceId, taskId);
      throw err;
    }
  }

  /** Clears the appliance's in-flight upgrade when that upgrade task ends without being verified. */
  async upgradeEnded(applianceId: string, taskId: string): Promise<void> {
    await this.ctx.store.appliances.mutate(applianceId, (cur) => (cur.upgrade?.taskId === taskId ? without(cur, 'upgrade') : null));
  }
}
