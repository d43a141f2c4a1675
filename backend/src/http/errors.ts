import type { ErrorCode } from '@twinroot/protocol';

/** An error with an HTTP status and a stable machine-readable code; Fastify sends it as JSON. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (code: ErrorCode, msg: string) => new HttpError(400, code, msg);
export const unauthorized = (code: ErrorCode, msg: string) => new HttpError(401, code, msg);
export const forbidden = (msg: string) => new HttpError(403, 'forbidden', msg);
export const notFound = (msg: string) => new HttpError(404, 'not_found', msg);
export const conflict = (code: ErrorCode, msg: string) => new HttpError(409, code, msg);
