// Security review #7 (and the JWT iat check of #9): register tokens with use limits and
// revocation, rate-limited registration, idempotent retries, and decommissioning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call, heartbeatBody } from '../../helpers/operator-api.js';
import { connectTestClient } from '../../helpers/crt-client.js';
import { waitFor } from '../../helpers/device-api.js';

const clock = new ManualClock();
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let customerId: string;
const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
const register = (registerToken: string, extra: Record<string, unknown> = {}) =>
  call(backend.urls.http, 'POST', '/v1/register', { json: { registerToken, hostname: 'va', cpu: 'x86_64', memoryMb: 1024, ip: '10.0.0.9', version: '1.0.0', slot: 'A', ...extra } });

before(async () => {
  backend = await startTestBackend({ TWINROOT_REGISTER_RATE_PER_MINUTE: '8' }, undefined, { clock });
  customerId = (await op('POST', '/v1/customers', { name: 'Acme', region: 'eu-west-1' })).body.customerId as string;
});
after(async () => backend.cleanup());

/** Each test starts with full rate buckets (8 a minute, bursts of 8). */
const refill = () => clock.advance(2);

test('a register token with maxUses registers that many appliances, then 401 register_token_used_up; the listing counts uses', async () => {
  refill();
  const t = await op('POST', `/v1/customers/${customerId}/register-tokens`, { maxUses: 2 });
  assert.equal(t.status, 201);
  assert.equal(t.body.maxUses, 2);
  assert.equal((await register(t.body.registerToken as string)).status, 200);
  assert.equal((await register(t.body.registerToken as string)).status, 200);
  const third = await register(t.body.registerToken as string);
  assert.equal(third.status, 401);
  assert.equal(third.body.code, 'register_token_used_up');
  const list = await op('GET', `/v1/customers/${customerId}/register-tokens`);
  const info = (list.body.items as { tokenId: string; uses: number; maxUses: number }[]).find((i) => i.tokenId === t.body.tokenId);
  assert.deepEqual([info?.uses, info?.maxUses], [2, 2]);
  assert.ok(!JSON.stringify(list.body).includes(t.body.registerToken as string), 'the listing never shows a token');
});

test('a revoked register token registers nothing more (401 register_token_revoked); revoking is idempotent', async () => {
  refill();
  const t = await op('POST', `/v1/customers/${customerId}/register-tokens`, {});
  assert.equal((await register(t.body.registerToken as string)).status, 200);
  const rev = await op('DELETE', `/v1/customers/${customerId}/register-tokens/${t.body.tokenId as string}`);
  assert.equal(rev.status, 200);
  assert.ok(rev.body.revokedAt);
  assert.equal((await op('DELETE', `/v1/customers/${customerId}/register-tokens/${t.body.tokenId as string}`)).status, 200);
  const r = await register(t.body.registerToken as string);
  assert.equal(r.status, 401);
  assert.equal(r.body.code, 'register_token_revoked');
  const otherCustomer = (await op('POST', '/v1/customers', { name: 'Other', region: 'eu-west-1' })).body.customerId as string;
  assert.equal((await op('DELETE', `/v1/customers/${otherCustomer}/register-tokens/${t.body.tokenId as string}`)).status, 404, 'only through its own customer');
});

test('registrations are rate-limited per register token with a 429 and Retry-After; nothing is created past the limit', async () => {
  refill();
  const t = await op('POST', `/v1/customers/${customerId}/register-tokens`, {});
  const codes: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 12; i++) {
    const res = await fetch(`${backend.urls.http}/v1/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ registerToken: t.body.registerToken, hostname: `va-${i}`, cpu: 'x86_64', memoryMb: 1024, ip: '10.0.0.9', version: '1.0.0', slot: 'A' }),
    });
    codes.push(res.status);
    if (res.status === 429) retryAfter = res.headers.get('retry-after');
    await res.arrayBuffer();
  }
  assert.deepEqual(codes, [...Array(8).fill(200), ...Array(4).fill(429)]);
  assert.match(String(retryAfter), /^[1-9][0-9]*$/);
  const uses = ((await op('GET', `/v1/customers/${customerId}/register-tokens`)).body.items as { tokenId: string; uses: number }[]).find((i) => i.tokenId === t.body.tokenId)?.uses;
  assert.equal(uses, 8);
});

test('a retried registration with the same idempotency key is the same appliance (new token, no second use); another key is a new appliance', async () => {
  refill();
  const t = await op('POST', `/v1/customers/${customerId}/register-tokens`, { maxUses: 2 });
  const key = 'retry-key-0123456789abcdef';
  const first = await register(t.body.registerToken as string, { idempotencyKey: key });
  const again = await register(t.body.registerToken as string, { idempotencyKey: key });
  assert.equal(first.status, 200);
  assert.equal(again.status, 200);
  assert.equal(again.body.applianceId, first.body.applianceId);
  assert.notEqual(again.body.applianceToken, first.body.applianceToken);
  const hb = (token: unknown) => call(backend.urls.http, 'POST', `/v1/appliances/${first.body.applianceId as string}/heartbeat`, { token: token as string, json: heartbeatBody() });
  assert.equal((await hb(again.body.applianceToken)).status, 200);
  assert.equal((await hb(first.body.applianceToken)).status, 401, 'the lost answer\'s token is replaced');
  const other = await register(t.body.registerToken as string, { idempotencyKey: 'another-key-0123456789abcdef' });
  assert.equal(other.status, 200, 'the replay used no second registration');
  assert.notEqual(other.body.applianceId, first.body.applianceId);
});

test('decommissioning an appliance kills its token on HTTP and MQTT at once and cancels its unfinished tasks', async () => {
  refill();
  const t = await op('POST', `/v1/customers/${customerId}/register-tokens`, {});
  const a = (await register(t.body.registerToken as string)).body as { applianceId: string; applianceToken: string };
  const client = await connectTestClient(backend.urls.mqtt, a.applianceId, a.applianceToken);
  let interrupted = false;
  client.connection.on('interrupt', () => (interrupted = true));
  const task = await op('POST', `/v1/appliances/${a.applianceId}/tasks`, { taskType: 'reboot' });
  assert.equal((await op('DELETE', `/v1/appliances/${a.applianceId}`)).status, 204);
  await waitFor('the MQTT session to be closed', () => interrupted, 5000);
  await client.close().catch(() => undefined);
  await assert.rejects(connectTestClient(backend.urls.mqtt, a.applianceId, a.applianceToken));
  const hb = await call(backend.urls.http, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, json: heartbeatBody() });
  assert.equal(hb.status, 401);
  assert.equal((await op('GET', `/v1/appliances/${a.applianceId}`)).status, 404);
  const after = await op('GET', `/v1/tasks/${task.body.taskId as string}`);
  assert.equal(after.body.status, 'cancelled');
  assert.equal((await op('DELETE', `/v1/appliances/${a.applianceId}`)).status, 404);
});

test('security #9: a register token issued in the future (iat beyond a minute of skew) is refused; 30 s ahead is accepted', async () => {
  refill();
  const key = createPrivateKey(readFileSync(join(backend.dataDir, 'register-token-key.pem')));
  const now = Math.floor(clock.now() / 1000);
  const sign = (iat: number) =>
    new SignJWT({ customerId, region: 'eu-west-1' }).setProtectedHeader({ alg: 'EdDSA' }).setIssuer('twinroot').setAudience('twinroot-register').setIssuedAt(iat).setExpirationTime(now + 7200).setJti(randomUUID()).sign(key);
  const future = await register(await sign(now + 3600));
  assert.equal(future.status, 401);
  assert.match(String(future.body.message), /issued in the future/);
  assert.equal((await register(await sign(now + 30))).status, 200);
});

test('registrations are rate-limited per source address too, whatever token they carry', async () => {
  refill();
  const tokens: string[] = [];
  for (let i = 0; i < 9; i++) tokens.push((await op('POST', `/v1/customers/${customerId}/register-tokens`, {})).body.registerToken as string);
  const results = [];
  for (const tok of tokens) results.push(await register(tok));
  assert.deepEqual(results.map((r) => r.status), [...Array(8).fill(200), 429]);
  assert.match(String(results[8]!.body.message), /from this address/);
});

test('behind a load balancer (httpTrustProxy), the per-address limit counts the client address from X-Forwarded-For', async () => {
  const b = await startTestBackend({ TWINROOT_REGISTER_RATE_PER_MINUTE: '2', TWINROOT_HTTP_TRUST_PROXY: '127.0.0.1' });
  try {
    const c = (await call(b.urls.http, 'POST', '/v1/customers', { token: b.operatorKey, json: { name: 'Lb', region: 'eu-west-1' } })).body.customerId as string;
    const statuses: number[] = [];
    for (const client of ['203.0.113.7', '203.0.113.7', '203.0.113.7', '198.51.100.9']) {
      const tok = (await call(b.urls.http, 'POST', `/v1/customers/${c}/register-tokens`, { token: b.operatorKey, json: {} })).body.registerToken as string;
      const res = await fetch(`${b.urls.http}/v1/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
        body: JSON.stringify({ registerToken: tok, hostname: 'va', cpu: 'x86_64', memoryMb: 1024, ip: '10.0.0.9', version: '1.0.0', slot: 'A' }),
      });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 429, 200], 'the third from one client is limited; another client is not');
  } finally {
    await b.cleanup();
  }
});
