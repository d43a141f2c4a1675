// The hash pool hashes on worker threads and hands each buffer back for reuse, so a download
// cycles through a few chunk buffers instead of leaving a dead one per chunk in a worker's heap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { HashPool } from '@twinroot/agent';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('hash pool: right hashes on recycled buffers (stale bytes overwritten), a short last chunk in a buffer of its own size', async () => {
  const pool = new HashPool(2);
  try {
    const chunk = 1 << 20;
    const data = [randomBytes(chunk), randomBytes(chunk), randomBytes(chunk), randomBytes(1000)];
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(
        data.map((d) => {
          const buf = pool.buffer(d.length);
          assert.equal(buf.byteLength, d.length);
          buf.set(d);
          return pool.sha256(buf.buffer as ArrayBuffer);
        }),
      );
      assert.deepEqual(got, data.map(sha), `round ${round}`);
    }
  } finally {
    await pool.close();
  }
});

test('hash pool: a hashed buffer comes back — the next buffer of that size is the one just hashed — and at most workers + 2 are kept', async () => {
  const pool = new HashPool(1);
  try {
    const first = pool.buffer(4096);
    first.fill(7);
    await pool.sha256(first.buffer as ArrayBuffer);
    assert.equal(first.byteLength, 0, 'transferred to the worker: detached here');
    const again = pool.buffer(4096);
    assert.ok(again.every((b) => b === 7), 'the recycled buffer (its old bytes are not cleared; the caller overwrites them)');
    assert.ok(pool.buffer(4096).every((b) => b === 0), 'no spare left: a fresh one');

    const many = Array.from({ length: 10 }, () => pool.buffer(2048).fill(1));
    await Promise.all(many.map((b) => pool.sha256(b.buffer as ArrayBuffer)));
    let recycled = 0;
    for (let i = 0; i < 10; i++) if (pool.buffer(2048)[0] === 1) recycled += 1;
    assert.equal(recycled, 3, 'one worker: 3 spares kept, the other 7 left to the garbage collector');
  } finally {
    await pool.close();
  }
});
