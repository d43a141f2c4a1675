// The agent's diagnostic-bundle upload against the backends it meets: this one in embedded mode
// (the target is the backend's own URL), an older backend with no target step (the agent
// PUTs as before), and a refusal (the task fails with the backend's reason, nothing is PUT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uploadBundle } from '../../../agent/src/backend/bundle-upload.js';
import { startTestBackend } from '../../helpers/backend.js';
import { call } from '../../helpers/operator-api.js';

function bundleFile(bytes: number): { file: string; data: Buffer; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-upload-'));
  const data = randomBytes(bytes);
  writeFileSync(join(dir, 'diagnostics.tar.gz'), data);
  return { file: join(dir, 'diagnostics.tar.gz'), data, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('embedded mode: the upload target is the backend itself, and the bundle is stored there', async () => {
  const be = await startTestBackend();
  const b = bundleFile(200 * 1024);
  try {
    const c = await call(be.urls.http, 'POST', '/v1/customers', { token: be.operatorKey, json: { name: 'up', region: 'eu-west-1' } });
    const t = await call(be.urls.http, 'POST', `/v1/customers/${c.body.customerId}/register-tokens`, { token: be.operatorKey, json: {} });
    const reg = await call(be.urls.http, 'POST', '/v1/register', { json: { registerToken: t.body.registerToken, hostname: 'va', cpu: 'x', memoryMb: 1, ip: '10.0.0.1', version: '1.0.0', slot: 'A' } });
    const applianceId = reg.body.applianceId as string;
    const issued = be.logBundles.issue(applianceId, be.clock.now());
    assert.deepEqual(await uploadBundle(be.urls.http + issued.path, b.file), { via: 'backend' });
    const got = await fetch(`${be.urls.http}/v1/appliances/${applianceId}/logs/${issued.bundleId}`, { headers: { authorization: `Bearer ${be.operatorKey}` } });
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(b.data));
    await assert.rejects(uploadBundle(be.urls.http + issued.path, b.file), /upload refused: HTTP 409/);
  } finally {
    b.cleanup();
    await be.cleanup();
  }
});

test('an older backend (no target step, POST answers 404): the agent PUTs the bundle to the URL as before', async () => {
  const puts: Buffer[] = [];
  const old = createServer((req, res) => {
    if (req.method !== 'PUT') return void req.resume().on('end', () => res.writeHead(404).end('{"message":"Route POST not found"}'));
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d)).on('end', () => {
      puts.push(Buffer.concat(parts));
      res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
  const b = bundleFile(64 * 1024);
  try {
    const url = `http://127.0.0.1:${(old.address() as AddressInfo).port}/v1/log-uploads/a/b?expires=1&sig=x`;
    assert.deepEqual(await uploadBundle(url, b.file), { via: 'backend' });
    assert.equal(puts.length, 1);
    assert.ok(puts[0]!.equals(readFileSync(b.file)));
  } finally {
    b.cleanup();
    old.close();
  }
});

test('a refused target (403: bad or expired capability) fails the upload with the reason, and nothing is PUT', async () => {
  let putSeen = false;
  const be = createServer((req, res) => {
    if (req.method === 'PUT') putSeen = true;
    req.resume().on('end', () => res.writeHead(403, { 'content-type': 'application/json' }).end('{"code":"forbidden","message":"upload refused: upload URL expired"}'));
  });
  await new Promise<void>((r) => be.listen(0, '127.0.0.1', r));
  const b = bundleFile(1024);
  try {
    await assert.rejects(uploadBundle(`http://127.0.0.1:${(be.address() as AddressInfo).port}/v1/log-uploads/a/b?expires=1&sig=x`, b.file), /upload refused: HTTP 403 .*upload URL expired/);
    assert.equal(putSeen, false);
  } finally {
    b.cleanup();
    be.close();
  }
});
