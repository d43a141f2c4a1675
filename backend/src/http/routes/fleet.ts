import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError, FleetSummary, FleetSummaryQuery } from '@twinroot/protocol';
import { summarizeFleet, type FleetRow } from '../../domain/fleet-summary.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';

/**
 * Consoles poll the summary every few seconds; one scan of the appliances table serves every
 * request (and every open console) for this long.
 */
const ROWS_MAX_AGE_MS = 5000;

/** Operator API: fleet-wide counts for dashboards (one projected scan of the appliances table). */
export function fleetRoutes(deps: ApiDeps): FastifyPluginAsync {
  let cached: { at: number; rows: Promise<FleetRow[]> } | null = null;
  const rows = (): Promise<FleetRow[]> => {
    const now = Date.now();
    if (!cached || now - cached.at > ROWS_MAX_AGE_MS) {
      const scan = deps.ctx.store.fleetRows();
      cached = { at: now, rows: scan };
      scan.catch(() => (cached = null)); // a failed scan is not remembered
    }
    return cached.rows;
  };
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', operatorAuth(deps.operatorKey));
    app.get(
      '/v1/fleet/summary',
      {
        schema: {
          tags: ['appliances'],
          summary: 'Appliance counts by status, version and region (at most 5 s old)',
          querystring: FleetSummaryQuery,
          security: [{ operatorKey: [] }],
          response: { 200: FleetSummary, 400: ApiError, 401: ApiError },
        },
      },
      async (req) => summarizeFleet(await rows(), req.query),
    );
  };
}
