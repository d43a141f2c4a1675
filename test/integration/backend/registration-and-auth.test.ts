import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call, heartbeatBody, registerFleet } from '../../helpers/operator-api.js';
import { connectTestClient } from '../../helpers/crt-client.js';

const clock = new ManualClock();
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let fleet: Awaited<ReturnType<typeof registerFleet>>;
const api = (m: string, p: string, o: Parameters<typeof call>[3] = {}) => call(backend.urls.http, m, p, o);

before(async () => {
  backend = await startTestBackend({}, undefined, { clock });
  fleet = await registerFleet(backend, { n: 2 });
});
after(async () => backend.cleanup());

function registerBody(registerToken: string) {
  return { registerToken, hostname: 'va-x', cpu: 'x86_64', memoryMb: 2048, ip: '10.1.2.3', version: '1.0.0', slot: 'A' };
}

test('operator API needs the operator key', async () => {
  assert.equal((await api('GET', '/v1/customers')).status, 401);
  const wrong = await api('GET', '/v1/customers', { token: 'not-the-key' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.code, 'bad_credentials');
  const ok = await api('GET', '/v1/customers', { token: backend.operatorKey });
  assert.equal(ok.status, 200);
  assert.ok((ok.body.items as unknown[]).length >= 1);
});

test('bad input on the operator API is a 400 with the reason, and creates nothing', async () => {
  const before = ((await api('GET', '/v1/customers', { token: backend.operatorKey })).body.items as unknown[]).length;
  const cases: [unknown, RegExp][] = [
    [{ name: 'x', region: 'EU WEST' }, /region/],
    [{ name: 'x', region: 'eu', extra: 1 }, /unknown property "extra"/],
    [{ name: 'x', region: 'eu', canary: 'yes' }, /canary/],
    [{ name: 'x', region: 'eu', maintenanceWindow: { timeZone: 'Mars/Olympus', windows: [{ day: 'sat', start: '02:00', durationMinutes: 120 }] } }, /unknown time zone/],
    [{ name: 'x', region: 'eu', maintenanceWindow: { timeZone: 'UTC', windows: [{ day: 'sat', start: '25:00', durationMinutes: 120 }] } }, /start/],
  ];
  for (const [json, why] of cases) {
    const r = await api('POST', '/v1/customers', { token: backend.operatorKey, json });
    assert.equal(r.status, 400, JSON.stringify(json));
    assert.match(String(r.body.message), why);
  }
  const badJson = await api('POST', '/v1/customers', { token: backend.operatorKey, raw: '{"name": "x", ' });
  assert.equal(badJson.status, 400);
  assert.match(String(badJson.body.message), /JSON/i);
  const after = ((await api('GET', '/v1/customers', { token: backend.operatorKey })).body.items as unknown[]).length;
  assert.equal(after, before);
});

test('registration with a valid token creates an appliance with MQTT settings; the token is not stored', async () => {
  const a = fleet.appliances[0]!;
  assert.match(a.applianceId, /^[0-9a-f-]{36}$/);
  assert.equal(a.mqtt.topic, `twinroot/appliances/${a.applianceId}/tasks`);
  assert.equal(a.mqtt.url, backend.urls.mqtt);
  const stored = await backend.data.appliances.get(a.applianceId);
  assert.ok(stored);
  assert.equal(stored.customerId, fleet.customerId);
  assert.equal(stored.region, 'eu-west-1');
  assert.ok(!JSON.stringify(stored).includes(a.applianceToken.split('.')[1]!), 'only a hash of the token is stored');
  const view = await api('GET', `/v1/appliances/${a.applianceId}`, { token: backend.operatorKey });
  assert.equal(view.status, 200);
  assert.equal(view.body.status, 'connected');
  assert.equal(view.body.version, '1.0.0');
  assert.equal(view.body.tokenHash, undefined);
});

test('register tokens: expired, wrong audience, wrong issuer, forged key, alg none and HS256 confusion are refused', async () => {
  const keyPem = readFileSync(join(backend.dataDir, 'register-token-key.pem'));
  const key = createPrivateKey(keyPem);
  const claims = { customerId: fleet.customerId, region: 'eu-west-1' };
  const now = Math.floor(clock.now() / 1000);
  const sign = (k: Parameters<SignJWT['sign']>[0], alg: string, aud = 'twinroot-register', iss = 'twinroot', exp = now + 3600) =>
    new SignJWT(claims).setProtectedHeader({ alg }).setIssuer(iss).setAudience(aud).setIssuedAt(now).setExpirationTime(exp).setJti(randomUUID()).sign(k);

  // Sanity: the same construction with the right key, audience and issuer works.
  const good = await api('POST', '/v1/register', { json: registerBody(await sign(key, 'EdDSA')) });
  assert.equal(good.status, 200);

  const expiredTok = await api('POST', `/v1/customers/${fleet.customerId}/register-tokens`, { token: backend.operatorKey, json: { ttlHours: 1 } });
  clock.advance(61);
  const expired = await api('POST', '/v1/register', { json: registerBody(expiredTok.body.registerToken as string) });
  assert.equal(expired.status, 401);
  assert.equal(expired.body.code, 'register_token_expired');

  const other = generateKeyPairSync('ed25519').privateKey;
  const pub = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const noneToken = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, aud: 'twinroot-register', iss: 'twinroot', iat: now, exp: now + 3600 })}.`;
  const cases: [string, string][] = [
    ['wrong audience', await sign(key, 'EdDSA', 'someone-else')],
    ['wrong issuer', await sign(key, 'EdDSA', 'twinroot-register', 'evil')],
    ['forged (other key)', await sign(other, 'EdDSA')],
    ['alg none', noneToken],
    ['HS256 with the public key as secret', await sign(new TextEncoder().encode(pub), 'HS256')],
    ['not a JWT', 'x'.repeat(40)],
  ];
  for (const [name, token] of cases) {
    const r = await api('POST', '/v1/register', { json: registerBody(token) });
    assert.equal(r.status, 401, name);
    assert.equal(r.body.code, 'register_token_invalid', name);
  }
});

test("an appliance token works only on its own appliance and its own tasks", async () => {
  const [a, b] = fleet.appliances as [(typeof fleet.appliances)[0], (typeof fleet.appliances)[0]];
  const own = await api('POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, json: heartbeatBody() });
  assert.equal(own.status, 200);
  const other = await api('POST', `/v1/appliances/${b.applianceId}/heartbeat`, { token: a.applianceToken, json: heartbeatBody() });
  assert.equal(other.status, 403);
  assert.equal((await api('POST', `/v1/appliances/${b.applianceId}/token`, { token: a.applianceToken })).status, 403);
  const task = await api('POST', `/v1/appliances/${b.applianceId}/tasks`, { token: backend.operatorKey, json: { taskType: 'reboot' } });
  assert.equal(task.status, 202);
  const steal = await api('POST', `/v1/tasks/${task.body.taskId}/result`, { token: a.applianceToken, json: { status: 'succeeded' } });
  assert.equal(steal.status, 403);
  const t = await backend.data.tasks.get(task.body.taskId as string);
  assert.equal(t?.status, 'sent', 'the other appliance’s task is untouched');
  // Operator routes refuse appliance tokens.
  assert.equal((await api('GET', '/v1/appliances', { token: a.applianceToken })).status, 401);
  // Unknown, malformed and missing tokens.
  assert.equal((await api('POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: `${a.applianceId}.${'A'.repeat(43)}`, json: heartbeatBody() })).status, 401);
  assert.equal((await api('POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: 'garbage', json: heartbeatBody() })).status, 401);
  assert.equal((await api('POST', `/v1/appliances/${a.applianceId}/heartbeat`, { json: heartbeatBody() })).status, 401);
});

test('token refresh replaces the token: the old one stops working for HTTP and MQTT', async () => {
  const a = fleet.appliances[1]!;
  const r = await api('POST', `/v1/appliances/${a.applianceId}/token`, { token: a.applianceToken });
  assert.equal(r.status, 200);
  const fresh = r.body.applianceToken as string;
  assert.notEqual(fresh, a.applianceToken);
  assert.equal((await api('POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, json: heartbeatBody() })).status, 401);
  assert.equal((await api('POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: fresh, json: heartbeatBody() })).status, 200);
  await assert.rejects(connectTestClient(backend.urls.mqtt, a.applianceId, a.applianceToken), 'the broker refuses the old token');
  const client = await connectTestClient(backend.urls.mqtt, a.applianceId, fresh);
  await client.close();
  a.applianceToken = fresh;
});

test('an appliance token past its 60-day expiry is refused with token_expired', async () => {
  const c = new ManualClock(clock.now());
  const b2 = await startTestBackend({ TWINROOT_DYNAMODB_ENDPOINT: backend.urls.dynamodb }, undefined, { clock: c });
  try {
    const a = fleet.appliances[0]!;
    c.advance(61 * 24 * 60);
    const r = await call(b2.urls.http, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, json: heartbeatBody() });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'token_expired');
  } finally {
    await b2.cleanup();
  }
});

test('device bodies are validated: a bad heartbeat is a 400 and changes nothing', async () => {
  const a = fleet.appliances[0]!;
  const before = await backend.data.appliances.get(a.applianceId);
  for (const json of [heartbeatBody({ version: 'latest' }), heartbeatBody({ bootedSlot: 'C' }), heartbeatBody({ uptimeS: -1 }), { ...heartbeatBody(), extra: true }]) {
    const r = await api('POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, json });
    assert.equal(r.status, 400, JSON.stringify(json));
  }
  const afterRec = await backend.data.appliances.get(a.applianceId);
  assert.equal(afterRec?.rev, before?.rev);
  const res = await api('POST', '/v1/tasks/not-a-task/result', { token: a.applianceToken, json: { status: 'succeeded' } });
  assert.equal(res.status, 404);
});

test('OpenAPI document at /docs/json covers every route; Swagger UI at /docs; metrics at /metrics', async () => {
  const doc = await api('GET', '/docs/json');
  assert.equal(doc.status, 200);
  const paths = Object.keys(doc.body.paths as object);
  for (const p of ['/v1/register', '/v1/appliances/{id}/heartbeat', '/v1/tasks/{taskId}/result', '/v1/customers', '/v1/customers/{id}/register-tokens', '/v1/appliances', '/v1/appliances/{id}/upgrade', '/v1/appliances/{id}/rollback', '/v1/appliances/{id}/services/{name}', '/healthz', '/metrics']) {
    assert.ok(paths.includes(p), `OpenAPI has ${p}`);
  }
  const ui = await fetch(`${backend.urls.http}/docs/`);
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /swagger/i);
  const m = await fetch(`${backend.urls.http}/metrics`);
  const text = await m.text();
  assert.match(text, /twinroot_heartbeats_total \d+/);
  assert.match(text, /twinroot_dynamodb_request_duration_seconds_count\{command="GetItemCommand",outcome="ok"\} \d+/);
  assert.match(text, /twinroot_task_transitions_total\{taskType="reboot",status="sent"\} 1/);
});
