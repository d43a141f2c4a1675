// #25 (resume after a kill): `twinroot download` killed with SIGKILL in the middle of a request
// resumes from what it had written, not from the last record — it fetches again less than one chunk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKeys, makePackage, servePackage } from '../../helpers/packages.js';
import { waitFor } from '../../helpers/device-api.js';

const CHUNK = 1024 * 1024;
const CLI = ['--conditions=twinroot-source', '--import', 'tsx', 'agent/src/cli/twinroot.ts'];

function download(manifestUrl: string, dest: string, pubkey: string) {
  const child = spawn(process.execPath, [...CLI, 'download', manifestUrl, '--dest', dest, '--pubkey', pubkey], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, exited, output: () => out };
}

test('SIGKILL mid-download: the next run keeps every chunk already on disk and fetches again less than one chunk', async () => {
  const keys = makeKeys();
  const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 24 * 1024, chunkSize: CHUNK, compression: 'zstd' });
  const size = pkg.manifest.payload.size;
  const server = await servePackage(pkg);
  server.faults = { bytesPerSecond: 8 * CHUNK };
  const dest = mkdtempSync(join(tmpdir(), 'dl-kill-'));
  const payload = join(dest, pkg.manifest.payload.file);
  try {
    const first = download(server.manifestUrl, dest, keys.publicKey);
    // Killed at a random point between 30 % and 80 % of the payload (printed below), in the middle of one request.
    const killAt = Math.floor(size * (0.3 + 0.5 * Math.random()));
    await waitFor(`${killAt} bytes sent`, () => server.payloadBytesSent() > killAt, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}: sent ${server.payloadBytesSent()} of ${size}; ${first.output()}`);
    });
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    const onDisk = existsSync(payload) ? statSync(payload).size : 0;
    const sentBefore = server.payloadBytesSent();
    server.requests.length = 0;
    server.faults = {};
    const second = download(server.manifestUrl, dest, keys.publicKey);
    const r = await second.exited;
    assert.equal(r.code, 0, second.output());
    assert.deepEqual(readFileSync(payload), readFileSync(pkg.payloadFile));
    const refetchedOfDisk = server.payloadBytesSent() - (size - onDisk);
    const refetched = sentBefore + server.payloadBytesSent() - size;
    console.log(`# kill -9 at ${(sentBefore / 2 ** 20).toFixed(1)} MiB sent, ${(onDisk / 2 ** 20).toFixed(1)} MiB on disk: the resume fetched ${(server.payloadBytesSent() / 2 ** 20).toFixed(1)} MiB; again: ${(refetched / 2 ** 20).toFixed(2)} MiB in all (${(refetchedOfDisk / 2 ** 20).toFixed(2)} MiB of what was on disk); chunk ${CHUNK / 2 ** 20} MiB`);
    assert.ok(onDisk > size / 4, `the killed run had written ${onDisk} bytes`);
    assert.ok(refetchedOfDisk < CHUNK, `fetched again ${refetchedOfDisk} bytes of what was on disk (less than one ${CHUNK}-byte chunk)`);
    assert.match(second.output(), /resumed at \d+/);
  } finally {
    await server.stop();
  }
});
