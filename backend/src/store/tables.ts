import {
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
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
      { name: 'byRegion', hash: 'region', range: 'applianceId' },
      // Sparse: only connected appliances carry presenceShard/presenceDueAt (when they go silent).
      { name: 'byPresenceDue', hash: 'presenceShard', range: 'presenceDueAt' },
      // When the next heartbeat task is due.
      { name: 'byHeartbeatDue', hash: 'hbShard', range: 'hbDueAt' },
    ],
  },
  tasks: {
    key: 'taskId',
    // Heartbeat tasks carry an expiry (epoch seconds) so DynamoDB deletes them after a week.
    ttlAttribute: 'ttl',
    indexes: [
      // An appliance's timeline without its heartbeat tasks (they carry no applianceId).
      { name: 'byAppliance', hash: 'applianceId', range: 'createdAt' },
      // Supersede checks: tasks of one appliance and one type ("<applianceId>#<taskType>").
      { name: 'byApplianceType', hash: 'applianceType', range: 'createdAt' },
      // Sparse: only tasks that still need attention (publish, resend, time out) carry dueShard/dueAt.
      { name: 'byDue', hash: 'dueShard', range: 'dueAt' },
    ],
  },
  customers: { key: 'customerId', indexes: [] },
  // Issued register tokens (by JWT id): use counts, limits, revocation.
  registerTokens: { key: 'tokenId', indexes: [{ name: 'byCustomer', hash: 'customerId', range: 'createdAt' }] },
  // "<tokenId>#<sha256 of the appliance's idempotency key>" → the appliance that registration made.
  registrations: { key: 'registrationKey', indexes: [] },
  releases: { key: 'releaseId', indexes: [] },
  leases: { key: 'name', indexes: [] },
  rollouts: { key: 'rolloutId', indexes: [] },
  // The fleet summary's counters: one item per scope ("all", "region#…", "customer#…").
  counters: { key: 'scope', indexes: [] },
  // One item per appliance and rollout; a stage's appliances are read through byStage.
  rolloutTargets: { key: 'targetId', indexes: [{ name: 'byStage', hash: 'stageKey', range: 'applianceId' }] },
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

/** Refuses to run on a table made by an older version that lacks an index this one reads. */
async function ensureIndexes(client: DynamoDBClient, name: string, def: (typeof TABLES)[TableName]): Promise<void> {
  if (def.indexes.length === 0) return;
  const out = await client.send(new DescribeTableCommand({ TableName: name }));
  const have = new Set((out.Table?.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName));
  const missing = def.indexes.filter((ix) => !have.has(ix.name)).map((ix) => ix.name);
  if (missing.length > 0) {
    throw new Error(`table ${name} lacks index ${missing.join(', ')} (made by an older twinroot): add it with UpdateTable, or start from an empty data directory`);
  }
}

/** Turns on TTL deletion; dynalite has no TTL (UnknownOperationException) and keeps the items. */
async function enableTtl(client: DynamoDBClient, name: string, attribute: string): Promise<void> {
  await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1 }, { TableName: name });
  try {
    await client.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: attribute, Enabled: true } }));
  } catch (err) {
    const n = (err as { name?: string }).name;
    if (n !== 'UnknownOperationException' && n !== 'UnrecognizedClientException' && n !== 'ValidationException') throw err;
  }
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
    if (existing.has(name)) {
      await ensureIndexes(client, name, def);
      continue;
    }
    try {
      await client.send(new CreateTableCommand(createInput(name, def)));
      created.push(name);
      if ('ttlAttribute' in def) await enableTtl(client, name, def.ttlAttribute);
    } catch (err) {
      // Another backend instance created it between our list and our create.
      if ((err as { name?: string }).name !== 'ResourceInUseException') throw err;
    }
    await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1 }, { TableName: name });
  }
  return created;
}
