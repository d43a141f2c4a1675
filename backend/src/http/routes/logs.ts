import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ApiError, Id, LogUploadTarget, LogUploadTargetRequest, TaskCreated, Timestamp } from '@twinroot/protocol';
import { LOG_BUNDLE_MAX_BYTES, type LogBundles } from '../../services/log-bundles.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { DomainError, notFound } from '../../domain/domain-error.js';

const security = [{ operatorKey: [] }];
const errors = { 400: ApiError, 401: ApiError, 404: ApiError };
const LogBundle = Type.Object({ bundleId: Id, bytes: Type.Integer(), uploadedAt: Timestamp }, { additionalProperties: false });

type Deps = ApiDeps & { logs: LogBundles; publicUrl: () => string };

/** Operator API: ask an appliance for its diagnostic bundle, list and download the bundles. */
export function logRoutes(deps: Deps): FastifyPluginAsync {
  const { ctx, logs } = deps;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', operatorAuth(deps.operatorKey));

    app.post(
      '/v1/appliances/:id/collect-logs',
      {
        schema: {
          tags: ['appliances'],
          summary: 'Send a collectLogs task; the appliance uploads its diagnostic bundle to this backend',
          params: Type.Object({ id: Id }, { additionalProperties: false }),
          security,
          response: { 202: Type.Composite([TaskCreated, Type.Object({ bundleId: Id })]), ...errors },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        if (!(await ctx.store.appliances.get(id, false))) throw notFound(`no appliance ${id}`);
        const { bundleId, path } = logs.issue(id, ctx.clock.now());
        const t = await deps.tasks.create({ applianceId: id, taskType: 'collectLogs', body: { uploadUrl: deps.publicUrl() + path }, createdBy: 'operator' });
        return reply.code(202).send({ taskId: t.taskId, status: t.status, bundleId });
      },
    );

    app.get(
      '/v1/appliances/:id/logs',
      {
        schema: {
          tags: ['appliances'],
          summary: "An appliance's uploaded diagnostic bundles, newest first",
          params: Type.Object({ id: Id }, { additionalProperties: false }),
          security,
          response: { 200: Type.Object({ items: Type.Array(LogBundle) }), ...errors },
        },
      },
      async (req) => ({ items: await logs.list(req.params.id) }),
    );

    app.get(
      '/v1/appliances/:id/logs/:bundleId',
      { schema: { tags: ['appliances'], summary: 'Download one diagnostic bundle (tar.gz)', params: Type.Object({ id: Id, bundleId: Id }, { additionalProperties: false }), security } },
      async (req, reply) => {
        const { id, bundleId } = req.params;
        const body = await logs.open(id, bundleId);
        if (!body) throw notFound('no such bundle');
        return reply
          .header('content-type', 'application/gzip')
          .header('content-disposition', `attachment; filename="twinroot-logs-${id.slice(0, 8)}-${bundleId.slice(0, 8)}.tar.gz"`)
          .send(body);
      },
    );
  };
}

/**
 * The appliance side, at the signed URL handed out in the collectLogs task: POST asks where to
 * put a bundle of a given size (a presigned S3 PUT when the store can, so the bytes never pass
 * through the backend), PUT takes the bundle here (embedded mode, and older agents).
 */
export function logUploadRoutes(deps: Deps): FastifyPluginAsync {
  const params = Type.Object({ applianceId: Id, bundleId: Id }, { additionalProperties: false });
  const querystring = Type.Object({ expires: Type.String({ maxLength: 16 }), sig: Type.String({ maxLength: 64 }) }, { additionalProperties: false });
  const checked = (p: { applianceId: string; bundleId: string }, q: { expires: string; sig: string }) => {
    const ok = deps.logs.check(p.applianceId, p.bundleId, q.expires, q.sig, deps.ctx.clock.now());
    if (!ok.ok) throw new DomainError('forbidden', `upload refused: ${ok.reason}`);
  };
  const target: FastifyPluginAsync = async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.post(
      '/v1/log-uploads/:applianceId/:bundleId',
      {
        schema: {
          tags: ['device'],
          summary: 'Where to PUT a diagnostic bundle of this size (the URL is signed and expires)',
          params,
          querystring,
          body: LogUploadTargetRequest,
          response: { 200: LogUploadTarget, 400: ApiError, 403: ApiError, 409: ApiError, 413: ApiError },
        },
      },
      async (req) => {
        checked(req.params, req.query);
        const { applianceId, bundleId } = req.params;
        return deps.logs.uploadTarget(applianceId, bundleId, Number(req.query.expires), req.body.bytes, deps.publicUrl() + req.url, deps.ctx.clock.now());
      },
    );
  };
  const put: FastifyPluginAsync = async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    // The body is streamed to the store, never buffered: any content type is taken as bytes.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    app.put(
      '/v1/log-uploads/:applianceId/:bundleId',
      {
        bodyLimit: LOG_BUNDLE_MAX_BYTES,
        schema: {
          tags: ['device'],
          summary: 'Upload a diagnostic bundle (the URL is signed and expires)',
          params,
          querystring,
          response: { 201: Type.Object({ bundleId: Id, bytes: Type.Integer() }), 400: ApiError, 403: ApiError, 409: ApiError, 413: ApiError },
        },
      },
      async (req, reply) => {
        checked(req.params, req.query);
        const { applianceId, bundleId } = req.params;
        const b = await deps.logs.store(applianceId, bundleId, req.body as import('node:stream').Readable);
        deps.ctx.log.info({ applianceId, bundleId, bytes: b.bytes }, 'diagnostic bundle uploaded');
        return reply.code(201).send({ bundleId, bytes: b.bytes });
      },
    );
  };
  return async (app) => {
    await app.register(target);
    await app.register(put);
  };
}
