// The artifact server on its own thread and port (artifactListen): new releases' URLs point
// there, and it answers exactly as the API's /artifacts route does — ranges, strong ETags,
// If-Range, 304, 416, HEAD — only for files a registered release wrote, with no path escapes;
// the API stays the API. An agent-style resumed download through it verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkArtifactAnswers } from '../../helpers/artifact-answers.js';
import { startTestBackend } from '../../helpers/backend.js';
import { makeKeys, makePackage, packageForm } from '../../helpers/packages.js';

test('artifactListen: a thread of its own serves /artifacts on its port with the same answers; only released files; the API port is unchanged', async () => {
  const keys = makeKeys();
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey, TWINROOT_ARTIFACT_LISTEN: '127.0.0.1:0' });
  try {
    assert.ok(b.urls.artifacts && b.urls.artifacts !== b.urls.http, `artifacts on their own port: ${b.urls.artifacts}`);
    const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 512 });
    const up = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: await packageForm(pkg) });
    const rel = (await up.json()) as { manifestUrl: string };
    assert.equal(up.status, 201);
    assert.ok(rel.manifestUrl.startsWith(`${b.urls.artifacts}/artifacts/`), rel.manifestUrl);
    const payloadUrl = new URL(pkg.manifest.payload.file, rel.manifestUrl).toString();
    const original = readFileSync(pkg.payloadFile);

    const etag = await checkArtifactAnswers(payloadUrl, rel.manifestUrl, original);
    // The same validator as the API's own route gives for the same file.
    const api = await fetch(payloadUrl.replace(b.urls.artifacts!, b.urls.http), { method: 'HEAD' });
    assert.equal(api.headers.get('etag'), etag);

    // A resumed download (as the agent does it): first half, then the rest with If-Range; the hash holds.
    const half = Math.floor(original.length / 2);
    const a = Buffer.from(await (await fetch(payloadUrl, { headers: { range: `bytes=0-${half - 1}` } })).arrayBuffer());
    const rest = Buffer.from(await (await fetch(payloadUrl, { headers: { range: `bytes=${half}-`, 'if-range': etag } })).arrayBuffer());
    assert.equal(createHash('sha256').update(Buffer.concat([a, rest])).digest('hex'), createHash('sha256').update(original).digest('hex'));

    // Only what a registered release wrote: a file dropped into the directory is not served; no escapes.
    writeFileSync(join(b.dataDir, 'artifacts', 'stray.bin'), 'not a release');
    for (const bad of ['/artifacts/stray.bin', '/artifacts/../operator-key', '/artifacts/%2e%2e/operator-key', '/artifacts/v2.0.0/../../operator-key', '/artifacts/%E0%A4%A', '/v1/releases', '/healthz']) {
      const r = await fetch(b.urls.artifacts + bad);
      assert.ok(r.status === 404 || r.status === 400, `${bad}: ${r.status}`);
    }
    assert.equal((await fetch(payloadUrl, { method: 'POST' })).status, 405);
    assert.equal((await fetch(`${b.urls.http}/healthz`)).status, 200, 'the API is where it was');
  } finally {
    await b.cleanup();
  }
});
