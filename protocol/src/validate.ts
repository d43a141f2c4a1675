import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * One Ajv instance for the whole process, configured like Fastify's, so both sides agree. Made on
 * first use: compiling schemas costs start-up time a command that validates nothing should not pay.
 */
let shared: Ajv | undefined;
export function ajv(): Ajv {
  return (shared ??= addFormats(new Ajv({ allErrors: false, strict: true, coerceTypes: false, useDefaults: false })));
}

export type Validation<T> = { ok: true; value: T } | { ok: false; error: string };

function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : e.instancePath.slice(1).replaceAll('/', '.');
  if (e.keyword === 'additionalProperties') {
    const extra = String((e.params as { additionalProperty?: unknown }).additionalProperty).slice(0, 64);
    return `${where}: unknown property ${JSON.stringify(extra)}`;
  }
  return `${where}: ${e.message ?? e.keyword}`;
}

export function formatErrors(errors: readonly ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors.slice(0, 3).map(describe).join('; ');
}

const cache = new WeakMap<TSchema, ValidateFunction>();

/** A validator for `schema`, compiled when it first validates something (modules declare theirs at load). */
export function compile<S extends TSchema>(schema: S): (value: unknown) => Validation<Static<S>> {
  let validate: ValidateFunction | undefined;
  return (value) => {
    validate ??= compiled(schema);
    return validate(value) ? { ok: true, value: value as Static<S> } : { ok: false, error: formatErrors(validate.errors) };
  };
}

function compiled(schema: TSchema): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = ajv().compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}
