// The console's files as the backend serves them, and the operator API the console added:
// fleet counts, customer updates. Real HTTP against the embedded backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend } from '../../helpers/backend.js';
import { call, heartbeatBody, registerFleet } from '../../helpers/operator-api.js';
import { ERROR_CODES, isErrorCode } from '@twinroot/protocol';

let backend: Awaited<ReturnType<typeof startTestBackend>>;
const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });

before(async () => {
  backend = await startTestBackend();
});
after(async () => {
  await backend.cleanup();
});

test('console: the page and its modules are served with a strict CSP; ETag revalidation; no path escapes', async () => {
  const page = await fetch(backend.urls.http + '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  const html = await page.text();
  // Nothing loaded from elsewhere: every script and stylesheet is on this backend.
  for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.ok(m[1]!.startsWith('/console/') || m[1]!.startsWith('data:') || m[1]!.startsWith('#'), m[1]);
  const js = await fetch(backend.urls.http + '/console/js/app.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  const etag = js.headers.get('etag')!;
  assert.equal((await fetch(backend.urls.http + '/console/js/app.js', { headers: { 'if-none-match': etag } })).status, 304);
  // Every module the app imports exists (a missing one would only show in a browser).
  const seen = new Set<string>();
  const queue = ['js/app.js'];
  while (queue.length) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const r = await fetch(`${backend.urls.http}/console/${f}`);
    assert.equal(r.status, 200, f);
    const dir = f.split('/').slice(0, -1).join('/');
    for (const m of (await r.text()).matchAll(/from '(\.[^']+)'/g)) queue.push(new URL(m[1]!, `http://x/${dir}/`).pathname.slice(1));
  }
  assert.ok(seen.size >= 10, `${seen.size} modules`);
  for (const p of ['/console/nope.js', '/console/../package.json', '/console/%2e%2e/src/server.ts', '/console/js/../../src/main.ts']) {
    assert.equal((await fetch(backend.urls.http + p)).status, 404, p);
  }
});

test('fleet summary: counts by status, version and region; scoped to a region or customer; operator key required', async () => {
  const eu = await registerFleet(backend, { name: 'Summary EU', region: 'eu-west-1', n: 3, version: '1.0.0' });
  const us = await registerFleet(backend, { name: 'Summary US', region: 'us-east-1', n: 2, version: '1.2.0' });
  const hb = await call(backend.urls.http, 'POST', `/v1/appliances/${us.appliances[0]!.applianceId}/heartbeat`, { token: us.appliances[0]!.applianceToken, json: heartbeatBody({ version: '2.0.0' }) });
  assert.equal(hb.status, 200);
  const all = await op('GET', '/v1/fleet/summary');
  assert.equal(all.status, 200);
  assert.deepEqual(all.body, {
    appliances: 5,
    byStatus: { connected: 5, disconnected: 0, upgrading: 0, rolled_back: 0 },
    byVersion: [
      { version: '2.0.0', count: 1 },
      { version: '1.2.0', count: 1 },
      { version: '1.0.0', count: 3 },
    ],
    byRegion: [
      { region: 'eu-west-1', count: 3 },
      { region: 'us-east-1', count: 2 },
    ],
  });
  assert.equal((await op('GET', '/v1/fleet/summary?region=us-east-1')).body.appliances, 2);
  assert.equal((await op('GET', `/v1/fleet/summary?customerId=${eu.customerId}`)).body.appliances, 3);
  assert.equal((await op('GET', '/v1/fleet/summary?region=Not%20A%20Region')).status, 400);
  assert.equal((await call(backend.urls.http, 'GET', '/v1/fleet/summary')).status, 401);
});

test('customers: PATCH sets the canary flag and the maintenance window, null removes it; bad input is a 400 and changes nothing', async () => {
  const id = (await op('POST', '/v1/customers', { name: 'Patchable', region: 'eu-west-1' })).body.customerId as string;
  const window = { timeZone: 'Europe/Berlin', windows: [{ day: 'sat', start: '22:00', durationMinutes: 240 }] };
  let r = await op('PATCH', `/v1/customers/${id}`, { canary: true, maintenanceWindow: window });
  assert.equal(r.status, 200);
  assert.equal(r.body.canary, true);
  assert.deepEqual(r.body.maintenanceWindow, window);
  for (const bad of [{}, { canary: 'yes' }, { maintenanceWindow: { timeZone: 'Mars/Olympus', windows: window.windows } }, { name: 'renamed' }]) {
    r = await op('PATCH', `/v1/customers/${id}`, bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
  r = await op('PATCH', `/v1/customers/${id}`, { maintenanceWindow: null });
  assert.equal(r.status, 200);
  assert.equal(r.body.maintenanceWindow, undefined);
  assert.equal(r.body.canary, true);
  assert.equal((await op('GET', `/v1/customers/${id}`)).body.name, 'Patchable');
  assert.equal((await op('PATCH', '/v1/customers/00000000-0000-4000-8000-000000000000', { canary: false })).status, 404);
});

test('error catalogue: GET /v1/error-codes serves every code with its meaning; errors Fastify raises carry catalogued codes', async () => {
  const r = await op('GET', '/v1/error-codes');
  assert.equal(r.status, 200);
  const items = r.body.items as Array<{ code: string; meaning: string; retryable: boolean; scope: string; httpStatus?: number }>;
  assert.equal(items.length, ERROR_CODES.length);
  const hc = items.find((e) => e.code === 'health_check_failed')!;
  assert.deepEqual([hc.scope, hc.retryable, hc.meaning.includes('rolled back')], ['task', false, true]);
  assert.equal(items.find((e) => e.code === 'bad_credentials')!.httpStatus, 401);
  assert.equal((await call(backend.urls.http, 'GET', '/v1/error-codes')).status, 401);
  // A body Fastify's parser refuses (not JSON) used to answer with Fastify's own code; now a catalogued one.
  const res = await fetch(`${backend.urls.http}/v1/customers`, { method: 'POST', headers: { authorization: `Bearer ${backend.operatorKey}`, 'content-type': 'application/json' }, body: '{not json' });
  const body = (await res.json()) as { code: string };
  assert.equal(res.status, 400);
  assert.ok(isErrorCode(body.code), `catalogued: ${body.code}`);
  const media = await fetch(`${backend.urls.http}/v1/customers`, { method: 'POST', headers: { authorization: `Bearer ${backend.operatorKey}`, 'content-type': 'text/csv' }, body: 'a,b' });
  assert.deepEqual([media.status, ((await media.json()) as { code: string }).code], [415, 'unsupported_media_type']);
});
