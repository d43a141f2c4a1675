// Security review #1 (high): an unauthenticated peer must not be able to grow the backend's memory
// through the MQTT port, nor hold its connection slots. Runs the real backend as its own process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedWithin, openSocket } from '../../helpers/sockets.js';
import { startBackendProcess } from '../../helpers/backend-process.js';
import { call } from '../../helpers/operator-api.js';
import { connectTestClient } from '../../helpers/crt-client.js';

/** A CONNECT fixed header announcing the largest remaining length MQTT can express (256 MiB). */
const HUGE_CONNECT_HEADER = Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]);



/** Writes the header, then streams up to `bytes` of junk as fast as the socket takes it. */
function flood(s: Socket, bytes: number): void {
  s.on('error', () => undefined);
  s.write(HUGE_CONNECT_HEADER);
  const chunk = Buffer.alloc(256 * 1024, 0x41);
  let sent = 0;
  const pump = () => {
    while (!s.destroyed && sent < bytes) {
      sent += chunk.length;
      if (!s.write(chunk)) return void s.once('drain', pump);
    }
  };
  pump();
}

async function registerOne(http: string, operatorKey: string) {
  const op = (m: string, p: string, json?: unknown) => call(http, m, p, { token: operatorKey, json });
  const c = await op('POST', '/v1/customers', { name: 'Acme', region: 'eu-west-1' });
  const t = await op('POST', `/v1/customers/${c.body.customerId as string}/register-tokens`, {});
  const r = await call(http, 'POST', '/v1/register', {
    json: { registerToken: t.body.registerToken, hostname: 'va-1', cpu: 'x86_64', memoryMb: 4096, ip: '10.0.0.2', version: '1.0.0', slot: 'A' },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { applianceId: string; applianceToken: string };
}

test('20 connections announcing 256 MiB CONNECT packets are closed from the header; RSS grows < 50 MiB, /healthz answers, a real appliance still connects', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-flood-'));
  const p = startBackendProcess(dataDir, { TWINROOT_OPERATOR_KEY: 'trk_flood-test-operator-key-0123456789' });
  try {
    const urls = await p.ready;
    await fetch(`${urls.http}/healthz`);
    const rssBefore = p.rss();
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openSocket(urls.mqtt)));
    for (const s of sockets) flood(s, 32 * 1024 * 1024);
    const lifetimes = await Promise.all(sockets.map((s) => closedWithin(s, 5000)));
    await new Promise((r) => setTimeout(r, 500));
    const grown = p.rss() - rssBefore;
    console.log(`# MQTT CONNECT flood: 20 connections, RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB -> ${(p.rss() / 2 ** 20).toFixed(1)} MiB (+${(grown / 2 ** 20).toFixed(1)} MiB); closed after max ${Math.max(...lifetimes)} ms`);
    assert.ok(grown < 50 * 2 ** 20, `backend RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    assert.equal((await fetch(`${urls.http}/healthz`)).status, 200);
    const a = await registerOne(urls.http, 'trk_flood-test-operator-key-0123456789');
    const client = await connectTestClient(urls.mqtt, a.applianceId, a.applianceToken);
    await client.close();
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('connections that never finish CONNECT are closed after the connect timeout, and at most maxPendingConnections wait at once', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-flood-'));
  const p = startBackendProcess(dataDir, { TWINROOT_MQTT_CONNECT_TIMEOUT_SECONDS: '2', TWINROOT_MQTT_MAX_PENDING_CONNECTIONS: '10' });
  try {
    const urls = await p.ready;
    const sockets: Socket[] = [];
    for (let i = 0; i < 15; i++) sockets.push(await openSocket(urls.mqtt));
    for (const s of sockets) s.on('error', () => undefined);
    // The five over the cap are closed at once; the ten within it when their CONNECT time is up.
    const lifetimes = await Promise.all(sockets.map((s) => closedWithin(s, 6000)));
    const atOnce = lifetimes.filter((ms) => ms < 1000).length;
    assert.equal(atOnce, 5, `closed at once: ${lifetimes.join(', ')} ms`);
    assert.ok(lifetimes.every((ms) => ms < 4500), `closed after ${lifetimes.join(', ')} ms`);
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});
