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

  async verify(secret: Uint8Array, tenantId: string, token: string): Promise<TokenClaims> {
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
      return { tenantId, userId: payload.sub, epoch: payload.ep };
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw unauthenticated('The token has expired.');
      if (e instanceof joseErrors.JOSEError) throw unauthenticated('The token is not valid for this tenant.');
      throw e;
    }
  }
}
