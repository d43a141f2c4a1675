// The agent as the image build installs it: scripts/build-agent-bundle.sh's tarball (esbuild
// bundle + aws-crt), unpacked and run as processes. The bundle must behave as the compiled
// sources do — the CommonJS packages it folds in (the MQTT SDK, @peculiar/x509) included.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestBackend } from '../../helpers/backend.js';
import { call } from '../../helpers/operator-api.js';
import { makeKeys, makePackage } from '../../helpers/packages.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '../../..');
const built = existsSync(join(repo, 'agent/dist/cli/twinroot.js'));
let work: string;
let cli: string;
let daemon: string;

before(() => {
  if (!built) return;
  work = mkdtempSync(join(tmpdir(), 'twinroot-bundle-'));
  const tarball = execFileSync('bash', [join(repo, 'scripts/build-agent-bundle.sh'), join(work, 'out')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim().split('\n').at(-1)!;
  execFileSync('tar', ['-xzf', tarball, '-C', work]);
  cli = join(work, 'agent/dist/cli/twinroot.js');
  daemon = join(work, 'agent/dist/cli/twinroot-agent.js');
});
after(() => work && rmSync(work, { recursive: true, force: true }));

function appliance(name: string, extra: Record<string, unknown> = {}) {
  const dir = join(work, name);
  for (const s of ['A', 'B']) mkdirSync(join(dir, 'slots', s, 'etc/twinroot'), { recursive: true });
  writeFileSync(join(dir, 'slots/A/etc/twinroot/version'), '1.0.0\n');
  writeFileSync(join(dir, 'slots/bootstate.json'), '{"booted":"A","committed":"A","next":null}\n');
  const config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ stateDir: join(dir, 'state'), logFile: join(dir, 'agent.log'), slots: { driver: 'dir', root: join(dir, 'slots') }, rebootCommand: ['true'], compatible: 'twinroot-test', ...extra }));
  return { dir, config };
}

const skip = built ? false : 'needs `npm run build` (the bundle is made from agent/dist)';

test('bundle: a few files, no node_modules but aws-crt’s; --help without loading a command’s code', { skip }, async () => {
  const modules = readdirSync(join(work, 'agent/node_modules')).filter((m) => !m.startsWith('.'));
  assert.ok(modules.includes('aws-crt'));
  for (const m of ['got', 'pino', 'ajv', '@sinclair', 'aws-iot-device-sdk-v2', '@peculiar']) assert.ok(!modules.includes(m), `${m} is bundled, not installed`);
  const { stdout } = await run(process.execPath, [cli, '--help']);
  assert.match(stdout, /^usage: twinroot/);
  await assert.rejects(run(process.execPath, [cli, 'frobnicate']), (e: { code: number; stderr: string }) => e.code === 2 && /unknown command: frobnicate/.test(e.stderr));
});

test('bundle: the CLI upgrades dir slots from a local signed package (download, verify, extract)', { skip }, async () => {
  const keys = makeKeys();
  const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 2048, chunkSize: 256 * 1024 });
  const a = appliance('local', { releasePublicKeyFile: keys.publicKey });
  const { stdout } = await run(process.execPath, [cli, '--config', a.config, 'upgrade', '--manifest', join(pkg.dir, 'manifest.json'), '--mode', 'install']);
  assert.match(stdout, /2\.0\.0/);
  assert.equal(readFileSync(join(a.dir, 'slots/B/etc/twinroot/version'), 'utf8').trim(), '2.0.0');
});

test('bundle: registers with a certificate (CSR made with the bundled @peculiar/x509), the daemon connects over mTLS and answers a heartbeat', { skip }, async () => {
  const b = await startTestBackend({ TWINROOT_MQTT_AUTH: 'certificate', TWINROOT_MQTT_TLS_PORT: '0' });
  const a = appliance('daemon');
  let child: ReturnType<typeof spawn> | null = null;
  try {
    const op = (m: string, p: string, json?: unknown) => call(b.urls.http, m, p, { token: b.operatorKey, json });
    const customerId = (await op('POST', '/v1/customers', { name: 'Bundle', region: 'eu-west-1' })).body.customerId as string;
    const token = (await op('POST', `/v1/customers/${customerId}/register-tokens`, {})).body.registerToken as string;
    await run(process.execPath, [cli, '--config', a.config, 'register', '--token', token, '--backend', b.urls.http, '--hostname', 'bundled']);
    const identity = JSON.parse(readFileSync(join(a.dir, 'state/identity.json'), 'utf8')) as { applianceId: string; certificate?: { certificateId: string } };
    assert.ok(identity.certificate?.certificateId, 'registered with a certificate');

    child = spawn(process.execPath, [daemon, 'run', '--config', a.config], { stdio: 'ignore' });
    const runtime = join(a.dir, 'state/runtime.json');
    const until = Date.now() + 30_000;
    while (!(existsSync(runtime) && (JSON.parse(readFileSync(runtime, 'utf8')) as { mqtt: string }).mqtt === 'connected')) {
      assert.ok(Date.now() < until, `the bundled daemon did not connect: ${existsSync(join(a.dir, 'agent.log')) ? readFileSync(join(a.dir, 'agent.log'), 'utf8').slice(-2000) : 'no log'}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const task = await b.services.tasks.create({ applianceId: identity.applianceId, taskType: 'heartbeat', body: {}, createdBy: 'test' });
    for (let i = 0; ; i++) {
      const t = await b.data.tasks.get(task.taskId);
      if (t?.status === 'succeeded') break;
      assert.ok(i < 300, `the heartbeat task is ${t?.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const exited = new Promise<number | null>((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'stops cleanly on SIGTERM');
    child = null;
  } finally {
    child?.kill('SIGKILL');
    await b.cleanup();
  }
});
