import type { FastifyPluginAsync } from 'fastify';
import { ApiError, ErrorCatalogue, errorCatalogueView } from '@twinroot/protocol';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';

/** Operator API: the error catalogue, so consoles and scripts label codes the way the code means them. */
export function errorCodeRoutes(deps: ApiDeps): FastifyPluginAsync {
  const body = { items: errorCatalogueView() };
  return async (app) => {
    app.addHook('onRequest', operatorAuth(deps.operatorKey));
    app.get(
      '/v1/error-codes',
      {
        schema: {
          tags: ['meta'],
          summary: 'Every error code the agent, the backend and the tooling raise: meaning, retryable, who raises it',
          security: [{ operatorKey: [] }],
          response: { 200: ErrorCatalogue, 401: ApiError },
        },
      },
      async () => body,
    );
  };
}
