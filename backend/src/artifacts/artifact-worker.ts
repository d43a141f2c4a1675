// The artifact server's thread: GET/HEAD /artifacts/<key> from the directory store, on its own
// port, so that a download storm's byte copying runs beside the API's event loop, not on it.
// It answers only keys a registered release wrote (it asks the main thread, which reads the
// store) and nothing else: no credentials, as the API's route (packages are signed).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { artifactAnswer } from './artifact-answer.js';
import { checkKey } from './artifact-store.js';
import { DirArtifactStore } from './dir-store.js';

export interface ArtifactWorkerData {
  root: string;
  host: string;
  port: number;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  maxConnections: number;
}

export type WorkerToHost = { type: 'listening'; port: number } | { type: 'serves?'; id: number; key: string } | { type: 'error'; message: string };
export type HostToWorker = { type: 'serves'; id: number; ok: boolean } | { type: 'close' };

/** A served key is cached for this long (a deleted release's files are gone from the directory anyway). */
const SERVES_CACHE_MS = 60_000;

const data = workerData as ArtifactWorkerData;
const port = parentPort!;
const store = new DirArtifactStore(data.root);
const allowed = new Map<string, number>();
const asked = new Map<number, (ok: boolean) => void>();
let nextId = 0;

function serves(key: string): Promise<boolean> {
  const until = allowed.get(key);
  if (until && until > Date.now()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const id = nextId++;
    asked.set(id, (ok) => {
      if (ok) allowed.set(key, Date.now() + SERVES_CACHE_MS);
      resolve(ok);
    });
    port.postMessage({ type: 'serves?', id, key } satisfies WorkerToHost);
  });
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ statusCode: status, error: status === 404 ? 'Not Found' : 'Bad Request', code, message });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) }).end(body);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'method_not_allowed', 'only GET and HEAD');
  const path = (req.url ?? '').split('?')[0]!;
  if (!path.startsWith('/artifacts/')) return refuse(res, 404, 'not_found', 'no such artifact');
  let key: string;
  try {
    key = decodeURIComponent(path.slice('/artifacts/'.length));
  } catch {
    return refuse(res, 400, 'bad_request', 'bad URL encoding');
  }
  if (!checkKey(key) || !(await serves(key))) return refuse(res, 404, 'not_found', 'no such artifact');
  const st = await store.stat(key);
  if (!st) return refuse(res, 404, 'not_found', 'no such artifact');
  const one = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);
  const answer = artifactAnswer(req.method, key, { range: one(req.headers.range), ifRange: one(req.headers['if-range']), ifNoneMatch: one(req.headers['if-none-match']) }, st);
  res.writeHead(answer.status, answer.headers);
  if (!answer.body) return void res.end();
  // A client that goes away mid-body ends the pipeline with an error: nothing to do but stop reading.
  await pipeline(await store.read(key, answer.body.start, answer.body.end), res).catch(() => undefined);
}

const server = createServer({ keepAliveTimeout: data.keepAliveTimeoutMs, headersTimeout: data.headersTimeoutMs, requestTimeout: 0 }, (req, res) => {
  handle(req, res).catch((err: Error) => {
    if (!res.headersSent) refuse(res, 500, 'internal', err.message);
    else res.destroy();
  });
});
server.maxConnections = data.maxConnections;
port.on('message', (m: HostToWorker) => {
  if (m.type === 'serves') {
    asked.get(m.id)?.(m.ok);
    asked.delete(m.id);
  } else if (m.type === 'close') {
    server.close();
    server.closeAllConnections();
    port.close();
  }
});
server.on('error', (err) => port.postMessage({ type: 'error', message: err.message } satisfies WorkerToHost));
server.listen(data.port, data.host, () => port.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies WorkerToHost));
