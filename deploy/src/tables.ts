import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES, tableNames, type TableName } from '@twinroot/backend/tables';

/**
 * The backend's DynamoDB tables, made from the same definitions the backend's own migration step
 * uses (backend/src/store/tables.ts): keys, sparse GSIs, TTL. One source, so the two cannot drift.
 */
export class TwinrootTables extends Construct {
  readonly tables: Record<TableName, ITable>;

  constructor(scope: Construct, id: string, props: { prefix: string }) {
    super(scope, id);
    const names = tableNames(props.prefix);
    const out = {} as Record<TableName, ITable>;
    for (const [name, def] of Object.entries(TABLES) as [TableName, (typeof TABLES)[TableName]][]) {
      const table = new Table(this, name, {
        tableName: names[name],
        partitionKey: { name: def.key, type: AttributeType.STRING },
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        ...('ttlAttribute' in def ? { timeToLiveAttribute: def.ttlAttribute } : {}),
        // The fleet's state outlives a stack update gone wrong.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      for (const ix of def.indexes) {
        table.addGlobalSecondaryIndex({ indexName: ix.name, partitionKey: { name: ix.hash, type: AttributeType.STRING }, sortKey: { name: ix.range, type: AttributeType.STRING } });
      }
      out[name] = table;
    }
    this.tables = out;
  }
}
