import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

/** The console's files: backend/console, next to src/ and dist/ alike. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// The console needs nothing from elsewhere: everything it loads comes from this backend.
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const f = join(d, name);
      if (statSync(f).isDirectory()) walk(f);
      else if (TYPES[extname(name)]) {
        const body = readFileSync(f);
        out.set('/' + relative(dir, f).split('\\').join('/'), { body, type: TYPES[extname(name)]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
      }
    }
  };
  walk(dir);
  return out;
}

/**
 * Serves the web console: `/` is its page, `/console/…` its scripts and styles, read once at
 * start (a few dozen KiB). The console talks to the operator API with the key the operator
 * signs in with; the page itself holds no secrets.
 */
export function consolePlugin(dir = CONSOLE_DIR): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    const assets = loadAssets(dir);
    const send = (path: string) => async (req: { headers: Record<string, string | string[] | undefined> }, reply: import('fastify').FastifyReply) => {
      const a = assets.get(path);
      if (!a) return reply.code(404).send({ code: 'not_found', message: 'no such console file' });
      reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').header('etag', a.etag);
      if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
      return reply.type(a.type).send(a.body);
    };
    app.get('/', { schema: { hide: true } }, send('/index.html'));
    app.get('/console/*', { schema: { hide: true, params: Type.Object({ '*': Type.String({ maxLength: 1024 }) }) } }, async (req, reply) => send('/' + req.params['*'])(req, reply));
  };
}
