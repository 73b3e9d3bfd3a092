import { timingSafeEqual } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { unauthenticated } from '../domain/errors';
import type { Clock } from '../ports/runtime';

export interface TokenClaims {
  tenantId: string;
  userId: string;
  /** The user's credential epoch when the token was issued (password change / disable bump it). */
  epoch: number;
}

/** Tolerated difference between the clocks of two instances. */
const CLOCK_SKEW_SECONDS = 60;

const issuerOf = (tenantId: string) => `urn:tenant-ledger:tenant:${tenantId}`;

/**
 * Access tokens are HS256 JWTs signed with a secret that belongs to one tenant only
 * (random, wrapped by the tenant's KEK, kept in the tenant's own store). A token of tenant
 * A can therefore never verify at tenant B, whatever its claims say.
 */
export class TokenService {
  constructor(
    private readonly clock: Clock,
    readonly ttlSeconds: number,
  ) {}

  async issue(secret: Uint8Array, claims: TokenClaims): Promise<string> {
    const now = Math.floor(this.clock.now().getTime() / 1000);
    return new SignJWT({ tid: claims.tenantId, ep: claims.epoch })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(issuerOf(claims.tenantId))
      .setAudience(issuerOf(claims.tenantId))
      .setSubject(claims.userId)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .sign(secret);
  }

  /**
   * Tokens whose signature and claims were verified, by tenant and token text: a repeated
   * token skips the HMAC and claim parsing (about 7 % of a GET). A hit still needs the same
   * secret (byte for byte: a rotated signing key ends its tokens) and an expiry still ahead;
   * everything else about the token is fixed by its text. Revocation does not depend on this:
   * the user's credential epoch is checked against the log on every request.
   */
  private readonly verified = new Map<string, { secret: Uint8Array; claims: TokenClaims; exp: number }>();

  async verify(secret: Uint8Array, tenantId: string, token: string): Promise<TokenClaims> {
    const key = `${tenantId}\u0000${token}`;
    const hit = this.verified.get(key);
    if (hit) {
      const now = Math.floor(this.clock.now().getTime() / 1000);
      if (sameBytes(hit.secret, secret) && hit.exp > now && hit.exp <= now + this.ttlSeconds + CLOCK_SKEW_SECONDS) return hit.claims;
      this.verified.delete(key);
    }
    return this.verifyOnce(secret, tenantId, token);
  }

  private async verifyOnce(secret: Uint8Array, tenantId: string, token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, secret, {
        algorithms: ['HS256'],
        issuer: issuerOf(tenantId),
        audience: issuerOf(tenantId),
        currentDate: this.clock.now(),
        // A token without an expiry would be valid for ever: refuse it, whoever signed it.
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      // Nothing this service issues lives longer than the configured TTL: a token whose expiry
      // lies further ahead (a forged or misconfigured issuer) is refused too. Small clock skew
      // between instances is tolerated.
      const now = Math.floor(this.clock.now().getTime() / 1000);
      if (typeof payload.exp !== 'number' || payload.exp > now + this.ttlSeconds + CLOCK_SKEW_SECONDS) {
        throw unauthenticated('The token is not valid for this tenant.');
      }
      if (payload.tid !== tenantId || typeof payload.sub !== 'string' || typeof payload.ep !== 'number') {
        throw unauthenticated('The token is not valid for this tenant.');
      }
      const claims = { tenantId, userId: payload.sub, epoch: payload.ep };
      this.remember(`${tenantId}\u0000${token}`, secret, claims, payload.exp);
      return claims;
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw unauthenticated('The token has expired.');
      if (e instanceof joseErrors.JOSEError) throw unauthenticated('The token is not valid for this tenant.');
      throw e;
    }
  }

  private remember(key: string, secret: Uint8Array, claims: TokenClaims, exp: number): void {
    // The caller's own secret buffer, not a copy: when the tenant's stores are retired and the
    // key is zeroed, its entries stop matching, and no extra copy of the key is kept.
    this.verified.set(key, { secret, claims, exp });
    if (this.verified.size > VERIFIED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
  }
}

/** Verified tokens kept (the oldest go first). */
const VERIFIED_TOKENS = 10_000;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
