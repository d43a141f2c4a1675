import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, openAsBlob, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPackage, keygen, type BuiltPackage, type Compression } from '@twinroot/image-build';
import { DemoAppliance } from './appliance.js';

export const DEMO_COMPATIBLE = 'twinroot-demo-x86_64';

/** Demo customers: three regions, a canary in each, 30 appliances in all. */
export const DEMO_CUSTOMERS = [
  { name: 'Northwind Logistics', region: 'eu-west-1', canary: true, appliances: 4 },
  { name: 'Fabrikam Health', region: 'eu-west-1', canary: false, appliances: 3 },
  { name: 'Tailspin Media', region: 'eu-west-1', canary: false, appliances: 3 },
  { name: 'Contoso Retail', region: 'us-east-1', canary: true, appliances: 4 },
  { name: 'Adventure Works', region: 'us-east-1', canary: false, appliances: 4 },
  { name: 'Wide World Importers', region: 'us-east-1', canary: false, appliances: 3 },
  { name: 'Litware Mining', region: 'ap-southeast-2', canary: true, appliances: 3 },
  { name: 'Proseware Energy', region: 'ap-southeast-2', canary: false, appliances: 3 },
  { name: 'Woodgrove Bank', region: 'ap-southeast-2', canary: false, appliances: 3 },
] as const;

/** zstd when it is installed (the appliance default), else xz; tar is needed either way. */
export function pickCompression(): Compression {
  const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
  if (!has('tar')) throw new Error('the demo needs tar (apt-get install tar)');
  if (has('zstd')) return 'zstd';
  if (has('xz')) return 'xz';
  throw new Error('the demo needs zstd or xz to build and unpack packages (apt-get install zstd)');
}

/** A release signing key pair; the public half is where the backend looks for it by default. */
export function demoKeys(dataDir: string): { privateKey: string; publicKey: string } {
  const k = keygen(join(dataDir, 'demo-release-key'));
  copyFileSync(k.publicKey, join(dataDir, 'release-signing.pub'));
  return k;
}

/**
 * A tiny root filesystem for `version`, built and signed with image-build like a real release.
 * `healthy: false` ships a health check that fails, so appliances fall back from it by themselves.
 */
export async function buildDemoRelease(workDir: string, version: string, privateKey: string, compression: Compression, healthy = true): Promise<BuiltPackage> {
  const root = join(workDir, `rootfs-${version}`);
  for (const d of ['etc/twinroot/health.d', 'usr/share/twinroot-demo', 'var/lib', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/twinroot/version'), version + '\n');
  writeFileSync(join(root, 'etc/os-release'), `NAME="twinroot demo appliance"\nVERSION_ID="${version}"\nID=twinroot-demo\n`);
  writeFileSync(join(root, 'usr/share/twinroot-demo/README'), `twinroot demo root filesystem, version ${version}\n`);
  const check = join(root, 'etc/twinroot/health.d/10-demo');
  writeFileSync(check, healthy ? '#!/bin/sh\nexit 0\n' : '#!/bin/sh\necho "demo: this release is broken on purpose" >&2\nexit 1\n');
  chmodSync(check, 0o755);
  return buildPackage({ rootDir: root, version, compatible: DEMO_COMPATIBLE, keyFile: privateKey, outDir: join(workDir, `package-${version}`), compression, level: 3, chunkSize: 256 * 1024 });
}

type Op = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;

export function operatorClient(baseUrl: string, key: string): Op {
  return async (method, path, body) => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    let payload: string | FormData | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(baseUrl + path, { method, headers, body: payload });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

/** Uploads a built package through the releases API (multipart: manifest, signature, payload). */
export async function registerRelease(op: Op, pkg: BuiltPackage): Promise<string> {
  const form = new FormData();
  form.append('manifest', new Blob([readFileSync(pkg.manifestFile)]), 'manifest.json');
  form.append('signature', new Blob([readFileSync(pkg.signatureFile)]), 'manifest.json.sig');
  form.append('payload', await openAsBlob(pkg.payloadFile), 'payload');
  const r = await op('POST', '/v1/releases', form);
  if (r.status !== 201) throw new Error(`registering release ${pkg.manifest.version}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.releaseId as string;
}

export interface DemoFleet {
  appliances: DemoAppliance[];
  customers: { customerId: string; name: string; region: string }[];
  stop(): Promise<void>;
}

/** Creates the demo customers and starts their appliances (real in-process agents), `parallel` at a time. */
export async function startDemoFleet(o: { op: Op; backendUrl: string; dir: string; version: string; releasePublicKeyFile: string; scale?: number; onProgress?: (n: number, total: number) => void }): Promise<DemoFleet> {
  const scale = o.scale ?? 1;
  const specs: { hostname: string; token: string }[] = [];
  const customers: DemoFleet['customers'] = [];
  for (const c of DEMO_CUSTOMERS) {
    const created = await o.op('POST', '/v1/customers', { name: c.name, region: c.region, canary: c.canary });
    if (created.status !== 201) throw new Error(`creating customer ${c.name}: ${JSON.stringify(created.body)}`);
    const customerId = created.body.customerId as string;
    customers.push({ customerId, name: c.name, region: c.region });
    const token = (await o.op('POST', `/v1/customers/${customerId}/register-tokens`, { ttlHours: 24 })).body.registerToken as string;
    const slug = c.name.split(' ')[0]!.toLowerCase();
    const n = Math.max(1, Math.round(c.appliances * scale));
    for (let i = 1; i <= n; i++) specs.push({ hostname: `${slug}-va-${String(i).padStart(2, '0')}`, token });
  }
  const appliances: DemoAppliance[] = [];
  const stop = async () => {
    await Promise.all(appliances.map((a) => a.stop().catch(() => undefined)));
  };
  try {
    for (let i = 0; i < specs.length; i += 6) {
      const batch = specs.slice(i, i + 6);
      appliances.push(
        ...(await Promise.all(
          batch.map((s) =>
            DemoAppliance.start({ dir: join(o.dir, s.hostname), hostname: s.hostname, backendUrl: o.backendUrl, registerToken: s.token, version: o.version, compatible: DEMO_COMPATIBLE, releasePublicKeyFile: o.releasePublicKeyFile }),
          ),
        )),
      );
      o.onProgress?.(appliances.length, specs.length);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { appliances, customers, stop };
}
