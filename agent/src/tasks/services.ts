import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import got from 'got';
import { execa } from 'execa';
import { Type } from '@sinclair/typebox';
import type { KeyObject } from 'node:crypto';
import {
  compile,
  loadPublicKey,
  MAX_SERVICE_BUNDLE_BYTES,
  MAX_SERVICE_MANIFEST_BYTES,
  MAX_SERVICES,
  ServiceStatus,
  SignatureError,
  verifyServiceManifest,
  type ServiceManifest,
  type TaskMessageOf,
} from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { fetchLimited, LimitedFetchError } from '../backend/fetch-limited.js';
import { TaskFailure, type TaskContext } from '../dispatch/dispatcher.js';

type Installed = Record<string, { version: string; status: 'running' | 'failed' | 'installing'; at: string }>;
const validateStatusList = compile(Type.Array(ServiceStatus, { maxItems: MAX_SERVICES }));
const MAX_BUNDLE_BYTES = MAX_SERVICE_BUNDLE_BYTES;

/** The services this agent installed (the backend re-sends them after each upgrade). */
export class ServiceRegistry {
  private readonly file: string;
  constructor(private readonly stateDir: string) {
    this.file = join(stateDir, 'services.json');
  }
  read(): Installed {
    return existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as Installed) : {};
  }
  write(v: Installed): void {
    writeFileAtomic(this.file, JSON.stringify(v, null, 2));
  }
  set(code: string, entry: Installed[string] | null): void {
    const all = this.read();
    if (entry) all[code] = entry;
    else delete all[code];
    this.write(all);
  }
  bundleDir(): string {
    const d = join(this.stateDir, 'bundles');
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  }
}

/** The services' status for a heartbeat: from the configured command, else from the registry. */
export async function servicesStatus(command: string[] | undefined, registry: ServiceRegistry): Promise<{ name: string; status: 'running' | 'stopped' | 'failed' | 'installing' | 'unknown' }[]> {
  if (command) {
    const [file, ...args] = command as [string, ...string[]];
    const out = await execa(file, args, { timeout: 30_000, reject: false });
    if (out.exitCode === 0) {
      try {
        const v = validateStatusList(JSON.parse(out.stdout));
        if (v.ok) return v.value;
      } catch {
        // fall through to unknown
      }
    }
    return Object.keys(registry.read()).map((name) => ({ name, status: 'unknown' as const }));
  }
  return Object.entries(registry.read()).map(([name, e]) => ({ name, status: e.status }));
}

/** Downloads to `dest` while hashing; refuses more than maxBytes (or the expected size) and a hash that differs. */
export async function downloadVerified(url: string, dest: string, sha256: string, signal: AbortSignal, onBytes?: (n: number) => void, expectedSize?: number): Promise<void> {
  const limit = expectedSize ?? MAX_BUNDLE_BYTES;
  const hash = createHash('sha256');
  let total = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (total > limit) {
        return cb(expectedSize !== undefined ? new TaskFailure('checksum_mismatch', `bundle is larger than the signed manifest's ${expectedSize} bytes`) : new TaskFailure('bundle_too_large', `bundle is larger than ${limit} bytes`));
      }
      hash.update(chunk);
      onBytes?.(total);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(got.stream(url, { timeout: { request: 60 * 60_000 }, retry: { limit: 2 } }), meter, createWriteStream(dest, { mode: 0o600 }), { signal });
  } catch (err) {
    rmSync(dest, { force: true });
    if (err instanceof TaskFailure) throw err;
    throw new TaskFailure('download_failed', `bundle download failed: ${(err as Error).message}`);
  }
  if (expectedSize !== undefined && total !== expectedSize) {
    rmSync(dest, { force: true });
    throw new TaskFailure('checksum_mismatch', `bundle is ${total} bytes, the signed manifest says ${expectedSize}`);
  }
  const got256 = hash.digest('hex');
  if (got256 !== sha256) {
    rmSync(dest, { force: true });
    throw new TaskFailure('checksum_mismatch', `bundle sha256 is ${got256}, the task says ${sha256}`);
  }
}

async function runInstaller(installer: string[], args: string[], signal: AbortSignal): Promise<void> {
  const [file, ...pre] = installer as [string, ...string[]];
  const out = await execa(file, [...pre, ...args], { reject: false, cancelSignal: signal, timeout: 60 * 60_000, all: true });
  if (out.exitCode !== 0) {
    const tail = (out.all ?? '').trim().split('\n').slice(-5).join(' | ');
    throw new TaskFailure('installer_failed', `service installer exited ${out.exitCode ?? out.signal}: ${tail}`.slice(0, 2000));
  }
}

/** A manifest or its signature, whole, refusing more than `limit` bytes. */
async function fetchSmall(url: string, limit: number, signal: AbortSignal): Promise<Buffer> {
  if (signal.aborted) throw new TaskFailure('cancelled', 'the task was cancelled');
  try {
    return await fetchLimited(url, limit);
  } catch (err) {
    if (err instanceof LimitedFetchError) throw new TaskFailure(err.kind === 'too_large' ? 'bad_manifest' : 'download_failed', err.message);
    throw err;
  }
}

function loadServiceKey(file: string): KeyObject {
  try {
    return loadPublicKey(readFileSync(file), file);
  } catch (err) {
    throw new TaskFailure('no_service_key', `cannot use the service signing key ${file}: ${(err as Error).message}`);
  }
}

/**
 * The bundle's signed manifest, verified with the pinned key and matched to the task: what is
 * installed is what the signer signed, whatever the task (or whoever sent it) says.
 */
export async function verifiedServiceManifest(body: TaskMessageOf<'installService'>['body'], keyFile: string, signal: AbortSignal): Promise<ServiceManifest> {
  if (!body.manifestUrl) throw new TaskFailure('bundle_unsigned', `service bundle ${body.serviceCode} ${body.version} has no signed manifest (manifestUrl); unsigned bundles are refused`);
  const key = loadServiceKey(keyFile);
  const bytes = await fetchSmall(body.manifestUrl, MAX_SERVICE_MANIFEST_BYTES, signal);
  const sig = await fetchSmall(`${body.manifestUrl}.sig`, 4096, signal);
  let m: ServiceManifest;
  try {
    m = verifyServiceManifest(bytes, sig, key);
  } catch (err) {
    if (err instanceof SignatureError) throw new TaskFailure(err.code, err.message);
    throw err;
  }
  if (m.serviceCode !== body.serviceCode || m.version !== body.version) {
    throw new TaskFailure('bad_manifest', `the signed manifest is for ${m.serviceCode} ${m.version}, the task asks for ${body.serviceCode} ${body.version}`);
  }
  if (body.sha256 && body.sha256 !== m.bundle.sha256) throw new TaskFailure('bad_manifest', 'the task\'s sha256 differs from the signed manifest\'s');
  return m;
}

export function installServiceHandler(deps: { installer: string[]; registry: ServiceRegistry; keyFile: string }) {
  return async (task: TaskMessageOf<'installService'>, ctx: TaskContext) => {
    const { serviceCode, version, bundleUrl } = task.body;
    // Verified before anything is recorded, downloaded or run.
    const m = await verifiedServiceManifest(task.body, deps.keyFile, ctx.signal);
    const bundle = join(deps.registry.bundleDir(), `${serviceCode}-${version}.tar.gz`);
    deps.registry.set(serviceCode, { version, status: 'installing', at: new Date().toISOString() });
    try {
      await downloadVerified(bundleUrl, bundle, m.bundle.sha256, ctx.signal, (bytes) => ctx.progress({ phase: 'download', bytes }), m.bundle.size);
      ctx.progress({ phase: 'install' });
      await runInstaller(deps.installer, ['install', serviceCode, version, bundle], ctx.signal);
    } catch (err) {
      deps.registry.set(serviceCode, { version, status: 'failed', at: new Date().toISOString() });
      throw err;
    } finally {
      rmSync(bundle, { force: true });
    }
    deps.registry.set(serviceCode, { version, status: 'running', at: new Date().toISOString() });
    return { detail: { serviceCode, version } };
  };
}

export function uninstallServiceHandler(deps: { installer: string[]; registry: ServiceRegistry }) {
  return async (task: TaskMessageOf<'uninstallService'>, ctx: TaskContext) => {
    await runInstaller(deps.installer, ['uninstall', task.body.serviceCode], ctx.signal);
    deps.registry.set(task.body.serviceCode, null);
    return { detail: { serviceCode: task.body.serviceCode } };
  };
}
