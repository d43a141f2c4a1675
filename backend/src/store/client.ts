import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface StoreClients {
  raw: DynamoDBClient;
  doc: DynamoDBDocumentClient;
}

/**
 * endpoint: a URL (embedded dynalite, DynamoDB Local) or null for AWS itself with the default
 * credential chain. A local endpoint needs no real credentials, so dummy ones are used.
 */
export function createStoreClients(opts: { endpoint: string | null; region: string }): StoreClients {
  const raw = new DynamoDBClient({
    region: opts.region,
    ...(opts.endpoint ? { endpoint: opts.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    maxAttempts: 3,
  });
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return { raw, doc };
}
