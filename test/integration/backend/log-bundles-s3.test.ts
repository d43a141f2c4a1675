// Diagnostic bundles are not one instance's state: with an S3 artifact store they go to the
// bucket (under log-bundles/), and the upload URL's signature key derives from the shared
// operator key. Two backends on one store and one bucket (s3rver): A issues the URL, the upload
// lands on B, A lists and serves the bundle; a second upload to the URL is refused.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend } from '../../helpers/backend.js';
import { call } from '../../helpers/operator-api.js';
import { startS3rver } from '../../helpers/s3rver.js';
import { startSigV4Front } from '../../helpers/sigv4-front.js';
import { uploadBundle } from '../../../agent/src/backend/bundle-upload.js';

test('log bundles in the bucket: a URL one instance issued is taken by another, and either lists and serves the bundle', async () => {
  const { s3, port } = await startS3rver();
  const shared = { TWINROOT_ARTIFACT_STORE: 's3://twinroot-artifacts', TWINROOT_ARTIFACT_S3_ENDPOINT: `http://127.0.0.1:${port}`, TWINROOT_OPERATOR_KEY: 'log-bundles-shared-operator-key-0123' };
  const a = await startTestBackend(shared);
  const b = await startTestBackend({ ...shared, TWINROOT_DYNAMODB_ENDPOINT: a.urls.dynamodb });
  try {
    const c = await call(a.urls.http, 'POST', '/v1/customers', { token: a.operatorKey, json: { name: 'logs', region: 'eu-west-1' } });
    const t = await call(a.urls.http, 'POST', `/v1/customers/${c.body.customerId}/register-tokens`, { token: a.operatorKey, json: {} });
    const reg = await call(a.urls.http, 'POST', '/v1/register', { json: { registerToken: t.body.registerToken, hostname: 'va', cpu: 'x', memoryMb: 1, ip: '10.0.0.1', version: '1.0.0', slot: 'A' } });
    const applianceId = reg.body.applianceId as string;
    assert.match(a.logBundles.description, /^s3:\/\/twinroot-artifacts\/log-bundles\//);
    const issued = a.logBundles.issue(applianceId, a.clock.now());
    const bundle = Buffer.alloc(300 * 1024, 0x5a);
    const put = await fetch(b.urls.http + issued.path, { method: 'PUT', headers: { 'content-type': 'application/gzip' }, body: bundle });
    assert.equal(put.status, 201, await put.clone().text());
    assert.equal(((await put.json()) as { bytes: number }).bytes, bundle.length);
    const direct = await fetch(`http://127.0.0.1:${port}/twinroot-artifacts/log-bundles/${applianceId}/${issued.bundleId}.tar.gz`);
    assert.equal(direct.status, 200, 'the bundle is in the bucket');
    const listed = await call(a.urls.http, 'GET', `/v1/appliances/${applianceId}/logs`, { token: a.operatorKey });
    assert.deepEqual((listed.body.items as { bundleId: string; bytes: number }[]).map((x) => [x.bundleId, x.bytes]), [[issued.bundleId, bundle.length]]);
    const got = await fetch(`${a.urls.http}/v1/appliances/${applianceId}/logs/${issued.bundleId}`, { headers: { authorization: `Bearer ${a.operatorKey}` } });
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(bundle));
    const again = await fetch(a.urls.http + issued.path, { method: 'PUT', headers: { 'content-type': 'application/gzip' }, body: 'again' });
    assert.equal(again.status, 409);
    // Releases are not served from the bundle prefix, and the bundle is not an artifact.
    assert.equal((await fetch(`${a.urls.http}/artifacts/log-bundles/${applianceId}/${issued.bundleId}.tar.gz`, { redirect: 'manual' })).status, 404);
  } finally {
    await b.cleanup();
    await a.cleanup();
    await s3.close();
  }
});

test('log bundles go straight to the bucket: the agent asks for a presigned PUT whose signature binds the size (checked by a SigV4-verifying front for s3rver)', async () => {
  const { s3, port } = await startS3rver();
  const front = await startSigV4Front(port, 'S3RVER');
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-bundle-'));
  const be = await startTestBackend({ TWINROOT_ARTIFACT_STORE: 's3://twinroot-artifacts', TWINROOT_ARTIFACT_S3_ENDPOINT: `http://127.0.0.1:${front.port}` });
  try {
    const c = await call(be.urls.http, 'POST', '/v1/customers', { token: be.operatorKey, json: { name: 'logs', region: 'eu-west-1' } });
    const t = await call(be.urls.http, 'POST', `/v1/customers/${c.body.customerId}/register-tokens`, { token: be.operatorKey, json: {} });
    const reg = await call(be.urls.http, 'POST', '/v1/register', { json: { registerToken: t.body.registerToken, hostname: 'va', cpu: 'x', memoryMb: 1, ip: '10.0.0.1', version: '1.0.0', slot: 'A' } });
    const applianceId = reg.body.applianceId as string;
    const uploadUrl = () => {
      const issued = be.logBundles.issue(applianceId, be.clock.now());
      return { ...issued, url: be.urls.http + issued.path };
    };

    // The agent's upload: the bytes land in the bucket through the presigned URL.
    const bundle = randomBytes(300 * 1024);
    const file = join(dir, 'diagnostics.tar.gz');
    writeFileSync(file, bundle);
    const first = uploadUrl();
    assert.deepEqual(await uploadBundle(first.url, file), { via: 'presigned' });
    const stored = await fetch(`http://127.0.0.1:${port}/twinroot-artifacts/log-bundles/${applianceId}/${first.bundleId}.tar.gz`);
    assert.ok(Buffer.from(await stored.arrayBuffer()).equals(bundle), 'the bucket holds the bundle as sent');
    assert.deepEqual(front.refused, []);
    const listed = await call(be.urls.http, 'GET', `/v1/appliances/${applianceId}/logs`, { token: be.operatorKey });
    assert.deepEqual((listed.body.items as { bundleId: string; bytes: number }[]).map((x) => [x.bundleId, x.bytes]), [[first.bundleId, bundle.length]]);
    // Written once: no second target for an uploaded bundle.
    const again = await fetch(first.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bytes: 10 }) });
    assert.equal(again.status, 409);

    // The size limit: refused before any URL is signed.
    const big = await fetch(uploadUrl().url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bytes: 64 * 1024 * 1024 + 1 }) });
    assert.equal(big.status, 413, await big.text());
    // A tampered capability gets no target at all.
    const forged = await fetch(uploadUrl().url.replace(/sig=[^&]+/, 'sig=AAAA'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bytes: 10 }) });
    assert.equal(forged.status, 403);

    // The signed length binds: more (or fewer) bytes than asked for are refused, the right count is taken.
    const second = uploadUrl();
    const target = (await (await fetch(second.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bytes: 1000 }) })).json()) as { url: string; headers: Record<string, string> };
    assert.match(new URL(target.url).searchParams.get('X-Amz-SignedHeaders') ?? '', /content-length/);
    assert.equal(new URL(target.url).searchParams.get('x-amz-checksum-crc32'), null, 'no checksum of an empty body is signed into the URL');
    for (const n of [1001, 999]) assert.equal((await fetch(target.url, { method: 'PUT', headers: target.headers, body: Buffer.alloc(n) })).status, 403, `${n} bytes`);
    const { 'if-none-match': _inm, ...withoutCondition } = target.headers;
    assert.equal((await fetch(target.url, { method: 'PUT', headers: withoutCondition, body: Buffer.alloc(1000) })).status, 403, 'the write-once condition is signed');
    assert.equal((await fetch(target.url, { method: 'PUT', headers: target.headers, body: Buffer.alloc(1000) })).status, 200);
    assert.equal(front.refused.length, 3);
  } finally {
    await be.cleanup();
    front.server.close();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
