import type { FleetRow } from '../domain/fleet-summary.js';
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { counterDeltas } from '../domain/fleet-counters.js';
import { compareVersions } from '@twinroot/protocol';
import type { TaskType } from '@twinroot/protocol';
import type { ApplianceRecord } from '../domain/appliance-record.js';
import type { TaskRecord } from '../domain/task-record.js';
import type { RolloutRecord } from '../rollouts/rollout-record.js';
import type { TargetRecord } from '../rollouts/target-state.js';
import type { TableNames } from './tables.js';
import { VersionedTable } from './versioned.js';

export type StoredAppliance = ApplianceRecord & { rev: number };
export type StoredTask = TaskRecord;

export interface CustomerRecord {
  customerId: string;
  name: string;
  region: string;
  canary: boolean;
  maintenanceWindow?: unknown;
  createdAt: string;
  rev: number;
}

export interface ReleaseRecord {
  releaseId: string;
  version: string;
  manifestUrl: string;
  compatible?: string;
  payloadSize?: number;
  payloadSha256?: string;
  source?: 'artifact-store' | 'url';
  /** The artifact-store keys this release's upload wrote: the only keys /artifacts serves. */
  artifactKeys?: string[];
  manifestCreatedAt?: string;
  createdAt: string;
  rev: number;
}

export interface RegisterTokenRecord {
  tokenId: string;
  customerId: string;
  region: string;
  expiresAt: string;
  maxUses?: number;
  uses: number;
  revokedAt?: string;
  createdAt: string;
  rev: number;
}

export interface RegistrationRecord {
  registrationKey: string;
  applianceId: string;
  createdAt: string;
  rev: number;
}

export interface PageOf<T> {
  items: T[];
  next?: Record<string, unknown>;
}

/** The backend's data access: typed tables plus the few queries the services need. */
export class Store {
  readonly appliances: VersionedTable<StoredAppliance>;
  readonly tasks: VersionedTable<StoredTask>;
  readonly customers: VersionedTable<CustomerRecord>;
  readonly releases: VersionedTable<ReleaseRecord>;
  readonly rollouts: VersionedTable<RolloutRecord>;
  readonly targets: VersionedTable<TargetRecord>;
  readonly registerTokens: VersionedTable<RegisterTokenRecord>;
  readonly registrations: VersionedTable<RegistrationRecord>;

  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly tables: TableNames,
  ) {
    this.appliances = new VersionedTable(doc, tables.appliances, 'applianceId');
    this.tasks = new VersionedTable(doc, tables.tasks, 'taskId');
    this.customers = new VersionedTable(doc, tables.customers, 'customerId');
    this.releases = new VersionedTable(doc, tables.releases, 'releaseId');
    this.rollouts = new VersionedTable(doc, tables.rollouts, 'rolloutId');
    this.targets = new VersionedTable(doc, tables.rolloutTargets, 'targetId');
    this.registerTokens = new VersionedTable(doc, tables.registerTokens, 'tokenId');
    this.registrations = new VersionedTable(doc, tables.registrations, 'registrationKey');
  }

  /** Items of a sparse due index whose due time has come, oldest first. */
  async due<T>(table: 'tasks' | 'appliances', index: string, shardAttr: string, dueAttr: string, shard: string, nowIso: string, limit: number): Promise<T[]> {
    return (await this.duePage<T>(table, index, shardAttr, dueAttr, shard, nowIso, limit)).items;
  }

  /** One page of due items from `start` on (for sweeps whose handling leaves items where they are). */
  async duePage<T>(table: 'tasks' | 'appliances', index: string, shardAttr: string, dueAttr: string, shard: string, nowIso: string, limit: number, start?: Record<string, unknown>): Promise<PageOf<T>> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tables[table],
        IndexName: index,
        KeyConditionExpression: '#s = :s AND #d <= :now',
        ExpressionAttributeNames: { '#s': shardAttr, '#d': dueAttr },
        ExpressionAttributeValues: { ':s': shard, ':now': nowIso },
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    return { items: (out.Items ?? []) as T[], ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}) };
  }

  /** An appliance's tasks, newest first (heartbeat tasks have their own index and are left out). */
  async tasksOfAppliance(applianceId: string, limit: number, start?: Record<string, unknown>): Promise<PageOf<StoredTask>> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tables.tasks,
        IndexName: 'byAppliance',
        KeyConditionExpression: 'applianceId = :a',
        ExpressionAttributeValues: { ':a': applianceId },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: start,
      }),
    );
    return { items: (out.Items ?? []) as StoredTask[], next: out.LastEvaluatedKey };
  }

  /** Tasks of one appliance and type created before (`older`) or after a given time. */
  async tasksOfType(ownerId: string, taskType: TaskType, relation: 'before' | 'after', createdAt: string, onlyStatus?: string[]): Promise<StoredTask[]> {
    const items: StoredTask[] = [];
    let start: Record<string, unknown> | undefined;
    const values: Record<string, unknown> = { ':k': `${ownerId}#${taskType}`, ':c': createdAt };
    let filter: string | undefined;
    if (onlyStatus) {
      filter = `#st IN (${onlyStatus.map((_, i) => `:st${i}`).join(', ')})`;
      onlyStatus.forEach((s, i) => (values[`:st${i}`] = s));
    }
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tables.tasks,
          IndexName: 'byApplianceType',
          KeyConditionExpression: `applianceType = :k AND createdAt ${relation === 'before' ? '<' : '>'} :c`,
          FilterExpression: filter,
          ExpressionAttributeNames: filter ? { '#st': 'status' } : undefined,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((out.Items ?? []) as StoredTask[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Operator listing of appliances: by customer or region through an index, otherwise a
   * paginated Scan (an operator request, never a periodic job). Filters are DynamoDB filters;
   * pages are topped up until `limit` items or the end.
   */
  async listAppliances(opts: {
    customerId?: string;
    region?: string;
    filter?: { expression: string; names: Record<string, string>; values: Record<string, unknown> };
    limit: number;
    start?: Record<string, unknown>;
  }): Promise<PageOf<StoredAppliance>> {
    const items: StoredAppliance[] = [];
    let start = opts.start;
    const conds: string[] = [];
    const names: Record<string, string> = { ...(opts.filter?.names ?? {}) };
    const values: Record<string, unknown> = { ...(opts.filter?.values ?? {}) };
    let key: { index: string; expr: string } | undefined;
    if (opts.customerId) {
      key = { index: 'byCustomer', expr: 'customerId = :cust' };
      values[':cust'] = opts.customerId;
      if (opts.region) {
        conds.push('#rg = :rg');
        names['#rg'] = 'region';
        values[':rg'] = opts.region;
      }
    } else if (opts.region) {
      key = { index: 'byRegion', expr: '#rg = :rg' };
      names['#rg'] = 'region';
      values[':rg'] = opts.region;
    }
    if (opts.filter) conds.push(`(${opts.filter.expression})`);
    const filter = conds.length > 0 ? conds.join(' AND ') : undefined;
    for (let round = 0; round < 20 && items.length < opts.limit; round++) {
      const common = {
        TableName: this.tables.appliances,
        FilterExpression: filter,
        ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
        ExpressionAttributeValues: Object.keys(values).length > 0 ? values : undefined,
        Limit: opts.limit - items.length,
        ExclusiveStartKey: start,
      };
      const out = key
        ? await this.doc.send(new QueryCommand({ ...common, IndexName: key.index, KeyConditionExpression: key.expr }))
        : await this.doc.send(new ScanCommand(common));
      items.push(...((out.Items ?? []) as StoredAppliance[]));
      start = out.LastEvaluatedKey;
      if (!start) break;
    }
    return { items, next: start };
  }

  /** A customer's register tokens, newest first. */
  async registerTokensOf(customerId: string): Promise<RegisterTokenRecord[]> {
    const items: RegisterTokenRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({ TableName: this.tables.registerTokens, IndexName: 'byCustomer', KeyConditionExpression: 'customerId = :c', ExpressionAttributeValues: { ':c': customerId }, ScanIndexForward: false, ExclusiveStartKey: start }),
      );
      items.push(...((out.Items ?? []) as RegisterTokenRecord[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async listCustomers(limit: number, start?: Record<string, unknown>): Promise<PageOf<CustomerRecord>> {
    const out = await this.doc.send(new ScanCommand({ TableName: this.tables.customers, Limit: limit, ExclusiveStartKey: start }));
    return { items: (out.Items ?? []) as CustomerRecord[], next: out.LastEvaluatedKey };
  }

  /** Every item of a small table (releases, rollouts): operator listings, never per-appliance work. */
  private async scanAll<T>(table: string, projection?: string, names?: Record<string, string>): Promise<T[]> {
    const items: T[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ProjectionExpression: projection, ...(names ? { ExpressionAttributeNames: names } : {}) }));
      items.push(...((out.Items ?? []) as T[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async listReleases(): Promise<ReleaseRecord[]> {
    return (await this.scanAll<ReleaseRecord>(this.tables.releases)).sort((a, b) => compareVersions(b.version, a.version));
  }

  async listRollouts(): Promise<RolloutRecord[]> {
    return (await this.scanAll<RolloutRecord>(this.tables.rollouts)).sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** The fleet as the rollout planner sees it (a Scan: once per rollout, at its creation). */
  async fleetSnapshot(): Promise<{ customers: CustomerRecord[]; appliances: { applianceId: string; customerId: string }[] }> {
    const customers = await this.scanAll<CustomerRecord>(this.tables.customers);
    const appliances = await this.scanAll<{ applianceId: string; customerId: string }>(this.tables.appliances, 'applianceId, customerId');
    return { customers, appliances: appliances.filter((a) => typeof a.customerId === 'string') };
  }

  /** The attributes the fleet summary counts, of every appliance (a projected scan). */
  /** Adds one appliance write's change to the fleet counters: one atomic ADD per scope it touches. */
  async countApplianceChange(before: FleetRow | null, after: FleetRow | null): Promise<void> {
    for (const [scope, deltas] of counterDeltas(before, after)) {
      const names: Record<string, string> = {};
      const values: Record<string, number> = {};
      const adds = [...deltas].map(([attr, d], i) => {
        names[`#a${i}`] = attr;
        values[`:d${i}`] = d;
        return `#a${i} :d${i}`;
      });
      await this.doc.send(new UpdateCommand({ TableName: this.tables.counters, Key: { scope }, UpdateExpression: `ADD ${adds.join(', ')}`, ExpressionAttributeNames: names, ExpressionAttributeValues: values }));
    }
  }

  /** One scope's counters item, or null if it was never counted. */
  async counters(scope: string): Promise<Record<string, unknown> | null> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tables.counters, Key: { scope }, ConsistentRead: true }));
    return (out.Item as Record<string, unknown> | undefined) ?? null;
  }

  /**
   * Counts the fleet once from a projected scan and writes every scope's counters (the first
   * summary read of a store whose counters were never kept, or an operator's recount after a
   * crash between an appliance write and its counter update).
   */
  async recountFleet(): Promise<void> {
    const rows = await this.fleetRows();
    const totals = new Map<string, Map<string, number>>();
    for (const r of rows) {
      for (const [scope, deltas] of counterDeltas(null, r)) {
        let m = totals.get(scope);
        if (!m) totals.set(scope, (m = new Map()));
        for (const [a, d] of deltas) m.set(a, (m.get(a) ?? 0) + d);
      }
    }
    if (!totals.has('all')) totals.set('all', new Map([['appliances', 0]]));
    for (const [scope, m] of totals) await this.doc.send(new PutCommand({ TableName: this.tables.counters, Item: { scope, ...Object.fromEntries(m) } }));
  }

  async fleetRows(): Promise<FleetRow[]> {
    return this.scanAll<FleetRow>(this.tables.appliances, '#c, #u, #r, #v, #g, #k', { '#c': 'connection', '#u': 'upgrade', '#r': 'rollback', '#v': 'version', '#g': 'region', '#k': 'customerId' });
  }

  /** All targets of one rollout stage. */
  async targetsOfStage(stageKey: string): Promise<TargetRecord[]> {
    const items: TargetRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({ TableName: this.tables.rolloutTargets, IndexName: 'byStage', KeyConditionExpression: 'stageKey = :s', ExpressionAttributeValues: { ':s': stageKey }, ExclusiveStartKey: start }),
      );
      items.push(...((out.Items ?? []) as TargetRecord[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** One page of a stage's targets (the byStage index), for operators. */
  async stageTargetsPage(stageKey: string, limit: number, start?: Record<string, unknown>): Promise<PageOf<TargetRecord>> {
    const out = await this.doc.send(
      new QueryCommand({ TableName: this.tables.rolloutTargets, IndexName: 'byStage', KeyConditionExpression: 'stageKey = :s', ExpressionAttributeValues: { ':s': stageKey }, Limit: limit, ExclusiveStartKey: start }),
    );
    return { items: (out.Items ?? []) as TargetRecord[], next: out.LastEvaluatedKey };
  }

  /** Writes targets 25 at a time (BatchWriteItem), retrying what DynamoDB hands back unprocessed. */
  async putTargets(targets: readonly TargetRecord[]): Promise<void> {
    for (let i = 0; i < targets.length; i += 25) {
      let requests: { PutRequest: { Item: Record<string, unknown> } }[] | undefined = targets.slice(i, i + 25).map((t) => ({ PutRequest: { Item: { ...t } } }));
      for (let attempt = 0; requests && requests.length > 0; attempt++) {
        if (attempt > 8) throw new Error('putTargets: DynamoDB keeps returning unprocessed items');
        if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tables.rolloutTargets]: requests } }));
        requests = out.UnprocessedItems?.[this.tables.rolloutTargets] as typeof requests;
      }
    }
  }
}
