import { isAppError, unauthenticated } from '../../domain/errors';
import { normalizeEmail, userIdForEmail, type UserState } from '../../domain/identity';
import type { OneTenantStores, TenantLease, TenantStores } from '../../ports/tenant-stores';
import type { PasswordHasher } from '../passwords';
import type { TokenService } from '../tokens';
import type { HashingGate } from './hashing-gate';
import type { LoginThrottle } from './login-throttle';

export interface LoginInput {
  tenantId: string;
  email: string;
  password: string;
  /** Throttling key of the caller (see client-address.ts). */
  client: string;
}

export interface AccessToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface LoginDeps {
  throttle: LoginThrottle;
  gate: HashingGate;
  passwords: PasswordHasher;
  tokens: TokenService;
  /** The tenants (signing key, user-id salt): not_found for unknown tenants, unavailable (503) for degraded ones. */
  stores: TenantStores;
  loadUser(stores: OneTenantStores, userId: string): Promise<UserState | undefined>;
}

/**
 * Sign-in: reserve the attempt (429 before any work), find the tenant and user, hash
 * through the fair gate, then settle the reservation. Wrong email, wrong password, unknown
 * tenant and disabled user all answer the same 401 after the same hashing work and count
 * as failures. A tenant that cannot be served (key or store unavailable) answers 503 and
 * counts nothing: a broken key must never lock users out.
 */
export async function login(deps: LoginDeps, input: LoginInput): Promise<AccessToken> {
  const email = normalizeEmail(input.email);
  const attempt = deps.throttle.reserve(input.tenantId, email, input.client);
  const invalid = () => unauthenticated('The email or password is incorrect.');
  const hash = <T>(fn: () => Promise<T>) => deps.gate.run(input.tenantId, input.client, fn);
  let failed = false;
  // The lease keeps the tenant's signing key alive (never zeroed by a forget) until the token is signed.
  let lease: TenantLease | undefined;
  try {
    try {
      lease = await deps.stores.acquire(input.tenantId);
    } catch (e) {
      if (!(isAppError(e) && (e.code === 'not_found' || e.code === 'validation'))) throw e;
    }
    const ctx = lease?.stores;
    const state = ctx ? await deps.loadUser(ctx, userIdForEmail(ctx.userIdSalt, email)) : undefined;
    const ok = await hash(async () => {
      if (state) return deps.passwords.verify(input.password, state.passwordHash);
      await deps.passwords.burn(input.password);
      return false;
    });
    if (!ok || !ctx || !state || state.disabled) {
      failed = true;
      attempt.fail();
      throw invalid();
    }
    const token = await deps.tokens.issue(ctx.signingKey, { tenantId: input.tenantId, userId: state.userId, epoch: state.credentialEpoch });
    attempt.succeed();
    return { access_token: token, token_type: 'Bearer', expires_in: deps.tokens.ttlSeconds };
  } finally {
    lease?.release();
    // Anything else (503, the gate's 429, a store error) releases the reservation uncounted.
    if (!failed) attempt.cancel();
  }
}
