import { Agent } from 'node:http';
import { createConnection } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface StoreClients {
  raw: DynamoDBClient;
  doc: DynamoDBDocumentClient;
}

/** An HTTP agent whose every connection goes to one Unix socket (the embedded store's). */
function unixSocketAgent(path: string): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  agent.createConnection = () => createConnection(path);
  return agent;
}

/**
 * endpoint: a URL (DynamoDB Local, another server), `unix:/path` (the embedded dynalite's
 * socket), or null for AWS itself with the default credential chain. A local endpoint needs no
 * real credentials, so dummy ones are used.
 */
export function createStoreClients(opts: { endpoint: string | null; region: string }): StoreClients {
  const unix = opts.endpoint?.startsWith('unix:') ? opts.endpoint.slice(5) : null;
  const endpoint = unix ? 'http://embedded-store.invalid' : opts.endpoint;
  const raw = new DynamoDBClient({
    region: opts.region,
    ...(endpoint ? { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    ...(unix ? { requestHandler: new NodeHttpHandler({ httpAgent: unixSocketAgent(unix) }) } : {}),
    maxAttempts: 3,
  });
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return { raw, doc };
}
