// Releases: signed packages uploaded into the backend's artifact store (or registered by URL),
// verified with the release key, and served with Range, ETag and If-Range.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, openAsBlob, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltPackage } from '@twinroot/image-build';
import { httpSource } from '@twinroot/agent';
import { checkArtifactAnswers } from '../../helpers/artifact-answers.js';
import { startTestBackend } from '../../helpers/backend.js';
import { startS3rver } from '../../helpers/s3rver.js';
import { call } from '../../helpers/operator-api.js';
import { makeKeys, makePackage, packageForm, servePackage, type PackageServer, type TestKeys } from '../../helpers/packages.js';

let backend: Awaited<ReturnType<typeof startTestBackend>>;
let keys: TestKeys;
let otherKeys: TestKeys;
let pkg: BuiltPackage;

before(async () => {
  keys = makeKeys();
  otherKeys = makeKeys();
  pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 700 });
  backend = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey });
});
after(async () => backend.cleanup());

const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });

/** POSTs the three files as multipart/form-data, the way the console and curl -F do. */
async function upload(files: { manifest?: string | Buffer; signature?: string | Buffer; payload?: string }, token = backend.operatorKey) {
  const form = new FormData();
  const blob = (v: string | Buffer) => (typeof v === 'string' ? new Blob([readFileSync(v)]) : new Blob([v]));
  if (files.manifest !== undefined) form.append('manifest', blob(files.manifest), 'manifest.json');
  if (files.signature !== undefined) form.append('signature', blob(files.signature), 'manifest.json.sig');
  if (files.payload !== undefined) form.append('payload', await openAsBlob(files.payload), 'payload');
  const res = await fetch(`${backend.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('upload: refused without the operator key, with a missing file, a wrong key, a tampered payload; nothing registered', async () => {
  assert.equal((await upload({ manifest: pkg.manifestFile, signature: pkg.signatureFile, payload: pkg.payloadFile }, 'wrong')).status, 401);
  const missing = await upload({ manifest: pkg.manifestFile, payload: pkg.payloadFile });
  assert.equal(missing.status, 400);
  assert.match(String(missing.body.message), /missing file\(s\): signature/);

  const foreign = await makePackage({ keys: otherKeys, version: '2.0.0' });
  const wrongKey = await upload({ manifest: foreign.manifestFile, signature: foreign.signatureFile, payload: foreign.payloadFile });
  assert.equal(wrongKey.status, 400);
  assert.equal(wrongKey.body.code, 'bad_signature');

  const tampered = join(mkdtempSync(join(tmpdir(), 'rel-')), 'payload');
  copyFileSync(pkg.payloadFile, tampered);
  const bytes = readFileSync(tampered);
  bytes[1000] ^= 0xff;
  writeFileSync(tampered, bytes);
  const corrupt = await upload({ manifest: pkg.manifestFile, signature: pkg.signatureFile, payload: tampered });
  assert.equal(corrupt.status, 400);
  assert.equal(corrupt.body.code, 'payload_corrupt');

  const edited = Buffer.from(readFileSync(pkg.manifestFile, 'utf8').replace('"2.0.0"', '"2.0.1"'));
  const forged = await upload({ manifest: edited, signature: pkg.signatureFile, payload: pkg.payloadFile });
  assert.equal(forged.status, 400);
  assert.equal(forged.body.code, 'bad_signature');
  assert.deepEqual((await op('GET', '/v1/releases')).body.items, []);
});

test('upload: registered with the manifest facts; the same version again is a 409', async () => {
  const r = await upload({ manifest: pkg.manifestFile, signature: pkg.signatureFile, payload: pkg.payloadFile });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.releaseId, 'v2.0.0');
  assert.equal(r.body.version, '2.0.0');
  assert.equal(r.body.compatible, 'twinroot-test');
  assert.equal(r.body.payloadSize, pkg.manifest.payload.size);
  assert.equal(r.body.payloadSha256, pkg.manifest.payload.sha256);
  assert.equal(r.body.source, 'artifact-store');
  assert.match(String(r.body.manifestUrl), new RegExp(`^${backend.urls.http}/artifacts/v2\\.0\\.0/[0-9a-f-]{36}/manifest\\.json$`));
  const again = await upload({ manifest: pkg.manifestFile, signature: pkg.signatureFile, payload: pkg.payloadFile });
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'release_exists');
  const list = await op('GET', '/v1/releases');
  assert.deepEqual((list.body.items as { releaseId: string }[]).map((x) => x.releaseId), ['v2.0.0']);
  assert.equal((await op('GET', '/v1/releases/v2.0.0')).body.version, '2.0.0');
  assert.equal((await op('GET', '/v1/releases/v9.9.9')).status, 404);
});

test('artifacts: whole file, ranges, strong ETag, If-Range, 416, HEAD, no path escapes', async () => {
  const rel = (await op('GET', '/v1/releases/v2.0.0')).body as { manifestUrl: string };
  const payloadUrl = new URL(pkg.manifest.payload.file, rel.manifestUrl).toString();
  const original = readFileSync(pkg.payloadFile);
  await checkArtifactAnswers(payloadUrl, rel.manifestUrl, original);
  for (const bad of ['/artifacts/../operator-key', '/artifacts/%2e%2e/operator-key', '/artifacts/v2.0.0/../../operator-key', '/artifacts/.incoming/x']) {
    assert.equal((await fetch(backend.urls.http + bad)).status, 404, bad);
  }
});

test('the agent downloads and verifies a release straight from the artifact store (twinroot download)', async () => {
  const rel = (await op('GET', '/v1/releases/v2.0.0')).body as { manifestUrl: string };
  const dest = join(mkdtempSync(join(tmpdir(), 'rel-dl-')), 'pkg');
  const out = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['--conditions=twinroot-source', '--import', 'tsx', 'agent/src/cli/twinroot.ts', 'download', rel.manifestUrl, '--dest', dest, '--pubkey', keys.publicKey], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    child.stdout.on('data', (d: Buffer) => (o += d.toString()));
    child.stderr.on('data', (d: Buffer) => (e += d.toString()));
    child.on('close', (code) => resolve({ code, out: o, err: e }));
  });
  assert.equal(out.code, 0, out.err);
  assert.match(out.out, /^downloaded 2\.0\.0 /);
  assert.ok(readFileSync(join(dest, pkg.manifest.payload.file)).equals(readFileSync(pkg.payloadFile)));
});

test('by URL: a package served elsewhere is verified (manifest, .sig, payload size) and registered', async () => {
  const p3 = await makePackage({ keys, version: '3.0.0' });
  const server: PackageServer = await servePackage(p3);
  try {
    const bad = await op('POST', '/v1/releases', { manifestUrl: 'http://127.0.0.1:9/nothing/manifest.json' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'manifest_unreachable');
    assert.equal((await op('POST', '/v1/releases', { manifestUrl: 'ftp://x/manifest.json' })).status, 400);
    const r = await op('POST', '/v1/releases', { manifestUrl: server.manifestUrl });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.source, 'url');
    assert.equal(r.body.manifestUrl, server.manifestUrl);
    const list = (await op('GET', '/v1/releases')).body.items as { version: string }[];
    assert.deepEqual(list.map((x) => x.version), ['3.0.0', '2.0.0'], 'newest version first');
  } finally {
    await server.stop();
  }
});

test('no release key configured: a clear 503', async () => {
  const b = await startTestBackend({});
  try {
    const r = await call(b.urls.http, 'POST', '/v1/releases', { token: b.operatorKey, json: { manifestUrl: 'http://127.0.0.1:9/x/manifest.json' } });
    assert.equal(r.status, 400, 'the manifest is fetched first');
    const form = await packageForm(pkg);
    const res = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: form });
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(res.status, 503);
    assert.equal(body.code, 'no_release_key');
    assert.match(body.message, /releasePublicKeyFile/);
  } finally {
    await b.cleanup();
  }
});

test('S3 artifact store (against s3rver, a local S3-API server): upload into the bucket under its prefix, ranged download through the backend', async () => {
  const { s3, port } = await startS3rver();
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey, TWINROOT_ARTIFACT_STORE: 's3://twinroot-artifacts/releases', TWINROOT_ARTIFACT_S3_ENDPOINT: `http://127.0.0.1:${port}`, TWINROOT_ARTIFACT_DOWNLOADS: 'proxy' });
  try {
    const p4 = await makePackage({ keys, version: '4.0.0', randomKiB: 300 });
    const form = await packageForm(p4);
    const res = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: form });
    const rel = (await res.json()) as { manifestUrl: string; source: string };
    assert.equal(res.status, 201, JSON.stringify(rel));
    assert.equal(rel.source, 'artifact-store');
    const key = new URL(rel.manifestUrl).pathname.replace('/artifacts/', 'releases/');
    const direct = await fetch(`http://127.0.0.1:${port}/twinroot-artifacts/${key}`);
    assert.ok(Buffer.from(await direct.arrayBuffer()).equals(readFileSync(p4.manifestFile)), 'the manifest is in the bucket under the prefix');
    const payloadUrl = new URL(p4.manifest.payload.file, rel.manifestUrl).toString();
    const original = readFileSync(p4.payloadFile);
    const whole = await fetch(payloadUrl);
    const etag = whole.headers.get('etag')!;
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(original));
    const part = await fetch(payloadUrl, { headers: { range: 'bytes=100-4195', 'if-range': etag } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-4195/${original.length}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(original.subarray(100, 4196)));
    assert.equal((await fetch(payloadUrl.replace('4.0.0.tar', '4.0.1.tar'))).status, 404);
  } finally {
    await b.cleanup();
    await s3.close();
  }
});

test('S3 artifact store, artifactDownloads "redirect" (the default; against s3rver): /artifacts answers 302 to a presigned URL, so the bytes come from the bucket; the agent\'s payload source downloads and resumes through it', async () => {
  const { s3, port } = await startS3rver();
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey, TWINROOT_ARTIFACT_STORE: 's3://twinroot-artifacts', TWINROOT_ARTIFACT_S3_ENDPOINT: `http://127.0.0.1:${port}` });
  try {
    const p5 = await makePackage({ keys, version: '5.0.0', randomKiB: 300 });
    const res = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: await packageForm(p5) });
    const rel = (await res.json()) as { manifestUrl: string };
    assert.equal(res.status, 201, JSON.stringify(rel));
    const payloadUrl = new URL(p5.manifest.payload.file, rel.manifestUrl).toString();
    const original = readFileSync(p5.payloadFile);
    const redirect = await fetch(payloadUrl, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('cache-control'), 'no-store');
    const location = new URL(redirect.headers.get('location')!);
    assert.equal(location.host, `127.0.0.1:${port}`, 'the bucket, not the backend');
    assert.ok(location.searchParams.get('X-Amz-Signature') && location.searchParams.get('X-Amz-Expires') === '3600', location.toString());
    const part = await fetch(location, { headers: { range: 'bytes=100-4195' } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(original.subarray(100, 4196)));
    // What an appliance does: the agent's payload source, from an offset, through the redirect.
    const opened = await httpSource(payloadUrl).open(1000, null);
    assert.equal(opened.start, 1000);
    const chunks: Buffer[] = [];
    for await (const c of opened.stream) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(original.subarray(1000)));
    // Files no release wrote are still refused before any URL is signed.
    assert.equal((await fetch(payloadUrl.replace('5.0.0.tar', '5.0.1.tar'), { redirect: 'manual' })).status, 404);
  } finally {
    await b.cleanup();
    await s3.close();
  }
});

test('security #6: /artifacts serves only what a registered release wrote; an artifact directory holding the data directory is refused', async () => {
  const rel = (await op('GET', '/v1/releases/v2.0.0')).body as { manifestUrl: string };
  const prefix = new URL(rel.manifestUrl).pathname.replace('/artifacts/', '').replace(/\/manifest\.json$/, '');
  const dir = join(backend.dataDir, 'artifacts');
  // Files that land in the store's directory by any other way than a release upload.
  writeFileSync(join(dir, 'planted.txt'), 'not a release');
  writeFileSync(join(dir, prefix, 'planted.txt'), 'not in the release record');
  assert.equal((await fetch(`${backend.urls.http}/artifacts/planted.txt`)).status, 404);
  assert.equal((await fetch(`${backend.urls.http}/artifacts/${prefix}/planted.txt`)).status, 404);
  assert.equal((await fetch(`${backend.urls.http}/artifacts/${prefix}/manifest.json.sig`)).status, 200);

  const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-artdir-'));
  for (const artifactDir of [dataDir, join(dataDir, '..'), join(dataDir, 'log-bundles')]) {
    await assert.rejects(startTestBackend({ TWINROOT_ARTIFACT_DIR: artifactDir }, dataDir), /artifactDir/, artifactDir);
  }
  // Even a key file that ends up in the store's directory is not served: it is in no release record.
  copyFileSync(join(backend.dataDir, 'operator-key'), join(dir, 'operator-key'));
  assert.equal((await fetch(`${backend.urls.http}/artifacts/operator-key`)).status, 404);
});
