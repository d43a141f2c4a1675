import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { DomainError } from '../domain/domain-error.js';

export const REGISTER_AUDIENCE = 'twinroot-register';
export const REGISTER_ISSUER = 'twinroot';
/** How far a token's iat may lie ahead of this backend's clock (clocks of several instances differ a little). */
export const MAX_CLOCK_SKEW_MS = 60_000;

export interface RegisterClaims {
  /** The token's id (JWT jti): its use count and revocation are kept under it. */
  tokenId: string;
  customerId: string;
  region: string;
  expiresAt: string;
}

export class RegisterTokenError extends DomainError {
  constructor(code: 'register_token_expired' | 'register_token_invalid', message: string) {
    super(code, message);
  }
}

/**
 * Register tokens: JWTs signed with the backend's Ed25519 key (EdDSA). Verification pins the
 * algorithm, so `alg: none` and HS256-with-the-public-key forgeries fail, and checks issuer,
 * audience and expiry.
 */
export class RegisterTokens {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
  ) {}

  /** Loads the PEM private key at `file`, creating it (0600) on first use when `create`. */
  static fromFile(file: string, create: boolean): RegisterTokens {
    if (!existsSync(file)) {
      if (!create) throw new Error(`register token key ${file} does not exist`);
      const { privateKey } = generateKeyPairSync('ed25519');
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    const privateKey = createPrivateKey(readFileSync(file));
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`register token key ${file} is not an Ed25519 private key`);
    return new RegisterTokens(privateKey, createPublicKey(privateKey));
  }

  async issue(claims: { customerId: string; region: string }, ttlHours: number, nowMs: number): Promise<{ token: string; tokenId: string; expiresAt: string }> {
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + ttlHours * 3600;
    const tokenId = randomUUID();
    const token = await new SignJWT({ customerId: claims.customerId, region: claims.region })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(REGISTER_ISSUER)
      .setAudience(REGISTER_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(tokenId)
      .sign(this.privateKey);
    return { token, tokenId, expiresAt: new Date(exp * 1000).toISOString() };
  }

  async verify(token: string, nowMs: number): Promise<RegisterClaims> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, {
        algorithms: ['EdDSA'],
        audience: REGISTER_AUDIENCE,
        issuer: REGISTER_ISSUER,
        currentDate: new Date(nowMs),
        requiredClaims: ['exp', 'iat', 'jti'],
      });
      if (typeof payload.customerId !== 'string' || typeof payload.region !== 'string') {
        throw new RegisterTokenError('register_token_invalid', 'register token lacks customerId or region');
      }
      // jose accepts any iat; a token issued in the future was made with a wrong clock or forged.
      if (typeof payload.iat !== 'number' || payload.iat * 1000 > nowMs + MAX_CLOCK_SKEW_MS) {
        throw new RegisterTokenError('register_token_invalid', 'register token: issued in the future (iat)');
      }
      if (typeof payload.jti !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(payload.jti)) {
        throw new RegisterTokenError('register_token_invalid', 'register token: bad jti');
      }
      return { tokenId: payload.jti, customerId: payload.customerId, region: payload.region, expiresAt: new Date((payload.exp as number) * 1000).toISOString() };
    } catch (err) {
      if (err instanceof RegisterTokenError) throw err;
      if (err instanceof errors.JWTExpired) throw new RegisterTokenError('register_token_expired', 'register token has expired');
      if (err instanceof errors.JWTClaimValidationFailed) throw new RegisterTokenError('register_token_invalid', `register token: ${err.claim} claim check failed`);
      if (err instanceof errors.JOSEAlgNotAllowed) throw new RegisterTokenError('register_token_invalid', 'register token: algorithm not allowed');
      if (err instanceof errors.JWSSignatureVerificationFailed) throw new RegisterTokenError('register_token_invalid', 'register token: bad signature');
      throw new RegisterTokenError('register_token_invalid', 'register token is not a valid JWT');
    }
  }
}
