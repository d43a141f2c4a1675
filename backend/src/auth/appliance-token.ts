import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new appliance token: 32 random bytes, base64url (43 characters). Only its hash is stored. */
export function newApplianceToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashApplianceToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented token with a stored hash. */
export function applianceTokenMatches(token: string, storedHash: string): boolean {
  if (token.length === 0 || token.length > 512 || !/^[0-9a-f]{64}$/.test(storedHash)) return false;
  return timingSafeEqual(Buffer.from(hashApplianceToken(token), 'hex'), Buffer.from(storedHash, 'hex'));
}
