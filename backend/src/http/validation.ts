import type { FastifyInstance, FastifySchema } from 'fastify';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { formatErrors } from '@twinroot/protocol';
import { HttpError } from './errors.js';

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
    return (data: unknown) => (fn(data) ? { value: data } : { error: new HttpError(400, httpPart === 'body' ? 'bad_body' : `bad_${httpPart ?? 'input'}`, `${httpPart}: ${formatErrors(fn.errors)}`) });
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    const code = err instanceof HttpError ? err.code : status === 500 ? 'internal' : (err.code ?? 'error').toLowerCase();
    const message = status === 500 ? 'internal error (see the backend log)' : err.message;
    return reply.code(status).send({ statusCode: status, error: httpReason(status), code, message });
  });
}

function httpReason(status: number): string {
  return (
    { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests' }[status] ??
    (status >= 500 ? 'Internal Server Error' : 'Error')
  );
}
