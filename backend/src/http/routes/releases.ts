import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import { ApiError, compile, Id, MAX_PAYLOAD_BYTES, Page, RegisterReleaseByUrl, Release } from '@twinroot/protocol';
import type { ReleaseService, UploadedPackage } from '../../services/releases.js';
import { MAX_MANIFEST_BYTES } from '../../services/releases.js';
import type { ReleaseRecord } from '../../store/store.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { releaseView } from '../views.js';
import { DomainError, notFound } from '../../domain/domain-error.js';

const security = [{ operatorKey: [] }];
const errors = { 400: ApiError, 401: ApiError, 404: ApiError, 409: ApiError, 503: ApiError };
const vByUrl = compile(RegisterReleaseByUrl);
const PART_NAMES = ['manifest', 'signature', 'payload'] as const;

/** Reads the three multipart files; the payload goes to disk, hashed on the way. */
async function receiveUpload(req: FastifyRequest, incomingDir: string): Promise<UploadedPackage & { cleanup(): Promise<void> }> {
  const dir = join(incomingDir, randomUUID());
  await mkdir(dir, { recursive: true });
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const got: Partial<UploadedPackage> = {};
  try {
    for await (const part of req.parts()) {
      if (part.type !== 'file') throw new DomainError('bad_upload', `unexpected form field ${JSON.stringify(part.fieldname)} (send the files manifest, signature and payload)`);
      const name = part.fieldname as (typeof PART_NAMES)[number];
      if (!PART_NAMES.includes(name)) throw new DomainError('bad_upload', `unexpected file ${JSON.stringify(part.fieldname)} (expected manifest, signature, payload)`);
      if (name === 'payload') {
        if (got.payloadPath) throw new DomainError('bad_upload', 'payload sent twice');
        const hash = createHash('sha256');
        let size = 0;
        const path = join(dir, 'payload');
        const meter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            size += chunk.length;
            cb(null, chunk);
          },
        });
        await pipeline(part.file, meter, createWriteStream(path));
        if (part.file.truncated) throw new DomainError('payload_too_large', `payload exceeds ${MAX_PAYLOAD_BYTES} bytes`);
        Object.assign(got, { payloadPath: path, payloadSize: size, payloadSha256: hash.digest('hex') });
      } else {
        const limit = name === 'manifest' ? MAX_MANIFEST_BYTES : 4096;
        const chunks: Buffer[] = [];
        let n = 0;
        for await (const c of part.file as AsyncIterable<Buffer>) {
          n += c.length;
          if (n > limit) throw new DomainError('bad_upload', `${name} is larger than ${limit} bytes`);
          chunks.push(c);
        }
        got[name] = Buffer.concat(chunks);
      }
    }
  } catch (err) {
    await cleanup();
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw new DomainError('file_too_large', (err as Error).message);
    throw err;
  }
  const missing = PART_NAMES.filter((n) => (n === 'payload' ? !got.payloadPath : !got[n]));
  if (missing.length > 0) {
    await cleanup();
    throw new DomainError('bad_upload', `missing file(s): ${missing.join(', ')}`);
  }
  return { ...(got as UploadedPackage), cleanup };
}

/** A malformed multipart body (no boundary, cut off, bad part headers) is the client's error: 400, not 500. */
function uploadError(err: unknown): unknown {
  if (err instanceof DomainError) return err;
  const e = err as { message?: string; code?: string; statusCode?: number };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return err;
  const msg = String(e.message ?? '');
  if (/multipart|boundary|unexpected end of form|malformed part header|part terminated/i.test(msg)) return new DomainError('bad_upload', `malformed multipart body: ${msg.slice(0, 200)}`);
  return err;
}

/** Operator API: releases. POST takes either a multipart upload of the three files or {manifestUrl}. */
export function releaseRoutes(deps: ApiDeps & { releases: ReleaseService; incomingDir: string }): FastifyPluginAsync {
  const { ctx } = deps;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    await app.register(multipart, { limits: { fileSize: MAX_PAYLOAD_BYTES, files: 3, fields: 0, parts: 3 } });
    app.addHook('onRequest', operatorAuth(deps.operatorKey));

    app.post(
      '/v1/releases',
      {
        schema: {
          tags: ['releases'],
          summary: 'Register a signed package: multipart upload of the files manifest, signature and payload, or JSON {manifestUrl}',
          security,
          response: { 201: Release, ...errors },
        },
      },
      async (req, reply) => {
        // An authenticated operator's upload may be stored for minutes after its last byte (into S3):
        // no idle cut-off; the body-rate guard and the request timeout still bound it.
        req.raw.socket.setTimeout(0);
        let rec: ReleaseRecord;
        if (req.isMultipart()) {
          let up;
          try {
            up = await receiveUpload(req, deps.incomingDir);
          } catch (err) {
            // The rest of the body may still be on its way: answer now and close the connection
            // rather than read (and wait for) what is left of a refused upload.
            reply.header('connection', 'close');
            throw uploadError(err);
          }
          try {
            rec = await deps.releases.registerUpload(up);
          } finally {
            await up.cleanup();
          }
        } else {
          const v = vByUrl(req.body);
          if (!v.ok) throw new DomainError('bad_body', `body: ${v.error} (or send a multipart upload)`);
          rec = await deps.releases.registerByUrl(v.value.manifestUrl);
        }
        return reply.code(201).send(releaseView(rec));
      },
    );

    app.get(
      '/v1/releases',
      {
        schema: {
          tags: ['releases'],
          summary: 'List releases, newest version first',
          security,
          response: { 200: Page(Release), ...errors },
        },
      },
      async () => {
        const items = await ctx.store.listReleases();
        return { items: items.map(releaseView) };
      },
    );

    app.get(
      '/v1/releases/:id',
      { schema: { tags: ['releases'], summary: 'One release', params: Type.Object({ id: Id }, { additionalProperties: false }), security, response: { 200: Release, ...errors } } },
      async (req) => {
        const r = await ctx.store.releases.get(req.params.id);
        if (!r) throw notFound('no such release');
        return releaseView(r);
      },
    );
  };
}
