import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** The OpenAPI document (GET /docs/json) made from the route schemas, and Swagger UI at /docs (served locally). */
export async function installOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'twinroot backend', version, description: 'Device API (appliance token) and operator API (operator key) of twinroot.' },
      components: {
        securitySchemes: {
          operatorKey: { type: 'http', scheme: 'bearer', description: 'The operator key (config operatorKey; printed by npm start)' },
          applianceToken: { type: 'http', scheme: 'bearer', description: 'The appliance token returned by /v1/register' },
        },
      },
      tags: [
        { name: 'device', description: 'Called by appliances' },
        { name: 'customers', description: 'Operator: customers and register tokens' },
        { name: 'appliances', description: 'Operator: the fleet and its tasks' },
        { name: 'releases', description: 'Operator: signed packages (upload or URL)' },
        { name: 'rollouts', description: 'Operator: staged gray rollouts' },
        { name: 'health', description: 'Health and metrics' },
        { name: 'meta', description: 'The error catalogue' },
      ],
    },
  });
  // A Content-Security-Policy on the docs pages too: only this backend's own scripts and styles
  // (hashes of swagger-ui's inline ones), nothing from elsewhere, no framing by other sites.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header: string) => header.replace(/ upgrade-insecure-requests;/, '').replace(/ https:/g, '').replace(/ validator\.swagger\.io/, ''),
  });
}
