// Diagnostic bundles are not one instance's state: with an S3 artifact store they go to the
// bucket (under log-bundles/), and the upload URL's signature key derives from the shared
// operator key. Two backends on one store and one bucket (s3rver): A issues the URL, the upload
// lands on B, A lists and serves the bundle; a second upload to the URL is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend } from '../../helpers/backend.js';
import { call } from '../../helpers/operator-api.js';
import { startS3rver } from '../../helpers/s3rver.js';

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
