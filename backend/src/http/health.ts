import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ListTablesCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TaskBroker } from '../broker/types.js';
import { bearerMatches } from './auth.js';

const Component = Type.Object({ status: Type.Union([Type.Literal('up'), Type.Literal('down')]) }, { additionalProperties: true });
const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  store: Component,
  broker: Component,
});

/**
 * GET /healthz: 200 when the store answers and the broker is up, 503 otherwise (with which is
 * down). Anyone (a load balancer) sees only that; endpoints, ports, counts and errors are shown
 * to the operator key alone — they map the backend for an attacker.
 */
export function healthPlugin(deps: { dynamo: DynamoDBClient; storeEndpoint: string; broker: TaskBroker; operatorKey: string }): FastifyPluginAsync {
  const isOperator = bearerMatches(deps.operatorKey);
  return async (app) => {
    app.get(
      '/healthz',
      { schema: { tags: ['health'], summary: 'Liveness of the API, the store and the broker (details with the operator key)', response: { 200: HealthResponse, 503: HealthResponse } } },
      async (req, reply) => {
        const started = performance.now();
        let store: Record<string, unknown>;
        try {
          const out = await deps.dynamo.send(new ListTablesCommand({ Limit: 100 }), { abortSignal: AbortSignal.timeout(3000) });
          store = { status: 'up', endpoint: deps.storeEndpoint, tables: out.TableNames?.length ?? 0, latencyMs: Math.round(performance.now() - started) };
        } catch (err) {
          store = { status: 'down', endpoint: deps.storeEndpoint, error: (err as Error).message.slice(0, 200) };
        }
        const broker: Record<string, unknown> = { ...deps.broker.status() };
        const ok = store.status === 'up' && broker.status === 'up';
        const detailed = isOperator(req);
        const view = (c: Record<string, unknown>) => (detailed ? c : { status: c.status });
        return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', store: view(store), broker: view(broker) });
      },
    );
  };
}
