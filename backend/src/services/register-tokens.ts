import type { ErrorCode } from '@twinroot/protocol';
import { iso } from '../clock.js';
import type { RegisterClaims, RegisterTokens } from '../auth/register-token.js';
import type { RegisterTokenRecord } from '../store/store.js';
import type { ServiceContext } from './context.js';
import { DomainError } from '../domain/domain-error.js';

/** Why a verified register token may not register (another) appliance, or null. Pure. */
export function registerTokenRefusal(rec: RegisterTokenRecord | null): { code: ErrorCode; message: string } | null {
  if (!rec) return null;
  if (rec.revokedAt) return { code: 'register_token_revoked', message: `register token was revoked at ${rec.revokedAt}` };
  if (rec.maxUses !== undefined && rec.uses >= rec.maxUses) return { code: 'register_token_used_up', message: `register token has registered its ${rec.maxUses} appliance(s)` };
  return null;
}

/**
 * Issued register tokens: the JWT proves who issued it; the record (keyed by the JWT's id)
 * counts its uses against maxUses and can revoke it. A token issued before records existed gets
 * one at its first use, so it too can be listed and revoked.
 */
export class RegisterTokenService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly tokens: RegisterTokens,
  ) {}

  async issue(customer: { customerId: string; region: string }, opts: { ttlHours: number; maxUses?: number }): Promise<{ registerToken: string; tokenId: string; expiresAt: string; maxUses?: number }> {
    const now = this.ctx.clock.now();
    const { token, tokenId, expiresAt } = await this.tokens.issue(customer, opts.ttlHours, now);
    await this.ctx.store.registerTokens.create({
      tokenId,
      customerId: customer.customerId,
      region: customer.region,
      expiresAt,
      ...(opts.maxUses !== undefined ? { maxUses: opts.maxUses } : {}),
      uses: 0,
      createdAt: iso(now),
      rev: 0,
    });
    return { registerToken: token, tokenId, expiresAt, ...(opts.maxUses !== undefined ? { maxUses: opts.maxUses } : {}) };
  }

  /** Counts one registration against the token (conditional write: two at once never exceed maxUses). */
  async consume(claims: RegisterClaims): Promise<void> {
    const seen: { refusal: { code: ErrorCode; message: string } | null } = { refusal: null };
    let first = await this.ctx.store.registerTokens.get(claims.tokenId);
    if (!first) {
      const at = iso(this.ctx.clock.now());
      await this.ctx.store.registerTokens.create({ tokenId: claims.tokenId, customerId: claims.customerId, region: claims.region, expiresAt: claims.expiresAt, uses: 0, createdAt: at, rev: 0 });
      first = await this.ctx.store.registerTokens.get(claims.tokenId);
    }
    await this.ctx.store.registerTokens.mutate(
      claims.tokenId,
      (cur) => {
        seen.refusal = registerTokenRefusal(cur);
        return seen.refusal ? null : { ...cur, uses: cur.uses + 1 };
      },
      first,
    );
    if (seen.refusal) throw new DomainError(seen.refusal.code, seen.refusal.message);
  }

  /** Whether the token may still register (checked before an idempotent replay, which uses nothing). */
  async check(claims: RegisterClaims): Promise<void> {
    const refusal = registerTokenRefusal(await this.ctx.store.registerTokens.get(claims.tokenId));
    if (refusal?.code === 'register_token_revoked') throw new DomainError(refusal.code, refusal.message);
  }

  /** Revokes a token by id; a token with no record yet (issued by an older backend) gets a revoked one. */
  async revoke(tokenId: string, customerId?: string): Promise<RegisterTokenRecord | null> {
    const at = iso(this.ctx.clock.now());
    const out = await this.ctx.store.registerTokens.mutate(tokenId, (cur) => (cur.revokedAt ? null : { ...cur, revokedAt: at }));
    if (out) return out.after;
    if (!customerId) return null;
    const rec: RegisterTokenRecord = { tokenId, customerId, region: '', expiresAt: at, uses: 0, revokedAt: at, createdAt: at, rev: 0 };
    await this.ctx.store.registerTokens.create(rec);
    return rec;
  }
}
