import { DomainError } from '../domain/domain-error.js';

/** DynamoDB's LastEvaluatedKey as an opaque page token. */
export function encodePageToken(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key), 'utf8').toString('base64url') : undefined;
}

/** Decodes a page token; anything that is not a small flat key object is a 400, never passed to the store as is. */
export function decodePageToken(token: string | undefined, allowedKeys: readonly string[]): Record<string, unknown> | undefined {
  if (token === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new DomainError('bad_page_token', 'nextToken is not a token this API issued');
  }
  const ok =
    typeof key === 'object' &&
    key !== null &&
    !Array.isArray(key) &&
    Object.entries(key).every(([k, v]) => allowedKeys.includes(k) && (typeof v === 'string' || typeof v === 'number') && String(v).length <= 512);
  if (!ok) throw new DomainError('bad_page_token', 'nextToken is not a token this API issued');
  return key as Record<string, unknown>;
}
