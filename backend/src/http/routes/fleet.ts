import type { FastifyPluginAsync } from 'fastify';
import { ApiError, FleetSummary, FleetSummaryQuery } from '@twinroot/protocol';
import { summarizeFleet } from '../../domain/fleet-summary.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';

/** Operator API: fleet-wide counts for dashboards (one projected scan of the appliances table). */
export function fleetRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', operatorAuth(deps.operatorKey));
    app.get(
      '/v1/fleet/summary',
      {
        schema: {
          tags: ['appliances'],
          summary: 'Appliance counts by status, version and region',
          querystring: FleetSummaryQuery,
          security: [{ operatorKey: [] }],
          response: { 200: FleetSummary, 400: ApiError, 401: ApiError },
        },
      },
      async (req) => summarizeFleet(await deps.ctx.store.fleetRows(), req.query as { region?: string; customerId?: string }),
    );
  };
}
