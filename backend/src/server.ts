import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config/keys.js';
import { startEmbeddedDynamo, type EmbeddedDynamo } from './store/embedded-dynamodb.js';
import { createStoreClients, type StoreClients } from './store/client.js';
import { ensureTables, tableNames, type TableNames } from './store/tables.js';
import { startEmbeddedBroker } from './broker/embedded.js';
import { connectExternalBroker } from './broker/external.js';
import type { ApplianceCredentialCheck, TaskBroker } from './broker/types.js';
import { applianceTokenMatches } from './auth/appliance-token.js';
import { healthPlugin } from './http/health.js';

export interface Backend {
  app: FastifyInstance;
  config: Config;
  store: StoreClients;
  tables: TableNames;
  broker: TaskBroker;
  urls: { http: string; mqtt: string; dynamodb: string };
  operatorKey: string;
  close(): Promise<void>;
}

/** The operator key: from config, or generated once and kept (0600) in the data directory. */
function resolveOperatorKey(config: Config, dataDir: string): string {
  if (config.operatorKey) return config.operatorKey;
  const file = join(dataDir, 'operator-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `trk_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, key + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}

/**
 * Starts the backend: store (embedded dynalite or DynamoDB), tables, broker (embedded aedes or
 * external), and the HTTP API. Everything started is closed again, in reverse order, by close()
 * — also when a later step of the start fails.
 */
export async function startBackend(config: Config): Promise<Backend> {
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const app = Fastify({ logger: { level: config.logLevel }, requestIdHeader: 'x-request-id', bodyLimit: 1024 * 1024 });
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (err) {
        app.log.warn({ err: (err as Error).message }, 'error while stopping');
      }
    }
    closers.length = 0;
  };

  try {
    let dynamo: EmbeddedDynamo | undefined;
    let endpoint: string | null;
    if (config.dynamodbEndpoint === 'embedded') {
      dynamo = await startEmbeddedDynamo({ dir: join(dataDir, 'dynamodb'), port: config.embeddedDynamodbPort });
      closers.push(() => dynamo!.close());
      endpoint = dynamo.endpoint;
    } else {
      endpoint = config.dynamodbEndpoint === 'aws' ? null : config.dynamodbEndpoint;
    }
    const store = createStoreClients({ endpoint, region: config.dynamodbRegion });
    closers.push(async () => store.raw.destroy());
    const tables = tableNames(config.dynamodbTablePrefix);
    const created = await ensureTables(store.raw, tables);
    if (created.length > 0) app.log.info({ created }, 'store: created tables');

    const checkCredentials: ApplianceCredentialCheck = async (applianceId, token) => {
      const out = await store.doc.send(new GetCommand({ TableName: tables.appliances, Key: { applianceId }, ProjectionExpression: 'tokenHash' }));
      const hash = out.Item?.tokenHash;
      return typeof hash === 'string' && applianceTokenMatches(token, hash);
    };
    const broker =
      config.mqttUrl === 'embedded'
        ? await startEmbeddedBroker({ host: config.mqttHost, port: config.mqttPort, publicUrl: config.mqttPublicUrl, checkCredentials, log: app.log })
        : await connectExternalBroker({
            url: config.mqttUrl,
            clientId: `twinroot-backend-${randomBytes(4).toString('hex')}`,
            username: config.mqttUsername,
            password: config.mqttPassword,
            caFile: config.mqttCaFile,
            certFile: config.mqttCertFile,
            keyFile: config.mqttKeyFile,
            log: app.log,
          });
    closers.push(() => broker.close());

    await app.register(healthPlugin({ dynamo: store.raw, storeEndpoint: endpoint ?? `aws:${config.dynamodbRegion}`, broker }));
    closers.push(() => app.close());
    await app.listen({ host: config.httpHost, port: config.httpPort });
    const { port } = app.server.address() as AddressInfo;
    const http = config.publicUrl || `http://${config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost}:${port}`;

    return {
      app,
      config,
      store,
      tables,
      broker,
      urls: { http, mqtt: broker.url, dynamodb: endpoint ?? `aws:${config.dynamodbRegion}` },
      operatorKey: resolveOperatorKey(config, dataDir),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
