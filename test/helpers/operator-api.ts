// Calls the backend's HTTP API as an operator or as an appliance, over real HTTP.
import type { Backend } from '@twinroot/backend';

export interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export async function call<T = Record<string, unknown>>(base: string, method: string, path: string, opts: { token?: string; json?: unknown; raw?: string } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.json !== undefined || opts.raw !== undefined) {
    headers['content-type'] = 'application/json';
    body = opts.raw ?? JSON.stringify(opts.json);
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as T };
}

/** A customer, a register token and `n` registered appliances, through the real API. */
export async function registerFleet(backend: Backend, opts: { region?: string; n?: number; name?: string; version?: string } = {}) {
  const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
  const c = await op('POST', '/v1/customers', { name: opts.name ?? 'Acme', region: opts.region ?? 'eu-west-1' });
  if (c.status !== 201) throw new Error(`create customer: ${c.status} ${JSON.stringify(c.body)}`);
  const customerId = c.body.customerId as string;
  const t = await op('POST', `/v1/customers/${customerId}/register-tokens`, {});
  const registerToken = t.body.registerToken as string;
  const appliances: { applianceId: string; applianceToken: string; mqtt: { url: string; topic: string } }[] = [];
  for (let i = 0; i < (opts.n ?? 1); i++) {
    const r = await call(backend.urls.http, 'POST', '/v1/register', {
      json: { registerToken, hostname: `va-${i}`, cpu: 'x86_64', memoryMb: 4096, ip: '10.0.0.' + (i + 2), version: opts.version ?? '1.0.0', slot: 'A' },
    });
    if (r.status !== 200) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
    appliances.push(r.body as never);
  }
  return { customerId, registerToken, appliances, op };
}

export function heartbeatBody(over: Record<string, unknown> = {}) {
  return { version: '1.0.0', bootedSlot: 'A', committedSlot: 'A', trial: false, services: [], uptimeS: 100, ...over };
}
