import { isAppError, unauthenticated } from '../../domain/errors';
import type { TenantLease, TenantStores } from '../../ports/tenant-stores';
import type { TokenService } from '../tokens';
import { loadUser } from '../users/load-user';
import type { UserPrincipal } from './principal';

export interface AuthenticateDeps {
  stores: TenantStores;
  tokens: TokenService;
}

/**
 * Verifies a bearer token for this tenant against the tenant's own signing secret, and the
 * user's current state (read on every request: a disabled user or a changed password ends
 * older tokens at once). Unknown tenant and bad token look the same to the caller (401).
 */
export async function authenticate(deps: AuthenticateDeps, tenantId: string, authorization: string | null): Promise<UserPrincipal> {
  const m = /^Bearer\s+([A-Za-z0-9_\-.]+)$/i.exec(authorization ?? '');
  if (!m) throw unauthenticated();
  let lease: TenantLease;
  try {
    lease = await deps.stores.acquire(tenantId);
  } catch (e) {
    if (isAppError(e) && (e.code === 'not_found' || e.code === 'validation')) throw unauthenticated();
    throw e;
  }
  try {
    const ctx = lease.stores;
    const claims = await deps.tokens.verify(ctx.signingKey, tenantId, m[1]!);
    const state = await loadUser(ctx.events, claims.userId);
    if (!state || state.disabled || state.credentialEpoch !== claims.epoch) throw unauthenticated('The token is no longer valid.');
    return { tenantId, userId: state.userId, email: state.email, roles: state.roles };
  } finally {
    lease.release();
  }
}
