import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from '../store/versioned.js';

/**
 * One lease item per sweep decides which backend instance runs each scheduled run ("slot",
 * the run's scheduled time). A slot is taken once; if its holder dies before finishing, the
 * slot can be taken again after the lease expires. Sweeps are idempotent anyway: the lease
 * only saves the duplicate work.
 */
export class Leases {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    readonly owner: string,
  ) {}

  async acquire(name: string, slot: string, nowMs: number, ttlMs: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { name },
          UpdateExpression: 'SET #slot = :slot, #owner = :owner, expiresAt = :exp, done = :f',
          ConditionExpression:
            'attribute_not_exists(#n) OR #slot < :slot OR (#slot = :slot AND done = :f AND expiresAt < :now)',
          ExpressionAttributeNames: { '#n': 'name', '#slot': 'slot', '#owner': 'owner' },
          ExpressionAttributeValues: { ':slot': slot, ':owner': this.owner, ':exp': nowMs + ttlMs, ':now': nowMs, ':f': false },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async release(name: string, slot: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { name },
          UpdateExpression: 'SET done = :t',
          ConditionExpression: '#slot = :slot AND #owner = :owner',
          ExpressionAttributeNames: { '#slot': 'slot', '#owner': 'owner' },
          ExpressionAttributeValues: { ':slot': slot, ':owner': this.owner, ':t': true },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
}
