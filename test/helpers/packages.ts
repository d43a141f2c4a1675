import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, openAsBlob, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { buildPackage, keygen, type BuiltPackage } from '@twinroot/image-build';

/** A tiny root filesystem: etc, usr, a version file, and `randomKiB` of incompressible data. */
export function makeRootfs(dir: string, opts: { randomKiB?: number; marker?: string } = {}): string {
  for (const d of ['etc/twinroot', 'usr/bin', 'var/lib', 'proc', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'etc/hostname'), 'from-package\n');
  writeFileSync(join(dir, 'etc/os-release'), 'ID=twinroot-test\n');
  writeFileSync(join(dir, 'usr/bin/marker'), `${opts.marker ?? 'new'}\n`);
  writeFileSync(join(dir, 'var/lib/blob'), randomBytes((opts.randomKiB ?? 512) * 1024));
  return dir;
}

export interface TestKeys {
  dir: string;
  privateKey: string;
  publicKey: string;
}

export function makeKeys(parent = mkdtempSync(join(tmpdir(), 'twinroot-keys-'))): TestKeys {
  const dir = join(parent, 'keys');
  const k = keygen(dir);
  return { dir, ...k };
}

/** Builds a signed package of a fresh tiny rootfs with the real image-build code. */
export async function makePackage(o: { keys: TestKeys; version: string; compatible?: string; randomKiB?: number; chunkSize?: number; cpuLevel?: 'x86-64-v2' | 'x86-64-v4'; minDiskBytes?: number; compression?: 'zstd' | 'xz'; now?: Date }): Promise<BuiltPackage> {
  const work = mkdtempSync(join(tmpdir(), 'twinroot-pkg-'));
  const root = makeRootfs(join(work, 'rootfs'), { randomKiB: o.randomKiB ?? 512, marker: o.version });
  return buildPackage({
    rootDir: root,
    version: o.version,
    compatible: o.compatible ?? 'twinroot-test',
    keyFile: o.keys.privateKey,
    outDir: join(work, 'out'),
    chunkSize: o.chunkSize ?? 64 * 1024,
    level: 1,
    ...(o.compression ? { compression: o.compression } : {}),
    ...(o.cpuLevel ? { cpuLevel: o.cpuLevel } : {}),
    ...(o.minDiskBytes !== undefined ? { minDiskBytes: o.minDiskBytes } : {}),
    ...(o.now ? { now: () => o.now! } : {}),
  });
}

export interface ServedRequest {
  path: string;
  range: string | null;
  status: number;
  bytesSent: number;
}

export interface Faults {
  /** Cut the connection after this many body bytes of the next payload responses (one per entry). */
  cutAfter?: number[];
  /** Flip one byte at this payload offset on every response (a tampered mirror). */
  tamperAt?: number;
  /** Flip the byte only on the first N responses that include it (a flaky one). */
  tamperTimes?: number;
  /** Send this many extra bytes after the payload (no Content-Length: endless data). */
  extraBytes?: number;
  /** Claim and send only the first N bytes. */
  truncateTo?: number;
  /** Ignore Range headers (always 200 with the whole file). */
  ignoreRange?: boolean;
  /** Send the payload at about this many bytes a second (a slow link). */
  bytesPerSecond?: number;
}

/**
 * Serves a package directory over HTTP with Range, ETag and If-Range like S3 or nginx, plus
 * the faults a real network and a bad mirror produce.
 */
export class PackageServer {
  readonly requests: ServedRequest[] = [];
  faults: Faults = {};
  private server: Server;
  url = '';

  constructor(readonly dir: string, readonly payloadName: string) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get manifestUrl(): string {
    return `${this.url}/pkg/manifest.json`;
  }

  payloadBytesSent(): number {
    return this.requests.filter((r) => r.path.endsWith(this.payloadName)).reduce((a, r) => a + r.bytesSent, 0);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const rel = normalize(path).replace(/^\/pkg\//, '');
    const file = join(this.dir, rel);
    const record: ServedRequest = { path, range: (req.headers.range as string | undefined) ?? null, status: 0, bytesSent: 0 };
    this.requests.push(record);
    let st;
    try {
      st = statSync(file);
      if (!st.isFile() || rel.includes('..')) throw new Error('no');
    } catch {
      record.status = 404;
      res.writeHead(404).end();
      return;
    }
    const isPayload = rel === this.payloadName;
    const f = this.faults;
    const size = isPayload && f.truncateTo !== undefined ? f.truncateTo : st.size;
    const etag = `"${createHash('sha256').update(`${st.size}-${st.mtimeMs}`).digest('hex').slice(0, 16)}"`;
    let start = 0;
    const m = /^bytes=([0-9]+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (m && !(isPayload && f.ignoreRange) && (!ifRange || ifRange === etag)) start = Number(m[1]);
    if (start >= size && size > 0) {
      record.status = 416;
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    const headers: Record<string, string | number> = { etag, 'accept-ranges': 'bytes' };
    if (!(isPayload && f.extraBytes)) headers['content-length'] = size - start;
    if (start > 0) headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
    record.status = start > 0 ? 206 : 200;
    res.writeHead(record.status, headers);
    const cut = isPayload ? f.cutAfter?.shift() : undefined;
    const stream = createReadStream(file, { start, end: size - 1, highWaterMark: 16 * 1024 });
    let pos = start;
    stream.on('data', (d: Buffer) => {
      let data = d;
      if (isPayload && f.tamperAt !== undefined && f.tamperAt >= pos && f.tamperAt < pos + data.length && (f.tamperTimes === undefined || f.tamperTimes > 0)) {
        data = Buffer.from(data);
        data[f.tamperAt - pos]! ^= 0xff;
        if (f.tamperTimes !== undefined) f.tamperTimes -= 1;
      }
      pos += d.length;
      if (cut !== undefined && record.bytesSent + data.length >= cut) {
        const part = data.subarray(0, cut - record.bytesSent);
        record.bytesSent += part.length;
        stream.destroy();
        res.write(part, () => res.socket?.destroy());
        return;
      }
      record.bytesSent += data.length;
      const ok = res.write(data);
      if (isPayload && f.bytesPerSecond && !stream.destroyed) {
        stream.pause();
        setTimeout(() => (res.writableNeedDrain ? res.once('drain', () => stream.resume()) : stream.resume()), (data.length / f.bytesPerSecond) * 1000);
      } else if (!ok) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
    stream.on('end', () => {
      if (isPayload && f.extraBytes) {
        const extra = Buffer.alloc(f.extraBytes, 0x41);
        record.bytesSent += extra.length;
        res.write(extra);
      }
      res.end();
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Serves a built package (manifest.json, .sig, payload) under /pkg/. */
export async function servePackage(pkg: BuiltPackage): Promise<PackageServer> {
  return new PackageServer(pkg.dir, pkg.manifest.payload.file).start();
}

export function readManifestBytes(pkg: BuiltPackage): Buffer {
  return readFileSync(pkg.manifestFile);
}

/** A package as the multipart form POST /v1/releases takes (the files manifest, signature, payload). */
export async function packageForm(pkg: Pick<BuiltPackage, 'manifestFile' | 'signatureFile' | 'payloadFile'>): Promise<FormData> {
  const form = new FormData();
  form.append('manifest', new Blob([readFileSync(pkg.manifestFile)]), 'manifest.json');
  form.append('signature', new Blob([readFileSync(pkg.signatureFile)]), 'manifest.json.sig');
  form.append('payload', await openAsBlob(pkg.payloadFile), 'payload');
  return form;
}
