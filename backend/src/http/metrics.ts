import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { TaskBroker } from '../broker/types.js';

/** GET /metrics (Prometheus text format) and request timing for every route. */
export function metricsPlugin(metrics: Metrics, broker: TaskBroker): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched';
      if (route === '/metrics') return;
      metrics.httpSeconds.observe({ route, method: req.method, code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
    app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics', hide: false } }, async (_req, reply) => {
      metrics.brokerUp.set(broker.status().status === 'up' ? 1 : 0);
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  };
}
