// Runs the backend as `npm start -- --no-demo` does: a separate process, so its memory and sockets are its own.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface BackendProcess {
  child: ReturnType<typeof spawn>;
  /** Resolves with the HTTP and MQTT URLs once the backend printed them. */
  ready: Promise<{ http: string; mqtt: string }>;
  exited: Promise<number | null>;
  output(): string;
  errors(): string;
  /** Resident set size of the backend process, in bytes (from /proc). */
  rss(): number;
}

/** `built`: run the compiled backend (backend/dist, as deployed) instead of its sources through tsx. */
export function startBackendProcess(dataDir: string, extraEnv: Record<string, string> = {}, opts: { built?: boolean } = {}): BackendProcess {
  const args = opts.built ? ['backend/dist/main.js'] : ['--conditions=twinroot-source', '--import', 'tsx', 'backend/src/main.ts'];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, TWINROOT_DATA_DIR: dataDir, TWINROOT_HTTP_PORT: '0', TWINROOT_MQTT_PORT: '0', TWINROOT_LOG_LEVEL: 'warn', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<{ http: string; mqtt: string }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not up in 30 s: ${out}${err}`)), 30_000);
    child.stdout!.on('data', () => {
      const http = /HTTP API\s+(http:\/\/\S+)/.exec(out);
      const mqtt = /MQTT broker\s+(mqtts?:\/\/\S+)/.exec(out);
      if (http && mqtt && /operator key/.test(out)) {
        clearTimeout(t);
        resolve({ http: http[1]!, mqtt: mqtt[1]! });
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`exited ${code}: ${err}`));
    });
  });
  const rss = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  };
  return { child, ready, exited, output: () => out, errors: () => err, rss };
}
