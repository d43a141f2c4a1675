import type { FastifyInstance, FastifySchema } from 'fastify';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { formatErrors, type ErrorCode } from '@twinroot/protocol';
import { DomainError } from '../domain/domain-error.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Request validation. Bodies are checked exactly as written (no type coercion, unknown
 * properties refused — never silently dropped); query strings and path parameters are text,
 * so they are coerced to the schema's types and get defaults.
 */
export function installValidation(app: FastifyInstance): void {
  const strict = addFormats(new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false, removeAdditional: false }));
  const coercing = addFormats(new Ajv({ allErrors: false, strict: false, coerceTypes: true, useDefaults: true, removeAdditional: false }));
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const fn = (httpPart === 'body' ? strict : coercing).compile(schema as FastifySchema);
    return (data: unknown) => {
      if (!fn(data)) return { error: new DomainError(BAD_PART_CODES[httpPart ?? ''] ?? 'bad_request', `${httpPart}: ${formatErrors(fn.errors)}`) };
      const unsafe = httpPart === 'body' ? unsafeIntegerPath(data) : null;
      if (unsafe !== null) return { error: new DomainError('bad_body', `body: ${unsafe || '(root)'}: integer beyond ±2^53 cannot be stored exactly`) };
      return { value: data };
    };
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    const code: ErrorCode = err instanceof DomainError ? err.code : codeForStatus(status);
    const message = status === 500 ? 'internal error (see the backend log)' : err.message;
    return reply.code(status).send({ statusCode: status, error: httpReason(status), code, message });
  });
}

/** Which part of a request failed its schema. */
const BAD_PART_CODES: Record<string, ErrorCode> = { body: 'bad_body', querystring: 'bad_querystring', params: 'bad_params', headers: 'bad_headers' };

/** The catalogued code of an error Fastify (or a plugin) raised with only a status. */
function codeForStatus(status: number): ErrorCode {
  const known: Record<number, ErrorCode> = { 401: 'missing_credentials', 403: 'forbidden', 404: 'not_found', 413: 'too_large', 415: 'unsupported_media_type', 429: 'rate_limited' };
  return known[status] ?? (status >= 500 ? 'internal' : 'bad_request');
}

function httpReason(status: number): string {
  return (
    { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests' }[status] ??
    (status >= 500 ? 'Internal Server Error' : 'Error')
  );
}

/**
 * Pure: the path of the first integer a JSON body holds that a double cannot represent exactly
 * (beyond ±2^53: DynamoDB's marshaller refuses it, and it would not round-trip), or null.
 */
export function unsafeIntegerPath(v: unknown, path = '', depth = 0): string | null {
  if (typeof v === 'number') return Number.isInteger(v) && !Number.isSafeInteger(v) ? path : null;
  if (depth > 64 || v === null || typeof v !== 'object') return null;
  for (const [k, child] of Object.entries(v)) {
    const found = unsafeIntegerPath(child, path ? `${path}.${k}` : k, depth + 1);
    if (found !== null) return found;
  }
  return null;
}
