import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { taskTopic } from '@twinroot/protocol';
import { writeIdentity } from '@twinroot/agent';
import { startTestBackend } from '../helpers/backend.js';
import { DeviceApi, waitFor } from '../helpers/device-api.js';
import { makeKeys, makePackage, servePackage, type BuiltPackage, type PackageServer } from '../helpers/packages.js';
import { Appliance, buildBase, log, makePayload, repoRoot, timed, type BootResult } from './harness.js';

/**
 * The disk and boot layer on a real booted appliance (Debian 12 under QEMU/TCG): the
 * project's twinroot-slot runs inside the guest; after every boot we check which LV is `/`.
 * One appliance goes through all scenarios in order, so boots are shared between checks.
 */

const work = process.env.TWINROOT_VM_WORK ?? '/var/tmp/twinroot-vm-test';
let appliance: Appliance;
let backend: Awaited<ReturnType<typeof startTestBackend>>;
let api: DeviceApi;
// A signed package of 192 MiB in 1 MiB chunks, served by the host, for the power cut during a download.
let bigPackage: BuiltPackage;
let packageServer: PackageServer;
const DL_CHUNK = 1024 * 1024;
// QEMU's user network reaches the host's loopback at 10.0.2.2.
const GUEST_HOST = '10.0.2.2';

async function resultOf(taskId: string, status: string) {
  await waitFor(`${taskId} ${status}`, () => api.resultsFor(taskId).some((r) => r.result.status === status), 30_000);
  return api.resultsFor(taskId).find((r) => r.result.status === status)!.result;
}

interface Status {
  bootedSlot: string | null;
  committedSlot: string | null;
  trial: boolean;
  nextBoot: string | null;
  slots: Record<'A' | 'B', { version: string | null; bootable: boolean; lv: string }>;
}

function expectBooted(r: BootResult, slot: 'A' | 'B', committed: 'A' | 'B'): Status {
  const lv = slot === 'A' ? '/dev/mapper/VA-root' : '/dev/mapper/VA-back';
  assert.equal(r.file('root-source').trim(), lv, `boot ${r.boot}: / should be ${lv}`);
  assert.match(r.file('cmdline'), new RegExp(`twinroot\\.slot=${slot}\\b`));
  const s = r.json<Status>('status.json');
  assert.equal(s.bootedSlot, slot);
  assert.equal(s.committedSlot, committed);
  assert.equal(s.trial, slot !== committed);
  return s;
}

function stepOk(r: BootResult): void {
  assert.equal(r.file('step.rc').trim(), '0', `boot ${r.boot} step failed:\n${r.file('step.log').slice(-3000)}`);
}

const install = (payload: string, version: string) => `
twinroot-slot install --slot B --payload $SHARE/payloads/${payload} --compression zstd --version ${version} --json > $OUT/install.json
twinroot-slot sync-config --slot B --json > $OUT/sync.json
twinroot-slot boot-config --slot B --json > $OUT/boot-config.json
twinroot-slot try --slot B --json > $OUT/try.json
twinroot-slot status --json > $OUT/status-after.json`;

describe('twinroot-slot on a booted appliance (QEMU)', { timeout: 60 * 60_000 }, () => {
  before(async () => {
    const t = Date.now();
    if (!existsSync(join(repoRoot, 'agent/dist/cli/twinroot-agent.js'))) throw new Error('the agent runs from agent/dist in the guest: run `npm run build` first');
    const base = await buildBase();
    appliance = new Appliance(join(work, 'appliance'), base.golden);
    await appliance.create();
    const dir = join(appliance.share, 'payloads');
    mkdirSync(dir, { recursive: true });
    // Payloads on the share, read by the guest as $SHARE/payloads/<name>.
    await Promise.all([
      // Ownership, a file capability, a user xattr and an ACL that must survive install.
      makePayload(base.rootfsTar, join(dir, 'v2.tar.zst'), `
        mkdir -p "$D/opt/twinroot-test"
        echo owned >"$D/opt/twinroot-test/owned"; chown 1234:2345 "$D/opt/twinroot-test/owned"
        cp /bin/true "$D/opt/twinroot-test/cap-true"; setcap cap_net_bind_service=+ep "$D/opt/twinroot-test/cap-true"
        echo x >"$D/opt/twinroot-test/xattr"; setfattr -n user.twinroot -v hello "$D/opt/twinroot-test/xattr"
        echo y >"$D/opt/twinroot-test/acl"; setfacl -m u:1234:rw "$D/opt/twinroot-test/acl"
        # Hostile links (security #4): the names install and sync-config used to write through.
        mkdir -p "$D/etc/twinroot"
        for f in etc/twinroot/version.tmp etc/hostname.twinroot-new etc/shadow.twinroot-new etc/passwd.twinroot-new etc/group.twinroot-new; do
          ln -s /etc/twinroot-victim "$D/$f"
        done`),
      // A root whose init exits: the kernel panics (panic=10 reboots).
      makePayload(base.rootfsTar, join(dir, 'panics.tar.zst'), `
        mkdir -p "$D/usr/lib/systemd"; printf "#!/bin/sh\\nexit 1\\n" >"$D/usr/lib/systemd/systemd"; chmod 755 "$D/usr/lib/systemd/systemd"`),
      // A root that boots but whose own health check fails.
      makePayload(base.rootfsTar, join(dir, 'unhealthy.tar.zst'), `
        mkdir -p "$D/etc/twinroot/health.d"
        printf '#!/bin/sh\\necho "appliance service is not running"; exit 1\\n' >"$D/etc/twinroot/health.d/50-appliance-service"
        chmod 755 "$D/etc/twinroot/health.d/50-appliance-service"`),
    ]);
    const keys = makeKeys();
    bigPackage = await makePackage({ keys, version: '9.0.0', randomKiB: 192 * 1024, chunkSize: DL_CHUNK });
    packageServer = await servePackage(bigPackage);
    mkdirSync(join(appliance.share, 'dl'), { recursive: true });
    copyFileSync(keys.publicKey, join(appliance.share, 'dl/release.pub'));
    // A device API and the embedded broker on the host; the guest's agent is registered with them.
    backend = await startTestBackend();
    api = new DeviceApi(backend);
    await api.start();
    const { applianceId, applianceToken } = await api.createAppliance();
    mkdirSync(join(appliance.share, 'agent'), { recursive: true });
    writeIdentity(join(appliance.share, 'agent'), {
      applianceId,
      applianceToken,
      tokenExpiresAt: new Date(Date.now() + 60 * 86400_000).toISOString(),
      backendUrl: api.url.replace('127.0.0.1', GUEST_HOST),
      mqtt: { url: backend.urls.mqtt.replace('127.0.0.1', GUEST_HOST), clientId: applianceId, topic: taskTopic(applianceId) },
      registeredAt: new Date().toISOString(),
    });
    log(`base image and payloads ready in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  });

  after(async () => {
    await packageServer?.stop();
    await api?.stop();
    await backend?.cleanup();
    log(`appliance files kept in ${work}/appliance (serial logs, share/out)`);
  });

  it('1. install into the inactive slot, trial boot, health check + commit, still the new slot after reboot', () =>
    timed('install, try, commit', async () => {
      const b1 = await appliance.boot(`
        useradd -u 1500 -m alice && echo 'alice:s3cret-pw' | chpasswd
        echo appliance-7 >/etc/hostname
        echo host-victim >/etc/twinroot-victim; chmod 0644 /etc/twinroot-victim
        setup_agent
        ${install('v2.tar.zst', '2.0.0')}
        { cat /etc/twinroot-victim; stat -c %a /etc/twinroot-victim; } >$OUT/victim
        arrange_trial vm-up-2 2.0.0`);
      expectBooted(b1, 'A', 'A');
      stepOk(b1);
      const installed = b1.json<{ version: string; durationMs: number }>('install.json');
      assert.equal(installed.version, '2.0.0');
      log(`install of v2 in the guest: ${(installed.durationMs / 1000).toFixed(1)} s; boot-config: ${(b1.json<{ durationMs: number }>('boot-config.json').durationMs / 1000).toFixed(1)} s`);
      const afterTry = b1.json<Status>('status-after.json');
      assert.equal(afterTry.nextBoot, 'B');
      assert.equal(afterTry.slots.B.version, '2.0.0');
      assert.equal(afterTry.slots.B.bootable, true);
      const sync = b1.json<{ users: number; copied: string[] }>('sync.json');
      assert.ok(sync.copied.includes('/etc/hostname'));
      assert.equal(b1.file('victim'), 'host-victim\n644\n', 'links planted by the payload led no write into the running root');

      const b2 = await appliance.boot(`
        stat -c '%u:%g' /opt/twinroot-test/owned >$OUT/owned
        getcap /opt/twinroot-test/cap-true >$OUT/cap
        getfattr --only-values -n user.twinroot /opt/twinroot-test/xattr >$OUT/xattr
        getfacl -cp /opt/twinroot-test/acl >$OUT/acl
        # The agent starts, sees the trial, runs the health checks, commits and reports.
        run_agent_until_settled
        twinroot-slot health-check --json >$OUT/health.json
        twinroot-slot status --json >$OUT/status-after.json`);
      const s2 = expectBooted(b2, 'B', 'A');
      assert.equal(s2.trial, true);
      stepOk(b2);
      assert.equal(b2.json<{ ok: boolean }>('health.json').ok, true);
      assert.equal(b2.json<Status>('status-after.json').committedSlot, 'B', `the agent did not commit; agent log:\n${b2.file('agent.log').slice(-3000)}`);
      const result = await resultOf('vm-up-2', 'succeeded');
      assert.deepEqual(result.detail, { slot: 'B', version: '2.0.0', committed: true, checks: 3 });

      const b3 = await appliance.boot(`
        getent passwd alice >$OUT/alice; grep '^alice:' /etc/shadow | cut -d: -f2 >$OUT/alice-hash
        cat /etc/hostname >$OUT/hostname; cat /etc/twinroot/version >$OUT/version`);
      expectBooted(b3, 'B', 'B');
      stepOk(b3);
      assert.match(b3.file('alice'), /^alice:x:1500:/);
      assert.match(b3.file('alice-hash'), /^\$/);
      assert.equal(b3.file('hostname').trim(), 'appliance-7');
      assert.equal(b3.file('version').trim(), '2.0.0');
      // Scenario 5's facts were taken on the live root of the new slot in boot 2.
      scenario5 = b2;
    }));

  let scenario5: BootResult;
  it('5. uid/gid numbers, a file capability, a user.* xattr and an ACL survive install', () => {
    assert.ok(scenario5, 'scenario 1 must run first');
    assert.equal(scenario5.file('owned').trim(), '1234:2345');
    assert.match(scenario5.file('cap'), /cap_net_bind_service[=+]ep/);
    assert.equal(scenario5.file('xattr').trim(), 'hello');
    assert.match(scenario5.file('acl'), /^user:1234:rw-$/m);
  });

  it('2. rollback --reboot returns to the old slot', () =>
    timed('rollback', async () => {
      // The reboot ends the step itself, so only its output is checked.
      const b = await appliance.boot('twinroot-slot rollback --reboot --json >$OUT/rollback.json');
      expectBooted(b, 'B', 'B');
      assert.equal(b.json<{ committedSlot: string }>('rollback.json').committedSlot, 'A');
      const s = expectBooted(await appliance.boot('true'), 'A', 'A');
      assert.equal(s.slots.B.version, '2.0.0');
    }));

  it('3a. a new slot whose kernel panics: the next boot is the old slot, and the agent reports the failure', () =>
    timed('kernel panic falls back', async () => {
      const b = await appliance.boot(`${install('panics.tar.zst', '3.0.0')}\narrange_trial vm-up-panic 3.0.0`);
      expectBooted(b, 'A', 'A');
      stepOk(b);
      const panic = await appliance.boot('true');
      assert.match(panic.serial, /Kernel panic/);
      assert.match(panic.serial, /twinroot\.slot=B|Attempted to kill init/);
      const back = await appliance.boot('run_agent_until_settled');
      const s = expectBooted(back, 'A', 'A');
      stepOk(back);
      assert.equal(s.nextBoot, null);
      assert.equal(s.slots.B.version, '3.0.0');
      const result = await resultOf('vm-up-panic', 'failed');
      assert.equal(result.error?.code, 'trial_boot_failed');
      assert.match(result.error!.message, /slot B \(version 3\.0\.0\) did not come up; the appliance is back on committed slot A/);
    }));

  it('3b. a new slot whose health check fails: the agent rolls back, reboots and reports the failure', () =>
    timed('failed health check rolls back', async () => {
      stepOk(await appliance.boot(`${install('unhealthy.tar.zst', '4.0.0')}\narrange_trial vm-up-unhealthy 4.0.0`));
      // The agent's reboot ends this boot (and this step).
      const trial = await appliance.boot(`
        twinroot-slot health-check --json >$OUT/health.json
        start_agent; sleep 600`);
      expectBooted(trial, 'B', 'A');
      const health = trial.json<{ ok: boolean; checks: { name: string; ok: boolean; output: string }[] }>('health.json');
      assert.equal(health.ok, false);
      assert.deepEqual(health.checks.filter((c) => !c.ok).map((c) => c.name), ['50-appliance-service']);
      const result = await resultOf('vm-up-unhealthy', 'failed');
      assert.equal(result.error?.code, 'health_check_failed');
      assert.match(result.error!.message, /50-appliance-service: appliance service is not running/);
      expectBooted(await appliance.boot('true'), 'A', 'A');
    }));

  it('4. power cut during install and during boot-config: the committed slot boots, a rerun succeeds', () =>
    timed('power cuts', async () => {
      const cutInstall = await appliance.boot(`
        twinroot-slot install --slot B --payload $SHARE/payloads/v2.tar.zst --compression zstd --version 2.1.0 >$OUT/install.log 2>&1 &
        until [ -d /run/twinroot/slot-B/usr/lib/x86_64-linux-gnu ]; do sleep 0.2; done
        sleep 1; touch $OUT/cut-now; sleep 600`, { killWhen: 'cut-now' });
      assert.equal(cutInstall.killed, true);
      const afterCut = await appliance.boot(`
        twinroot-slot install --slot B --payload $SHARE/payloads/v2.tar.zst --compression zstd --version 2.1.0 --json >$OUT/install.json
        twinroot-slot sync-config --slot B
        twinroot-slot boot-config --slot B >$OUT/boot-config.log 2>&1 &
        until pgrep -x grub-install >/dev/null; do sleep 0.05; done
        touch $OUT/cut-now; sleep 600`, { killWhen: 'cut-now' });
      const s1 = expectBooted(afterCut, 'A', 'A');
      assert.equal(s1.slots.B.version, null, 'an interrupted install leaves no version marker');
      assert.equal(afterCut.killed, true);

      const rerun = await appliance.boot(`
        twinroot-slot status --json >$OUT/status-before.json
        twinroot-slot boot-config --slot B --json >$OUT/boot-config.json
        twinroot-slot try --slot B
        ls /boot/twinroot >$OUT/boot-dir`);
      expectBooted(rerun, 'A', 'A');
      stepOk(rerun);
      assert.equal(rerun.json<Status>('status-before.json').slots.B.version, '2.1.0');
      assert.deepEqual(rerun.file('boot-dir').trim().split('\n').filter((f) => f.startsWith('grub.')).length, 1, 'older GRUB prefixes are removed');

      const trial = await appliance.boot('twinroot-slot health-check && twinroot-slot commit');
      expectBooted(trial, 'B', 'A');
      stepOk(trial);
      const s = expectBooted(await appliance.boot('true'), 'B', 'B');
      assert.equal(s.slots.B.version, '2.1.0');
    }));

  it('5. power cut in the middle of a download: the resume keeps every chunk that reached the disk and fetches again less than one', () =>
    timed('power cut during a download', async () => {
      const url = packageServer.manifestUrl.replace('127.0.0.1', GUEST_HOST);
      const file = bigPackage.manifest.payload.file;
      const size = bigPackage.manifest.payload.size;
      // The cut comes at ~110 MiB, past the agent's record at 64 MiB. The kernel is made to write
      // dirty pages back within about a second (its default is 30 s), so some of what came after
      // the record may be on the disk when the power goes (ext4 still commits its metadata only
      // every 5 s) — the resume finds that by hashing what the file holds. No sync is run.
      const cut = await appliance.boot(`
        mount_agent_source
        echo 100 >/proc/sys/vm/dirty_expire_centisecs; echo 20 >/proc/sys/vm/dirty_writeback_centisecs
        rm -rf /data/twinroot-dl && mkdir -p /data/twinroot-dl
        /usr/local/bin/node $AGENT_SRC/agent/dist/cli/twinroot.js download ${url} --dest /data/twinroot-dl --pubkey $SHARE/dl/release.pub >$OUT/dl.log 2>&1 &
        until [ "$(stat -c %s /data/twinroot-dl/${file} 2>/dev/null || echo 0)" -ge $((96 * 1024 * 1024)) ]; do sleep 0.1; done
        sleep 1.5; stat -c %s /data/twinroot-dl/${file} >$OUT/size-at-cut; touch $OUT/cut-now; sleep 600`, { killWhen: 'cut-now' });
      assert.equal(cut.killed, true);
      const atCut = Number(cut.file('size-at-cut').trim());
      assert.ok(atCut < size, `the download had ended (${atCut} of ${size} bytes) before the cut: nothing to test`);
      const servedBefore = packageServer.payloadBytesSent();

      const resumed = await appliance.boot(`
        mount_agent_source
        stat -c %s /data/twinroot-dl/${file} >$OUT/survived
        { cat /data/twinroot-dl/download.json 2>/dev/null || echo none; } >$OUT/record.json
        /usr/local/bin/node $AGENT_SRC/agent/dist/cli/twinroot.js download ${url} --dest /data/twinroot-dl --pubkey $SHARE/dl/release.pub >$OUT/dl.log 2>&1
        echo $? >$OUT/dl.rc
        sha256sum /data/twinroot-dl/${file} | cut -d' ' -f1 >$OUT/sha256
        rm -rf /data/twinroot-dl`);
      assert.equal(resumed.file('dl.rc').trim(), '0', resumed.file('dl.log'));
      assert.equal(resumed.file('sha256').trim(), bigPackage.manifest.payload.sha256);
      const survived = Number(resumed.file('survived').trim());
      const resumedAt = Number(/resumed at (\d+)/.exec(resumed.file('dl.log'))?.[1] ?? 0);
      const refetched = packageServer.payloadBytesSent() - servedBefore;
      log(`power cut during a download: ${atCut} bytes written at the cut, ${survived} on the disk after it, record ${resumed.file('record.json').trim()}; resumed at ${resumedAt}, ${refetched} bytes fetched for the rest`);
      assert.ok(survived > 8 * DL_CHUNK, `so little reached the disk (${survived} bytes) that the test shows nothing`);
      assert.ok(survived - resumedAt < DL_CHUNK, `fetched again ${survived - resumedAt} bytes that were on the disk (less than one chunk of ${DL_CHUNK} expected)`);
      assert.equal(refetched, size - resumedAt, 'the resume asked for the rest only');
    }));
});
