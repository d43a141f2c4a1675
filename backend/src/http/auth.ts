import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';
import { applianceIdOfToken, applianceTokenMatches } from '../auth/appliance-token.js';
import type { Store, StoredAppliance } from '../store/store.js';
import { DomainError } from '../domain/domain-error.js';

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || !h.startsWith('Bearer ')) return null;
  const t = h.slice(7).trim();
  return t.length > 0 && t.length <= 1024 ? t : null;
}

/** Whether a request carries `key` as its Bearer token (compared in constant time). */
export function bearerMatches(key: string): (req: FastifyRequest) => boolean {
  const want = createHash('sha256').update(key).digest();
  return (req) => {
    const t = bearer(req);
    return !!t && timingSafeEqual(createHash('sha256').update(t).digest(), want);
  };
}

/** Operator requests carry the operator key as a Bearer token (compared in constant time). */
export function operatorAuth(operatorKey: string) {
  return bearerAuth(operatorKey, 'operator key');
}

/** A hook that requires `key` as the Bearer token; `what` names it in the 401. */
export function bearerAuth(key: string, what: string) {
  const matches = bearerMatches(key);
  return async (req: FastifyRequest) => {
    if (!bearer(req)) throw new DomainError('missing_credentials', `${what} required (Authorization: Bearer <key>)`);
    if (!matches(req)) throw new DomainError('bad_credentials', `wrong ${what}`);
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    appliance?: StoredAppliance;
  }
}

/**
 * Device requests carry the appliance token; its id prefix names the appliance, whose stored
 * hash and expiry decide. With `ownIdParam`, the token must belong to the appliance in the path.
 */
export function applianceAuth(store: Store, clock: Clock, ownIdParam?: string) {
  return async (req: FastifyRequest) => {
    const t = bearer(req);
    if (!t) throw new DomainError('missing_credentials', 'appliance token required (Authorization: Bearer <token>)');
    const id = applianceIdOfToken(t);
    const a = id ? await store.appliances.get(id) : null;
    if (!a || !applianceTokenMatches(t, a.tokenHash)) throw new DomainError('bad_credentials', 'unknown or revoked appliance token');
    if (Date.parse(a.tokenExpiresAt) <= clock.now()) throw new DomainError('token_expired', 'appliance token has expired; register again');
    if (ownIdParam) {
      const want = (req.params as Record<string, string>)[ownIdParam];
      if (want !== a.applianceId) throw new DomainError('forbidden', 'an appliance may act only on itself');
    }
    req.appliance = a;
  };
}
