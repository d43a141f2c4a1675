import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A new appliance token: "<applianceId>.<32 random bytes, base64url>". The id prefix lets the
 * backend find the appliance in one read; only the token's hash is stored.
 */
export function newApplianceToken(applianceId: string): string {
  return `${applianceId}.${randomBytes(32).toString('base64url')}`;
}

/** The appliance id a token claims to belong to, or null if it is not shaped like one. */
export function applianceIdOfToken(token: string): string | null {
  if (token.length < 40 || token.length > 512) return null;
  const dot = token.lastIndexOf('.');
  if (dot < 1) return null;
  const id = token.slice(0, dot);
  return /^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(id) && /^[A-Za-z0-9_-]{43}$/.test(token.slice(dot + 1)) ? id : null;
}

export function hashApplianceToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented token with a stored hash. */
export function applianceTokenMatches(token: string, storedHash: string): boolean {
  if (token.length === 0 || token.length > 512 || !/^[0-9a-f]{64}$/.test(storedHash)) return false;
  return timingSafeEqual(Buffer.from(hashApplianceToken(token), 'hex'), Buffer.from(storedHash, 'hex'));
}
