import {
  CreateTableCommand,
  ListTablesCommand,
  waitUntilTableExists,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

/**
 * The backend's tables. Periodic work never Scans: due work is found through sparse GSIs keyed
 * by (shard, dueAt), where only items with due work carry the index attributes.
 */
export const TABLES = {
  appliances: {
    key: 'applianceId',
    indexes: [
      { name: 'byCustomer', hash: 'customerId', range: 'applianceId' },
      { name: 'byPresenceDue', hash: 'presenceShard', range: 'presenceDueAt' },
    ],
  },
  tasks: {
    key: 'taskId',
    indexes: [
      { name: 'byAppliance', hash: 'applianceId', range: 'createdAt' },
      { name: 'byDue', hash: 'dueShard', range: 'dueAt' },
    ],
  },
  customers: { key: 'customerId', indexes: [] },
  leases: { key: 'name', indexes: [] },
} as const;

export type TableName = keyof typeof TABLES;
export type TableNames = Record<TableName, string>;

export function tableNames(prefix: string): TableNames {
  return Object.fromEntries(Object.keys(TABLES).map((t) => [t, `${prefix}${t}`])) as TableNames;
}

function createInput(name: string, def: (typeof TABLES)[TableName]): CreateTableCommandInput {
  const attrs = new Set<string>([def.key]);
  for (const ix of def.indexes) {
    attrs.add(ix.hash);
    attrs.add(ix.range);
  }
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: def.key, KeyType: 'HASH' }],
    AttributeDefinitions: [...attrs].map((a) => ({ AttributeName: a, AttributeType: 'S' })),
    ...(def.indexes.length > 0
      ? {
          GlobalSecondaryIndexes: def.indexes.map((ix) => ({
            IndexName: ix.name,
            KeySchema: [
              { AttributeName: ix.hash, KeyType: 'HASH' },
              { AttributeName: ix.range, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          })),
        }
      : {}),
  };
}

async function listAllTables(client: DynamoDBClient): Promise<Set<string>> {
  const names = new Set<string>();
  let start: string | undefined;
  do {
    const out = await client.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
    for (const n of out.TableNames ?? []) names.add(n);
    start = out.LastEvaluatedTableName;
  } while (start);
  return names;
}

/** The migration step: creates every missing table (idempotent). Returns the names it created. */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<string[]> {
  const existing = await listAllTables(client);
  const created: string[] = [];
  for (const [table, def] of Object.entries(TABLES) as [TableName, (typeof TABLES)[TableName]][]) {
    const name = names[table];
    if (existing.has(name)) continue;
    try {
      await client.send(new CreateTableCommand(createInput(name, def)));
      created.push(name);
    } catch (err) {
      // Another backend instance created it between our list and our create.
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
    }
    await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1 }, { TableName: name });
  }
  return created;
}
