import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildPackage, keygen, type BuiltPackage } from '@twinroot/image-build';
import { operatorClient, registerRelease } from '../../demo/demo.js';
import { startTestBackend } from '../helpers/backend.js';
import { bash, buildBase, log, timed } from './harness.js';
import { buildAgentBundle, buildPackerImage, TEST_COMPATIBLE, unpackRootfs, type PackerImage } from './packer-image.js';
import { RunningVm } from './running-vm.js';

/**
 * The whole product on one appliance: the image built by packer/ (qemu source, real provisioners
 * over SSH) and packed as an OVA, booted in QEMU with user-mode networking; its agent registers
 * with the backend on the host (10.0.2.2 from the guest) from a fw_cfg seed and connects to the
 * backend's embedded MQTT broker; then everything is driven through the backend's HTTP API only:
 * a rollout A→B (trial boot, commit), an operator rollback to A, and a release whose health check
 * fails, which rolls itself back and pauses its rollout.
 */

const work = join(process.env.TWINROOT_VM_WORK ?? '/var/tmp/twinroot-vm-test', 'packer-appliance');
const GUEST_HOST = '10.0.2.2';
const BASE_VERSION = '1.0.0';

type Op = ReturnType<typeof operatorClient>;
interface ApplianceView {
  applianceId: string;
  status: string;
  version: string;
  bootedSlot: string | null;
  committedSlot: string | null;
  trial: boolean;
  hostname: string;
  lastSeenAt: string;
  rollback?: { detectedAt: string; fromVersion: string; toVersion: string; taskId?: string };
}
interface TaskView {
  taskId: string;
  taskType: string;
  status: string;
  error?: { code: string; message: string };
  rolledBack?: { at: string; toVersion: string };
  events?: { status: string; note?: string }[];
}

let image: PackerImage;
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let op: Op;
let vm: RunningVm;
let applianceId: string;
let rootfsDir: string;
const releases: Record<string, string> = {};

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** Polls the API until `probe` returns a value; on timeout says what it last saw and shows the console. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15 * 60_000): Promise<T> {
  const started = Date.now();
  let last = '';
  for (;;) {
    const v = await probe().catch((err: Error) => {
      last = err.message;
      return undefined;
    });
    if (v !== undefined) {
      log(`${what}: after ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return v;
    }
    if (!vm.running) throw new Error(`waiting for ${what}: ${vm.exitNote()}`);
    if (Date.now() - started > timeoutMs) {
      throw new Error(`waiting for ${what}: timed out after ${timeoutMs / 1000} s; last seen: ${last}\nserial tail:\n${vm.serial().slice(-3000)}`);
    }
    await sleep(2000);
  }
}

async function appliance(): Promise<ApplianceView> {
  const r = await op('GET', `/v1/appliances/${applianceId}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as unknown as ApplianceView;
}

/**
 * What the appliance reports now: a heartbeat task through the API, answered over MQTT + HTTP
 * (asked again if unanswered, e.g. while the appliance is still booting).
 */
async function freshHeartbeat(what: string): Promise<ApplianceView> {
  return until(what, async () => {
    const asked = Date.now();
    const r = await op('POST', `/v1/appliances/${applianceId}/tasks`, { taskType: 'heartbeat' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    for (let i = 0; i < 10; i++) {
      await sleep(2000);
      const v = await appliance();
      if (Date.parse(v.lastSeenAt) >= asked) return v;
    }
    return undefined;
  });
}

/** The serial console shows GRUB booting these slots, in this order, after the first `since` boots. */
async function bootsAfter(since: number, slots: string[]): Promise<void> {
  await until(`boots ${slots.join(' → ')}`, async () => (vm.bootedSlots().slice(since).join() === slots.join() ? true : undefined));
}

async function task(taskId: string): Promise<TaskView> {
  const r = await op('GET', `/v1/appliances/${applianceId}/tasks`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const t = (r.body.items as TaskView[]).find((x) => x.taskId === taskId);
  assert.ok(t, `task ${taskId} is not listed for the appliance`);
  return t;
}

async function rolloutTask(rolloutId: string): Promise<TaskView> {
  const r = await op('GET', `/v1/appliances/${applianceId}/tasks`);
  const items = (r.body.items as (TaskView & { createdBy: string; body: { mode?: string } })[]) ?? [];
  // The install (a pre-download, if any, is a separate upgrade task with mode "download").
  const t = items.find((x) => x.taskType === 'upgrade' && x.createdBy === `rollout:${rolloutId}` && x.body?.mode !== 'download');
  if (!t) throw new Error(`no upgrade task of rollout ${rolloutId} yet`);
  return t;
}

async function startRollout(releaseId: string): Promise<string> {
  const r = await op('POST', '/v1/rollouts', { releaseId, stageTimeoutMinutes: 30, preDownloadWindowHours: 0, successThreshold: 1, errorThreshold: 0.5 });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.rolloutId as string;
}

async function buildRelease(version: string, healthy: boolean): Promise<BuiltPackage> {
  const check = join(rootfsDir, 'etc/twinroot/health.d/50-appliance-service');
  rmSync(check, { force: true });
  if (!healthy) {
    mkdirSync(join(rootfsDir, 'etc/twinroot/health.d'), { recursive: true });
    writeFileSync(check, '#!/bin/sh\necho "appliance service did not come up in this release"\nexit 1\n');
    chmodSync(check, 0o755);
  }
  try {
    const t = Date.now();
    const pkg = await buildPackage({ rootDir: rootfsDir, version, compatible: TEST_COMPATIBLE, keyFile: join(work, 'keys/signing.key'), outDir: join(work, `release-${version}`), compression: 'zstd', level: 3 });
    log(`release ${version} (image-build from the exported rootfs): ${((Date.now() - t) / 1000).toFixed(0)} s, ${(statSync(pkg.payloadFile).size / 2 ** 20).toFixed(0)} MiB`);
    return pkg;
  } finally {
    rmSync(check, { force: true });
  }
}

describe('a Packer-built appliance upgraded end to end through the backend (QEMU)', { timeout: 90 * 60_000 }, () => {
  before(async () => {
    const t = Date.now();
    const base = await buildBase();
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const keys = keygen(join(work, 'keys'));
    const bundle = await buildAgentBundle(join(work, 'bundle'));
    image = await buildPackerImage({ golden: base.golden, work, agentBundle: bundle, releasePublicKey: keys.publicKey, version: BASE_VERSION });

    rootfsDir = join(work, 'rootfs');
    await unpackRootfs(image.rootfsTar, rootfsDir);
    const good = await buildRelease('2.0.0', true);
    const bad = await buildRelease('3.0.0', false);

    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    backend = await startTestBackend({
      TWINROOT_HTTP_PORT: String(httpPort),
      TWINROOT_PUBLIC_URL: `http://${GUEST_HOST}:${httpPort}`,
      TWINROOT_MQTT_PORT: String(mqttPort),
      TWINROOT_MQTT_PUBLIC_URL: `mqtt://${GUEST_HOST}:${mqttPort}`,
      TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey,
      TWINROOT_SWEEP_SCHEDULE: '* * * * *',
      TWINROOT_ROLLOUT_PASS_SECONDS: '2',
    });
    // The host reaches the API on its loopback; the guest reaches the same port at 10.0.2.2.
    op = operatorClient(`http://127.0.0.1:${httpPort}`, backend.operatorKey);
    releases['2.0.0'] = await registerRelease(op, good);
    releases['3.0.0'] = await registerRelease(op, bad);
    const customer = await op('POST', '/v1/customers', { name: 'Contoso Manufacturing', region: 'eu-west-1' });
    assert.equal(customer.status, 201, JSON.stringify(customer.body));
    const token = await op('POST', `/v1/customers/${customer.body.customerId as string}/register-tokens`, {});
    assert.equal(token.status, 201, JSON.stringify(token.body));

    // A clone of the built image, deployed with its registration seed as a fw_cfg entry (on a
    // cloud it would be user data, on vSphere an OVF property).
    const seed = join(work, 'register-seed.json');
    writeFileSync(seed, JSON.stringify({ backendUrl: `http://${GUEST_HOST}:${httpPort}`, registerToken: token.body.registerToken }));
    const disk = join(work, 'appliance.qcow2');
    await bash(`qemu-img create -q -f qcow2 -b '${image.qcow2}' -F qcow2 '${disk}'`);
    vm = new RunningVm(work, disk, ['-fw_cfg', `name=opt/io.twinroot/register,file=${seed}`]);
    vm.start();
    log(`setup (base image, agent bundle, packer build, OVA, two releases, backend): ${((Date.now() - t) / 1000).toFixed(0)} s`);
  });

  after(async () => {
    await vm?.stop();
    await backend?.cleanup();
    if (rootfsDir) rmSync(rootfsDir, { recursive: true, force: true });
    if (vm) log(`serial console of the appliance: ${vm.serialFile}; slots booted: ${vm.bootedSlots().join(' → ')}`);
  });

  it('builds a clean image: OVA with a checked OVF; no machine identity, host keys, build key or agent state inside', () => {
    assert.match(image.ovaCheck, /OVF checked/);
    assert.ok(existsSync(image.ova));
    const members = readFileSync(image.packerLog, 'utf8');
    assert.match(members, /check-layout: ok/);
    assert.match(members, /configure-boot: slot A \(1\.0\.0, kernel [^)]+\) committed and bootable/);
    // What the build shipped, seen in the root filesystem it exported.
    assert.equal(readFileSync(join(rootfsDir, 'etc/machine-id'), 'utf8'), '', 'machine-id must be empty (systemd makes one per clone)');
    assert.equal(existsSync(join(rootfsDir, 'root/.ssh/authorized_keys')), false, 'the build key must be gone');
    assert.match(readFileSync(join(rootfsDir, 'etc/shadow'), 'utf8'), /^root:[!*]/m, 'root must have no usable password');
    for (const f of ['ssh_host_ed25519_key', 'ssh_host_rsa_key', 'ssh_host_ecdsa_key']) assert.equal(existsSync(join(rootfsDir, 'etc/ssh', f)), false, `${f} must not ship`);
    const agentConfig = JSON.parse(readFileSync(join(rootfsDir, 'etc/twinroot/agent.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(agentConfig.compatible, TEST_COMPATIBLE);
    assert.equal(agentConfig.stateDir, '/data/twinroot');
    assert.match(readFileSync(join(rootfsDir, 'etc/twinroot/release-signing.pub'), 'utf8'), /BEGIN PUBLIC KEY/);
    assert.ok(existsSync(join(rootfsDir, 'usr/lib/twinroot/agent/node_modules/aws-crt/dist/bin/linux-x64-glibc/aws-crt-nodejs.node')), 'the agent is a bundle with its native MQTT library');
    assert.equal(existsSync(join(rootfsDir, 'usr/lib/twinroot/agent/.git')), false);
    // Enabled units are symlinks to absolute paths inside the image: look at the links themselves.
    for (const unit of ['twinroot-agent', 'twinroot-register', 'twinroot-host-keys']) {
      assert.ok(lstatSync(join(rootfsDir, `etc/systemd/system/multi-user.target.wants/${unit}.service`), { throwIfNoEntry: false })?.isSymbolicLink(), `${unit} is not enabled`);
    }
  });

  it('first boot: registers from its seed, connects over MQTT, reports 1.0.0 on committed slot A', async () => {
    await timed('first boot and registration', async () => {
      const listed = await until('the appliance registered', async () => {
        const r = await op('GET', '/v1/appliances');
        const items = r.body.items as ApplianceView[];
        return items.length === 1 ? items[0] : undefined;
      });
      applianceId = listed.applianceId;
      // Registration alone says nothing about MQTT: a heartbeat task, answered, proves the agent
      // is subscribed.
      const a = await freshHeartbeat('a heartbeat task answered over MQTT');
      assert.equal(a.status, 'connected');
      assert.equal(a.bootedSlot, 'A');
      assert.equal(a.version, BASE_VERSION);
      assert.equal(a.committedSlot, 'A');
      assert.equal(a.trial, false);
      assert.equal(a.hostname, 'appliance');
    });
  });

  it('(1) a rollout of 2.0.0 upgrades A→B with a trial boot and commit; succeeded from the post-reboot heartbeat', async () => {
    await timed('rollout 2.0.0: A→B', async () => {
      const rolloutId = await startRollout(releases['2.0.0']!);
      const t = await until('the rollout task succeeded', async () => {
        const x = await rolloutTask(rolloutId);
        if (['failed', 'timed_out', 'cancelled'].includes(x.status)) throw new Error(`upgrade task ${x.status}: ${JSON.stringify(x.error)}`);
        return x.status === 'succeeded' ? x : undefined;
      });
      const statuses = (t.events ?? []).map((e) => e.status);
      for (const s of ['sent', 'accepted', 'running', 'succeeded']) assert.ok(statuses.includes(s), `task events ${statuses.join(',')} lack ${s}`);
      const a = await appliance();
      assert.equal(a.version, '2.0.0');
      assert.equal(a.bootedSlot, 'B');
      assert.equal(a.committedSlot, 'B');
      assert.equal(a.trial, false);
      // The rollout's counts follow at its next pass (every 2 s here).
      await until('the rollout counted it', async () => {
        const r = (await op('GET', `/v1/rollouts/${rolloutId}`)).body as { stages: { counts: { succeeded: number } }[] };
        return r.stages[0]!.counts.succeeded === 1 ? true : undefined;
      }, 60_000);
      assert.deepEqual(vm.bootedSlots().slice(-2), ['A', 'B'], 'the trial booted slot B once');
    });
  });

  it('(2) a rollback task returns it to A, and the backend detects the rollback', async () => {
    await timed('rollback to A', async () => {
      const bootsBefore = vm.bootedSlots().length;
      const r = await op('POST', `/v1/appliances/${applianceId}/rollback`, { reboot: true });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const rb = await until('the rollback task succeeded', async () => {
        const x = await task(r.body.taskId as string);
        return x.status === 'succeeded' ? x : undefined;
      });
      assert.equal(rb.taskType, 'rollback');
      await bootsAfter(bootsBefore, ['A']);
      const a = await freshHeartbeat('a heartbeat from A');
      assert.equal(a.bootedSlot, 'A');
      assert.equal(a.version, BASE_VERSION);
      assert.equal(a.committedSlot, 'A');
      assert.equal(a.status, 'rolled_back');
      assert.equal(a.rollback?.fromVersion, '2.0.0');
      assert.equal(a.rollback?.toVersion, BASE_VERSION);
    });
  });

  it('(3) a release whose health check fails rolls itself back, and its rollout pauses on the error threshold', async () => {
    await timed('unhealthy 3.0.0: automatic rollback, rollout paused', async () => {
      const bootsBefore = vm.bootedSlots().length;
      const rolloutId = await startRollout(releases['3.0.0']!);
      const t = await until('the upgrade to 3.0.0 failed', async () => {
        const x = await rolloutTask(rolloutId);
        if (x.status === 'succeeded') throw new Error('the unhealthy release was committed');
        return x.status === 'failed' ? x : undefined;
      });
      assert.equal(t.error?.code, 'health_check_failed', JSON.stringify(t.error));
      assert.match(t.error?.message ?? '', /appliance service did not come up/);
      const paused = await until('the rollout paused', async () => {
        const r = (await op('GET', `/v1/rollouts/${rolloutId}`)).body as { status: string; pausedReason?: string };
        return r.status === 'paused' ? r : undefined;
      }, 120_000);
      assert.match(paused.pausedReason ?? '', /^error threshold: 1 of 1 appliances failed or rolled back/);
      // The trial booted B once, then the agent's rollback rebooted into the committed A.
      await bootsAfter(bootsBefore, ['B', 'A']);
      const a = await freshHeartbeat('a heartbeat from A');
      assert.equal(a.bootedSlot, 'A');
      assert.equal(a.version, BASE_VERSION);
      assert.equal(a.committedSlot, 'A');
      assert.equal(a.trial, false);
    });
  });
});
