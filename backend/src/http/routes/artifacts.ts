import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ArtifactStore } from '../../artifacts/artifact-store.js';
import { checkKey } from '../../artifacts/artifact-store.js';
import { artifactAnswer } from '../../artifacts/artifact-answer.js';
import { notFound } from '../../domain/domain-error.js';

/**
 * Release files, for appliances to download: GET/HEAD /artifacts/<key>, with single byte ranges,
 * or, with an S3 store, a redirect to a presigned URL of the object,
 * strong ETags and If-Range, so an interrupted download resumes where it stopped. No credentials:
 * packages are signed and checked on the appliance (like a public S3 URL). Only the objects a
 * registered release wrote are served (its record lists them), whatever else the directory holds.
 */
/** How long a presigned download URL the artifact route redirects to stays valid (a resumed download asks again). */
export const PRESIGNED_URL_TTL_S = 3600;

export function artifactRoutes(store: ArtifactStore, serves: (key: string) => Promise<boolean>, opts: { redirect: boolean } = { redirect: false }): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.route({
      method: ['GET', 'HEAD'],
      url: '/artifacts/*',
      exposeHeadRoute: false,
      schema: { hide: true, params: Type.Object({ '*': Type.String({ maxLength: 1024 }) }) },
      handler: async (req, reply) => {
        const key = req.params['*'];
        if (!checkKey(key) || !(await serves(key))) throw notFound('no such artifact');
        // S3 mode: the bytes come straight from the bucket (a presigned GET keeps Range and the
        // object's strong ETag); the backend only answers this small redirect.
        if (opts.redirect && store.presignedGetUrl) {
          return reply.code(302).header('location', await store.presignedGetUrl(key, PRESIGNED_URL_TTL_S)).header('cache-control', 'no-store').send();
        }
        const st = await store.stat(key);
        if (!st) throw notFound('no such artifact');
        const h = req.headers;
        const one = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);
        const answer = artifactAnswer(req.method, key, { range: one(h.range), ifRange: one(h['if-range']), ifNoneMatch: one(h['if-none-match']) }, st);
        reply.code(answer.status).headers(answer.headers);
        if (!answer.body) return reply.send();
        return reply.send(await store.read(key, answer.body.start, answer.body.end));
      },
    });
  };
}
