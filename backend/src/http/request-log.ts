import type { FastifyRequest } from 'fastify';

/** Query parameters that are credentials (signed upload URLs): never written to a log. */
const SECRET_PARAMS = new Set(['sig', 'signature', 'token', 'x-amz-signature', 'x-amz-credential', 'x-amz-security-token']);

/** A URL as it may appear in a log: credential-bearing query values replaced by "redacted". */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((kv) => {
      const eq = kv.indexOf('=');
      const name = decodeURIComponentSafe(eq < 0 ? kv : kv.slice(0, eq)).toLowerCase();
      return SECRET_PARAMS.has(name) ? `${kv.slice(0, eq < 0 ? kv.length : eq)}=redacted` : kv;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** What pino logs of a request (Fastify's default fields, with the URL redacted). */
export function requestLogView(req: FastifyRequest): Record<string, unknown> {
  return { method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}
