import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { taskTopic } from '@twinroot/protocol';
import { parseAgentConfig, startAgent, writeIdentity, type AgentConfig, type Handlers, type RunningAgent } from '@twinroot/agent';
import type { DeviceApi } from './device-api.js';

/** A `dir` slot root with version markers: A booted and committed at `version`. */
export function makeDirSlots(root: string, version = '1.0.0'): void {
  for (const s of ['A', 'B']) mkdirSync(join(root, s, 'etc/twinroot'), { recursive: true });
  writeFileSync(join(root, 'A/etc/twinroot/version'), version + '\n');
  writeFileSync(join(root, 'bootstate.json'), JSON.stringify({ booted: 'A', committed: 'A', next: null }));
}

export interface LogRecord {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger whose records are kept in memory for assertions. */
export function captureLogger() {
  const records: LogRecord[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as LogRecord);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), records };
}

export interface TestAgent {
  config: AgentConfig;
  applianceId: string;
  topic: string;
  records: LogRecord[];
  agent: RunningAgent;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Agent settings for tests: state, log and `dir` slots under `dir`, no-op hooks, fast retries. */
export function testAgentConfig(dir: string, extra: Record<string, unknown> = {}): AgentConfig {
  return parseAgentConfig({
    stateDir: join(dir, 'state'),
    logFile: join(dir, 'agent.log'),
    slots: { driver: 'dir', root: join(dir, 'slots') },
    serviceInstaller: ['true'],
    rebootCommand: ['true'],
    outboxBackoffBaseMs: 50,
    outboxBackoffMaxMs: 500,
    progressIntervalMs: 100,
    stopGraceMs: 3000,
    ...extra,
  });
}

/** An in-process agent with its own state dir, registered with the device API, connected. */
export async function startTestAgent(api: DeviceApi, mqttUrl: string, opts: { handlers?: Handlers; config?: Record<string, unknown>; reboot?: () => Promise<void> } = {}): Promise<TestAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-agent-'));
  makeDirSlots(join(dir, 'slots'));
  const config = testAgentConfig(dir, opts.config);
  const { applianceId, applianceToken } = await api.createAppliance();
  mkdirSync(config.stateDir, { recursive: true });
  writeIdentity(config.stateDir, {
    applianceId,
    applianceToken,
    tokenExpiresAt: new Date(Date.now() + 60 * 86400_000).toISOString(),
    backendUrl: api.url,
    mqtt: { url: mqttUrl, clientId: applianceId, topic: taskTopic(applianceId) },
    registeredAt: new Date().toISOString(),
  });
  const { log, records } = captureLogger();
  const start = { handlers: opts.handlers ?? {}, ...(opts.reboot ? { reboot: opts.reboot } : {}) };
  const t: TestAgent = {
    config,
    applianceId,
    topic: taskTopic(applianceId),
    records,
    agent: await startAgent(config, log, start),
    async restart() {
      await t.agent.stop();
      t.agent = await startAgent(config, log, start);
      await t.agent.connected;
    },
    async stop() {
      await t.agent.stop();
    },
  };
  await t.agent.connected;
  return t;
}

export function task(taskId: string, taskType: string, body: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ taskId, taskType, createdAt: new Date().toISOString(), body, ...extra }));
}
