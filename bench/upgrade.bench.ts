// The agent's upgrade data path on a 1 GiB package over loopback HTTP (override the size with
// TWINROOT_BENCH_PAYLOAD_MIB). Baselines measured in the same run:
// - download+verify vs `curl -s URL | tee FILE | sha256sum`;
// - full install (download, verify, extract into a dir slot) vs max(download alone, `tar -x` alone);
// - the agent's RSS while it runs (the server runs in another process).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { DirSlotDriver, HashPool, PayloadDownload, httpSource, runUpgrade } from '@twinroot/agent';
import { buildPackage, keygen } from '@twinroot/image-build';
import { loadPublicKey } from '@twinroot/protocol';

const MiB = 1024 * 1024;

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Peak RSS of this process while `fn` runs, sampled every 50 ms. */
async function withRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakMiB: number; beforeMiB: number }> {
  const beforeMiB = process.memoryUsage.rss() / MiB;
  let peak = beforeMiB;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss() / MiB)), 50);
  try {
    const value = await fn();
    return { value, peakMiB: Math.max(peak, process.memoryUsage.rss() / MiB), beforeMiB };
  } finally {
    clearInterval(timer);
  }
}

export async function run() {
  const sizeMiB = Number(process.env.TWINROOT_BENCH_PAYLOAD_MIB ?? 1024);
  const work = mkdtempSync(join(tmpdir(), 'twinroot-bench-upgrade-'));
  try {
    // A root filesystem of incompressible files: the payload is ~sizeMiB after zstd.
    const root = join(work, 'rootfs');
    for (const d of ['etc', 'usr/lib/data']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'etc/hostname'), 'bench\n');
    const files = Math.max(1, Math.round(sizeMiB / 16));
    execFileSync('bash', ['-c', 'for i in $(seq 1 "$2"); do head -c 16M /dev/urandom > "$1/usr/lib/data/f$i"; done', '_', root, String(files)]);
    const keys = keygen(join(work, 'keys'));
    let t0 = performance.now();
    const pkg = await buildPackage({ rootDir: root, version: '2.0.0', compatible: 'bench', keyFile: keys.privateKey, outDir: join(work, 'pkg'), level: 1 });
    console.log(`upgrade: built a ${(pkg.manifest.payload.size / MiB).toFixed(0)} MiB package (${pkg.manifest.payload.chunks.length} chunks of ${pkg.manifest.payload.chunkSize / MiB} MiB) in ${seconds(t0).toFixed(1)} s`);
    rmSync(root, { recursive: true });

    const server = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'lib/serve-package.ts'), pkg.dir, pkg.manifest.payload.file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(server.stdout!, 'data')) as [Buffer];
    const base = line.toString().trim();
    const payloadUrl = `${base}/pkg/${pkg.manifest.payload.file}`;
    const pool = new HashPool();
    try {
      // Warm the page cache on the server side so both runs read the same way.
      execFileSync('bash', ['-c', 'cat "$1" > /dev/null', '_', pkg.payloadFile]);

      t0 = performance.now();
      const sum = execFileSync('bash', ['-c', 'set -o pipefail; curl -sf "$1" | tee "$2" | sha256sum', '_', payloadUrl, join(work, 'curl.out')]).toString().split(' ')[0];
      const curlS = seconds(t0);
      if (sum !== pkg.manifest.payload.sha256) throw new Error('curl baseline downloaded something else');
      rmSync(join(work, 'curl.out'));

      const dlDir = join(work, 'dl');
      mkdirSync(dlDir);
      t0 = performance.now();
      const dl = await withRss(() => new PayloadDownload({ manifest: pkg.manifest, source: httpSource(payloadUrl), dir: dlDir, pool }).run());
      const agentS = seconds(t0);
      const mibS = (s: number) => (pkg.manifest.payload.size / MiB / s).toFixed(0);
      console.log(`upgrade: download+verify ${agentS.toFixed(2)} s (${mibS(agentS)} MiB/s, ${pool.size} hash workers) vs curl | tee | sha256sum ${curlS.toFixed(2)} s (${mibS(curlS)} MiB/s)`);
      console.log(`upgrade: download+verify takes ${(agentS / curlS).toFixed(2)}x the time of curl | tee | sha256sum`);
      console.log(`upgrade: agent RSS during download+verify: peak ${dl.peakMiB.toFixed(0)} MiB (${(dl.peakMiB - dl.beforeMiB).toFixed(0)} MiB above the ${dl.beforeMiB.toFixed(0)} MiB before it)`);

      // tar -x alone, from the downloaded file.
      const x = join(work, 'x');
      mkdirSync(x);
      t0 = performance.now();
      execFileSync('bash', ['-c', 'set -o pipefail; zstd -q -dc "$1" | tar -x -C "$2" -f -', '_', join(dlDir, 'payload'), x]);
      const tarS = seconds(t0);
      rmSync(x, { recursive: true });
      rmSync(dlDir, { recursive: true });
      console.log(`upgrade: zstd -dc | tar -x alone ${tarS.toFixed(2)} s`);

      const install = async (overlapInstall: boolean) => {
        const dir = mkdtempSync(join(work, 'appliance-'));
        for (const s of ['A', 'B']) mkdirSync(join(dir, 'slots', s, 'etc/twinroot'), { recursive: true });
        writeFileSync(join(dir, 'slots/A/etc/twinroot/version'), '1.0.0\n');
        const driver = new DirSlotDriver(join(dir, 'slots'));
        driver.boot();
        const silent = { info() {}, warn() {}, error() {} };
        const t = performance.now();
        const r = await withRss(() => runUpgrade({ taskId: `bench-${overlapInstall}`, version: '2.0.0', location: `${base}/pkg/manifest.json`, mode: 'install' }, {
          stateDir: join(dir, 'state'), downloadRoot: join(dir, 'downloads'), driver, publicKey: () => loadPublicKey(readFileSync(keys.publicKey)),
          compatible: 'bench', cpuinfo: () => readFileSync('/proc/cpuinfo', 'utf8'), pool, log: silent, reboot: async () => undefined, overlapInstall,
        }));
        const s = seconds(t);
        rmSync(dir, { recursive: true });
        return { s, rss: r };
      };
      const overlapped = await install(true);
      const sequential = await install(false);
      const bound = Math.max(agentS, tarS);
      console.log(`upgrade: full install (download, verify, extract into a dir slot) ${overlapped.s.toFixed(2)} s overlapped, ${sequential.s.toFixed(2)} s one after the other; max(download alone, tar -x alone) = ${bound.toFixed(2)} s`);
      console.log(`upgrade: full install takes ${(overlapped.s / bound).toFixed(2)}x max(download alone, tar -x alone) (sequential: ${(sequential.s / bound).toFixed(2)}x)`);
      console.log(`upgrade: agent RSS during the full install: peak ${overlapped.rss.peakMiB.toFixed(0)} MiB (zstd and tar run as child processes)`);
      return { name: 'upgrade', ratio: agentS / curlS };
    } finally {
      await pool.close();
      server.kill('SIGTERM');
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
