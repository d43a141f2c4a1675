// The agent as an appliance runs it: real processes (the `twinroot` CLI and the
// `twinroot-agent run` daemon) from the installable bundle (scripts/build-agent-bundle.sh),
// against Debian's nginx on loopback. Baselines measured in the same run:
// - download + verify vs `curl -s URL | tee FILE | openssl dgst -sha256 && sync FILE`
//   (the best tool pipeline with the same durability as the agent's final fdatasync);
// - CLI start-up vs a bare `node -e 0`;
// - full upgrade (download, verify, extract into a dir slot) vs max(download alone, extract alone),
//   and overlapped vs sequential;
// - peak RSS during 1 GiB and 4 GiB upgrades, idle RSS of the registered, connected daemon
//   (vs a bare node), and heartbeat answers during an upgrade, the daemon pinned to one CPU.
// Sizes: TWINROOT_BENCH_PAYLOAD_MIB (1024), TWINROOT_BENCH_LARGE_MIB (4096; 0 skips). Needs
// `npm run build`, nginx (apt-get install nginx-light), GNU time (/usr/bin/time) and taskset.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildPackage, keygen } from '@twinroot/image-build';
import { startTestBackend } from '../test/helpers/backend.js';
import { call } from '../test/helpers/operator-api.js';
import { freePort } from '../test/helpers/sockets.js';
import { nginxInstalled, startNginx } from './lib/nginx.js';
import { runMeasured, median, sampleRss, type Measured } from './lib/process-measure.js';

const MiB = 1024 * 1024;
const repo = join(import.meta.dirname, '..');
const fmt = (xs: number[], digits = 2) => `${Math.min(...xs).toFixed(digits)}/${median(xs).toFixed(digits)}/${Math.max(...xs).toFixed(digits)}`;

async function makeRandomPackage(www: string, name: string, sizeMiB: number, keyFile: string) {
  const root = join(www, `${name}-rootfs`);
  mkdirSync(join(root, 'etc/twinroot'), { recursive: true });
  mkdirSync(join(root, 'usr/lib/data'), { recursive: true });
  writeFileSync(join(root, 'etc/twinroot/version'), '2.0.0\n');
  const files = Math.max(1, Math.round(sizeMiB / 16));
  execFileSync('bash', ['-c', 'for i in $(seq 1 "$2"); do head -c 16M /dev/urandom > "$1/usr/lib/data/f$i"; done', '_', root, String(files)]);
  const pkg = await buildPackage({ rootDir: root, version: '2.0.0', compatible: 'bench', keyFile, outDir: join(www, name), level: 1 });
  rmSync(root, { recursive: true });
  return pkg;
}

/** Unpacks the agent bundle the image build installs; returns the CLI and daemon entry points. */
function installBundle(work: string) {
  const out = execFileSync('bash', [join(repo, 'scripts/build-agent-bundle.sh'), join(work, 'bundle')], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim().split('\n');
  const tarball = out.at(-1)!;
  execFileSync('tar', ['-xzf', tarball, '-C', work]);
  const bytes = Number(execFileSync('stat', ['-c', '%s', tarball]).toString());
  return { cli: join(work, 'agent/dist/cli/twinroot.js'), daemon: join(work, 'agent/dist/cli/twinroot-agent.js'), bundleBytes: bytes };
}

/** A fresh appliance with dir slots (A booted and committed, version 1.0.0). */
function appliance(work: string, name: string, pub: string, extra: Record<string, unknown> = {}) {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  for (const s of ['A', 'B']) mkdirSync(join(dir, 'slots', s, 'etc/twinroot'), { recursive: true });
  writeFileSync(join(dir, 'slots/A/etc/twinroot/version'), '1.0.0\n');
  writeFileSync(join(dir, 'slots/bootstate.json'), '{"booted":"A","committed":"A","next":null}\n');
  const config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ stateDir: join(dir, 'state'), logFile: join(dir, 'agent.log'), slots: { driver: 'dir', root: join(dir, 'slots') }, rebootCommand: ['true'], releasePublicKeyFile: pub, compatible: 'bench', ...extra }));
  return { dir, config };
}

export async function run() {
  for (const [what, ok] of [['nginx (apt-get install nginx-light)', nginxInstalled()], ['GNU time (apt-get install time)', existsSync('/usr/bin/time')], ['taskset (util-linux)', !spawnSync('taskset', ['-V']).error], ['npm run build', existsSync(join(repo, 'agent/dist/cli/twinroot.js'))]] as const) {
    if (!ok) {
      console.log(`agent: skipped — needs ${what}`);
      return { name: 'agent', ratio: NaN };
    }
  }
  const sizeMiB = Number(process.env.TWINROOT_BENCH_PAYLOAD_MIB ?? 1024);
  const largeMiB = Number(process.env.TWINROOT_BENCH_LARGE_MIB ?? 4096);
  const work = mkdtempSync(join(tmpdir(), 'twinroot-bench-agent-'));
  const www = join(work, 'www');
  mkdirSync(www);
  try {
    const bundle = installBundle(work);
    const keys = keygen(join(work, 'keys'));
    const t0 = performance.now();
    const pkg = await makeRandomPackage(www, 'p1', sizeMiB, keys.privateKey);
    const large = largeMiB > 0 ? await makeRandomPackage(www, 'p4', largeMiB, keys.privateKey) : null;
    console.log(`agent: packages of ${(pkg.manifest.payload.size / MiB).toFixed(0)}${large ? ` and ${(large.manifest.payload.size / MiB).toFixed(0)}` : ''} MiB (chunks of ${pkg.manifest.payload.chunkSize / MiB} MiB) built in ${((performance.now() - t0) / 1000).toFixed(0)} s; agent bundle ${(bundle.bundleBytes / 1e6).toFixed(1)} MB`);

    const port = await freePort();
    const accessLog = join(work, 'access.log');
    const limitedRate = process.env.TWINROOT_BENCH_LIMITED_RATE ?? '40m';
    const nginx = await startNginx(join(work), www, port, { accessLog, workers: 1, limitedRate });
    const base = `http://127.0.0.1:${port}`;
    const manifestUrl = (p: string) => `${base}/${p}/manifest.json`;
    try {
      // --- start-up
      const bare: number[] = [];
      const help: Measured[] = [];
      for (let i = 0; i < 5; i++) {
        bare.push((await runMeasured(process.execPath, ['-e', '0'])).wallS);
        help.push(await runMeasured(process.execPath, [bundle.cli, '--help']));
      }
      console.log(`agent: start-up \`twinroot --help\` ${fmt(help.map((h) => h.wallS))} s (min/median/max), ${median(help.map((h) => h.maxRssMiB)).toFixed(0)} MiB; bare \`node -e 0\` ${fmt(bare)} s → ${(median(help.map((h) => h.wallS)) / median(bare)).toFixed(2)}x`);

      // --- download + verify, alternating with the baseline. First touch the page-cache memory
      // the runs will write into: on this VM a write into memory the guest has not used yet runs
      // at ~250 MB/s instead of GB/s, and whichever run met it first was the slower one.
      execFileSync('bash', ['-c', 'for i in 1 2; do dd if=/dev/zero of="$1" bs=1M count="$2" status=none; rm -f "$1"; done', '_', join(work, 'warm'), String(Math.ceil((pkg.manifest.payload.size * 2) / MiB))]);
      const payloadUrl = `${base}/p1/${pkg.manifest.payload.file}`;
      const curl: number[] = [];
      const agent: Measured[] = [];
      const firstByte: number[] = [];
      const dest = join(work, 'dl');
      for (let i = 0; i < 3; i++) {
        rmSync(dest, { recursive: true, force: true });
        mkdirSync(dest);
        const c = await runMeasured('bash', ['-c', 'set -o pipefail; curl -sf "$1" | tee "$2" | openssl dgst -sha256 -r && sync "$2"', '_', payloadUrl, join(dest, 'payload')]);
        if (!c.stdout.startsWith(pkg.manifest.payload.sha256)) throw new Error(`baseline downloaded something else: ${c.stdout}`);
        curl.push(c.wallS);
        rmSync(dest, { recursive: true, force: true });
        const startedAt = Date.now();
        const a = await runMeasured(process.execPath, [bundle.cli, 'download', manifestUrl('p1'), '--dest', dest, '--pubkey', keys.publicKey]);
        agent.push(a);
        const hit = readFileSync(accessLog, 'utf8').trim().split('\n').map((l) => l.split(' ')).filter(([ms, uri]) => uri === '/p1/manifest.json' && Number(ms) * 1000 >= startedAt);
        if (hit[0]) firstByte.push(Number(hit[0][0]) - startedAt / 1000);
      }
      const dlS = median(agent.map((a) => a.wallS));
      const downloadRatio = median(curl) / dlS;
      const gib = pkg.manifest.payload.size / 1024 ** 3;
      console.log(`agent: start-up to the first request (manifest) of \`twinroot download\`: ${fmt(firstByte, 3)} s`);
      console.log(`agent: download+verify ${fmt(agent.map((a) => a.wallS))} s (${(pkg.manifest.payload.size / MiB / dlS).toFixed(0)} MiB/s), peak RSS ${fmt(agent.map((a) => a.maxRssMiB), 0)} MiB, ${(median(agent.map((a) => a.cpuS)) / gib).toFixed(2)} CPU s/GiB; baseline curl | tee | openssl dgst -sha256 && sync ${fmt(curl)} s (${(pkg.manifest.payload.size / MiB / median(curl)).toFixed(0)} MiB/s)`);
      console.log(`agent: download+verify rate ${downloadRatio.toFixed(2)}x the baseline's (goal ≥ 0.9x)`);

      // --- extract alone, from the downloaded payload
      const x = join(work, 'x');
      mkdirSync(x);
      const ex = await runMeasured('bash', ['-c', 'set -o pipefail; zstd -q -dc "$1" | tar -x -C "$2" -f - && sync -f "$2"', '_', join(dest, pkg.manifest.payload.file), x]);
      rmSync(x, { recursive: true });
      rmSync(dest, { recursive: true, force: true });
      console.log(`agent: zstd -dc | tar -x alone (and sync) ${ex.wallS.toFixed(2)} s`);

      // --- full upgrade through the CLI, overlapped and sequential
      const upgrade = async (name: string, p: string, overlapInstall: boolean) => {
        const a = appliance(work, name, keys.publicKey, { overlapInstall });
        const m = await runMeasured(process.execPath, [bundle.cli, '--config', a.config, 'upgrade', '--manifest', manifestUrl(p), '--mode', 'install']);
        if (m.code !== 0 || !existsSync(join(a.dir, 'slots/B/usr/lib/data/f1'))) throw new Error(`upgrade failed: ${m.stderr}`);
        rmSync(a.dir, { recursive: true });
        return m;
      };
      const overlapped: Measured[] = [];
      const sequential: Measured[] = [];
      for (let i = 0; i < 2; i++) {
        overlapped.push(await upgrade('u', 'p1', true));
        sequential.push(await upgrade('u', 'p1', false));
      }
      const bound = Math.max(dlS, ex.wallS);
      const ov = median(overlapped.map((m) => m.wallS));
      const sq = median(sequential.map((m) => m.wallS));
      console.log(`agent: full upgrade ${fmt(overlapped.map((m) => m.wallS))} s overlapped, ${fmt(sequential.map((m) => m.wallS))} s sequential; max(download alone, extract alone) ${bound.toFixed(2)} s`);
      console.log(`agent: full upgrade ${(ov / bound).toFixed(2)}x max(download alone, extract alone) (goal ≤ 1.15x); overlapped ${(ov / sq).toFixed(2)}x the sequential time`);
      console.log(`agent: full upgrade of ${(pkg.manifest.payload.size / MiB).toFixed(0)} MiB: peak RSS ${fmt(overlapped.map((m) => m.maxRssMiB), 0)} MiB (largest process: the agent; zstd and tar are its children), ${(median(overlapped.map((m) => m.cpuS)) / gib).toFixed(2)} CPU s/GiB with zstd and tar`);
      // The same over a link slower than the CPUs (nginx limit_rate): there the overlap hides the extraction.
      const dlLimited = await runMeasured(process.execPath, [bundle.cli, 'download', manifestUrl(`limited/p1`), '--dest', join(work, 'dl-limited'), '--pubkey', keys.publicKey]);
      rmSync(join(work, 'dl-limited'), { recursive: true, force: true });
      const ovLimited = await upgrade('u', 'limited/p1', true);
      const sqLimited = await upgrade('u', 'limited/p1', false);
      const boundLimited = Math.max(dlLimited.wallS, ex.wallS);
      console.log(`agent: over a ${limitedRate}B/s link: download alone ${dlLimited.wallS.toFixed(2)} s; full upgrade ${ovLimited.wallS.toFixed(2)} s overlapped (${(ovLimited.wallS / boundLimited).toFixed(2)}x max(download alone, extract alone)), ${sqLimited.wallS.toFixed(2)} s sequential (${(sqLimited.wallS / boundLimited).toFixed(2)}x); overlapped ${(ovLimited.wallS / sqLimited.wallS).toFixed(2)}x the sequential time`);
      if (large) {
        const l = await upgrade('u4', 'p4', true);
        const lg = large.manifest.payload.size / 1024 ** 3;
        console.log(`agent: full upgrade of ${(large.manifest.payload.size / MiB).toFixed(0)} MiB: ${l.wallS.toFixed(1)} s, peak RSS ${l.maxRssMiB.toFixed(0)} MiB (goal ≤ 150, flat in size), ${(l.cpuS / lg).toFixed(2)} CPU s/GiB`);
      }

      // --- the daemon: idle RSS, and heartbeat answers while it upgrades, pinned to CPU 0
      await daemonFigures(work, bundle, keys.publicKey, manifestUrl('p1'));
      return { name: 'agent', ratio: downloadRatio };
    } finally {
      nginx.kill('SIGTERM');
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The node flags the systemd unit starts the daemon with, so the daemon is measured as it runs. */
function unitNodeFlags(): string[] {
  const unit = readFileSync(join(repo, 'agent/systemd/twinroot-agent.service'), 'utf8');
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.trim().split(/\s+/) ?? [];
  const script = exec.findIndex((w) => w.endsWith('twinroot-agent.js'));
  if (exec[0] !== '/usr/bin/node' || script < 0) throw new Error('agent/systemd/twinroot-agent.service: ExecStart is not /usr/bin/node [flags] …/twinroot-agent.js');
  return exec.slice(1, script);
}

async function daemonFigures(work: string, bundle: { cli: string; daemon: string }, pub: string, upgradeManifest: string) {
  const backend = await startTestBackend();
  const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
  try {
    const c = await op('POST', '/v1/customers', { name: 'Bench', region: 'eu-west-1' });
    const t = await op('POST', `/v1/customers/${c.body.customerId as string}/register-tokens`, {});
    const a = appliance(work, 'daemon', pub);
    // Not execFileSync: the backend answers from this process's event loop.
    const reg = await runMeasured(process.execPath, [bundle.cli, '--config', a.config, 'register', '--token', t.body.registerToken as string, '--backend', backend.urls.http, '--hostname', 'bench']);
    if (reg.code !== 0) throw new Error(`register: ${reg.stderr}`);
    const { applianceId } = JSON.parse(readFileSync(join(a.dir, 'state/identity.json'), 'utf8')) as { applianceId: string };
    const flags = (process.env.TWINROOT_BENCH_NODE_FLAGS?.split(' ').filter(Boolean)) ?? unitNodeFlags();
    const daemon = spawn('taskset', ['-c', '0', process.execPath, ...flags, bundle.daemon, 'run', '--config', a.config], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 30_000;
      const runtime = join(a.dir, 'state/runtime.json');
      while (!(existsSync(runtime) && (JSON.parse(readFileSync(runtime, 'utf8')) as { mqtt: string }).mqtt === 'connected')) {
        if (Date.now() > deadline) throw new Error('the daemon did not connect');
        await sleep(100);
      }
      const heartbeat = async () => {
        const t0 = performance.now();
        const task = await backend.services.tasks.create({ applianceId, taskType: 'heartbeat', body: {}, createdBy: 'bench' });
        for (;;) {
          const s = await backend.data.tasks.get(task.taskId);
          if (s?.status === 'succeeded') return (performance.now() - t0) / 1000;
          if (s && !['pending', 'sent', 'accepted', 'running'].includes(s.status)) throw new Error(`heartbeat ${s.status}`);
          await sleep(20);
        }
      };
      for (let i = 0; i < 3; i++) await heartbeat(); // warm
      await sleep(10_000);
      const idle = sampleRss(daemon.pid!);
      const bare = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)']);
      await sleep(1000);
      const bareRss = sampleRss(bare.pid!);
      bare.kill();
      const idleBeats: number[] = [];
      for (let i = 0; i < 5; i++) idleBeats.push(await heartbeat());
      console.log(`agent: daemon idle (registered, connected, pinned to CPU 0, node flags: ${flags.join(' ') || 'none'}): RSS ${idle.rssMiB.toFixed(1)} MiB (goal ≤ 60) vs a bare node ${bareRss.rssMiB.toFixed(1)} MiB; heartbeat answered in ${fmt(idleBeats, 3)} s`);

      const up = await backend.services.tasks.create({ applianceId, taskType: 'upgrade', body: { releaseId: randomUUID(), version: '2.0.0', manifestUrl: upgradeManifest, mode: 'install' }, createdBy: 'bench' });
      const t0 = performance.now();
      const beats: number[] = [];
      let peak = 0;
      for (;;) {
        const s = await backend.data.tasks.get(up.taskId);
        if (s && !['pending', 'sent', 'accepted', 'running'].includes(s.status)) {
          if (s.status !== 'succeeded') throw new Error(`the upgrade task ${s.status}: ${JSON.stringify(s.error)}`);
          break;
        }
        beats.push(await heartbeat());
        peak = Math.max(peak, sampleRss(daemon.pid!).hwmMiB);
        await sleep(500);
      }
      console.log(`agent: daemon upgrade (pinned to CPU 0, with its zstd and tar) ${((performance.now() - t0) / 1000).toFixed(1)} s; ${beats.length} heartbeats answered in ${fmt(beats, 3)} s (goal ≤ 2 s); daemon peak RSS ${peak.toFixed(0)} MiB`);
    } finally {
      daemon.kill('SIGTERM');
    }
  } finally {
    await backend.cleanup();
  }
}
