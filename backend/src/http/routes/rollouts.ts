import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ApiError, CreateRolloutRequest, Id, Page, PAGE_LIMIT_DEFAULT, PageLimit, RolloutSummary, RolloutTarget, RolloutView } from '@twinroot/protocol';
import type { RolloutService } from '../../services/rollouts.js';
import { stageKeyOf, type OperatorAction } from '../../rollouts/rollout-record.js';
import { decodePageToken, encodePageToken } from '../pagination.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { rolloutSummary, rolloutTargetView, rolloutView } from '../rollout-views.js';
import { notFound } from '../../domain/domain-error.js';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const security = [{ operatorKey: [] }];
const errors = { 400: ApiError, 401: ApiError, 404: ApiError, 409: ApiError };

/** Operator API: staged rollouts of a release over the fleet. */
export function rolloutRoutes(deps: ApiDeps & { rollouts: RolloutService }): FastifyPluginAsync {
  const { ctx, rollouts } = deps;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', operatorAuth(deps.operatorKey));

    app.post(
      '/v1/rollouts',
      {
        schema: {
          tags: ['rollouts'],
          summary: 'Create a staged rollout of a release: answers at once — running for a fleet prepared within half a second, else preparing (the fleet is planned in the background; see preparation)',
          body: CreateRolloutRequest,
          security,
          response: { 201: RolloutView, ...errors },
        },
      },
      async (req, reply) => {
        const r = await rollouts.create(req.body, 'operator');
        return reply.code(201).send(rolloutView(r));
      },
    );

    app.get('/v1/rollouts', { schema: { tags: ['rollouts'], summary: 'List rollouts, newest first', security, response: { 200: Page(RolloutSummary), ...errors } } }, async () => ({
      items: (await ctx.store.listRollouts()).map(rolloutSummary),
    }));

    app.get(
      '/v1/rollouts/:id',
      { schema: { tags: ['rollouts'], summary: 'A rollout with its stages and their counts', params: IdParams, security, response: { 200: RolloutView, ...errors } } },
      async (req) => {
        const r = await ctx.store.rollouts.get(req.params.id);
        if (!r) throw notFound('no such rollout');
        return rolloutView(r);
      },
    );

    app.get(
      '/v1/rollouts/:id/stages/:index/appliances',
      {
        schema: {
          tags: ['rollouts'],
          summary: 'The appliances of one stage and where each is (paged)',
          params: Type.Object({ id: Id, index: Type.Integer({ minimum: 0, maximum: 9999 }) }, { additionalProperties: false }),
          querystring: Type.Object({ limit: Type.Optional(PageLimit), nextToken: Type.Optional(Type.String({ maxLength: 2048 })) }, { additionalProperties: false }),
          security,
          response: { 200: Page(RolloutTarget), ...errors },
        },
      },
      async (req) => {
        const r = await ctx.store.rollouts.get(req.params.id);
        if (!r) throw notFound('no such rollout');
        if (req.params.index >= r.stages.length) throw notFound(`rollout ${r.rolloutId} has ${r.stages.length} stages`);
        const page = await ctx.store.stageTargetsPage(stageKeyOf(r.rolloutId, req.params.index), req.query.limit ?? PAGE_LIMIT_DEFAULT, decodePageToken(req.query.nextToken, ['targetId', 'stageKey', 'applianceId']));
        const nextToken = encodePageToken(page.next);
        return { items: page.items.map(rolloutTargetView), ...(nextToken ? { nextToken } : {}) };
      },
    );

    for (const action of ['pause', 'resume', 'abort'] as OperatorAction[]) {
      app.post(
        `/v1/rollouts/:id/${action}`,
        { schema: { tags: ['rollouts'], summary: `${action[0]!.toUpperCase()}${action.slice(1)} a rollout`, params: IdParams, security, response: { 200: RolloutView, ...errors } } },
        async (req) => {
          return rolloutView(await rollouts.act(req.params.id, action));
        },
      );
    }
  };
}
