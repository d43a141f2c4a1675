import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface EmbeddedDynamo {
  /** `unix:<socket path>`, or an http URL when a TCP port was asked for. */
  endpoint: string;
  close(): Promise<void>;
}

/** Longest path a Unix socket address holds on Linux (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Starts dynalite (a DynamoDB-API server on LevelDB). It takes any credentials, so it listens
 * where only this user can reach it: a Unix socket (0600) in the data directory, whose store
 * files are kept 0600 in a 0700 directory. Only an explicit port (debugging) also opens TCP on
 * loopback. Data lives under `dir`, so a restart keeps tables and items. dynalite lacks
 * TransactWriteItems and TTL deletion: the backend uses conditional single-item writes only.
 */
export async function startEmbeddedDynamo(opts: { dir: string | null; socketPath?: string; port: number; host?: string }): Promise<EmbeddedDynamo> {
  const dynalite = require('dynalite') as (o: Record<string, unknown>) => Server;
  if (opts.dir) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    restrictStoreFiles(opts.dir);
  }
  const server = dynalite({ ...(opts.dir ? { path: opts.dir } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  let endpoint: string;
  if (opts.port === 0 && opts.socketPath) {
    const path = opts.socketPath;
    if (path.length > MAX_SOCKET_PATH) throw new Error(`embedded store socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes: use a shorter dataDir`);
    // A socket left by a killed process blocks listen(); anything else at that path is not ours to remove.
    if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
    await listen(server, path);
    chmodSync(path, 0o600);
    endpoint = `unix:${path}`;
  } else {
    const host = opts.host ?? '127.0.0.1';
    await listen(server, opts.port, host);
    endpoint = `http://${host}:${(server.address() as AddressInfo).port}`;
  }
  return {
    endpoint,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }).then(() => closeLevelDb(server)),
  };
}

function listen(server: Server, ...args: [string] | [number, string]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(...(args as [number, string]), () => resolve());
  });
}

/** The store's files: 0600 in a 0700 directory (LevelDB creates new ones under the process umask). */
export function restrictStoreFiles(dir: string): void {
  chmodSync(dir, 0o700);
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    if (f.isFile()) chmodSync(join(dir, f.name), 0o600);
  }
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
