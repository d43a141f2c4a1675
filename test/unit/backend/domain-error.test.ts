// Domain errors carry the HTTP status the error catalogue gives their code, so no route
// translates them: one table (protocol/src/errors.ts) says what a code is sent as.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, errorEntry } from '@twinroot/protocol';
import { DomainError, notFound } from '@twinroot/backend';

test('a domain error is sent with its code\'s catalogued status, 400 for codes without one', () => {
  assert.equal(new DomainError('bad_state', 'x').statusCode, 409);
  assert.equal(new DomainError('rate_limited', 'x').statusCode, 429);
  assert.equal(new DomainError('register_token_revoked', 'x').statusCode, 401);
  assert.equal(new DomainError('payload_corrupt', 'x').statusCode, 400, 'an agent code used by a route: a bad request');
  assert.equal(notFound('no such thing').statusCode, 404);
  for (const code of ERROR_CODES) {
    const e = errorEntry(code)!;
    if (e.scope === 'http') assert.equal(new DomainError(code, 'x').statusCode, e.httpStatus, code);
  }
});
