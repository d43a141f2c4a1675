// Security review #9 (low) and the /metrics key: bad input is a 400 (never a 500 an agent would
// retry forever), refused uploads close at once, one upload URL stores one bundle, names carry no
// control characters, the docs have a CSP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startTestBackend } from '../../helpers/backend.js';
import { call, heartbeatBody, registerFleet } from '../../helpers/operator-api.js';

let backend: Awaited<ReturnType<typeof startTestBackend>>;
let fleet: Awaited<ReturnType<typeof registerFleet>>;
const METRICS_KEY = 'metrics-key-0123456789abcdef';
before(async () => {
  backend = await startTestBackend({ TWINROOT_METRICS_KEY: METRICS_KEY });
  fleet = await registerFleet(backend, { n: 1 });
});
after(async () => backend.cleanup());

/** Sends raw bytes on a fresh connection; resolves with the status line and how long until the server closed. */
function raw(head: string, body: string | Buffer, keepOpenMs = 8000): Promise<{ status: string; closedAfterMs: number | null; text: string }> {
  const u = new URL(backend.urls.http);
  return new Promise((resolve) => {
    const t0 = Date.now();
    let out = '';
    const s = connect(Number(u.port), u.hostname, () => {
      s.write(head);
      s.write(body);
    });
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => undefined);
    const done = (closedAfterMs: number | null) => resolve({ status: out.split('\r\n')[0] ?? '', closedAfterMs, text: out });
    s.on('close', () => done(Date.now() - t0));
    setTimeout(() => {
      s.destroy();
      done(null);
    }, keepOpenMs).unref();
  });
}

test('integers beyond 2^53 in a heartbeat or a task result are a 400 naming the field, not a 500', async () => {
  const a = fleet.appliances[0]!;
  const hb = JSON.stringify(heartbeatBody()).replace('"uptimeS":100', '"uptimeS":9007199254740993');
  const r = await call(backend.urls.http, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, raw: hb });
  assert.equal(r.status, 400);
  assert.match(String(r.body.message), /uptimeS: integer beyond/);
  const t = await call(backend.urls.http, 'POST', `/v1/appliances/${a.applianceId}/tasks`, { token: backend.operatorKey, json: { taskType: 'reboot' } });
  const res = await call(backend.urls.http, 'POST', `/v1/tasks/${t.body.taskId as string}/result`, { token: a.applianceToken, raw: '{"status":"running","progress":{"bytes":18446744073709551616}}' });
  assert.equal(res.status, 400);
  assert.equal((await call(backend.urls.http, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, json: heartbeatBody() })).status, 200);
});

test('multipart without a boundary or cut off is a 400; a refused oversized upload is answered and its connection closed at once', async () => {
  const auth = `Authorization: Bearer ${backend.operatorKey}\r\n`;
  const noBoundary = await raw(`POST /v1/releases HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: multipart/form-data\r\nContent-Length: 10\r\n\r\n`, '0123456789');
  assert.match(noBoundary.status, / 400 /);
  assert.match(noBoundary.text, /bad_upload/);
  const part = `--XX\r\nContent-Disposition: form-data; name="manifest"; filename="m"\r\nContent-Type: application/json\r\n\r\n{"a":`;
  const cut = await raw(`POST /v1/releases HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${part.length}\r\n\r\n`, part);
  assert.match(cut.status, / 400 /);
  // A manifest part far over its limit, announced as a 300 MiB body: the 400 comes and the socket closes while the client is still sending.
  const big = Buffer.concat([Buffer.from(`--XX\r\nContent-Disposition: form-data; name="manifest"; filename="m"\r\n\r\n`), Buffer.alloc(140 * 1024 * 1024, 0x78)]);
  const over = await raw(`POST /v1/releases HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${300 * 1024 * 1024}\r\n\r\n`, big);
  assert.match(over.status, / 400 /);
  assert.ok(over.closedAfterMs !== null && over.closedAfterMs < 6000, `closed after ${over.closedAfterMs} ms`);
});

test('two concurrent uploads to one log-upload URL: exactly one is stored (201 with its size), the other is a 409; a later one too', async () => {
  const a = fleet.appliances[0]!;
  const issued = backend.logBundles.issue(a.applianceId, backend.clock.now());
  const url = backend.urls.http + issued.path;
  const bodies = [Buffer.alloc(3 * 1024 * 1024, 0x61), Buffer.alloc(2 * 1024 * 1024, 0x62)];
  const results = await Promise.all(bodies.map((b) => fetch(url, { method: 'PUT', headers: { 'content-type': 'application/gzip' }, body: b }).then(async (r) => ({ status: r.status, body: (await r.json()) as { bytes?: number } }))));
  const won = results.filter((r) => r.status === 201);
  assert.equal(won.length, 1, JSON.stringify(results));
  assert.equal(results.filter((r) => r.status === 409).length, 1);
  const chunks: Buffer[] = [];
  for await (const c of (await backend.logBundles.open(a.applianceId, issued.bundleId))!) chunks.push(c as Buffer);
  const stored = Buffer.concat(chunks);
  assert.equal(stored.length, won[0]!.body.bytes, 'the 201 tells the size of what is stored');
  assert.ok(bodies.some((b) => b.equals(stored)), 'the stored bundle is one whole upload');
  assert.equal((await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/gzip' }, body: 'again' })).status, 409);
});

test('names with NUL, ANSI escapes, RTL overrides, zero-width marks or lone surrogates are refused (customer, hostname, cpu)', async () => {
  for (const bad of ['a\u0000b', 'evil\u001b[31mred', 'abc\u202Egpj.exe', 'zero\u200Bwidth', 'half\uD800']) {
    const c = await call(backend.urls.http, 'POST', '/v1/customers', { token: backend.operatorKey, json: { name: bad, region: 'eu-west-1' } });
    assert.equal(c.status, 400, JSON.stringify(bad));
    const r = await call(backend.urls.http, 'POST', '/v1/register', { json: { registerToken: fleet.registerToken, hostname: bad, cpu: 'x86_64', memoryMb: 1, ip: '10.0.0.1', version: '1.0.0', slot: 'A' } });
    assert.equal(r.status, 400, JSON.stringify(bad));
    const cpu = await call(backend.urls.http, 'POST', '/v1/register', { json: { registerToken: fleet.registerToken, hostname: 'ok', cpu: bad, memoryMb: 1, ip: '10.0.0.1', version: '1.0.0', slot: 'A' } });
    assert.equal(cpu.status, 400, JSON.stringify(bad));
  }
  assert.equal((await call(backend.urls.http, 'POST', '/v1/customers', { token: backend.operatorKey, json: { name: 'Müller & Söhne 東京', region: 'eu-west-1' } })).status, 201);
});

test('/docs is served with a Content-Security-Policy that loads nothing from elsewhere', async () => {
  const res = await fetch(`${backend.urls.http}/docs/static/index.html`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /object-src 'none'/);
  assert.doesNotMatch(csp, /https:|validator\.swagger\.io/);
});

test('/metrics needs the metrics key when one is configured', async () => {
  assert.equal((await fetch(`${backend.urls.http}/metrics`)).status, 401);
  assert.equal((await fetch(`${backend.urls.http}/metrics`, { headers: { authorization: `Bearer ${backend.operatorKey}` } })).status, 401, 'the operator key is not the metrics key');
  const ok = await fetch(`${backend.urls.http}/metrics`, { headers: { authorization: `Bearer ${METRICS_KEY}` } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /twinroot_/);
});
