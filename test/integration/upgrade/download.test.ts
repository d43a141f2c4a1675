// The agent's resumable, chunk-verified download against a real HTTP server that behaves like
// S3/nginx (Range, ETag, If-Range) and fails like a real network or a bad mirror.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PayloadDownload, PayloadError, httpSource } from '@twinroot/agent';
import type { BuiltPackage } from '@twinroot/image-build';
import { makeKeys, makePackage, servePackage, type PackageServer } from '../../helpers/packages.js';

const CHUNK = 64 * 1024;
let pkg: BuiltPackage;
let server: PackageServer;

before(async () => {
  pkg = await makePackage({ keys: makeKeys(), version: '2.0.0', randomKiB: 2048, chunkSize: CHUNK });
  server = await servePackage(pkg);
});
after(async () => {
  await server.stop();
});

const payloadUrl = () => `${server.url}/pkg/${pkg.manifest.payload.file}`;
const fastRetry = { backoffMs: () => 5, maxAttempts: 4 };

function download(dir: string, extra: Partial<ConstructorParameters<typeof PayloadDownload>[0]> = {}) {
  return new PayloadDownload({ manifest: pkg.manifest, source: httpSource(payloadUrl()), dir, ...fastRetry, ...extra });
}

function reset(faults: PackageServer['faults'] = {}) {
  server.faults = faults;
  server.requests.length = 0;
}

test('a clean download verifies every chunk and equals the payload', async () => {
  reset();
  const dir = mkdtempSync(join(tmpdir(), 'dl-'));
  const dl = download(dir);
  const progress: number[] = [];
  const stats = await download(dir, { onProgress: (p) => progress.push(p.bytes) }).run();
  assert.ok(pkg.manifest.payload.chunks.length >= 30, 'the test payload spans many chunks');
  assert.deepEqual(readFileSync(dl.file), readFileSync(pkg.payloadFile));
  assert.equal(stats.requests, 1);
  assert.equal(stats.discardedBytes, 0);
  assert.equal(progress.at(-1), pkg.manifest.payload.size);
});

test('a download cut at random points completes, re-fetching less than one chunk per cut', async () => {
  const size = pkg.manifest.payload.size;
  for (let round = 0; round < 3; round++) {
    const cuts = Array.from({ length: 5 }, () => 1 + Math.floor(Math.random() * (size / 4)));
    reset({ cutAfter: [...cuts] });
    const dir = mkdtempSync(join(tmpdir(), 'dl-'));
    const dl = download(dir);
    const stats = await dl.run();
    assert.deepEqual(readFileSync(dl.file), readFileSync(pkg.payloadFile), `round ${round}: cuts ${cuts.join(',')}`);
    const payloadRequests = server.requests.filter((r) => r.path.endsWith(pkg.manifest.payload.file));
    assert.equal(payloadRequests.length, 6, 'one request per cut, plus the last');
    // A cut inside the first chunk leaves nothing verified: that retry starts over without a Range.
    assert.ok(payloadRequests.every((r) => (r.range === null ? r.status === 200 : r.status === 206)), 'every resume is a Range request answered 206');
    assert.ok(payloadRequests.some((r) => r.range !== null));
    const refetched = server.payloadBytesSent() - size;
    assert.ok(refetched < cuts.length * CHUNK, `re-fetched ${refetched} bytes for ${cuts.length} cuts (chunk ${CHUNK})`);
    assert.ok(stats.discardedBytes < cuts.length * CHUNK);
  }
});

test('a download stopped mid-way (agent restart) resumes from its verified prefix', async () => {
  reset();
  const dir = mkdtempSync(join(tmpdir(), 'dl-'));
  const stop = new AbortController();
  const first = download(dir, { signal: stop.signal });
  first.events.on('verified', (bytes: number) => bytes > 600 * 1024 && stop.abort(new Error('agent stopping')));
  await assert.rejects(first.run(), /agent stopping/);
  // A new process: only what download.json records as verified counts.
  const second = download(dir);
  assert.ok(second.verifiedBytes > 0 && second.verifiedBytes % CHUNK === 0, `resumes at ${second.verifiedBytes}`);
  const sentBefore = server.payloadBytesSent();
  server.requests.length = 0;
  const stats = await second.run();
  assert.equal(stats.resumedFromBytes, second.stats.resumedFromBytes);
  assert.deepEqual(readFileSync(second.file), readFileSync(pkg.payloadFile));
  assert.equal(server.payloadBytesSent(), pkg.manifest.payload.size - stats.resumedFromBytes, 'nothing verified is fetched again');
  assert.ok(sentBefore > 0);
});

test('a chunk that fails its hash once is fetched again, not the whole file', async () => {
  const size = pkg.manifest.payload.size;
  reset({ tamperAt: Math.floor(size / 2), tamperTimes: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'dl-'));
  const dl = download(dir);
  const stats = await dl.run();
  assert.equal(stats.badChunks, 1);
  assert.deepEqual(readFileSync(dl.file), readFileSync(pkg.payloadFile));
  assert.ok(server.payloadBytesSent() < size * 1.5, `sent ${server.payloadBytesSent()} for ${size}`);
  const second = server.requests.filter((r) => r.path.endsWith(pkg.manifest.payload.file))[1]!;
  assert.ok(Number(/bytes=([0-9]+)-/.exec(second.range!)![1]) > 0, 're-fetch starts at the bad chunk');
});

test('a permanently tampered payload is refused as corrupt', async () => {
  reset({ tamperAt: 100_000 });
  const err = await download(mkdtempSync(join(tmpdir(), 'dl-'))).run().catch((e: unknown) => e);
  assert.ok(err instanceof PayloadError);
  assert.equal(err.code, 'payload_corrupt');
  assert.match(err.message, /chunk 1 failed its hash 3 times/);
});

test('endless data (more bytes than the manifest says) is refused', async () => {
  reset({ extraBytes: 10 * CHUNK });
  const err = await download(mkdtempSync(join(tmpdir(), 'dl-'))).run().catch((e: unknown) => e);
  assert.ok(err instanceof PayloadError);
  assert.equal(err.code, 'payload_too_large');
});

test('a truncated payload on the server is refused at once', async () => {
  reset({ truncateTo: 300_000 });
  const err = await download(mkdtempSync(join(tmpdir(), 'dl-'))).run().catch((e: unknown) => e);
  assert.ok(err instanceof PayloadError);
  assert.equal(err.code, 'payload_corrupt');
  assert.match(err.message, /truncated/);
});

test('a server that ignores Range still completes (the known prefix is skipped, not re-verified)', async () => {
  reset({ cutAfter: [400_000], ignoreRange: true });
  const dir = mkdtempSync(join(tmpdir(), 'dl-'));
  const dl = download(dir);
  await dl.run();
  assert.deepEqual(readFileSync(dl.file), readFileSync(pkg.payloadFile));
  assert.ok(server.requests.filter((r) => r.path.endsWith(pkg.manifest.payload.file)).every((r) => r.status === 200));
});

test('a missing payload fails at once with payload_unavailable', async () => {
  reset();
  const dl = new PayloadDownload({ manifest: pkg.manifest, source: httpSource(`${server.url}/pkg/nope`), dir: mkdtempSync(join(tmpdir(), 'dl-')), ...fastRetry });
  const err = await dl.run().catch((e: unknown) => e);
  assert.ok(err instanceof PayloadError);
  assert.equal(err.code, 'payload_unavailable');
  assert.match(err.message, /HTTP 404/);
});
