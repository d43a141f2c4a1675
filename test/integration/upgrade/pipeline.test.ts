// The upgrade pipeline end to end on `dir` slots: refusals that must leave the appliance as it
// was, pre-checks, the state machine resuming after a crash in each persisted state, and the
// reuse of a payload downloaded ahead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPublicKey, signManifest, loadPrivateKey, type TaskResult } from '@twinroot/protocol';
import {
  DirSlotDriver, runBootCheck, runUpgrade, SimulatedCrash, UpgradeError, UpgradeJournal, Outbox, Inbox,
  type UpgradeDeps, type UpgradeState,
} from '@twinroot/agent';
import type { BuiltPackage } from '@twinroot/image-build';
import { makeDirSlots } from '../../helpers/agent.js';
import { makeKeys, makePackage, servePackage, PackageServer, type TestKeys } from '../../helpers/packages.js';

const CPUINFO_V3 = 'flags\t\t: fpu cx8 cmov mmx fxsr sse sse2 lm pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm avx avx2 bmi1 bmi2 f16c fma abm movbe xsave\n';
const CPUINFO_NO_SSE42 = 'flags\t\t: fpu cx8 cmov mmx fxsr sse sse2 lm pni ssse3 cx16 sse4_1 popcnt lahf_lm\n';

let keys: TestKeys;
let pkg: BuiltPackage;
let server: PackageServer;
const silent = { info() {}, warn() {}, error() {} };

before(async () => {
  keys = makeKeys();
  pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 1024, chunkSize: 64 * 1024, cpuLevel: 'x86-64-v2' });
  server = await servePackage(pkg);
});
after(async () => {
  await server.stop();
});

interface Appliance {
  dir: string;
  stateDir: string;
  driver: DirSlotDriver;
  reboots: number;
  deps: (extra?: Partial<UpgradeDeps>) => UpgradeDeps;
  /** Everything about the slots a refused upgrade must leave alone. */
  snapshot(): string;
}

function appliance(opts: { cpuinfo?: string; sizeBytes?: number; publicKey?: string } = {}): Appliance {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-upgrade-'));
  makeDirSlots(join(dir, 'slots'));
  // Slot B holds an older system: the rollback target a refused upgrade must not destroy.
  writeFileSync(join(dir, 'slots/B/etc/twinroot/version'), '0.9.0\n');
  writeFileSync(join(dir, 'slots/B/etc/keep'), 'old system\n');
  const driver = new DirSlotDriver(join(dir, 'slots'), opts.sizeBytes ?? null);
  driver.boot();
  const a: Appliance = {
    dir,
    stateDir: join(dir, 'state'),
    driver,
    reboots: 0,
    deps: (extra = {}) => ({
      stateDir: a.stateDir,
      downloadRoot: join(dir, 'downloads'),
      driver,
      publicKey: () => loadPublicKey(readFileSync(opts.publicKey ?? keys.publicKey)),
      compatible: 'twinroot-test',
      cpuinfo: () => opts.cpuinfo ?? CPUINFO_V3,
      log: silent,
      reboot: async () => void a.reboots++,
      download: { backoffMs: () => 5, maxAttempts: 3 },
      ...extra,
    }),
    snapshot: () => execFileSync('bash', ['-c', 'cd "$1" && find . -type f | sort | xargs sha256sum', '_', join(dir, 'slots')]).toString(),
  };
  return a;
}

const request = (taskId: string, extra: Partial<Parameters<typeof runUpgrade>[0]> = {}) => ({
  taskId, version: '2.0.0', location: server.manifestUrl, mode: 'install-reboot' as const, ...extra,
});

async function refused(a: Appliance, req: Parameters<typeof runUpgrade>[0], code: string, deps: Partial<UpgradeDeps> = {}) {
  const before = a.snapshot();
  const err = await runUpgrade(req, a.deps(deps)).catch((e: unknown) => e);
  assert.ok(err instanceof UpgradeError, `expected an UpgradeError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.equal(a.snapshot(), before, 'the slots are untouched');
  assert.equal(a.reboots, 0);
  return err;
}

/** A package directory copied so a test can spoil one file of it. */
async function servedCopy(mutate: (dir: string) => void): Promise<PackageServer> {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-pkgcopy-'));
  cpSync(pkg.dir, dir, { recursive: true });
  mutate(dir);
  return new PackageServer(dir, pkg.manifest.payload.file).start();
}

test('refusals before any slot is touched: tampered, truncated, oversized, wrong key, bad signature, downgrade', async () => {
  // A payload whose first chunk is tampered: no byte of it ever reaches a slot.
  server.faults = { tamperAt: 10 };
  const tampered = await refused(appliance(), request('t-tamper'), 'payload_corrupt');
  assert.match(tampered.message, /chunk 0 failed its hash/);
  server.faults = { truncateTo: 100_000 };
  await refused(appliance(), request('t-trunc'), 'payload_corrupt');
  server.faults = { extraBytes: 1 };
  await refused(appliance(), request('t-big', { mode: 'download' }), 'payload_too_large');
  server.faults = {};

  const other = makeKeys();
  const wrongKey = await refused(appliance({ publicKey: other.publicKey }), request('t-key'), 'bad_signature');
  assert.match(wrongKey.message, /does not match the pinned public key/);

  const badSig = await servedCopy((d) => {
    const m = readFileSync(join(d, 'manifest.json'), 'utf8').replace('"2.0.0"', '"2.0.1"');
    writeFileSync(join(d, 'manifest.json'), m); // changed after signing
  });
  try {
    await refused(appliance(), { ...request('t-sig'), location: badSig.manifestUrl }, 'bad_signature');
  } finally {
    await badSig.stop();
  }
  const garbageSig = await servedCopy((d) => writeFileSync(join(d, 'manifest.json.sig'), 'not a signature\n'));
  try {
    await refused(appliance(), { ...request('t-sig2'), location: garbageSig.manifestUrl }, 'bad_signature');
  } finally {
    await garbageSig.stop();
  }

  const newer = appliance();
  writeFileSync(join(newer.dir, 'slots/A/etc/twinroot/version'), '3.0.0\n');
  const down = await refused(newer, request('t-down'), 'downgrade');
  assert.match(down.message, /2\.0\.0 is lower than the committed 3\.0\.0/);
  assert.equal(new UpgradeJournal(newer.stateDir).read(), null, 'a refused pre-check writes no journal');
});

test('a payload tampered after its first chunk fails without switching anything', async () => {
  const a = appliance();
  server.faults = { tamperAt: pkg.manifest.payload.size - 10 };
  try {
    const err = await runUpgrade(request('t-late'), a.deps()).catch((e: unknown) => e);
    assert.ok(err instanceof UpgradeError && err.code === 'payload_corrupt', String(err));
  } finally {
    server.faults = {};
  }
  const s = await a.driver.status();
  assert.deepEqual([s.bootedSlot, s.committedSlot, s.nextBoot ?? null], ['A', 'A', null], 'nothing switched');
  assert.equal(s.slots.B.version, null, 'the half-extracted slot has no version and cannot be booted');
  assert.equal(new UpgradeJournal(a.stateDir).read()!.state, 'failed');
});

test('pre-check failures say why and change nothing', async () => {
  await refused(appliance({ cpuinfo: CPUINFO_NO_SSE42 }), request('p-cpu'), 'cpu_level').then((e) => assert.match(e.message, /needs x86-64-v2; this CPU is x86-64 \(missing sse4_2\)/));
  await refused(appliance({ sizeBytes: 1000 }), request('p-slot'), 'slot_too_small');
  await refused(appliance(), request('p-space'), 'no_space', { freeBytes: () => 1024 * 1024 });
  await refused(appliance(), request('p-compat'), 'incompatible', { compatible: 'other-appliance' });
  await refused(appliance(), request('p-version', { version: '2.0.1' }), 'version_mismatch');
  const requests = server.requests.length;
  await refused(appliance(), request('p-key'), 'no_public_key', { publicKey: () => { throw new Error('cannot read /etc/twinroot/release-signing.pub: ENOENT'); } });
  assert.equal(server.requests.length, requests, 'no key: nothing is even fetched');
});

async function bootAndCheck(a: Appliance, hooks: Pick<UpgradeDeps, 'afterTransition' | 'beforeStep'> = {}, reboot = true) {
  if (reboot) a.driver.boot(); // the reboot: GRUB's part
  const results: TaskResult[] = [];
  const outbox = new Outbox(a.stateDir, async (e) => (results.push(e.result), 'delivered'), silent);
  outbox.start();
  try {
    const outcome = await runBootCheck({ driver: a.driver, stateDir: a.stateDir, outbox, inbox: new Inbox(a.stateDir), log: silent as never, reboot: async () => void a.reboots++, hooks });
    await outbox.drained(5000);
    return { outcome, results };
  } finally {
    await outbox.stop();
  }
}

test('install-reboot: download with overlapped install, reboot into the trial, commit', async () => {
  const a = appliance();
  server.requests.length = 0;
  const phases = new Set<string>();
  const out = await runUpgrade(request('u-1'), a.deps(), { progress: (p) => p.phase && phases.add(p.phase) });
  assert.equal(out.rebooting, true);
  assert.equal(a.reboots, 1);
  assert.deepEqual([...phases], ['manifest', 'downloading', 'installing', 'sync_config', 'boot_config', 'try', 'rebooting']);
  const j = new UpgradeJournal(a.stateDir);
  assert.deepEqual(j.read()!.history.map((h) => h.state), ['idle', 'downloading', 'verified', 'installing', 'boot_configured', 'rebooting']);
  assert.equal(readFileSync(join(a.dir, 'slots/B/usr/bin/marker'), 'utf8'), '2.0.0\n');
  assert.equal(existsSync(join(a.dir, 'downloads/2.0.0/payload')), false, 'the payload is removed once the slot is ready');
  const { outcome, results } = await bootAndCheck(a);
  assert.equal(outcome, 'committed');
  assert.equal(results.at(-1)!.status, 'succeeded');
  const s = await a.driver.status();
  assert.deepEqual([s.bootedSlot, s.committedSlot, s.slots.B.version], ['B', 'B', '2.0.0']);
  assert.deepEqual(j.read()!.history.map((h) => h.state).slice(-2), ['trial', 'committed']);
  // The same task again (a redelivery): already finished.
  assert.equal((await runUpgrade(request('u-1'), a.deps())).state, 'committed');
  // A new task for the running version: nothing to do.
  assert.equal((await runUpgrade(request('u-2'), a.deps())).detail.alreadyRunning, true);
});

/** A package whose own health check fails in the new slot. */
async function unhealthyPackage(version: string): Promise<PackageServer> {
  const bad = await makePackage({ keys, version, randomKiB: 64 });
  const root = join(bad.dir, '..', 'rootfs');
  execFileSync('bash', ['-c', 'mkdir -p "$1/etc/twinroot/health.d" && printf "#!/bin/sh\\necho broken\\nexit 1\\n" > "$1/etc/twinroot/health.d/10-app" && chmod +x "$1/etc/twinroot/health.d/10-app"', '_', root]);
  const rebuilt = await (await import('@twinroot/image-build')).buildPackage({ rootDir: root, version, compatible: 'twinroot-test', keyFile: keys.privateKey, outDir: join(bad.dir, '..', 'out2'), chunkSize: 65536, level: 1 });
  return servePackage(rebuilt);
}

test('an unhealthy new slot is rolled back and the journal says so', async () => {
  const srv = await unhealthyPackage('2.1.0');
  try {
    const a = appliance();
    await runUpgrade({ ...request('u-bad', { version: '2.1.0' }), location: srv.manifestUrl }, a.deps());
    const { outcome, results } = await bootAndCheck(a);
    assert.equal(outcome, 'rolled_back');
    assert.equal(results.at(-1)!.error!.code, 'health_check_failed');
    const rec = new UpgradeJournal(a.stateDir).read()!;
    assert.equal(rec.state, 'rolled_back');
    assert.deepEqual(rec.history.map((h) => h.state).slice(-3), ['trial', 'rolling_back', 'rolled_back']);
  } finally {
    await srv.stop();
  }
});

const CRASH_STATES: UpgradeState[] = ['downloading', 'verified', 'installing', 'boot_configured', 'rebooting'];

for (const crashAt of CRASH_STATES) {
  test(`a crash right after entering "${crashAt}" resumes and completes`, async () => {
    const a = appliance();
    const err = await runUpgrade(request(`c-${crashAt}`), a.deps({ afterTransition: (s) => { if (s === crashAt) throw new SimulatedCrash(`power cut in ${s}`); } })).catch((e: unknown) => e);
    assert.ok(err instanceof SimulatedCrash, String(err));
    assert.equal(new UpgradeJournal(a.stateDir).read()!.state, crashAt);
    let s = await a.driver.status();
    assert.deepEqual([s.bootedSlot, s.committedSlot], ['A', 'A'], 'the committed slot is untouched');
    // The agent restarts (same boot: no reboot happened) and the inbox resumes the task.
    const out = await runUpgrade(request(`c-${crashAt}`), a.deps());
    assert.equal(out.rebooting, true);
    const { outcome } = await bootAndCheck(a);
    assert.equal(outcome, 'committed');
    s = await a.driver.status();
    assert.deepEqual([s.bootedSlot, s.committedSlot, s.slots.B.version], ['B', 'B', '2.0.0']);
    assert.equal(readFileSync(join(a.dir, 'slots/B/usr/bin/marker'), 'utf8'), '2.0.0\n');
    assert.equal(new UpgradeJournal(a.stateDir).read()!.state, 'committed');
  });
}

test('a crash in the trial (before the health check finished) is settled by the next boot check', async () => {
  const a = appliance();
  await runUpgrade(request('c-trial'), a.deps());
  a.driver.boot(); // booted into the trial...
  const j = new UpgradeJournal(a.stateDir);
  j.transition(j.read()!, 'trial'); // ...the boot check marked it, then the power went
  // The agent starts again in the same trial boot (dir slots: a start is a boot, so simulate with the check alone).
  const outbox = new Outbox(a.stateDir, async () => 'delivered', silent);
  const outcome = await runBootCheck({ driver: a.driver, stateDir: a.stateDir, outbox, inbox: new Inbox(a.stateDir), log: silent as never, reboot: async () => undefined });
  assert.equal(outcome, 'committed');
  assert.equal(j.read()!.state, 'committed');
});

/** Throws a simulated crash every time `state`'s step is about to run: a step that kills the agent. */
const crashLoopIn = (state: UpgradeState) => ({ beforeStep: (s: UpgradeState) => { if (s === state) throw new SimulatedCrash(`the agent dies in ${s}`); } });

test('after the reboot: a crash right after entering "trial", "committed" or "rolling_back" resumes and settles', async () => {
  // trial: the next start health-checks and commits.
  const a = appliance();
  await runUpgrade(request('p-trial'), a.deps());
  await assert.rejects(bootAndCheck(a, { afterTransition: (s) => { if (s === 'trial') throw new SimulatedCrash('power cut'); } }), SimulatedCrash);
  assert.equal(new UpgradeJournal(a.stateDir).read()!.state, 'trial');
  assert.equal((await bootAndCheck(a, {}, false)).outcome, 'committed');
  // committed, before the result was queued: the task (resumed from the inbox) reports it.
  const b = appliance();
  await runUpgrade(request('p-commit'), b.deps());
  await assert.rejects(bootAndCheck(b, { afterTransition: (s) => { if (s === 'committed') throw new SimulatedCrash('power cut'); } }), SimulatedCrash);
  assert.equal((await bootAndCheck(b, {}, false)).outcome, 'nothing');
  const out = await runUpgrade(request('p-commit'), b.deps());
  assert.deepEqual([out.state, out.detail.committed, out.detail.slot], ['committed', true, 'B']);
  // rolling_back: the next start finishes the rollback and reboots into the committed slot.
  const bad = await unhealthyPackage('2.2.0');
  try {
    const c = appliance();
    await runUpgrade({ ...request('p-rb', { version: '2.2.0' }), location: bad.manifestUrl }, c.deps());
    await assert.rejects(bootAndCheck(c, { afterTransition: (s) => { if (s === 'rolling_back') throw new SimulatedCrash('power cut'); } }), SimulatedCrash);
    const { outcome, results } = await bootAndCheck(c, {}, false);
    assert.equal(outcome, 'rolled_back');
    assert.equal(results.at(-1)!.error!.code, 'health_check_failed');
    c.driver.boot();
    const s = await c.driver.status();
    assert.deepEqual([s.bootedSlot, s.committedSlot], ['A', 'A']);
  } finally {
    await bad.stop();
  }
});

test('crash-loop guard before the switch: a step that kills the agent every time fails the upgrade after 3 resumes, on the committed slot', async () => {
  const a = appliance();
  const deps = a.deps(crashLoopIn('installing'));
  await assert.rejects(runUpgrade(request('loop-1'), deps), SimulatedCrash);
  for (let resume = 1; resume <= 3; resume++) {
    await assert.rejects(runUpgrade(request('loop-1'), deps), SimulatedCrash, `resume ${resume} still tries`);
    assert.equal(new UpgradeJournal(a.stateDir).read()!.resumes, resume);
  }
  const err = await runUpgrade(request('loop-1'), deps).catch((e: unknown) => e);
  assert.ok(err instanceof UpgradeError, String(err));
  assert.equal(err.code, 'crash_loop');
  assert.match(err.message, /stopped 3 times in state installing/);
  const rec = new UpgradeJournal(a.stateDir).read()!;
  assert.deepEqual([rec.state, rec.error!.code], ['failed', 'crash_loop']);
  const s = await a.driver.status();
  assert.deepEqual([s.bootedSlot, s.committedSlot, s.nextBoot ?? null], ['A', 'A', null], 'nothing was switched');
  assert.equal(a.reboots, 0);
  // A clean stop (the agent shut down on purpose) does not count against a state.
  const b = appliance();
  const stop = new AbortController();
  const first = runUpgrade(request('park-1', { notBefore: new Date(Date.now() + 3600_000).toISOString() }), b.deps(), { signal: stop.signal });
  await new Promise((r) => setTimeout(r, 100));
  stop.abort(new Error('agent stopping'));
  await assert.rejects(first, /agent stopping/);
  assert.equal(new UpgradeJournal(b.stateDir).read()!.resumes, 0);
});

test('crash-loop guard in the trial: a health check that kills the agent every time rolls back after 3 resumes', async () => {
  const a = appliance();
  await runUpgrade(request('loop-trial'), a.deps());
  const loop = crashLoopIn('trial');
  await assert.rejects(bootAndCheck(a, loop), SimulatedCrash); // the first start after the reboot
  for (let resume = 1; resume <= 3; resume++) await assert.rejects(bootAndCheck(a, loop, false), SimulatedCrash);
  assert.equal(new UpgradeJournal(a.stateDir).read()!.resumes, 3);
  const { outcome, results } = await bootAndCheck(a, loop, false);
  assert.equal(outcome, 'rolled_back');
  assert.equal(a.reboots, 2, 'the upgrade\'s reboot, then the one back to the committed slot');
  assert.equal(results.at(-1)!.error!.code, 'trial_crash_loop');
  assert.deepEqual(new UpgradeJournal(a.stateDir).read()!.history.map((h) => h.state).slice(-4), ['rebooting', 'trial', 'rolling_back', 'rolled_back']);
  a.driver.boot();
  const s = await a.driver.status();
  assert.deepEqual([s.bootedSlot, s.committedSlot], ['A', 'A']);
});

test('download ahead, then install, then install-reboot: each reuses what the one before left', async () => {
  const a = appliance();
  server.requests.length = 0;
  const d = await runUpgrade(request('m-dl', { mode: 'download' }), a.deps());
  assert.equal(d.state, 'verified');
  assert.equal((await a.driver.status()).slots.B.version, '0.9.0', 'download mode leaves the slots alone');
  const sent = server.payloadBytesSent();
  assert.equal(sent, pkg.manifest.payload.size);
  const i = await runUpgrade(request('m-inst', { mode: 'install' }), a.deps());
  assert.equal(i.state, 'boot_configured');
  assert.equal(server.payloadBytesSent(), sent, 'install used the downloaded payload');
  assert.equal((await a.driver.status()).slots.B.version, '2.0.0');
  assert.equal((await a.driver.status()).nextBoot ?? null, null, 'install mode does not arrange a reboot');
  const r = await runUpgrade(request('m-reboot'), a.deps());
  assert.equal(r.rebooting, true);
  assert.equal(server.payloadBytesSent(), sent);
  assert.deepEqual(new UpgradeJournal(a.stateDir).read()!.history.map((h) => h.state), ['boot_configured', 'rebooting']);
  assert.equal((await bootAndCheck(a)).outcome, 'committed');
});

test('a stale manifest (older than one already seen for the version) is refused', async () => {
  const a = appliance();
  await runUpgrade(request('s-1', { mode: 'download' }), a.deps());
  // The same version re-signed earlier: e.g. a stale mirror.
  const stale = await servedCopy((d) => {
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as { createdAt: string };
    m.createdAt = '2020-01-01T00:00:00.000Z';
    const bytes = Buffer.from(JSON.stringify(m, null, 2) + '\n');
    writeFileSync(join(d, 'manifest.json'), bytes);
    writeFileSync(join(d, 'manifest.json.sig'), signManifest(bytes, loadPrivateKey(readFileSync(keys.privateKey))));
  });
  try {
    await refused(a, { ...request('s-2'), location: stale.manifestUrl }, 'stale_manifest');
  } finally {
    await stale.stop();
  }
});

test('notBefore: the task waits, and an agent stop while waiting parks it', async () => {
  const a = appliance();
  const stop = new AbortController();
  const phases: string[] = [];
  const pending = runUpgrade(request('w-1', { notBefore: new Date(Date.now() + 3600_000).toISOString() }), a.deps(), { signal: stop.signal, progress: (p) => p.phase && phases.push(p.phase) });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(phases.at(-1), 'waiting');
  stop.abort(new Error('agent stopping'));
  await assert.rejects(pending, /agent stopping/);
  assert.equal(new UpgradeJournal(a.stateDir).read()!.state, 'idle', 'parked before any step');
  assert.equal((await a.driver.status()).slots.B.version, '0.9.0');
});

test('a reboot command that fails fails the task with its own code (the trial stays armed for the next boot)', async () => {
  const a = appliance();
  const failingReboot = async () => {
    throw Object.assign(new Error('systemctl reboot exited 1: Failed to connect to bus'), { code: 'reboot_failed' });
  };
  const err = await runUpgrade(request('r-fail'), a.deps({ reboot: failingReboot })).catch((e: unknown) => e);
  assert.ok(err instanceof UpgradeError);
  assert.equal(err.code, 'reboot_failed');
  assert.equal(new UpgradeJournal(a.stateDir).read()!.state, 'failed');
  assert.equal((await a.driver.status()).nextBoot, 'B', 'the next boot, whenever it comes, tries the new slot once');
});
