import { createHash } from 'node:crypto';

/**
 * Due-time indexes are split over a fixed number of partition keys so that no single index
 * partition takes every write of a large fleet. A sweep reads each shard once: its cost is
 * DUE_SHARDS queries plus the due items, whatever the fleet size.
 */
export const DUE_SHARDS = 4;

export function shardOf(id: string, prefix: string): string {
  const n = createHash('sha1').update(id).digest().readUInt32BE(0) % DUE_SHARDS;
  return `${prefix}${n}`;
}

export function allShards(prefix: string): string[] {
  return Array.from({ length: DUE_SHARDS }, (_, i) => `${prefix}${i}`);
}
