import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import got from 'got';
import { execa } from 'execa';
import { Type } from '@sinclair/typebox';
import { compile, ServiceStatus, MAX_SERVICES, type TaskMessageOf } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { TaskFailure, type TaskContext } from '../dispatch/dispatcher.js';

type Installed = Record<string, { version: string; status: 'running' | 'failed' | 'installing'; at: string }>;
const validateStatusList = compile(Type.Array(ServiceStatus, { maxItems: MAX_SERVICES }));
const MAX_BUNDLE_BYTES = 20 * 2 ** 30;

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

/** Downloads to `dest` while hashing; refuses more than maxBytes and a hash that differs. */
export async function downloadVerified(url: string, dest: string, sha256: string, signal: AbortSignal, onBytes?: (n: number) => void): Promise<void> {
  const hash = createHash('sha256');
  let total = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (total > MAX_BUNDLE_BYTES) return cb(new TaskFailure('bundle_too_large', `bundle is larger than ${MAX_BUNDLE_BYTES} bytes`));
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

export function installServiceHandler(deps: { installer: string[]; registry: ServiceRegistry }) {
  return async (task: TaskMessageOf<'installService'>, ctx: TaskContext) => {
    const { serviceCode, version, bundleUrl, sha256 } = task.body;
    const bundle = join(deps.registry.bundleDir(), `${serviceCode}-${version}.tar.gz`);
    deps.registry.set(serviceCode, { version, status: 'installing', at: new Date().toISOString() });
    try {
      await downloadVerified(bundleUrl, bundle, sha256, ctx.signal, (bytes) => ctx.progress({ phase: 'download', bytes }));
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
