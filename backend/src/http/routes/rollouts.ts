import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ApiError, CreateRolloutRequest, Id, Page, RolloutSummary, RolloutView } from '@twinroot/protocol';
import type { RolloutService } from '../../services/rollouts.js';
import type { OperatorAction } from '../../rollouts/rollout-record.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { rolloutSummary, rolloutView } from '../rollout-views.js';
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
      { schema: { tags: ['rollouts'], summary: 'Plan and start a staged rollout of a release', body: CreateRolloutRequest, security, response: { 201: Type.Object({ rolloutId: Id }), ...errors } } },
      async (req, reply) => {
        const r = await rollouts.create(req.body, 'operator');
        return reply.code(201).send({ rolloutId: r.rolloutId });
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
