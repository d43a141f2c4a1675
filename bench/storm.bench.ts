// The seed's download storm, on loopback: 1,000 clients download one release's payload at once
// with ranged requests (each client a keep-alive connection, one range after another, for a
// fixed time) from the backend's /artifacts route — the backend a separate process, with
// /healthz probed and heartbeats sent throughout — and then the same from Debian's nginx
// serving the same file (sendfile), the baseline, in the same run. Needs nginx
// (apt-get install nginx-light). Figures: aggregate throughput and its ratio to nginx, the
// backend's peak RSS, /healthz p50/p99/max during the storm, heartbeats accepted.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { startBackendProcess } from '../test/helpers/backend-process.js';
import { makeKeys, makePackage, packageForm } from '../test/helpers/packages.js';
import { freePort } from '../test/helpers/sockets.js';
import { nginxInstalled, startNginx } from './lib/nginx.js';

const CLIENTS = Number(process.env.STORM_CLIENTS ?? 1000);
const SECONDS = Number(process.env.STORM_SECONDS ?? 15);
const PAYLOAD_MIB = Number(process.env.STORM_PAYLOAD_MIB ?? 96);
const RANGE_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_APPLIANCES = 20;
// The compiled backend (as deployed) is measured: `npm run build` first.

interface StormResult {
  bytes: number;
  requests: number;
  errors: number;
  seconds: number;
}

/** CLIENTS keep-alive connections, each fetching RANGE_BYTES at random offsets back to back until the time is up. */
async function storm(url: string, size: number): Promise<StormResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS });
  const u = new URL(url);
  let bytes = 0;
  let requests = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  const one = (start: number) =>
    new Promise<void>((resolve) => {
      const end = Math.min(size, start + RANGE_BYTES) - 1;
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, agent, headers: { range: `bytes=${start}-${end}` } }, (res) => {
        if (res.statusCode !== 206) errors++;
        res.on('data', (c: Buffer) => void (bytes += c.length));
        res.on('end', () => {
          requests++;
          resolve();
        });
        res.on('error', () => {
          errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < deadline) await one(Math.floor(Math.random() * Math.max(1, size - RANGE_BYTES)));
    }),
  );
  agent.destroy();
  return { bytes, requests, errors, seconds: (performance.now() - t0) / 1000 };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const mbps = (r: StormResult) => r.bytes / r.seconds / 1e6;

interface BackendFigures {
  result: StormResult;
  peakRss: number;
  rssBefore: number;
  health: number[];
  hbOk: number;
  hbFail: number;
}

/** One storm against a backend process: its API route (`thread` false) or the artifact server's thread (artifactListen). */
async function stormBackend(dir: string, pkg: Awaited<ReturnType<typeof makePackage>>, publicKey: string, thread: boolean): Promise<BackendFigures> {
  const size = statSync(pkg.payloadFile).size;
  const operatorKey = 'storm-bench-operator-key-0123456789';
  const env = { TWINROOT_OPERATOR_KEY: operatorKey, TWINROOT_RELEASE_PUBLIC_KEY_FILE: publicKey, TWINROOT_HTTP_MAX_CONNECTIONS: String(CLIENTS + 200), TWINROOT_REGISTER_RATE_PER_MINUTE: '100000', ...(thread ? { TWINROOT_ARTIFACT_LISTEN: '127.0.0.1:0' } : {}) };
  const backend = startBackendProcess(join(dir, thread ? 'backend-thread' : 'backend'), env, { built: true });
  try {
    const { http } = await backend.ready;
    const auth = { authorization: `Bearer ${operatorKey}` };
    const up = await fetch(`${http}/v1/releases`, { method: 'POST', headers: auth, body: await packageForm(pkg) });
    const release = (await up.json()) as { releaseId: string; manifestUrl: string };
    if (up.status !== 201) throw new Error(`storm: release upload: ${up.status} ${JSON.stringify(release)}`);
    const manifest = (await (await fetch(release.manifestUrl)).json()) as { payload: { file: string } };
    const payloadUrl = new URL(manifest.payload.file, release.manifestUrl).toString();
    if (thread === payloadUrl.startsWith(http)) throw new Error(`storm: the payload is at ${payloadUrl}, the API at ${http}`);

    // Appliances that keep sending heartbeats through the storm.
    const c = (await (await fetch(`${http}/v1/customers`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'storm', region: 'eu-west-1' }) })).json()) as { customerId: string };
    const t = (await (await fetch(`${http}/v1/customers/${c.customerId}/register-tokens`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' })).json()) as { registerToken: string };
    const appliances: { applianceId: string; applianceToken: string }[] = [];
    for (let i = 0; i < HEARTBEAT_APPLIANCES; i++) {
      const r = await fetch(`${http}/v1/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ registerToken: t.registerToken, hostname: `storm-${i}`, cpu: 'x', memoryMb: 1024, ip: '10.0.0.9', version: '1.0.0', slot: 'A' }) });
      appliances.push((await r.json()) as { applianceId: string; applianceToken: string });
    }
    const rssBefore = backend.rss();
    let probing = true;
    const health: number[] = [];
    let hbOk = 0;
    let hbFail = 0;
    const prober = (async () => {
      while (probing) {
        const t0 = performance.now();
        const r = await fetch(`${http}/healthz`).catch(() => null);
        await r?.arrayBuffer();
        health.push(performance.now() - t0);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    const heartbeats = (async () => {
      while (probing) {
        await Promise.all(
          appliances.map(async (a) => {
            const r = await fetch(`${http}/v1/appliances/${a.applianceId}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${a.applianceToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ version: '1.0.0', bootedSlot: 'A', committedSlot: 'A', trial: false, services: [], uptimeS: 1 }) }).catch(() => null);
            if (r?.status === 200) hbOk++;
            else hbFail++;
            await r?.arrayBuffer();
          }),
        );
        await new Promise((res) => setTimeout(res, 1000));
      }
    })();
    const result = await storm(payloadUrl, size);
    probing = false;
    await Promise.all([prober, heartbeats]);
    const peakRss = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${backend.child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    backend.child.kill('SIGTERM');
    await backend.exited;
    return { result, peakRss, rssBefore, health, hbOk, hbFail };
  } finally {
    if (backend.child.exitCode === null) backend.child.kill('SIGKILL');
  }
}

export async function run(): Promise<{ name: string; ratio: number }> {
  if (!nginxInstalled()) {
    console.log('storm: skipped — nginx, the baseline, is not installed (apt-get install nginx-light)');
    return { name: 'storm', ratio: NaN };
  }
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-storm-'));
  const keys = makeKeys(dir);
  try {
    const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: PAYLOAD_MIB * 1024, chunkSize: 4 * 1024 * 1024 });
    const size = statSync(pkg.payloadFile).size;
    const api = await stormBackend(dir, pkg, keys.publicKey, false);
    const thread = await stormBackend(dir, pkg, keys.publicKey, true);
      const port = await freePort();
      const nginx = await startNginx(dir, dirname(pkg.payloadFile), port);
      let base: StormResult;
      try {
        base = await storm(`http://127.0.0.1:${port}/${basename(pkg.payloadFile)}`, size);
      } finally {
        nginx.kill('SIGTERM');
      }

      const ratio = mbps(thread.result) / mbps(base);
      console.log(`storm: ${CLIENTS} clients, ${(RANGE_BYTES / 2 ** 20).toFixed(0)} MiB ranges of a ${(size / 2 ** 20).toFixed(0)} MiB payload, ${SECONDS} s each, loopback`);
      console.log(`storm: baseline nginx ${mbps(base).toFixed(0)} MB/s (${base.requests} ranges, ${base.errors} errors)`);
      for (const [name, f] of [['API route', api], ['artifact thread (artifactListen)', thread]] as const) {
        console.log(`storm: backend ${name}: ${mbps(f.result).toFixed(0)} MB/s = ${(mbps(f.result) / mbps(base)).toFixed(2)}x nginx (goal ≥ 0.8x; ${f.result.requests} ranges, ${f.result.errors} errors, ${(mbps(f.result) / CLIENTS).toFixed(2)} MB/s per client)`);
        console.log(`storm:   peak RSS ${(f.peakRss / 2 ** 20).toFixed(0)} MiB (before ${(f.rssBefore / 2 ** 20).toFixed(0)} MiB; goal ≤ 300 MiB); /healthz p50 ${pct(f.health, 50).toFixed(0)} ms, p99 ${pct(f.health, 99).toFixed(0)} ms, max ${Math.max(...f.health).toFixed(0)} ms over ${f.health.length} probes (goal p99 < 100 ms); heartbeats accepted ${f.hbOk} of ${f.hbOk + f.hbFail}`);
      }
      return { name: 'storm', ratio };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
