import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { TaskBroker } from '../broker/types.js';
import { bearerAuth } from './auth.js';

/**
 * GET /metrics (Prometheus text format) and request timing for every route. With a metrics key
 * configured, /metrics needs it as a Bearer token (Prometheus: `authorization: {credentials: …}`).
 */
export function metricsPlugin(metrics: Metrics, broker: TaskBroker, metricsKey: string): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched';
      if (route === '/metrics') return;
      metrics.httpSeconds.observe({ route, method: req.method, code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
    const onRequest = metricsKey ? [bearerAuth(metricsKey, 'metrics key')] : [];
    app.get('/metrics', { onRequest, schema: { tags: ['health'], summary: 'Prometheus metrics (Bearer metrics key when metricsKey is set)', hide: false } }, async (_req, reply) => {
      metrics.brokerUp.set(broker.status().status === 'up' ? 1 : 0);
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  };
}
