import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Optimistic concurrency on single items: every item carries `rev`; a write succeeds only if
 * the item still has the rev it was read with. That is the whole locking scheme — no
 * transactions (dynalite has none) and no lost updates.
 */
export interface Versioned {
  rev: number;
}

export function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string }).name === 'ConditionalCheckFailedException';
}

export class VersionedTable<T extends Versioned> {
  /** Called after every successful write with the item before and after it (null: absent); e.g. the fleet counters. */
  onWrite: ((before: T | null, after: T | null) => Promise<void>) | null = null;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly name: string,
    private readonly keyName: string,
  ) {}

  async get(key: string, consistent = true): Promise<T | null> {
    const out = await this.doc.send(new GetCommand({ TableName: this.name, Key: { [this.keyName]: key }, ConsistentRead: consistent }));
    return (out.Item as T | undefined) ?? null;
  }

  /** Creates the item; false if one with that key exists. */
  async create(item: T): Promise<boolean> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.name, Item: item, ConditionExpression: 'attribute_not_exists(#k)', ExpressionAttributeNames: { '#k': this.keyName } }));
      await this.onWrite?.(null, item);
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Deletes the item (idempotent); true if there was one. */
  async remove(key: string): Promise<boolean> {
    const out = await this.doc.send(new DeleteCommand({ TableName: this.name, Key: { [this.keyName]: key }, ReturnValues: 'ALL_OLD' }));
    if (out.Attributes) await this.onWrite?.(out.Attributes as T, null);
    return !!out.Attributes;
  }

  /** Replaces `prev` by `next` (rev + 1) if nobody wrote in between; returns the stored item or null. */
  async replace(prev: T, next: T): Promise<T | null> {
    const stored = { ...next, rev: prev.rev + 1 };
    try {
      await this.doc.send(new PutCommand({ TableName: this.name, Item: stored, ConditionExpression: '#rev = :rev', ExpressionAttributeNames: { '#rev': 'rev' }, ExpressionAttributeValues: { ':rev': prev.rev } }));
      await this.onWrite?.(prev, stored);
      return stored;
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw err;
    }
  }

  /**
   * Read-modify-write with retries on conflict. `change` returns the next item, or null to
   * leave it as is. Returns [before, after] (after = before when unchanged), or null if absent.
   */
  async mutate(key: string, change: (cur: T) => T | null, first?: T | null, attempts = 8): Promise<{ before: T; after: T; changed: boolean } | null> {
    let cur = first ?? (await this.get(key));
    for (let i = 0; i < attempts; i++) {
      if (!cur) return null;
      const next = change(cur);
      if (!next) return { before: cur, after: cur, changed: false };
      const stored = await this.replace(cur, next);
      if (stored) return { before: cur, after: stored, changed: true };
      cur = await this.get(key);
    }
    throw new Error(`${this.name}/${key}: too many concurrent updates`);
  }
}

/** Strips attributes set to undefined so that "remove" is just leaving a field out. */
export function without<T extends object>(item: T, ...keys: (keyof T)[]): T {
  const copy = { ...item };
  for (const k of keys) delete copy[k];
  return copy;
}
