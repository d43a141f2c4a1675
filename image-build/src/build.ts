import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { CPU_LEVELS, compile, loadPrivateKey, Manifest, manifestConsistencyError, signManifest, type CpuLevel } from '@twinroot/protocol';
import { ChunkedSha256 } from './chunked-sha256.js';
import { compressorArgs, payloadFileName, tarCreateArgs, type Compression } from './tar-args.js';

export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
/** Room the root filesystem needs beyond its tar size (filesystem metadata, growth). */
const DISK_HEADROOM = 1.2;

export interface BuildOptions {
  rootDir: string;
  version: string;
  compatible: string;
  keyFile: string;
  outDir: string;
  compression?: Compression;
  level?: number;
  chunkSize?: number;
  cpuLevel?: CpuLevel;
  minAgentVersion?: string;
  minDiskBytes?: number;
  onProgress?: (p: BuildProgress) => void;
  now?: () => Date;
}

export interface BuildProgress {
  tarBytes: number;
  payloadBytes: number;
  elapsedMs: number;
}

export interface BuiltPackage {
  dir: string;
  manifest: Manifest;
  manifestFile: string;
  signatureFile: string;
  payloadFile: string;
  tarBytes: number;
  elapsedMs: number;
}

const validateManifest = compile(Manifest);

function tarFeatures() {
  // Feature-detect like grub-scripts does: build hosts without SELinux support still work.
  const help = spawnSync('tar', ['--help'], { encoding: 'utf8' }).stdout ?? '';
  return { acls: help.includes('--acls'), selinux: help.includes('--selinux') };
}

export function checkBuildOptions(o: BuildOptions): void {
  if (!existsSync(o.rootDir) || !statSync(o.rootDir).isDirectory()) throw new Error(`--rootfs ${o.rootDir} is not a directory`);
  if (!existsSync(join(o.rootDir, 'etc')) || !existsSync(join(o.rootDir, 'usr'))) throw new Error(`--rootfs ${o.rootDir} is not a root filesystem (no etc/ or usr/)`);
  if (!existsSync(o.keyFile)) throw new Error(`--key ${o.keyFile} does not exist`);
  if (o.cpuLevel && !(CPU_LEVELS as readonly string[]).includes(o.cpuLevel)) throw new Error(`--cpu-level must be one of ${CPU_LEVELS.join(', ')}`);
  if (existsSync(join(o.outDir, 'manifest.json'))) throw new Error(`${o.outDir} already holds a package (manifest.json); use an empty directory`);
}

/** Checks a candidate manifest the way an appliance will, before anything is signed. */
function checkedManifest(m: Manifest): Manifest {
  const v = validateManifest(m);
  if (!v.ok) throw new Error(`the manifest would be invalid: ${v.error}`);
  const inconsistent = manifestConsistencyError(v.value);
  if (inconsistent) throw new Error(`the manifest would be invalid: ${inconsistent}`);
  return v.value;
}

async function exitCode(child: ReturnType<typeof spawn>, name: string, stderr: () => string): Promise<void> {
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`${name} failed (${signal ?? `exit ${code}`}): ${stderr().trim().split('\n').pop() ?? ''}`);
}

/**
 * tar | compressor → payload file, hashed whole and per chunk as it is written; then the
 * manifest is checked, signed, and written. The payload appears under its final name only
 * when complete; the manifest and signature are written last.
 */
export async function buildPackage(o: BuildOptions): Promise<BuiltPackage> {
  checkBuildOptions(o);
  const key = loadPrivateKey(readFileSync(o.keyFile), `--key ${o.keyFile}`);
  const compression = o.compression ?? 'zstd';
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  mkdirSync(o.outDir, { recursive: true });
  const file = payloadFileName(o.version, compression);
  const partial = join(o.outDir, `.${file}.partial`);
  const started = Date.now();

  const tar = spawn('tar', tarCreateArgs(o.rootDir, tarFeatures()), { stdio: ['ignore', 'pipe', 'pipe'] });
  const [compName, compArgs] = compressorArgs(compression, o.level);
  const comp = spawn(compName, compArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
  let tarErr = '';
  let compErr = '';
  tar.stderr.on('data', (d: Buffer) => (tarErr = (tarErr + d.toString()).slice(-4000)));
  comp.stderr.on('data', (d: Buffer) => (compErr = (compErr + d.toString()).slice(-4000)));
  let tarBytes = 0;
  tar.stdout.on('data', (d: Buffer) => (tarBytes += d.length));
  tar.stdout.pipe(comp.stdin);

  const hasher = new ChunkedSha256(chunkSize);
  const out = createWriteStream(partial, { mode: 0o644 });
  let lastReport = 0;
  comp.stdout.on('data', (d: Buffer) => {
    hasher.update(d);
    if (!out.write(d)) {
      comp.stdout.pause();
      out.once('drain', () => comp.stdout.resume());
    }
    const t = Date.now();
    if (o.onProgress && t - lastReport >= 1000) {
      lastReport = t;
      o.onProgress({ tarBytes, payloadBytes: hasher.size, elapsedMs: t - started });
    }
  });
  await Promise.all([exitCode(tar, 'tar', () => tarErr), exitCode(comp, compName, () => compErr)]);
  out.end();
  await once(out, 'close');
  const payload = hasher.finish();
  if (payload.size === 0) throw new Error('the compressor produced no output');

  const manifest = checkedManifest({
    format: 1,
    version: o.version,
    compatible: o.compatible,
    ...(o.minAgentVersion ? { minAgentVersion: o.minAgentVersion } : {}),
    requires: {
      ...(o.cpuLevel ? { cpuLevel: o.cpuLevel } : {}),
      minDiskBytes: o.minDiskBytes ?? Math.ceil(tarBytes * DISK_HEADROOM),
    },
    payload: { file, compression, size: payload.size, sha256: payload.sha256, chunkSize, chunks: payload.chunks },
    createdAt: (o.now?.() ?? new Date()).toISOString(),
  });
  renameSync(partial, join(o.outDir, file));
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  const manifestFile = join(o.outDir, 'manifest.json');
  const signatureFile = join(o.outDir, 'manifest.json.sig');
  writeFileSync(signatureFile, signManifest(bytes, key));
  writeFileSync(manifestFile, bytes);
  o.onProgress?.({ tarBytes, payloadBytes: payload.size, elapsedMs: Date.now() - started });
  return { dir: o.outDir, manifest, manifestFile, signatureFile, payloadFile: join(o.outDir, file), tarBytes, elapsedMs: Date.now() - started };
}
