// What every server of release files must answer for one (whole file, ranges, If-Range, 416,
// HEAD, 304): the API's /artifacts route and the artifact thread are held to the same checks.
import assert from 'node:assert/strict';

/** Checks the answers for `payloadUrl` (serving `original`) and `manifestUrl`; returns the payload's ETag. */
export async function checkArtifactAnswers(payloadUrl: string, manifestUrl: string, original: Buffer): Promise<string> {
  const whole = await fetch(payloadUrl);
  assert.equal(whole.status, 200);
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(original));
  const etag = whole.headers.get('etag')!;
  assert.match(etag, /^"[0-9a-f-]+"$/, 'a strong ETag');
  assert.equal(whole.headers.get('accept-ranges'), 'bytes');
  const part = await fetch(payloadUrl, { headers: { range: 'bytes=1000-1999', 'if-range': etag } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${original.length}`);
  assert.ok(Buffer.from(await part.arrayBuffer()).equals(original.subarray(1000, 2000)));
  const tail = await fetch(payloadUrl, { headers: { range: 'bytes=-10' } });
  assert.ok(Buffer.from(await tail.arrayBuffer()).equals(original.subarray(original.length - 10)));
  const open = await fetch(payloadUrl, { headers: { range: `bytes=${original.length - 5}-` } });
  assert.equal(open.status, 206);
  assert.equal((await open.arrayBuffer()).byteLength, 5);
  const stale = await fetch(payloadUrl, { headers: { range: 'bytes=1000-1999', 'if-range': '"something-else"' } });
  assert.equal(stale.status, 200, 'a changed object is sent whole');
  assert.equal((await stale.arrayBuffer()).byteLength, original.length);
  const beyond = await fetch(payloadUrl, { headers: { range: `bytes=${original.length}-` } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get('content-range'), `bytes */${original.length}`);
  const head = await fetch(payloadUrl, { method: 'HEAD' });
  assert.equal(head.headers.get('content-length'), String(original.length));
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  assert.equal((await fetch(manifestUrl, { headers: { 'if-none-match': (await fetch(manifestUrl)).headers.get('etag')! } })).status, 304);
  return etag;
}
