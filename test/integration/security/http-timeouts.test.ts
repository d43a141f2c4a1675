// Security review #2: idle, trickling and slow-body sockets must not hold the HTTP server's
// connections (and file descriptors) forever; a connection cap keeps the rest answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startTestBackend } from '../../helpers/backend.js';
import { closedWithin, openSocket } from '../../helpers/sockets.js';

let backend: Awaited<ReturnType<typeof startTestBackend>>;
before(async () => {
  backend = await startTestBackend({
    TWINROOT_HTTP_HEADERS_TIMEOUT_SECONDS: '2',
    TWINROOT_HTTP_IDLE_TIMEOUT_SECONDS: '3',
    TWINROOT_HTTP_MAX_CONNECTIONS: '40',
    TWINROOT_HTTP_BODY_RATE_WINDOW_SECONDS: '2',
    TWINROOT_HTTP_MIN_BODY_BYTES_PER_SECOND: '1000',
  });
});
after(async () => backend.cleanup());



/** Sends a request's headers one byte every `everyMs`, never finishing them. */
function trickleHeaders(s: Socket, everyMs: number): () => void {
  const text = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(10_000);
  let i = 0;
  const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write(text[i++ % text.length]!)), everyMs);
  return () => clearInterval(t);
}

test('60 slowloris sockets (idle and trickling headers): the 20 over the cap closed at once, the rest within the header timeout; /healthz answers after', async () => {
  const sockets: Socket[] = [];
  const stops: (() => void)[] = [];
  for (let i = 0; i < 60; i++) {
    const s = await openSocket(backend.urls.http);
    sockets.push(s);
    if (i % 2 === 0) stops.push(trickleHeaders(s, 300));
  }
  try {
    const lifetimes = await Promise.all(sockets.map((s) => closedWithin(s, 8000)));
    console.log(`# slowloris: ${lifetimes.length} sockets closed, ${lifetimes.filter((ms) => ms < 500).length} at once, the last after ${Math.max(...lifetimes)} ms`);
    assert.ok(lifetimes.filter((ms) => ms < 500).length >= 20, `closed at once: ${lifetimes.join(',')}`);
  } finally {
    for (const stop of stops) stop();
  }
  assert.equal((await fetch(`${backend.urls.http}/healthz`)).status, 200);
});

test('a request body that trickles below the minimum rate is cut off; a normal body goes through', async () => {
  const s = await openSocket(backend.urls.http);
  s.write(`POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"registerToken":"`);
  const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('a')), 200);
  try {
    const ms = await closedWithin(s, 8000);
    assert.ok(ms >= 1000, `cut after ${ms} ms (not before its first window)`);
  } finally {
    clearInterval(t);
  }
  const r = await fetch(`${backend.urls.http}/v1/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ registerToken: 'x' }) });
  assert.equal(r.status, 400);
});
