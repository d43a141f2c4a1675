import got, { HTTPError, type Got } from 'got';
import {
  compile,
  RegisterResponse,
  TokenRefreshResponse,
  type Heartbeat,
  type RegisterRequest,
  type TaskResult,
} from '@twinroot/protocol';
import type { OutboxEntry } from '../outbox/outbox.js';

const validateRegister = compile(RegisterResponse);
const validateRefresh = compile(TokenRefreshResponse);

/** A 4xx the backend will answer the same way however often we retry (not 401/408/429). */
function isPermanent(err: unknown): boolean {
  if (!(err instanceof HTTPError)) return false;
  const s = err.response.statusCode;
  return s >= 400 && s < 500 && ![401, 408, 409, 425, 429].includes(s);
}

function describe(err: unknown): string {
  if (err instanceof HTTPError) {
    const body = String(err.response.body ?? '').slice(0, 300);
    return `HTTP ${err.response.statusCode} from ${err.options.url?.toString()}: ${body}`;
  }
  return (err as Error).message;
}

export class BackendError extends Error {
  override name = 'BackendError';
}

/** The agent's side of the device HTTP API (DESIGN.md "HTTP API"). */
export class BackendClient {
  private readonly http: Got;

  constructor(
    baseUrl: string,
    private readonly token: () => string | null,
  ) {
    this.http = got.extend({
      prefixUrl: baseUrl.replace(/\/+$/, ''),
      timeout: { request: 30_000 },
      retry: { limit: 0 }, // the outbox and the callers own the retry policy
      headers: { 'user-agent': 'twinroot-agent' },
      hooks: {
        beforeRequest: [
          (options) => {
            const t = this.token();
            if (t) options.headers.authorization = `Bearer ${t}`;
          },
        ],
      },
    });
  }

  async register(req: RegisterRequest): Promise<RegisterResponse> {
    let body: unknown;
    try {
      body = await this.http.post('v1/register', { json: req }).json();
    } catch (err) {
      throw new BackendError(`registration failed: ${describe(err)}`);
    }
    const v = validateRegister(body);
    if (!v.ok) throw new BackendError(`registration answer is invalid: ${v.error}`);
    return v.value;
  }

  /** A new token; with a CSR also a new client certificate (the daily refresh, 10 days before expiry). */
  async refreshToken(applianceId: string, csr?: string): Promise<TokenRefreshResponse> {
    let body: unknown;
    try {
      body = await this.http.post(`v1/appliances/${encodeURIComponent(applianceId)}/token`, { json: csr ? { csr } : {} }).json();
    } catch (err) {
      throw new BackendError(`token refresh failed: ${describe(err)}`);
    }
    const v = validateRefresh(body);
    if (!v.ok) throw new BackendError(`token refresh answer is invalid: ${v.error}`);
    return v.value;
  }

  async heartbeat(applianceId: string, hb: Heartbeat): Promise<void> {
    try {
      await this.http.post(`v1/appliances/${encodeURIComponent(applianceId)}/heartbeat`, { json: hb });
    } catch (err) {
      throw new BackendError(`heartbeat failed: ${describe(err)}`);
    }
  }

  /** For the outbox: delivered, or dropped for good on a permanent refusal; throws to retry. */
  async postResult(entry: OutboxEntry): Promise<'delivered' | 'drop'> {
    try {
      await this.http.post(`v1/tasks/${encodeURIComponent(entry.taskId)}/result`, { json: entry.result satisfies TaskResult });
      return 'delivered';
    } catch (err) {
      if (isPermanent(err)) return 'drop';
      throw new BackendError(describe(err));
    }
  }
}
