import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError, FleetSummary, FleetSummaryQuery } from '@twinroot/protocol';
import { ALL_SCOPE, customerScope, regionScope, summaryFromCounters } from '../../domain/fleet-counters.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';

/** Operator API: fleet-wide counts for dashboards, read from the counters kept on the write path (no scan). */
export function fleetRoutes(deps: ApiDeps): FastifyPluginAsync {
  const store = deps.ctx.store;
  let counted: Promise<void> | null = null;
  const summary = async (q: { region?: string; customerId?: string }) => {
    // A store whose counters were never kept (an older version's) is counted once.
    if (!(await store.counters(ALL_SCOPE))) {
      counted ??= store.recountFleet().finally(() => (counted = null));
      await counted;
    }
    return summaryFromCounters(await store.counters(q.customerId ? customerScope(q.customerId) : q.region ? regionScope(q.region) : ALL_SCOPE));
  };
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', operatorAuth(deps.operatorKey));
    app.get(
      '/v1/fleet/summary',
      {
        schema: {
          tags: ['appliances'],
          summary: 'Appliance counts by status, version and region (counters kept on every appliance write)',
          querystring: FleetSummaryQuery,
          security: [{ operatorKey: [] }],
          response: { 200: FleetSummary, 400: ApiError, 401: ApiError },
        },
      },
      async (req) => {
        const all = await summary(req.query);
        // Both filters: the customer's counters, if the customer is in that region.
        if (req.query.customerId && req.query.region && !all.byRegion.some((r) => r.region === req.query.region)) return summaryFromCounters(null);
        return all;
      },
    );
  };
}
