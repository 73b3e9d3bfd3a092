/**
 * TenantService: the thin composition of the tenant and identity use cases, kept so callers
 * (functions/, the records, files and backup services, tests, bench) have one object to wire.
 * It holds no rules: each method delegates to its use-case module.
 *
 * - tenants/  tenant-cache (the TenantStores port), lifecycle, status, restore-import
 * - auth/     login, authenticate, principal (permissions)
 * - users/    user-admin (create, find, get, update, history), admin-guard, load-user
 *
 * New code should depend on the module it needs (and on `TenantStores` for a tenant's stores),
 * not on this class.
 */
import type { AppError } from '../domain/errors';
import { retiredIdError } from './offboarding/schedule';
import type { Idempotency } from '../domain/events';
import type { Permission } from '../domain/identity';
import type { EventStore } from '../ports/event-store';
import type { KeyProvider } from '../ports/key-provider';
import type { OperatorPrincipal } from '../ports/operator-auth';
import type { ProjectionStore } from '../ports/projection-store';
import type { Clock } from '../ports/runtime';
import type { TenantDirectory } from '../ports/tenant-directory';
import type { ContinuationSealer, TenantStores } from '../ports/tenant-stores';
import { authenticate } from './auth/authenticate';
import { UNKNOWN_CLIENT } from './auth/client-address';
import { HashingGate } from './auth/hashing-gate';
import { type AccessToken, type LoginInput, login } from './auth/login';
import { LoginThrottle } from './auth/login-throttle';
import { requirePermission, type UserPrincipal } from './auth/principal';
import { PasswordHasher } from './passwords';
import type { RequestInfo } from './request';
import { TenantHealth } from './tenant-health';
import { type CreateTenantInput, TenantLifecycle, type TenantSummary } from './tenants/lifecycle';
import { importRestoredTenant, type RestoreImportInput } from './tenants/restore-import';
import { asTenantFault, describeTenant, type TenantStatusView } from './tenants/status';
import { TenantCache } from './tenants/tenant-cache';
import { TokenService } from './tokens';
import { loadUser } from './users/load-user';
import { type CreateUserInput, UserAdmin, type UpdateUserInput, type UserHistoryEntry } from './users/user-admin';
import type { OperationOptions } from '../ports/options';
import type { UserView } from './users/load-user';

export { assertNotReserved, DRILL_PREFIX } from '../domain/tenant';
export type { UserPrincipal } from './auth/principal';
export { type CommandOptions, newCorrelationId, type RequestInfo } from './request';
export type { CreateTenantInput } from './tenants/lifecycle';
export type { TenantStatusView } from './tenants/status';
export type { UserView } from './users/load-user';

/** A tenant rebuilt from a log read out of a backup (tenants/restore-import.ts). */
export type RestoreTenantInput = Pick<RestoreImportInput, 'id' | 'name' | 'commits' | 'details'>;
export type RestoreTenantOptions = RequestInfo & Pick<RestoreImportInput, 'onProgress' | 'beforeReady'>;

export interface ServiceDeps {
  directory: TenantDirectory;
  keys: KeyProvider;
  clock: Clock;
  tokenTtlSeconds: number;
  passwordLogN: number;
  /** A tenant stuck in "creating" longer than this is considered abandoned and may be re-created. */
  abandonedCreationMs?: number;
  /** Sign-in throttling and fair password hashing (defaults: see their modules). */
  throttle?: LoginThrottle;
  hashingGate?: HashingGate;
  /** Per-tenant fault record (default: a new one); pass the one `stores` notes into. */
  health?: TenantHealth;
  /** The tenant cache (default: a TenantCache over directory and keys, sharing `health`). */
  stores?: TenantStores;
  /** For an id with no tenant: the 410 when a tenant of that id was shredded (its id is not reused), else undefined. */
  shredded?: (id: string) => Promise<AppError | undefined>;
}

export class TenantService {
  /** Recent per-tenant faults on this instance (for 503 answers and the operator's status). */
  readonly health: TenantHealth;
  /** The tenants' stores behind the ready-check, leased (shared/ports/tenant-stores.ts). */
  readonly tenantStores: TenantStores;
  readonly throttle: LoginThrottle;
  readonly hashingGate: HashingGate;
  readonly lifecycle: TenantLifecycle;
  readonly users: UserAdmin;
  private readonly passwords: PasswordHasher;
  private readonly tokens: TokenService;

  constructor(private readonly deps: ServiceDeps) {
    const { directory, keys, clock } = deps;
    this.passwords = new PasswordHasher(deps.passwordLogN);
    this.tokens = new TokenService(clock, deps.tokenTtlSeconds);
    this.throttle = deps.throttle ?? new LoginThrottle(clock);
    this.hashingGate = deps.hashingGate ?? new HashingGate();
    this.health = deps.health ?? new TenantHealth(clock);
    this.tenantStores = deps.stores ?? new TenantCache({ directory, keys, clock, health: this.health });
    this.lifecycle = new TenantLifecycle({
      directory,
      keys,
      clock,
      stores: this.tenantStores,
      health: this.health,
      passwords: this.passwords,
      ...(deps.shredded ? { shredded: deps.shredded } : {}),
      ...(deps.abandonedCreationMs !== undefined ? { abandonedCreationMs: deps.abandonedCreationMs } : {}),
    });
    this.users = new UserAdmin({ stores: this.tenantStores, passwords: this.passwords, hashingGate: this.hashingGate });
  }

  // ---------------------------------------------------------------- tenants (operator): tenants/

  createTenant(operator: OperatorPrincipal, input: CreateTenantInput, req: RequestInfo): Promise<TenantSummary> {
    return this.lifecycle.createTenant(operator, input, req);
  }

  /** tenants/restore-import.ts */
  async restoreTenant(
    operator: OperatorPrincipal,
    input: RestoreTenantInput,
    options: RestoreTenantOptions,
  ): Promise<{ id: string; commits: number }> {
    const gone = await this.deps.shredded?.(input.id);
    if (gone) throw retiredIdError(input.id, gone);
    const { directory, keys, clock } = this.deps;
    const { onProgress, beforeReady, correlationId } = options;
    return importRestoredTenant(
      { directory, keys, clock, stores: this.tenantStores },
      { ...input, operator, req: { correlationId }, ...(onProgress ? { onProgress } : {}), ...(beforeReady ? { beforeReady } : {}) },
    );
  }

  listTenants(): Promise<TenantSummary[]> {
    return this.lifecycle.listTenants();
  }

  servedTenantIds(): Promise<string[]> {
    return this.lifecycle.servedTenantIds();
  }

  /** Who the incremental backups serve (TenantLifecycle.served). */
  served(): ReturnType<TenantLifecycle['served']> {
    return this.lifecycle.served();
  }

  setSuspended(id: string, suspended: boolean, operator: OperatorPrincipal, req: RequestInfo): Promise<TenantSummary> {
    return this.lifecycle.setSuspended(id, suspended, operator, req);
  }

  getTenantStatus(id: string): Promise<TenantSummary> {
    return this.lifecycle.getTenantStatus(id);
  }

  describeTenant(id: string): Promise<TenantStatusView> {
    const { keys } = this.deps;
    return describeTenant({ keys, stores: this.tenantStores, health: this.health, getTenantStatus: (t) => this.getTenantStatus(t) }, id);
  }

  asTenantFault(tenantId: string | undefined, e: unknown): unknown {
    return asTenantFault(this.health, tenantId, e);
  }

  // ---------------------------------------------------------------- authentication: auth/

  /** Sign-in (shared/app/auth/login.ts); `client` is the caller's throttling key (client-address.ts; default: unknown). */
  login(input: Omit<LoginInput, 'client'> & { client?: string | undefined }): Promise<AccessToken> {
    const { tenantId, email, password, client = UNKNOWN_CLIENT } = input;
    return login(
      {
        throttle: this.throttle,
        gate: this.hashingGate,
        passwords: this.passwords,
        tokens: this.tokens,
        stores: this.tenantStores,
        loadUser: (ctx, userId) => loadUser(ctx.events, userId),
      },
      { tenantId, email, password, client },
    );
  }

  authenticate(tenantId: string, authorization: string | null): Promise<UserPrincipal> {
    return authenticate({ stores: this.tenantStores, tokens: this.tokens }, tenantId, authorization);
  }

  static require(principal: UserPrincipal, permission: Permission): void {
    requirePermission(principal, permission);
  }

  // ---------------------------------------------------------------- the tenant cache: tenants/tenant-cache.ts

  /**
   * The tenant's log and projections, and a continuation-token sealer, for callers not yet
   * moved to `tenantStores.use`. No lease is held after this returns: the log and projection
   * stores reopen by themselves after an eviction closed them, and the sealer takes a lease
   * for each seal/open (so it never uses a key that an eviction zeroed meanwhile).
   * @deprecated use `tenantStores.use(tenant, async (stores) => …)`.
   */
  stores(tenantId: string): Promise<{ events: EventStore; projections: ProjectionStore; continuations: ContinuationSealer }> {
    const leased = this.tenantStores;
    const continuations: ContinuationSealer = {
      seal: (kind, query, position) => leased.use(tenantId, (ctx) => ctx.continuations.seal(kind, query, position)),
      open: (kind, query, token) => leased.use(tenantId, (ctx) => ctx.continuations.open(kind, query, token)),
    };
    return leased.use(tenantId, async (ctx) => ({ events: ctx.events, projections: await ctx.projections(), continuations }));
  }

  /** Drops what this process caches about a tenant (after a scratch tenant is removed). */
  forget(tenantId: string): void {
    this.tenantStores.forget(tenantId);
  }

  /** Name of the tenant's key-encryption key in the KeyProvider. */
  keyName(tenantId: string): Promise<string> {
    return this.tenantStores.use(tenantId, (ctx) => ctx.keyName);
  }

  get directory(): TenantDirectory {
    return this.deps.directory;
  }

  // ---------------------------------------------------------------- users (admin): users/

  async createUser(p: UserPrincipal, input: CreateUserInput, req: RequestInfo): Promise<UserView> {
    return (await this.users.createUser(p, input, undefined, req)).user;
  }

  createUserOnce(
    p: UserPrincipal,
    input: CreateUserInput,
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<{ user: UserView; replayed: boolean }> {
    return this.users.createUser(p, input, idem, req);
  }

  findUserByEmail(p: UserPrincipal, email: string): Promise<UserView> {
    return this.users.findUserByEmail(p, email);
  }

  listUsers(p: UserPrincipal, page: { limit: number; continuation?: string }): Promise<{ items: UserView[]; continuation?: string }> {
    return this.users.listUsers(p, page);
  }

  getUser(p: UserPrincipal, userId: string): Promise<UserView> {
    return this.users.getUser(p, userId);
  }

  updateUser(p: UserPrincipal, input: UpdateUserInput, options: RequestInfo & OperationOptions): Promise<UserView> {
    return this.users.updateUser(p, input, options);
  }

  userHistory(p: UserPrincipal, userId: string): Promise<UserHistoryEntry[]> {
    return this.users.userHistory(p, userId);
  }

  async close(): Promise<void> {
    await this.tenantStores.close();
  }
}
