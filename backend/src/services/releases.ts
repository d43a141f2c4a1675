import { randomUUID, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPublicKey, SignatureError, verifyManifest, type Manifest } from '@twinroot/protocol';
import { iso } from '../clock.js';
import { checkKey, type ArtifactStore } from '../artifacts/artifact-store.js';
import type { ReleaseRecord } from '../store/store.js';
import type { ServiceContext } from './context.js';
import { DomainError } from '../domain/domain-error.js';

/** A manifest lists up to a million chunk hashes; more than this is not a manifest. */
export const MAX_MANIFEST_BYTES = 128 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 60_000;

/** One release per version; the id is the version made path-safe ('+' is not allowed in ids). */
/** Pure: which artifact keys a release record stands for. */
export function servedKeysOf(rec: ReleaseRecord): (key: string) => boolean {
  if (rec.artifactKeys) {
    const set = new Set(rec.artifactKeys);
    return (key) => set.has(key);
  }
  const m = /\/artifacts\/([^?#]+)\/manifest\.json$/.exec(rec.manifestUrl);
  const prefix = m?.[1];
  return (key) => !!prefix && key.startsWith(`${prefix}/`) && !key.slice(prefix.length + 1).includes('/');
}

export function releaseIdOf(version: string): string {
  return `v${version.replace(/\+/g, '_')}`;
}

export interface UploadedPackage {
  manifest: Buffer;
  signature: Buffer;
  /** A local file with the payload (consumed), and what was measured while receiving it. */
  payloadPath: string;
  payloadSize: number;
  payloadSha256: string;
}

/**
 * Releases: signed packages registered by upload into the artifact store or by the URL they
 * are already served at. Nothing is registered unless its manifest verifies with the
 * configured release public key — the same check (verifyManifest) the appliances make.
 */
export class ReleaseService {
  private key: KeyObject | null = null;
  /** Release records never change once made, so what each one serves is kept. */
  private readonly servedKeys = new Map<string, (key: string) => boolean>();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly artifacts: ArtifactStore,
    private readonly publicKeyFile: string,
    /** The URL appliances reach the backend at (for artifact-store manifest URLs). */
    private readonly publicUrl: () => string,
  ) {}

  private publicKey(): KeyObject {
    if (this.key) return this.key;
    if (!existsSync(this.publicKeyFile)) {
      throw new DomainError('no_release_key', `no release public key at ${this.publicKeyFile}: set releasePublicKeyFile (TWINROOT_RELEASE_PUBLIC_KEY_FILE) to the key the appliances pin`);
    }
    this.key = loadPublicKey(readFileSync(this.publicKeyFile), this.publicKeyFile);
    return this.key;
  }

  /** Verifies the signature, then the manifest (schema and consistency); a 400 with the reason otherwise. */
  verify(manifest: Buffer, signature: Buffer): Manifest {
    try {
      return verifyManifest(manifest, signature, this.publicKey());
    } catch (err) {
      if (err instanceof SignatureError) throw new DomainError(err.code, err.message);
      throw err;
    }
  }

  private async refuseExisting(version: string): Promise<string> {
    const releaseId = releaseIdOf(version);
    if (await this.ctx.store.releases.get(releaseId)) throw new DomainError('release_exists', `version ${version} is already registered as ${releaseId}`);
    return releaseId;
  }

  private record(m: Manifest, releaseId: string, manifestUrl: string, source: ReleaseRecord['source']): ReleaseRecord {
    return {
      releaseId,
      version: m.version,
      compatible: m.compatible,
      manifestUrl,
      payloadSize: m.payload.size,
      payloadSha256: m.payload.sha256,
      source,
      manifestCreatedAt: m.createdAt,
      createdAt: iso(this.ctx.clock.now()),
      rev: 0,
    };
  }

  /** An uploaded package: verified, stored (payload, signature, manifest last), then recorded. */
  async registerUpload(p: UploadedPackage): Promise<ReleaseRecord> {
    const m = this.verify(p.manifest, p.signature);
    if (p.payloadSize !== m.payload.size) throw new DomainError('payload_size_mismatch', `payload is ${p.payloadSize} bytes; the manifest says ${m.payload.size}`);
    if (p.payloadSha256 !== m.payload.sha256) throw new DomainError('payload_corrupt', `payload sha256 ${p.payloadSha256} differs from the manifest's ${m.payload.sha256}`);
    if (!checkKey(m.payload.file)) throw new DomainError('bad_manifest', `payload file name ${JSON.stringify(m.payload.file)} cannot be stored`);
    const releaseId = await this.refuseExisting(m.version);
    // Each upload has its own prefix: a concurrent upload of the same version never overwrites ours.
    const prefix = `${releaseId}/${randomUUID()}`;
    try {
      await this.artifacts.putFile(`${prefix}/${m.payload.file}`, p.payloadPath, 'application/octet-stream');
      await this.putBuffer(`${prefix}/manifest.json.sig`, p.signature);
      await this.putBuffer(`${prefix}/manifest.json`, p.manifest);
      const rec = {
        ...this.record(m, releaseId, `${this.publicUrl()}/artifacts/${prefix}/manifest.json`, 'artifact-store'),
        artifactKeys: [`${prefix}/${m.payload.file}`, `${prefix}/manifest.json.sig`, `${prefix}/manifest.json`],
      };
      if (!(await this.ctx.store.releases.create(rec))) throw new DomainError('release_exists', `version ${m.version} was registered meanwhile`);
      this.ctx.log.info({ releaseId, version: m.version, size: m.payload.size, store: this.artifacts.description }, 'release registered (upload)');
      return rec;
    } catch (err) {
      await this.artifacts.removePrefix(prefix).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Whether /artifacts may serve `key`: only objects a registered upload wrote, by the release
   * record's own list (records made before the list existed: the files right under the upload's
   * prefix in its manifest URL). Anything else in the store's directory is never served.
   */
  async serves(key: string): Promise<boolean> {
    const releaseId = key.split('/')[0]!;
    let keys = this.servedKeys.get(releaseId);
    if (!keys) {
      const rec = await this.ctx.store.releases.get(releaseId, false);
      if (!rec || rec.source !== 'artifact-store') return false;
      keys = servedKeysOf(rec);
      this.servedKeys.set(releaseId, keys);
    }
    return keys(key);
  }

  private async putBuffer(key: string, data: Buffer): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'twinroot-artifact-'));
    try {
      await writeFile(join(dir, 'f'), data);
      await this.artifacts.putFile(key, join(dir, 'f'), key.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** A package already served at a URL: its manifest and .sig are fetched and verified, its payload checked for size. */
  async registerByUrl(manifestUrl: string): Promise<ReleaseRecord> {
    const manifest = await fetchLimited(manifestUrl, MAX_MANIFEST_BYTES);
    const signature = await fetchLimited(`${manifestUrl}.sig`, 4096);
    const m = this.verify(manifest, signature);
    const releaseId = await this.refuseExisting(m.version);
    const payloadUrl = new URL(m.payload.file, manifestUrl).toString();
    let res: Response;
    try {
      res = await fetch(payloadUrl, { method: 'HEAD', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch (err) {
      throw new DomainError('payload_unreachable', `HEAD ${payloadUrl}: ${(err as Error).message}`);
    }
    if (!res.ok) throw new DomainError('payload_unreachable', `HEAD ${payloadUrl}: HTTP ${res.status}`);
    const len = res.headers.get('content-length');
    if (len !== null && Number(len) !== m.payload.size) throw new DomainError('payload_size_mismatch', `${payloadUrl} is ${len} bytes; the manifest says ${m.payload.size}`);
    const rec = this.record(m, releaseId, manifestUrl, 'url');
    if (!(await this.ctx.store.releases.create(rec))) throw new DomainError('release_exists', `version ${m.version} was registered meanwhile`);
    this.ctx.log.info({ releaseId, version: m.version, manifestUrl }, 'release registered (url)');
    return rec;
  }
}

/** GET a small file, refusing more than `limit` bytes; failures are the operator's 400s. */
async function fetchLimited(url: string, limit: number): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    throw new DomainError('manifest_unreachable', `GET ${url}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new DomainError('manifest_unreachable', `GET ${url}: HTTP ${res.status}`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > limit) throw new DomainError('manifest_too_large', `GET ${url}: more than ${limit} bytes`);
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks);
}
