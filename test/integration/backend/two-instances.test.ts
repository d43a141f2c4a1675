// Two backend processes behind one (imagined) balancer, on one store and one broker: instance A
// creates a rollout and starts sending its installs, is SIGKILLed in the middle of that pass,
// and instance B finishes the rollout. Every appliance gets exactly one install task (counted on
// the broker), nothing stays `preparing`, and the rollout completes.
//
// The store is B's embedded one (A reaches it through B's Unix socket, so it outlives A); the
// broker is Debian's mosquitto; the 200 appliances are simulated by one MQTT client that sees
// every task topic and answers over B's HTTP API as each appliance would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RolloutView } from '@twinroot/protocol';
import { startBackendProcess, type BackendProcess } from '../../helpers/backend-process.js';
import { connectTestClient } from '../../helpers/crt-client.js';
import { call } from '../../helpers/operator-api.js';
import { makeKeys, makePackage, packageForm } from '../../helpers/packages.js';
import { freePort } from '../../helpers/sockets.js';

const APPLIANCES = 200;

test('two backend instances on one store and broker: one is SIGKILLed in the middle of a rollout pass, the other finishes — each appliance installed exactly once', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-two-'));
  const port = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\n`);
  const mosq = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  const spawned = await new Promise<boolean>((resolve) => {
    mosq.once('error', () => resolve(false));
    mosq.once('spawn', () => resolve(true));
  });
  assert.ok(spawned, 'mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)');
  const procs: BackendProcess[] = [];
  t.after(() => {
    for (const p of procs) p.child.kill('SIGKILL');
    mosq.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise((r) => setTimeout(r, 300));

  // What every instance shares: the keys (never one instance's disk), the broker, the store.
  const keys = makeKeys();
  const registerKey = join(dir, 'register-token-key.pem');
  writeFileSync(registerKey, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const operatorKey = 'two-instances-operator-key-0123456789';
  const shared = {
    TWINROOT_OPERATOR_KEY: operatorKey,
    TWINROOT_REGISTER_TOKEN_KEY_FILE: registerKey,
    TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey,
    TWINROOT_MQTT_URL: `mqtt://127.0.0.1:${port}`,
    TWINROOT_REGISTER_RATE_PER_MINUTE: '100000',
    // Sweeps every minute (under their lease) and a rollout pass every second, on both instances.
    TWINROOT_SWEEP_SCHEDULE: '* * * * *',
    TWINROOT_ROLLOUT_PASS_SECONDS: '1',
    TWINROOT_LOG_LEVEL: 'warn',
  };
  const b = startBackendProcess(join(dir, 'b'), shared);
  procs.push(b);
  const bUrl = (await b.ready).http;
  const a = startBackendProcess(join(dir, 'a'), { ...shared, TWINROOT_DYNAMODB_ENDPOINT: `unix:${join(dir, 'b', 'dynamodb.sock')}` });
  procs.push(a);
  const aUrl = (await a.ready).http;
  const op = (url: string) => <T = Record<string, unknown>>(m: string, p: string, json?: unknown) => call<T>(url, m, p, { token: operatorKey, json });

  // 200 customers with one appliance each: one stage of 200 (each customer's first half).
  const tokens = new Map<string, string>();
  for (let i = 0; i < APPLIANCES; i++) {
    const c = await op(bUrl)('POST', '/v1/customers', { name: `cust-${i}`, region: 'eu-west-1' });
    const reg = (await op(i % 2 ? aUrl : bUrl)('POST', `/v1/customers/${c.body.customerId}/register-tokens`, {})).body.registerToken as string;
    // Registered through either instance: a token signed by one is accepted by the other.
    const r = await call(i % 2 ? bUrl : aUrl, 'POST', '/v1/register', { json: { registerToken: reg, hostname: `va-${i}`, cpu: 'x86_64', memoryMb: 2048, ip: '10.0.0.4', version: '1.0.0', slot: 'A' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    tokens.set(r.body.applianceId as string, r.body.applianceToken as string);
  }

  // The fleet: one client sees every task topic; each install is answered as its appliance (to B: A may be gone).
  const installs = new Map<string, Set<string>>();
  let messages = 0;
  const fleet = await connectTestClient(`mqtt://127.0.0.1:${port}`, 'fleet-simulator', 'x');
  t.after(() => void fleet.close().catch(() => undefined));
  const answered = new Set<string>();
  // What each simulated appliance runs: a heartbeat reports it as it is now, as a real agent does
  // (reporting 1.0.0 after the upgrade is a rollback, and the backend rightly counts it as one).
  const running = new Map<string, { version: string; slot: 'A' | 'B' }>();
  const answer = async (applianceId: string, task: { taskId: string; taskType: string; body: { version?: string } }) => {
    const token = tokens.get(applianceId)!;
    const post = (path: string, json: unknown) => call(bUrl, 'POST', path, { token, json });
    const heartbeat = (extra: Record<string, unknown>) => {
      const now = running.get(applianceId) ?? { version: '1.0.0', slot: 'A' };
      return post(`/v1/appliances/${applianceId}/heartbeat`, { ...extra, version: now.version, bootedSlot: now.slot, committedSlot: now.slot, trial: false, services: [], uptimeS: 5 });
    };
    if (task.taskType === 'heartbeat') return void (await heartbeat({ taskId: task.taskId }));
    if (task.taskType !== 'upgrade' || answered.has(task.taskId)) return;
    answered.add(task.taskId);
    await post(`/v1/tasks/${task.taskId}/result`, { status: 'accepted', seq: 1 });
    running.set(applianceId, { version: String(task.body.version), slot: 'B' });
    await post(`/v1/tasks/${task.taskId}/result`, { status: 'succeeded', seq: 2, detail: { slot: 'B' } });
    await heartbeat({});
  };
  let queue = Promise.resolve();
  fleet.connection.on('message', (topic, payload) => {
    const applianceId = topic.split('/')[2]!;
    const task = JSON.parse(Buffer.from(payload).toString('utf8')) as { taskId: string; taskType: string; body: { version?: string } };
    messages++;
    if (task.taskType === 'upgrade') {
      const set = installs.get(applianceId) ?? new Set<string>();
      set.add(task.taskId);
      installs.set(applianceId, set);
    }
    queue = queue.then(() => answer(applianceId, task)).catch(() => undefined);
  });
  await fleet.connection.subscribe('twinroot/appliances/+/tasks', 1);

  const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 16 });
  const up = await fetch(`${aUrl}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${operatorKey}` }, body: await packageForm(pkg) });
  const releaseId = ((await up.json()) as { releaseId: string }).releaseId;

  // A creates the rollout and starts sending; it is killed once some (not all) installs went out.
  const creating = op(aUrl)<RolloutView>('POST', '/v1/rollouts', { releaseId, stageTimeoutMinutes: 30, preDownloadWindowHours: 0 }).catch(() => null);
  const deadline = Date.now() + 60_000;
  while (installs.size < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const sentBeforeKill = installs.size;
  a.child.kill('SIGKILL');
  await a.exited;
  assert.ok(sentBeforeKill >= 20 && sentBeforeKill < APPLIANCES, `killed in the middle: ${sentBeforeKill} of ${APPLIANCES} installs had gone out`);
  await creating;

  const [listed] = (await op(bUrl)<{ items: { rolloutId: string }[] }>('GET', '/v1/rollouts')).body.items;
  let r: RolloutView | undefined;
  const finish = Date.now() + 150_000;
  for (;;) {
    r = (await op(bUrl)<RolloutView>('GET', `/v1/rollouts/${listed!.rolloutId}`)).body;
    if (r.status === 'completed' || Date.now() > finish) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  assert.equal(r.status, 'completed', JSON.stringify({ status: r.status, totals: r.totals, preparation: r.preparation }));
  if (r.totals.succeeded !== APPLIANCES) {
    // Where each appliance that did not succeed is, and its tasks (this failed in clean-clone runs under load).
    const targets: { applianceId: string }[] = [];
    for (const stage of r.stages) {
      const page = await op(bUrl)<{ items: { applianceId: string; state: string }[] }>('GET', `/v1/rollouts/${r.rolloutId}/stages/${stage.index}/appliances?limit=1000`);
      targets.push(...page.body.items);
    }
    const seen = new Set(targets.map((x) => x.applianceId));
    const odd = [...targets.filter((x) => (x as { state: string }).state !== 'succeeded'), ...[...tokens.keys()].filter((id) => !seen.has(id)).map((id) => ({ applianceId: id, state: 'no target' }))];
    const detail = await Promise.all(odd.map(async (x) => ({ ...x, appliance: (await op(bUrl)('GET', `/v1/appliances/${x.applianceId}`)).body, tasks: (await op(bUrl)('GET', `/v1/appliances/${x.applianceId}/tasks`)).body })));
    t.diagnostic(`totals ${JSON.stringify(r.totals)}; stages ${JSON.stringify(r.stages.map((s) => ({ index: s.index, status: s.status, counts: s.counts })))}; not succeeded: ${JSON.stringify(detail).slice(0, 8000)}`);
  }
  assert.equal(r.totals.succeeded, APPLIANCES);
  if (installs.size !== APPLIANCES) {
    const missing = [...tokens.keys()].filter((id) => !installs.has(id));
    const detail = await Promise.all(missing.map(async (id) => ({ id, appliance: (await op(bUrl)('GET', `/v1/appliances/${id}`)).body, tasks: (await op(bUrl)('GET', `/v1/appliances/${id}/tasks`)).body })));
    t.diagnostic(`appliances whose install was never seen on the broker: ${JSON.stringify(detail).slice(0, 6000)}`);
  }
  assert.equal(installs.size, APPLIANCES, 'every appliance got its install');
  const twice = [...installs].filter(([, ids]) => ids.size !== 1);
  assert.deepEqual(twice, [], 'no appliance got two install tasks');
  t.diagnostic(`installs sent before the kill: ${sentBeforeKill}; messages on the broker: ${messages}; A's log tail: ${a.errors().slice(-300)}`);
});
