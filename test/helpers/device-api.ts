// A minimal device-API test server (Fastify): what the agent needs of the backend, recording
// what it receives. Appliance credentials are written to the real embedded store so the real
// embedded broker authenticates the agent's MQTT connection.
import Fastify, { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { compile, Heartbeat, RegisterRequest, TaskResult, taskTopic, type TaskResult as TR } from '@twinroot/protocol';
import { hashApplianceToken, newApplianceToken, type Backend } from '@twinroot/backend';
import { startTestBackend } from './backend.js';

export interface Received {
  results: { applianceId: string; taskId: string; result: TR }[];
  heartbeats: { applianceId: string; heartbeat: Heartbeat }[];
  registrations: RegisterRequest[];
}

const vResult = compile(TaskResult);
const vHeartbeat = compile(Heartbeat);
const vRegister = compile(RegisterRequest);
export const TEST_REGISTER_TOKEN = 'test-register-token-0123456789';

export class DeviceApi {
  app: FastifyInstance | null = null;
  port = 0;
  readonly received: Received = { results: [], heartbeats: [], registrations: [] };
  /** Bodies PUT to /upload/:name (a stand-in for a pre-signed S3 URL) and files served at /files/:name. */
  readonly uploads = new Map<string, Buffer>();
  readonly files = new Map<string, Buffer>();
  private readonly tokens = new Map<string, string>(); // token -> applianceId
  refreshes = 0;

  constructor(private readonly backend: Backend) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Creates an appliance directly (as registration would) and returns its identity. */
  async createAppliance(): Promise<{ applianceId: string; applianceToken: string }> {
    const applianceId = randomUUID();
    const applianceToken = newApplianceToken(applianceId);
    // The broker checks the token's hash and expiry, as for a registered appliance.
    const tokenExpiresAt = new Date(Date.now() + 60 * 86400_000).toISOString();
    await this.backend.store.doc.send(new PutCommand({ TableName: this.backend.tables.appliances, Item: { applianceId, tokenHash: hashApplianceToken(applianceToken), tokenExpiresAt } }));
    this.tokens.set(applianceToken, applianceId);
    return { applianceId, applianceToken };
  }

  private who(auth: string | undefined): string | null {
    const t = auth?.startsWith('Bearer ') ? auth.slice(7) : '';
    return this.tokens.get(t) ?? null;
  }

  async start(): Promise<void> {
    const app = Fastify();
    app.post('/v1/register', async (req, reply) => {
      const v = vRegister(req.body);
      if (!v.ok) return reply.code(400).send({ error: v.error });
      if (v.value.registerToken !== TEST_REGISTER_TOKEN) return reply.code(401).send({ error: 'bad register token' });
      this.received.registrations.push(v.value);
      const { applianceId, applianceToken } = await this.createAppliance();
      return {
        applianceId,
        applianceToken,
        tokenExpiresAt: new Date(Date.now() + 60 * 86400_000).toISOString(),
        mqtt: { url: this.backend.urls.mqtt, clientId: applianceId, topic: taskTopic(applianceId) },
      };
    });
    app.post('/v1/tasks/:taskId/result', async (req, reply) => {
      const who = this.who(req.headers.authorization);
      if (!who) return reply.code(401).send({ error: 'unauthorized' });
      const v = vResult(req.body);
      if (!v.ok) return reply.code(400).send({ error: v.error });
      this.received.results.push({ applianceId: who, taskId: (req.params as { taskId: string }).taskId, result: v.value });
      return { ok: true };
    });
    app.post('/v1/appliances/:id/token', async (req, reply) => {
      const who = this.who(req.headers.authorization);
      if (!who || who !== (req.params as { id: string }).id) return reply.code(403).send({ error: 'forbidden' });
      const applianceToken = newApplianceToken(who);
      this.tokens.set(applianceToken, who);
      const tokenExpiresAt = new Date(Date.now() + 60 * 86400_000).toISOString();
      await this.backend.store.doc.send(new PutCommand({ TableName: this.backend.tables.appliances, Item: { applianceId: who, tokenHash: hashApplianceToken(applianceToken), tokenExpiresAt } }));
      this.refreshes += 1;
      return { applianceToken, tokenExpiresAt };
    });
    app.post('/v1/appliances/:id/heartbeat', async (req, reply) => {
      const who = this.who(req.headers.authorization);
      if (!who || who !== (req.params as { id: string }).id) return reply.code(403).send({ error: 'forbidden' });
      const v = vHeartbeat(req.body);
      if (!v.ok) return reply.code(400).send({ error: v.error });
      this.received.heartbeats.push({ applianceId: who, heartbeat: v.value });
      return { ok: true };
    });
    app.addContentTypeParser('application/gzip', { parseAs: 'buffer', bodyLimit: 256 * 1024 * 1024 }, (_req, body, done) => done(null, body));
    app.put('/upload/:name', async (req) => {
      this.uploads.set((req.params as { name: string }).name, req.body as Buffer);
      return { ok: true };
    });
    app.get('/files/:name', async (req, reply) => {
      const f = this.files.get((req.params as { name: string }).name);
      return f ? reply.type('application/octet-stream').send(f) : reply.code(404).send({ error: 'not found' });
    });
    await app.listen({ host: '127.0.0.1', port: this.port });
    this.port = (app.server.address() as AddressInfo).port;
    this.app = app;
  }

  /** Takes the API down (connections refused) until start() again, on the same port. */
  async stop(): Promise<void> {
    await this.app?.close();
    this.app = null;
  }

  resultsFor(taskId: string) {
    return this.received.results.filter((r) => r.taskId === taskId);
  }
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the embedded stack and a device-API test server once for a test file and stops them
 * after it. Returns a live view: read `.backend` / `.api` inside tests.
 */
export function useDeviceStack(hooks: { before: (fn: () => Promise<void>) => void; after: (fn: () => Promise<void>) => void }) {
  const stack = {} as { backend: Awaited<ReturnType<typeof startTestBackend>>; api: DeviceApi };
  hooks.before(async () => {
    stack.backend = await startTestBackend();
    stack.api = new DeviceApi(stack.backend);
    await stack.api.start();
  });
  hooks.after(async () => {
    await stack.api.stop();
    await stack.backend.cleanup();
  });
  return stack;
}
