import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface EmbeddedDynamo {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts dynalite (a DynamoDB-API server on LevelDB) on loopback. Data lives under `dir`, so a
 * restart keeps tables and items. dynalite lacks TransactWriteItems and TTL deletion: the
 * backend uses conditional single-item writes only.
 */
export async function startEmbeddedDynamo(opts: { dir: string | null; port: number; host?: string }): Promise<EmbeddedDynamo> {
  const dynalite = require('dynalite') as (o: Record<string, unknown>) => Server;
  if (opts.dir) mkdirSync(opts.dir, { recursive: true });
  const server = dynalite({ ...(opts.dir ? { path: opts.dir } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }).then(() => closeLevelDb(server)),
  };
}

// dynalite keeps its LevelDB open after the HTTP server closes; close it so the data directory
// can be reopened by the next start in the same process (tests) and nothing is lost on exit.
async function closeLevelDb(server: Server): Promise<void> {
  const store = (server as unknown as { store?: { db?: { close?: () => Promise<void> } } }).store;
  try {
    await store?.db?.close?.();
  } catch {
    // already closed
  }
}
