import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ArtifactWorkerData, HostToWorker, WorkerToHost } from './artifact-worker.js';

export interface ArtifactWorker {
  port: number;
  close(): Promise<void>;
}

/** Parses artifactListen: "" (off), "PORT" or "HOST:PORT" (0: a free port); null when off. */
export function parseArtifactListen(value: string, defaultHost: string): { host: string; port: number } | null {
  const v = value.trim();
  if (!v) return null;
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`artifactListen: expected PORT or HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: m[1] ?? defaultHost, port };
}

/**
 * Starts the artifact server's thread and waits until it listens. `serves` answers its question
 * "did a registered release write this key?" (the store is read here, on the main thread).
 */
export async function startArtifactWorker(data: ArtifactWorkerData, serves: (key: string) => Promise<boolean>, onError: (err: Error) => void): Promise<ArtifactWorker> {
  // Built, the entry is the .js beside this file; from source (tsx, tests and benches) the .ts,
  // loaded through tsx registered in the worker (a worker thread does not inherit loader hooks).
  const js = new URL('./artifact-worker.js', import.meta.url);
  const worker = existsSync(fileURLToPath(js))
    ? new Worker(js, { workerData: data })
    : new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./artifact-worker.ts', import.meta.url).href)}); });`, { eval: true, workerData: data });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: WorkerToHost) => {
      if (m.type === 'listening') resolve(m.port);
      else if (m.type === 'error') reject(new Error(`artifact server: ${m.message}`));
      else if (m.type === 'serves?') {
        serves(m.key).then(
          (ok) => worker.postMessage({ type: 'serves', id: m.id, ok } satisfies HostToWorker),
          () => worker.postMessage({ type: 'serves', id: m.id, ok: false } satisfies HostToWorker),
        );
      }
    });
  });
  worker.on('error', onError);
  return {
    port,
    async close() {
      worker.postMessage({ type: 'close' } satisfies HostToWorker);
      await Promise.race([new Promise((r) => worker.once('exit', r)), new Promise((r) => setTimeout(r, 2000).unref())]);
      await worker.terminate();
    },
  };
}
