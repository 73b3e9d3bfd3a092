import * as jose from 'jose';
import { AppError, forbidden, unauthenticated } from '../../domain/errors';
import type { OperatorAuthenticator, OperatorPrincipal } from '../../ports/operator-auth';
import type { OperationOptions } from '../../ports/options';
import { isAbortError, throwIfAborted, untilAborted } from '../abort';

export interface OidcOperatorAuthOptions {
  /**
   * Issuer exactly as it appears in the tokens' `iss` claim, e.g. for Entra ID v2 tokens
   * `https://login.microsoftonline.com/<tenant-id>/v2.0`.
   */
  issuer: string;
  /** Expected `aud` claim: the API's application id URI or client id. */
  audience: string;
  /** App role (Entra `roles` claim) an operator must hold. */
  requiredRole: string;
  /**
   * JWKS address. When omitted it is read from `<issuer>/.well-known/openid-configuration`.
   * Give it when the issuer does not serve discovery at that address (e.g. Entra v1 issuers
   * `https://sts.windows.net/<tenant-id>/`).
   */
  jwksUri?: string;
  /** Timeout for the discovery and JWKS requests. Default 5000. */
  timeoutInMs?: number;
  /** Accepted clock difference for `exp`/`nbf`. Default 60. */
  clockToleranceInSeconds?: number;
}

const ALGORITHMS = ['RS256', 'PS256', 'ES256'];

/** Token-side failures raised by a key lookup; anything else from the key set is the issuer's fault. */
const TOKEN_KEY_LOOKUP_ERRORS = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JOSE_NOT_SUPPORTED']);

/** Marks a failure to obtain the issuer's keys (network, timeout, bad JWKS), as opposed to a bad token. */
class KeySourceUnavailable extends Error {
  override readonly name = 'KeySourceUnavailable';
}

const unavailable = (message: string) => new AppError('unavailable', message, { retryAfterSeconds: 5 });

/**
 * Operator sign-in with an OpenID Connect issuer such as Microsoft Entra ID: a bearer JWT
 * signed by one of the issuer's published keys, for our audience, carrying the operator
 * app role in `roles`. Bad tokens → 401, missing role → 403, issuer unreachable → 503.
 */
export class OidcOperatorAuthenticator implements OperatorAuthenticator {
  readonly #issuer: string;
  readonly #audience: string;
  readonly #requiredRole: string;
  readonly #configuredJwksUri: URL | undefined;
  readonly #timeoutInMs: number;
  readonly #clockTolerance: number;
  #keySet: Promise<jose.JWTVerifyGetKey> | undefined;

  constructor(options: OidcOperatorAuthOptions) {
    const { issuer, audience, requiredRole, jwksUri } = options;
    if (!isHttpUrl(issuer)) throw new Error('OIDC issuer must be an http(s) URL.');
    if (typeof audience !== 'string' || audience.trim() === '') throw new Error('OIDC audience is required.');
    if (typeof requiredRole !== 'string' || requiredRole.trim() === '') throw new Error('OIDC required role is required.');
    if (jwksUri !== undefined && !isHttpUrl(jwksUri)) throw new Error('OIDC jwksUri must be an http(s) URL.');
    this.#issuer = issuer;
    this.#audience = audience;
    this.#requiredRole = requiredRole;
    this.#configuredJwksUri = jwksUri === undefined ? undefined : new URL(jwksUri);
    this.#timeoutInMs = options.timeoutInMs ?? 5000;
    this.#clockTolerance = options.clockToleranceInSeconds ?? 60;
  }

  /**
   * `abortSignal` stops the caller's wait (AbortError); the issuer's discovery and key fetches
   * are shared by every caller and bounded by `timeoutInMs`, so one caller's signal does not
   * cancel them.
   */
  async authenticate(authorization: string | null, options: OperationOptions = {}): Promise<OperatorPrincipal> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const token = bearerToken(authorization);
    if (token === undefined) throw unauthenticated('A bearer token is required (Authorization: Bearer <token>).');
    // Cheap structural check first, so garbage never triggers a discovery request.
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(token)) throw unauthenticated('The bearer token is malformed.');

    const keySet = await untilAborted(this.#getKeySet(), abortSignal);
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await untilAborted(
        jose.jwtVerify(token, keySet, {
          issuer: this.#issuer,
          audience: this.#audience,
          algorithms: ALGORITHMS,
          clockTolerance: this.#clockTolerance,
        }),
        abortSignal,
      ));
    } catch (e) {
      if (isAbortError(e)) throw e;
      if (e instanceof KeySourceUnavailable) throw unavailable("The identity provider's signing keys cannot be fetched right now.");
      throw unauthenticated(describeTokenError(e));
    }

    const subject = typeof payload.oid === 'string' && payload.oid !== '' ? payload.oid : payload.sub;
    if (typeof subject !== 'string' || subject === '') throw unauthenticated('The bearer token names no subject.');
    const roles = payload.roles;
    if (!Array.isArray(roles) || !roles.some((r) => r === this.#requiredRole)) {
      throw forbidden(`The operator role "${this.#requiredRole}" is required.`);
    }
    return { id: `oidc:${subject}` };
  }

  /** The issuer's key set, created once; a failed discovery is retried on the next call. */
  #getKeySet(): Promise<jose.JWTVerifyGetKey> {
    if (this.#keySet === undefined) {
      const pending = this.#createKeySet();
      this.#keySet = pending;
      pending.catch(() => {
        if (this.#keySet === pending) this.#keySet = undefined;
      });
    }
    return this.#keySet;
  }

  async #createKeySet(): Promise<jose.JWTVerifyGetKey> {
    const jwksUri = this.#configuredJwksUri ?? (await this.#discoverJwksUri());
    const remote = jose.createRemoteJWKSet(jwksUri, { timeoutDuration: this.#timeoutInMs });
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (e) {
        // Same error object, so jose can still iterate multiple matching keys.
        if (isJoseError(e) && TOKEN_KEY_LOOKUP_ERRORS.has(e.code)) throw e;
        throw new KeySourceUnavailable('JWKS unavailable', { cause: e });
      }
    };
  }

  async #discoverJwksUri(): Promise<URL> {
    const url = `${this.#issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let document: unknown;
    try {
      const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.#timeoutInMs) });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      document = await response.json();
    } catch {
      throw unavailable('The identity provider cannot be reached (OpenID Connect discovery failed).');
    }
    const doc = (typeof document === 'object' && document !== null ? document : {}) as Record<string, unknown>;
    const jwksUri = doc.jwks_uri;
    if (typeof jwksUri !== 'string' || !isHttpUrl(jwksUri)) {
      throw unavailable("The identity provider's discovery document has no usable jwks_uri.");
    }
    // OpenID Connect Discovery 1.0 §4.3: the document must be for the issuer we trust.
    if (doc.issuer !== this.#issuer) {
      throw unavailable(
        "The identity provider's discovery document is for a different issuer; check the configured issuer or set jwksUri.",
      );
    }
    const parsed = new URL(jwksUri);
    if (new URL(this.#issuer).protocol === 'https:' && parsed.protocol !== 'https:') {
      throw unavailable("The identity provider's jwks_uri is not https.");
    }
    return parsed;
  }
}

function bearerToken(authorization: string | null): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  const match = /^\s*(\S+)[ \t]+(\S+)\s*$/.exec(authorization);
  if (match?.[1]?.toLowerCase() !== 'bearer') return undefined;
  return match[2];
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const { protocol } = new URL(value);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

function isJoseError(e: unknown): e is { code: string } {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (e as { code: string }).code.startsWith('ERR_J')
  );
}

/** A client-safe reason; never includes the token. */
function describeTokenError(e: unknown): string {
  const code = isJoseError(e) ? e.code : '';
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'The bearer token has expired.';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (e as { claim?: unknown }).claim;
      return typeof claim === 'string' && /^[a-z]{2,4}$/.test(claim)
        ? `The bearer token's "${claim}" claim is not acceptable.`
        : "The bearer token's claims are not acceptable.";
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return "The bearer token's signing algorithm is not accepted.";
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'The bearer token was not signed with a known key.';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return "The bearer token's signature is not valid.";
    default:
      return 'The bearer token is not valid.';
  }
}
