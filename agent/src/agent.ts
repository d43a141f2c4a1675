import { mkdirSync } from 'node:fs';
import { taskTopic } from '@twinroot/protocol';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import { BackendClient } from './backend/client.js';
import { Outbox } from './outbox/outbox.js';
import { nextDelayMs } from './outbox/backoff.js';
import { SeenTasks } from './dispatch/seen-tasks.js';
import { Inbox } from './dispatch/inbox.js';
import { Dispatcher, type Handlers } from './dispatch/dispatcher.js';
import { MqttTransport } from './mqtt/transport.js';
import { readIdentity, type Identity } from './state/identity.js';
import { createSlotDriver } from './slots/create.js';
import type { SlotDriver } from './slots/driver.js';
import { DirSlotDriver } from './slots/dir.js';
import { runBootCheck, type BootCheckOutcome } from './boot/boot-check.js';
import { rollbackHandler } from './tasks/rollback.js';
import { ServiceRegistry, installServiceHandler, uninstallServiceHandler } from './tasks/services.js';
import { collectHeartbeat, heartbeatHandler } from './tasks/heartbeat.js';
import { upgradeHandler } from './tasks/upgrade.js';
import type { UpgradeDeps } from './upgrade/pipeline.js';
import { collectLogsHandler } from './tasks/collect-logs.js';
import { commandReboot, rebootHandler } from './tasks/reboot.js';
import { scheduleTokenRefresh } from './token.js';
import { writeRuntimeState } from './runtime-state.js';

/**
 * How this appliance logs in to MQTT: with the certificate issued at registration (mTLS; the CA
 * the backend named, else the configured bundle), with hand-placed mqttTls files, or with its token.
 */
export function mqttLogin(identity: Identity, config: Pick<AgentConfig, 'mqttTls'>): { token?: string; tls?: { caFile?: string; certFile?: string; keyFile?: string }; certificateId?: string } {
  const c = identity.certificate;
  if (c && identity.mqtt.auth === 'certificate') {
    const caFile = c.caFile ?? config.mqttTls?.caFile;
    return { tls: { certFile: c.certFile, keyFile: c.keyFile, ...(caFile ? { caFile } : {}) }, certificateId: c.certificateId };
  }
  return { token: identity.applianceToken, ...(config.mqttTls ? { tls: config.mqttTls } : {}) };
}

export interface RunningAgent {
  identity(): Identity;
  dispatcher: Dispatcher;
  outbox: Outbox;
  transport(): MqttTransport | null;
  driver: SlotDriver;
  /** What the start-up boot check did (trial committed, rolled back, result reported, ...). */
  bootCheck: BootCheckOutcome | 'error';
  /** Resolves once the first MQTT connection is up and subscribed. */
  connected: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The daemon: outbox delivery, unfinished tasks resumed, MQTT connected and subscribed, token
 * refresh scheduled. Extra handlers (upgrade, rollback) plug in through `handlers`.
 */
export interface StartOptions {
  handlers?: Handlers;
  driver?: SlotDriver;
  /** How to reboot; default: the configured rebootCommand. A `dir` fleet simulator restarts the agent. */
  reboot?: () => Promise<void>;
  /** Test seams of the upgrade pipeline (e.g. free space, retry timing). */
  upgrade?: Partial<UpgradeDeps>;
}

export async function startAgent(config: AgentConfig, log: Logger, extra: StartOptions = {}): Promise<RunningAgent> {
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  let identity = readIdentity(config.stateDir);
  if (!identity) throw new Error(`not registered (no ${config.stateDir}/identity.json): run \`twinroot register --token TOKEN --backend URL\` first`);
  const driver = extra.driver ?? createSlotDriver(config.slots);
  const slots = driver;
  const reboot = extra.reboot ?? commandReboot(config.rebootCommand);
  // Directory slots have no bootloader: starting the agent is the boot.
  if (driver instanceof DirSlotDriver) driver.boot();
  const backend = new BackendClient(identity.backendUrl, () => identity!.applianceToken);
  const outbox = new Outbox(config.stateDir, (e) => backend.postResult(e), log, { baseMs: config.outboxBackoffBaseMs, maxMs: config.outboxBackoffMaxMs });
  const seen = new SeenTasks({ stateDir: config.stateDir, ttlMs: config.dedupeTtlHours * 3600_000, max: config.dedupeMaxEntries });
  const inbox = new Inbox(config.stateDir);
  const registry = new ServiceRegistry(config.stateDir);
  const applianceId = () => identity!.applianceId;

  let transport: MqttTransport | null = null;
  const certificateId = () => transport?.connectedCertificateId;
  const startedAt = new Date().toISOString();
  let stateTimer: NodeJS.Timeout | null = null;
  const saveRuntime = () => {
    if (stateTimer) return;
    stateTimer = setTimeout(() => {
      stateTimer = null;
      try {
        writeRuntimeState(config.stateDir, {
          pid: process.pid,
          startedAt,
          updatedAt: new Date().toISOString(),
          mqtt: transport?.state ?? 'closed',
          currentTasks: [...dispatcher.current.entries()].map(([taskId, t]) => ({ taskId, ...t })),
          outboxPending: outbox.pending().length,
        });
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not write runtime state');
      }
    }, 200);
  };

  const handlers: Handlers = {
    heartbeat: heartbeatHandler({ slots, servicesCommand: config.servicesStatusCommand, registry, backend, applianceId, certificateId }),
    collectLogs: collectLogsHandler({ agentLog: config.logFile, slots }),
    installService: installServiceHandler({ installer: config.serviceInstaller, registry, keyFile: config.serviceSigningKeyFile ?? config.releasePublicKeyFile }),
    uninstallService: uninstallServiceHandler({ installer: config.serviceInstaller, registry }),
    reboot: rebootHandler({ reboot, outbox, inbox }),
    rollback: rollbackHandler({ driver, outbox, inbox, reboot }),
    upgrade: upgradeHandler({ config, driver, log, reboot, outbox, ...(extra.upgrade ? { overrides: extra.upgrade } : {}) }),
    ...extra.handlers,
  };
  const dispatcher = new Dispatcher({ topic: taskTopic(identity.applianceId), seen, inbox, outbox, handlers, log, progressIntervalMs: config.progressIntervalMs, onChange: saveRuntime });

  outbox.start();
  // Before any task resumes: settle a trial boot (commit or roll back) and report its task.
  let bootCheck: BootCheckOutcome | 'error';
  try {
    bootCheck = await runBootCheck({ driver, stateDir: config.stateDir, outbox, inbox, log, reboot });
  } catch (err) {
    bootCheck = 'error';
    log.error({ err: (err as Error).message }, 'boot check failed');
  }
  // An unprompted heartbeat over HTTP, retried a few times in the background.
  const reportHeartbeat = (why: string, extra: { mqttSessionStarted?: boolean } = {}) =>
    void (async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await backend.heartbeat(applianceId(), { ...(await collectHeartbeat({ slots, servicesCommand: config.servicesStatusCommand, registry, certificateId })), ...extra });
          return;
        } catch (err) {
          log.warn({ err: (err as Error).message }, `heartbeat ${why} failed; retrying`);
          await new Promise((r) => setTimeout(r, nextDelayMs(attempt, 1000, 30_000)));
        }
      }
    })();
  // Tell the backend at once what runs now (it verifies upgrades and learns of rollbacks from
  // heartbeats), unless this boot is about to end in a reboot.
  if (bootCheck !== 'await_reboot' && bootCheck !== 'rolled_back') reportHeartbeat('at start');
  const resumed = dispatcher.resumeInbox();
  if (resumed > 0) log.info({ resumed }, 'resumed unfinished tasks');

  let stopped = false;
  const makeTransport = () =>
    new MqttTransport({
      url: identity!.mqtt.url,
      applianceId: identity!.applianceId,
      ...mqttLogin(identity!, config),
      port443: config.mqttPort443,
      onMessage: (topic, payload) => dispatcher.handleMessage(topic, payload),
      onState: saveRuntime,
      // Tasks published before this session's subscription were dropped by the broker: ask again.
      onFreshSession: () => reportHeartbeat('on a new MQTT session', { mqttSessionStarted: true }),
      log,
    });

  // The first connection is retried with backoff until it succeeds; after that the CRT reconnects.
  const connected = (async () => {
    for (let attempt = 0; !stopped; attempt++) {
      transport = makeTransport();
      try {
        await transport.start();
        return;
      } catch (err) {
        await transport.stop();
        const delay = nextDelayMs(attempt, 1000, 60_000);
        log.warn({ err: (err as Error).message, retryInMs: delay }, 'mqtt: could not connect; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  })();

  const refresher = scheduleTokenRefresh({
    stateDir: config.stateDir,
    backend,
    log,
    onRefreshed: (next, certificateRenewed) => {
      identity = next;
      // The broker checks the credential at connect time: reconnect with the new one, once the
      // first connection is settled (never two connections with one client id: each would kick
      // the other). The session is persistent and keyed by the client id, so tasks published
      // meanwhile wait for the new connection.
      void connected
        .then(async () => {
          if (stopped) return;
          const old = transport;
          transport = makeTransport();
          await old?.stop();
          await transport.start();
          // The backend retires the old certificate once a heartbeat shows the new one in use.
          if (certificateRenewed) reportHeartbeat('with the new certificate');
        })
        .catch((err: Error) => log.warn({ err: err.message }, 'mqtt: reconnect after token refresh failed'));
    },
  });

  return {
    identity: () => identity!,
    dispatcher,
    outbox,
    driver,
    bootCheck,
    transport: () => transport,
    connected,
    async stop() {
      stopped = true;
      refresher.stop();
      // Stop taking new tasks first, then let running ones finish or park, then flush results.
      await transport?.stop();
      await dispatcher.stop(config.stopGraceMs);
      await outbox.drained(Math.min(5000, config.stopGraceMs));
      await outbox.stop();
      if (stateTimer) clearTimeout(stateTimer);
      stateTimer = null;
      identity = readIdentity(config.stateDir) ?? identity;
      log.info({}, 'agent stopped');
    },
  };
}
