// Simulated appliances for rollout tests: each registers through the real API, holds its own
// MQTT session on the backend's broker (the aws-crt client, set up as the agent sets it up),
// answers tasks over HTTP as the agent does, and sends heartbeats. Only the disk work is
// simulated: an install-reboot "reboots" into the new version instantly — or, by behaviour,
// fails, rolls back after a failed health check, or never answers.
import type { Backend } from '@twinroot/backend';
import { taskTopic } from '@twinroot/protocol';
import { call } from './operator-api.js';
import { connectTestClient, type TestClient } from './crt-client.js';

export type Behaviour = 'ok' | 'fail' | 'rollback' | 'silent';

export interface SeenTask {
  taskId: string;
  taskType: string;
  body: Record<string, unknown>;
}

export class SimulatedAppliance {
  version: string;
  readonly tasks: SeenTask[] = [];
  private client: TestClient | null = null;
  private handled = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly http: string,
    readonly applianceId: string,
    private readonly token: string,
    private readonly mqttUrl: string,
    version: string,
    public behaviour: Behaviour = 'ok',
  ) {
    this.version = version;
  }

  async connect(): Promise<void> {
    this.client = await connectTestClient(this.mqttUrl, this.applianceId, this.token);
    await this.client.connection.subscribe(taskTopic(this.applianceId), 1);
    this.timer = setInterval(() => {
      this.busy = this.busy.then(() => this.drain()).catch(() => undefined);
    }, 20);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.busy;
    await this.client?.close();
  }

  private async result(taskId: string, body: Record<string, unknown>): Promise<void> {
    const r = await call(this.http, 'POST', `/v1/tasks/${taskId}/result`, { token: this.token, json: body });
    if (r.status >= 300) throw new Error(`result ${taskId}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  async heartbeat(taskId?: string): Promise<void> {
    const body = { version: this.version, bootedSlot: 'A', committedSlot: 'A', trial: false, services: [], uptimeS: 60, ...(taskId ? { taskId } : {}) };
    const r = await call(this.http, 'POST', `/v1/appliances/${this.applianceId}/heartbeat`, { token: this.token, json: body });
    if (r.status >= 300) throw new Error(`heartbeat: ${r.status} ${JSON.stringify(r.body)}`);
  }

  private async drain(): Promise<void> {
    const msgs = this.client?.messages ?? [];
    while (this.handled < msgs.length) {
      const m = msgs[this.handled++]!;
      const t = JSON.parse(m.payload) as SeenTask;
      if (this.tasks.some((x) => x.taskId === t.taskId)) continue; // a re-send: the agent drops duplicates too
      this.tasks.push(t);
      await this.handle(t);
    }
  }

  private async handle(t: SeenTask): Promise<void> {
    if (t.taskType === 'heartbeat') return this.heartbeat(t.taskId);
    if (this.behaviour === 'silent') return;
    if (t.taskType !== 'upgrade') return this.result(t.taskId, { status: 'succeeded', seq: 1 });
    const target = String(t.body.version);
    await this.result(t.taskId, { status: 'accepted', seq: 1 });
    await this.result(t.taskId, { status: 'running', seq: 2, progress: { phase: 'downloading', percent: 50 } });
    if (t.body.mode === 'download') return this.result(t.taskId, { status: 'succeeded', seq: 3 });
    switch (this.behaviour) {
      case 'ok':
        await this.result(t.taskId, { status: 'succeeded', seq: 3, detail: { slot: 'B' } });
        this.version = target; // rebooted into the new root and committed it
        return this.heartbeat();
      case 'fail':
        return this.result(t.taskId, { status: 'failed', seq: 3, error: { code: 'payload_corrupt', message: 'chunk 3 does not match its signed hash' } });
      case 'rollback':
        await this.result(t.taskId, { status: 'failed', seq: 3, error: { code: 'health_check_failed', message: `health check failed in slot B (version ${target})` } });
        return this.heartbeat(); // back on the old version
    }
  }
}

/** A customer with `n` simulated appliances, registered and connected. */
export async function simulateCustomer(
  backend: Backend,
  c: { name: string; region: string; n: number; canary?: boolean; maintenanceWindow?: unknown; version?: string; behaviours?: Behaviour[] },
): Promise<{ customerId: string; registerToken: string; appliances: SimulatedAppliance[] }> {
  const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
  const created = await op('POST', '/v1/customers', { name: c.name, region: c.region, ...(c.canary ? { canary: true } : {}), ...(c.maintenanceWindow ? { maintenanceWindow: c.maintenanceWindow } : {}) });
  if (created.status !== 201) throw new Error(`customer: ${JSON.stringify(created.body)}`);
  const customerId = created.body.customerId as string;
  const registerToken = (await op('POST', `/v1/customers/${customerId}/register-tokens`, {})).body.registerToken as string;
  const appliances: SimulatedAppliance[] = [];
  for (let i = 0; i < c.n; i++) appliances.push(await registerSimulated(backend, registerToken, `${c.name}-${i}`, c.version ?? '1.0.0', c.behaviours?.[i] ?? 'ok'));
  return { customerId, registerToken, appliances };
}

export async function registerSimulated(backend: Backend, registerToken: string, hostname: string, version: string, behaviour: Behaviour = 'ok'): Promise<SimulatedAppliance> {
  const r = await call(backend.urls.http, 'POST', '/v1/register', { json: { registerToken, hostname, cpu: 'x86_64', memoryMb: 4096, ip: '10.0.0.2', version, slot: 'A' } });
  if (r.status !== 200) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
  const b = r.body as { applianceId: string; applianceToken: string; mqtt: { url: string } };
  const sim = new SimulatedAppliance(backend.urls.http, b.applianceId, b.applianceToken, b.mqtt.url, version, behaviour);
  await sim.connect();
  return sim;
}
