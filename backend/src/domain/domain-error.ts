import { errorEntry, type ErrorCode } from '@twinroot/protocol';

/**
 * An error a service or a rule raises, with a catalogued code. It carries the HTTP status the
 * catalogue gives its code (400 for codes without one), so the API's error handler sends it as
 * it is: no route translates errors.
 */
export class DomainError extends Error {
  readonly statusCode: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
    this.statusCode = errorEntry(code)?.httpStatus ?? 400;
  }
}

export const notFound = (message: string) => new DomainError('not_found', message);
