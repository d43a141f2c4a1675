#!/usr/bin/env node
// Builds, signs and checks upgrade packages. Every error is one line on stderr, non-zero exit.
import { parseArgs } from 'node:util';
import { CPU_LEVELS, parseVersion, type CpuLevel } from '@twinroot/protocol';
import { keygen } from '../keygen.js';
import { buildPackage, DEFAULT_CHUNK_SIZE, type BuildProgress } from '../build.js';
import { attachDisk } from '../disk.js';
import { verifyPackage } from '../verify-package.js';
import { signServiceBundle } from '../service-bundle.js';

const USAGE = `usage: twinroot-image <command>
  keygen --out DIR                        write an Ed25519 key pair (signing.key, signing.pub)
  build (--rootfs DIR | --disk FILE [--root-device DEV]) --version V --compatible NAME
        --key KEY --out DIR [--compression zstd|xz] [--level N] [--chunk-size BYTES]
        [--cpu-level x86-64|x86-64-v2|x86-64-v3|x86-64-v4] [--min-disk-bytes N] [--min-agent-version V]
  verify --package DIR --pubkey KEY       check the signature, size and every hash
  sign-service --bundle FILE --code CODE --version V --key KEY [--out DIR]
                                          sign a service bundle: FILE.manifest.json + .sig`;

class UsageError extends Error {}

const mib = (n: number) => (n / 1048576).toFixed(1);

function progressPrinter() {
  const tty = process.stderr.isTTY;
  return (p: BuildProgress) => {
    const s = p.elapsedMs / 1000;
    const line = `packing: ${mib(p.tarBytes)} MiB read, ${mib(p.payloadBytes)} MiB written, ${(p.tarBytes / 1048576 / Math.max(s, 0.001)).toFixed(1)} MiB/s, ${s.toFixed(0)} s`;
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`${name} must be a whole number`);
  return Number(v);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' }, rootfs: { type: 'string' }, disk: { type: 'string' }, 'root-device': { type: 'string' },
      version: { type: 'string' }, compatible: { type: 'string' }, key: { type: 'string' },
      compression: { type: 'string' }, level: { type: 'string' }, 'chunk-size': { type: 'string' },
      'cpu-level': { type: 'string' }, 'min-disk-bytes': { type: 'string' }, 'min-agent-version': { type: 'string' },
      package: { type: 'string' }, pubkey: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      bundle: { type: 'string' }, code: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
  switch (command) {
    case 'keygen': {
      if (!values.out) throw new UsageError('keygen needs --out DIR');
      const k = keygen(values.out);
      console.log(`wrote ${k.privateKey} (keep it secret) and ${k.publicKey} (pin it on appliances and in the backend)`);
      return 0;
    }
    case 'build': {
      if (!values.rootfs === !values.disk) throw new UsageError('build needs exactly one of --rootfs DIR or --disk FILE');
      if (!values.version) throw new UsageError('build needs --version V');
      try {
        parseVersion(values.version);
      } catch {
        throw new UsageError(`--version must be a semantic version (got ${values.version})`);
      }
      if (!values.compatible) throw new UsageError('build needs --compatible NAME (what this image can replace, e.g. acme-va-rocky9-x86_64)');
      if (!values.key) throw new UsageError('build needs --key KEY');
      if (!values.out) throw new UsageError('build needs --out DIR');
      const compression = values.compression ?? 'zstd';
      if (compression !== 'zstd' && compression !== 'xz') throw new UsageError('--compression must be zstd or xz');
      const cpuLevel = values['cpu-level'];
      if (cpuLevel !== undefined && !(CPU_LEVELS as readonly string[]).includes(cpuLevel)) throw new UsageError(`--cpu-level must be one of ${CPU_LEVELS.join(', ')}`);
      const disk = values.disk ? attachDisk(values.disk, values['root-device'] ? { rootDevice: values['root-device'] } : {}) : null;
      try {
        const opts = {
          rootDir: disk ? disk.rootDir : values.rootfs!,
          version: values.version,
          compatible: values.compatible,
          keyFile: values.key,
          outDir: values.out,
          compression,
          chunkSize: int('--chunk-size', values['chunk-size']) ?? DEFAULT_CHUNK_SIZE,
          onProgress: progressPrinter(),
        } as Parameters<typeof buildPackage>[0];
        const level = int('--level', values.level);
        if (level !== undefined) opts.level = level;
        if (cpuLevel) opts.cpuLevel = cpuLevel as CpuLevel;
        const minDisk = int('--min-disk-bytes', values['min-disk-bytes']);
        if (minDisk !== undefined) opts.minDiskBytes = minDisk;
        if (values['min-agent-version']) opts.minAgentVersion = values['min-agent-version'];
        const built = await buildPackage(opts);
        if (process.stderr.isTTY) process.stderr.write('\n');
        const m = built.manifest;
        console.log(`built ${m.version} in ${(built.elapsedMs / 1000).toFixed(1)} s: ${built.payloadFile} (${mib(m.payload.size)} MiB from ${mib(built.tarBytes)} MiB, ${m.payload.chunks.length} chunks of ${mib(m.payload.chunkSize)} MiB), ${built.manifestFile}, ${built.signatureFile}`);
      } finally {
        disk?.detach();
      }
      return 0;
    }
    case 'verify': {
      if (!values.package || !values.pubkey) throw new UsageError('verify needs --package DIR --pubkey KEY');
      const { manifest } = await verifyPackage(values.package, values.pubkey);
      console.log(`ok: ${manifest.version} (${manifest.compatible}), signature valid, ${manifest.payload.size} bytes, ${manifest.payload.chunks.length} chunks verified`);
      return 0;
    }
    case 'sign-service': {
      if (!values.bundle || !values.code || !values.version || !values.key) throw new UsageError('sign-service needs --bundle FILE --code CODE --version V --key KEY');
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(values.code)) throw new UsageError(`--code must be a lower-case DNS label (got ${values.code})`);
      try {
        parseVersion(values.version);
      } catch {
        throw new UsageError(`--version must be a semantic version (got ${values.version})`);
      }
      const s = await signServiceBundle({ bundleFile: values.bundle, serviceCode: values.code, version: values.version, keyFile: values.key, ...(values.out ? { outDir: values.out } : {}) });
      console.log(`signed ${s.manifest.serviceCode} ${s.manifest.version} (${s.manifest.bundle.size} bytes): ${s.manifestFile}, ${s.signatureFile}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`twinroot-image: ${err.message.split('\n')[0]}`);
    process.exit(err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
  },
);
