// scripts/sim-appliance.sh, the documented way to run a simulated appliance by hand: the real
// agent process with dir slots against a real backend, upgraded through the API — its reboot is
// the script's restart loop, the trial is health-checked and committed, the heartbeat verifies it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBackend } from '../../helpers/backend.js';
import { call } from '../../helpers/operator-api.js';
import { makeKeys, makePackage, packageForm } from '../../helpers/packages.js';

const SCRIPT = join(import.meta.dirname, '../../../scripts/sim-appliance.sh');

/** Polls `probe` until it returns something truthy. */
async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs: number): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('sim-appliance.sh: registers, connects, is upgraded through the backend across its restart-loop "reboot"', async () => {
  const keys = makeKeys();
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey });
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-sim-'));
  let child: ReturnType<typeof spawn> | null = null;
  let output = '';
  try {
    const op = <T = Record<string, unknown>>(m: string, p: string, json?: unknown) => call<T>(b.urls.http, m, p, { token: b.operatorKey, json });
    const customerId = (await op('POST', '/v1/customers', { name: 'by hand', region: 'eu-west' })).body.customerId as string;
    const token = (await op('POST', `/v1/customers/${customerId}/register-tokens`, {})).body.registerToken as string;
    const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 64 });
    const res = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: await packageForm(pkg) });
    assert.equal(res.status, 201);
    const releaseId = ((await res.json()) as { releaseId: string }).releaseId;

    child = spawn('bash', [SCRIPT, '--backend', b.urls.http, '--token', token, '--pubkey', keys.publicKey, '--dir', dir, '--compatible', 'twinroot-test', '--hostname', 'sim-1'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d));
    child.stderr!.on('data', (d: Buffer) => (output += d));
    const id = await waitFor('registered', () => {
      try {
        return (JSON.parse(readFileSync(join(dir, 'state/identity.json'), 'utf8')) as { applianceId: string }).applianceId;
      } catch {
        return undefined;
      }
    }, 30_000);
    await waitFor('connected', async () => (await op<{ hostname: string; status: string }>('GET', `/v1/appliances/${id}`)).body.status === 'connected', 30_000);
    assert.equal((await op<{ hostname: string }>('GET', `/v1/appliances/${id}`)).body.hostname, 'sim-1');

    const up = await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId });
    assert.equal(up.status, 202, JSON.stringify(up.body));
    await waitFor('upgrade verified', async () => (await op<{ status: string }>('GET', `/v1/tasks/${up.body.taskId as string}`)).body.status === 'succeeded', 60_000);
    const a = (await op<{ version: string; committedSlot: string }>('GET', `/v1/appliances/${id}`)).body;
    assert.deepEqual([a.version, a.committedSlot], ['2.0.0', 'B']);
    assert.match(output, /the agent stopped \(a reboot\); booting again/);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- sim-appliance output ---\n${output.slice(-4000)}`);
  } finally {
    if (child?.pid) {
      try {
        process.kill(-child.pid, 'SIGINT'); // Ctrl-C: the whole group (script and agent)
      } catch {
        // already gone
      }
      await new Promise((r) => child!.once('exit', r));
    }
    await b.cleanup();
  }
});

test('sim-appliance.sh: bad options are one line and exit 2', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d));
      p.on('exit', (code) => resolve({ code, err }));
    });
  const keys = makeKeys();
  for (const [args, re] of [
    [['--pubkey', keys.publicKey], /--dir DIR is required/],
    [['--dir', tmpdir()], /--pubkey FILE/],
    [['--dir', tmpdir(), '--pubkey', keys.publicKey, '--version', '1.0;reboot'], /semantic version/],
    [['--frobnicate'], /unknown option --frobnicate/],
  ] as const) {
    const r = await run([...args]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1);
  }
});
