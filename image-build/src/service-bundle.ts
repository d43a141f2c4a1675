import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { compile, loadPrivateKey, MAX_SERVICE_BUNDLE_BYTES, ServiceManifest, signManifest } from '@twinroot/protocol';

export interface SignedServiceBundle {
  manifest: ServiceManifest;
  manifestFile: string;
  signatureFile: string;
}

const validate = compile(ServiceManifest);

/**
 * Signs a service bundle: writes `<bundle>.manifest.json` (service, version, size, sha256) and
 * its Ed25519 `.sig` next to the bundle (or into outDir). Appliances install only bundles whose
 * manifest their pinned service key verifies.
 */
export async function signServiceBundle(o: { bundleFile: string; serviceCode: string; version: string; keyFile: string; outDir?: string; now?: Date }): Promise<SignedServiceBundle> {
  const key = loadPrivateKey(readFileSync(o.keyFile), `--key ${o.keyFile}`);
  const st = statSync(o.bundleFile);
  if (!st.isFile()) throw new Error(`--bundle ${o.bundleFile} is not a file`);
  if (st.size === 0 || st.size > MAX_SERVICE_BUNDLE_BYTES) throw new Error(`--bundle ${o.bundleFile} is ${st.size} bytes (1 to ${MAX_SERVICE_BUNDLE_BYTES})`);
  const hash = createHash('sha256');
  for await (const c of createReadStream(o.bundleFile)) hash.update(c as Buffer);
  const manifest = { format: 1, kind: 'service', serviceCode: o.serviceCode, version: o.version, bundle: { size: st.size, sha256: hash.digest('hex') }, createdAt: (o.now ?? new Date()).toISOString() };
  const v = validate(manifest);
  if (!v.ok) throw new Error(`service manifest: ${v.error}`);
  const dir = resolve(o.outDir ?? join(o.bundleFile, '..'));
  mkdirSync(dir, { recursive: true });
  const manifestFile = join(dir, `${basename(o.bundleFile)}.manifest.json`);
  const bytes = Buffer.from(JSON.stringify(v.value, null, 2) + '\n');
  writeFileSync(manifestFile, bytes);
  writeFileSync(`${manifestFile}.sig`, signManifest(bytes, key));
  return { manifest: v.value, manifestFile, signatureFile: `${manifestFile}.sig` };
}
