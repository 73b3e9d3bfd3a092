import { randomBytes, randomUUID } from 'node:crypto';
import {
  AppError,
  conflict,
  forbidden,
  isAppError,
  isWrongExpectedVersion,
  notFound,
  unauthenticated,
  unprocessable,
  validation,
} from '../domain/errors';
import type { Author, Commit, Idempotency } from '../domain/events';
import {
  decideUser,
  evolveUser,
  normalizeEmail,
  redactUserEvent,
  rolesAllow,
  userIdForEmail,
  userStreamId,
  type Permission,
  type Role,
  type UserCommand,
  type UserEvent,
  type UserState,
} from '../domain/identity';
import { assertTenantId } from '../domain/tenant';
import { ADMINS_STREAM, decideAdmins } from '../domain/admins';
import { withAdminGuard } from './users/admin-guard';
import type { EventStore } from '../ports/event-store';
import type { KeyProvider } from '../ports/key-provider';
import type { ProjectionStore } from '../ports/projection-store';
import type { OperatorPrincipal } from '../ports/operator-auth';
import type { Clock } from '../ports/runtime';
import type { TenantDirectory, TenantMeta } from '../ports/tenant-directory';
import type { ContinuationSealer, OneTenantStores, TenantLease, TenantStores } from '../ports/tenant-stores';
import { storeStep, TENANT_STREAM, TenantCache } from './tenants/tenant-cache';
import { HashingGate } from './auth/hashing-gate';
import { login, type AccessToken } from './auth/login';
import { LoginThrottle } from './auth/login-throttle';
import { UNKNOWN_CLIENT } from './auth/client-address';
import { PasswordHasher } from './passwords';
import { TokenService } from './tokens';
import { readStreamPages } from './record-reader';
import { TimeSlice } from './yield';
import { degradedDetail, storageFaultOf, TenantHealth, type DegradedReason, type TenantFault } from './tenant-health';

/** The authenticated caller of a tenant endpoint. */
export interface UserPrincipal {
  tenantId: string;
  userId: string;
  email: string;
  roles: Role[];
}

export interface RequestInfo {
  correlationId: string;
}

export interface UserView {
  userId: string;
  email: string;
  displayName: string | null;
  roles: Role[];
  disabled: boolean;
  version: number;
}

/** A tenant as operators see it: status only, never data. */
export interface TenantStatusView {
  id: string;
  status: string;
  createdAt: string;
  /** Present when the tenant cannot be served right now. */
  degraded?: { reason: DegradedReason; detail: string; since: string };
}

export interface CreateTenantInput {
  id: string;
  name: string;
  admin: { email: string; password: string; displayName?: string };
}

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
}

/**
 * The service's use cases for tenants and identity. Pure orchestration over ports: no
 * HTTP, no Azure SDK, no process.env.
 */
export class TenantService {
  /** Recent per-tenant faults on this instance (for 503 answers and the operator's status). */
  readonly health: TenantHealth;
  /** The tenants' stores behind the ready-check, leased (shared/ports/tenant-stores.ts). */
  readonly tenantStores: TenantStores;
  private readonly passwords: PasswordHasher;
  private readonly tokens: TokenService;
  readonly throttle: LoginThrottle;
  readonly hashingGate: HashingGate;

  constructor(private readonly deps: ServiceDeps) {
    this.passwords = new PasswordHasher(deps.passwordLogN);
    this.tokens = new TokenService(deps.clock, deps.tokenTtlSeconds);
    this.throttle = deps.throttle ?? new LoginThrottle(deps.clock);
    this.hashingGate = deps.hashingGate ?? new HashingGate();
    this.health = deps.health ?? new TenantHealth(deps.clock);
    this.tenantStores =
      deps.stores ?? new TenantCache({ directory: deps.directory, keys: deps.keys, clock: deps.clock, health: this.health });
  }

  // ---------------------------------------------------------------- tenants (operator)

  async createTenant(
    input: CreateTenantInput,
    operator: OperatorPrincipal,
    req: RequestInfo,
  ): Promise<{ id: string; status: string; createdAt: string }> {
    assertTenantId(input.id);
    assertNotReserved(input.id);
    const { directory, keys, clock } = this.deps;
    const passwordHash = await this.passwords.hash(input.admin.password);
    const keyName = `tenant-${input.id}-${randomBytes(4).toString('hex')}`;
    await keys.createKey(keyName);
    const secret = randomBytes(32);
    const meta: TenantMeta = {
      id: input.id,
      name: input.name,
      status: 'creating',
      createdAt: clock.now().toISOString(),
      keyName,
      signingKey: await keys.wrapKey(keyName, secret).catch(async (e: unknown) => {
        await keys.deleteKey(keyName).catch(() => undefined);
        throw e;
      }),
    };
    secret.fill(0);
    // The tenant's first commits are written before it becomes visible: the directory makes
    // it appear complete (and "ready") or not at all, even across a crash.
    const populate = async (events: EventStore) => {
      const author: Author = { kind: 'operator', id: operator.id };
      const meta2 = { author, correlationId: req.correlationId };
      // The salt travels with the log, so a tenant restored from a backup under another id
      // keeps its users' ids (and the same person gets unrelated ids in different tenants).
      const userIdSalt = randomBytes(16).toString('base64url');
      await events.append(TENANT_STREAM, 0, [{ type: 'TenantCreated', data: { id: input.id, name: input.name, userIdSalt } }], meta2);
      const email = normalizeEmail(input.admin.email);
      const userId = userIdForEmail(userIdSalt, email);
      const created = decideUser(undefined, {
        type: 'CreateUser',
        userId,
        email,
        displayName: input.admin.displayName ?? null,
        roles: ['admin'],
        passwordHash,
      });
      await events.append(userStreamId(userId), 0, created, meta2);
      await events.append(ADMINS_STREAM, 0, decideAdmins([], { type: 'ChangeAdmin', userId, enabledAdminAfter: true }), meta2);
    };
    try {
      try {
        await directory.create(meta, { populate });
      } catch (e) {
        if (!(isAppError(e) && e.code === 'conflict' && (await this.reclaimAbandoned(input.id)))) throw e;
        await directory.create(meta, { populate });
      }
    } catch (e) {
      // The directory removed whatever it had built; the key is ours to remove.
      this.tenantStores.forget(input.id);
      await keys.deleteKey(keyName).catch(() => undefined);
      throw e;
    }
    return { id: meta.id, status: 'ready', createdAt: meta.createdAt };
  }

  /**
   * Creates tenant `id` from a log read out of a backup: its own new key and signing secret,
   * then every commit imported with its original stream, version, time, author and
   * correlation id (so the users and their passwords come back as they were). All or
   * nothing, like createTenant.
   */
  async restoreTenant(
    id: string,
    name: string,
    commits: AsyncIterable<Commit>,
    operator: OperatorPrincipal,
    details: { source: string; tier: string; asOf: string; restoredUntil?: string },
    req: RequestInfo,
    onProgress?: (imported: number) => void,
    /** Runs after the import, before the tenant is served (a failure removes it, like any other). */
    beforeReady?: (keyName: string, imported: number) => Promise<void>,
  ): Promise<{ id: string; commits: number }> {
    assertTenantId(id);
    const { directory, keys, clock } = this.deps;
    const keyName = `tenant-${id}-${randomBytes(4).toString('hex')}`;
    await keys.createKey(keyName);
    const secret = randomBytes(32);
    let meta: TenantMeta;
    try {
      // `restoring` marks it as a restore target: left "creating" by a crash, it is removed, not kept.
      meta = {
        id,
        name,
        status: 'creating',
        createdAt: clock.now().toISOString(),
        keyName,
        signingKey: await keys.wrapKey(keyName, secret),
        restoring: { source: details.source, tier: details.tier, asOf: details.asOf },
      };
      await directory.create(meta);
    } catch (e) {
      await keys.deleteKey(keyName).catch(() => undefined);
      throw e;
    } finally {
      secret.fill(0);
    }
    let n = 0;
    const slice = new TimeSlice();
    try {
      const events = await directory.openEventStore(id);
      for await (const c of commits) {
        await events.append(c.streamId, c.version - 1, c.events, {
          author: c.author,
          correlationId: c.correlationId,
          originalTimestamp: c.timestamp,
          ...(c.idempotency ? { idempotency: c.idempotency } : {}),
        });
        if (++n % 1000 === 0) onProgress?.(n);
        await slice.maybeYield();
      }
      // The restore itself is audited in the new tenant's log (its own stream).
      await events.append('restores', await events.streamVersion('restores'), [{ type: 'TenantRestored', data: details }], {
        author: { kind: 'operator', id: operator.id },
        correlationId: req.correlationId,
      });
      await beforeReady?.(keyName, n);
      await directory.setStatus(id, 'ready');
    } catch (e) {
      this.tenantStores.forget(id);
      await directory.destroy(id).catch(() => undefined);
      await keys.deleteKey(keyName).catch(() => undefined);
      throw e;
    }
    onProgress?.(n);
    return { id, commits: n };
  }

  /** Removes a tenant left half-created by a crash long enough ago. */
  private async reclaimAbandoned(id: string): Promise<boolean> {
    const existing = await this.deps.directory.getMeta(id);
    const age = existing ? this.deps.clock.now().getTime() - Date.parse(existing.createdAt) : 0;
    if (existing?.status !== 'creating' || age < (this.deps.abandonedCreationMs ?? 10 * 60_000)) return false;
    this.tenantStores.forget(id);
    await this.deps.directory.destroy(id);
    await this.deps.keys.deleteKey(existing.keyName).catch(() => undefined);
    return true;
  }

  /** Every tenant's status (never tenant data), from the store's own catalog. */
  async listTenants(): Promise<Array<{ id: string; status: string; createdAt: string }>> {
    const out: Array<{ id: string; status: string; createdAt: string }> = [];
    for (const id of await this.deps.directory.listTenantIds()) {
      const meta = await this.deps.directory.getMeta(id).catch(() => undefined);
      if (meta)
        out.push({
          id: meta.id,
          status: meta.status === 'ready' && this.health.recent(id) ? 'degraded' : meta.status,
          createdAt: meta.createdAt,
        });
    }
    return out;
  }

  /** Tenants the timers work on: ready ones, without the scratch tenants of restore drills. */
  async servedTenantIds(): Promise<string[]> {
    return (await this.listTenants()).filter((t) => t.status === 'ready' && !t.id.startsWith(DRILL_PREFIX)).map((t) => t.id);
  }

  /**
   * Suspends (or resumes) a tenant: a suspended tenant's users cannot sign in and its tokens
   * stop working (at once on this instance, within 15 s on others); data and backups stay.
   * Audited in the tenant's own log.
   */
  async setSuspended(
    id: string,
    suspended: boolean,
    operator: OperatorPrincipal,
    req: RequestInfo,
  ): Promise<{ id: string; status: string; createdAt: string }> {
    assertTenantId(id);
    const meta = await this.deps.directory.getMeta(id);
    if (!meta || meta.status === 'creating') throw notFound(`Tenant "${id}" does not exist.`);
    const target = suspended ? 'suspended' : 'ready';
    if (meta.status !== target) {
      const events = await this.deps.directory.openEventStore(id);
      await events.append(
        TENANT_STREAM,
        await events.streamVersion(TENANT_STREAM),
        [{ type: suspended ? 'TenantSuspended' : 'TenantResumed', data: { id } }],
        {
          author: { kind: 'operator', id: operator.id },
          correlationId: req.correlationId,
        },
      );
      await this.deps.directory.setStatus(id, target);
      this.forget(id);
    }
    return { id, status: target, createdAt: meta.createdAt };
  }

  async getTenantStatus(id: string): Promise<{ id: string; status: string; createdAt: string }> {
    assertTenantId(id);
    const meta = await this.deps.directory.getMeta(id);
    if (!meta) throw notFound(`Tenant "${id}" does not exist.`);
    return { id: meta.id, status: meta.status, createdAt: meta.createdAt };
  }

  /**
   * What the HTTP edge answers for an error thrown while serving `tenantId`: a storage
   * fault of that tenant (e.g. its disk filled up during an append) becomes 503 with a
   * clear detail and is remembered for the operator's status; anything else is unchanged.
   */
  asTenantFault(tenantId: string | undefined, e: unknown): unknown {
    const reason = storageFaultOf(e);
    if (!reason || !tenantId) return e;
    return this.health.note(tenantId, reason, e);
  }

  /**
   * The operator's view of one tenant: its status, and "degraded" with the reason when it
   * cannot be served (checked now: key, store, plus faults this instance saw recently).
   */
  async describeTenant(id: string): Promise<TenantStatusView> {
    const base = await this.getTenantStatus(id);
    if (base.status !== 'ready') return base;
    let fault: TenantFault | undefined;
    try {
      await this.tenantStores.use(id, async (ctx) => {
        // Fresh checks, even when the tenant is cached: the key still unwraps, the log reads.
        const probe = await this.deps.keys.unwrapKey(ctx.meta.keyName, ctx.meta.signingKey).catch((e: unknown) => {
          throw this.health.note(id, 'key_unavailable', e);
        });
        probe.fill(0);
        await storeStep(this.health, id, () => ctx.events.readStream(TENANT_STREAM, { maxCount: 1 }));
      });
      // Key and log work again: only a recent "disk full" (which a read cannot disprove) stays.
      fault = this.health.recent(id);
      if (fault && fault.reason !== 'disk_full') {
        this.health.clear(id);
        fault = undefined;
      }
    } catch (e) {
      if (!(isAppError(e) && e.code === 'unavailable')) throw e;
      fault = this.health.recent(id);
    }
    if (!fault) return base;
    return { ...base, status: 'degraded', degraded: { reason: fault.reason, detail: degradedDetail(fault.reason), since: fault.since } };
  }

  // ---------------------------------------------------------------- authentication

  /** Sign-in (shared/app/auth/login.ts); `client` is the caller's throttling key (client-address.ts). */
  login(tenantId: string, email: string, password: string, client: string = UNKNOWN_CLIENT): Promise<AccessToken> {
    return login(
      {
        throttle: this.throttle,
        gate: this.hashingGate,
        passwords: this.passwords,
        tokens: this.tokens,
        stores: this.tenantStores,
        loadUser: async (ctx, userId) => (await this.loadUser(ctx.events, userId)).state,
      },
      { tenantId, email, password, client },
    );
  }

  /** Verifies a bearer token for this tenant and the user's current state. */
  async authenticate(tenantId: string, authorization: string | null): Promise<UserPrincipal> {
    const m = /^Bearer\s+([A-Za-z0-9_\-.]+)$/i.exec(authorization ?? '');
    if (!m) throw unauthenticated();
    let lease: TenantLease;
    try {
      lease = await this.tenantStores.acquire(tenantId);
    } catch (e) {
      // Unknown tenant and bad token look the same to the caller.
      if (isAppError(e) && (e.code === 'not_found' || e.code === 'validation')) throw unauthenticated();
      throw e;
    }
    try {
      const ctx = lease.stores;
      const claims = await this.tokens.verify(ctx.signingKey, tenantId, m[1]!);
      const { state } = await this.loadUser(ctx.events, claims.userId);
      if (!state || state.disabled || state.credentialEpoch !== claims.epoch) throw unauthenticated('The token is no longer valid.');
      return { tenantId, userId: state.userId, email: state.email, roles: state.roles };
    } finally {
      lease.release();
    }
  }

  /**
   * The tenant's log and projections, and its continuation-token sealer, WITHOUT a lease (for
   * callers not yet moved to `tenantStores.use`): an eviction could close them under the caller.
   * @deprecated use `tenantStores.use(tenant, async (stores) => …)`.
   */
  async stores(tenantId: string): Promise<{ events: EventStore; projections: ProjectionStore; continuations: ContinuationSealer }> {
    return this.tenantStores.use(tenantId, async (ctx) => ({
      events: ctx.events,
      projections: await ctx.projections(),
      continuations: ctx.continuations,
    }));
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

  static require(principal: UserPrincipal, permission: Permission): void {
    if (!rolesAllow(principal.roles, permission)) throw forbidden();
  }

  // ---------------------------------------------------------------- users (admin)

  async createUser(
    p: UserPrincipal,
    input: { email: string; password: string; roles: Role[]; displayName?: string },
    req: RequestInfo,
  ): Promise<UserView> {
    return (await this.createUserOnce(p, input, undefined, req)).user;
  }

  /**
   * createUser with an Idempotency-Key: a retry returns the first answer. The key's request hash
   * leaves the password out (a fast hash of it must not reach the log); instead the retry's
   * password is checked against the scrypt hash the first attempt stored.
   */
  async createUserOnce(
    p: UserPrincipal,
    input: { email: string; password: string; roles: Role[]; displayName?: string },
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<{ user: UserView; replayed: boolean }> {
    TenantService.require(p, 'manage');
    return this.tenantStores.use(p.tenantId, async (ctx) => {
      const email = normalizeEmail(input.email);
      const userId = userIdForEmail(ctx.userIdSalt, email);
      if (idem) {
        const earlier = await this.userReplay(ctx, userId, idem, input.password);
        if (earlier) return { user: earlier, replayed: true };
      }
      const passwordHash = await this.hashFor(p, input.password);
      const cmd: UserCommand = {
        type: 'CreateUser',
        userId,
        email,
        displayName: input.displayName ?? null,
        roles: input.roles,
        passwordHash,
      };
      try {
        return { user: await this.handleUser(ctx, p, userId, 0, cmd, req, idem), replayed: false };
      } catch (e) {
        // A retry that raced the first attempt: answer as the first did.
        if (idem && isAppError(e) && e.code === 'conflict') {
          const earlier = await this.userReplay(ctx, userId, idem, input.password);
          if (earlier) return { user: earlier, replayed: true };
        }
        throw e;
      }
    });
  }

  /** The user as the creation with this Idempotency-Key left it; 422 when the key came with another request. */
  private async userReplay(ctx: OneTenantStores, userId: string, idem: Idempotency, password: string): Promise<UserView | undefined> {
    const stream = userStreamId(userId);
    const earlier = await ctx.events.findByIdempotencyKey(stream, idem.key);
    if (!earlier) return undefined;
    const created = (earlier.events as UserEvent[]).find((e) => e.type === 'UserCreated');
    const same =
      earlier.idempotency?.requestHash === idem.requestHash &&
      created?.type === 'UserCreated' &&
      (await this.passwords.verify(password, created.data.passwordHash));
    if (!same) throw unprocessable('This Idempotency-Key was already used with a different request.');
    let state: UserState | undefined;
    for (const c of await ctx.events.readStream(stream, { maxCount: earlier.version }))
      for (const e of c.events) state = evolveUser(state, e as UserEvent);
    return view(state!, earlier.version);
  }

  /** An administrator looks a user up by email (user ids are salted per tenant, so clients cannot derive them). */
  async findUserByEmail(p: UserPrincipal, emailIn: string): Promise<UserView> {
    TenantService.require(p, 'manage');
    return this.tenantStores.use(p.tenantId, async (ctx) => {
      const { state, version } = await this.loadUser(ctx.events, userIdForEmail(ctx.userIdSalt, normalizeEmail(emailIn)));
      if (!state) throw notFound('No user with this email in this tenant.');
      return view(state, version);
    });
  }

  async getUser(p: UserPrincipal, userId: string): Promise<UserView> {
    if (p.userId !== userId) TenantService.require(p, 'manage');
    return this.tenantStores.use(p.tenantId, async (ctx) => {
      const { state, version } = await this.loadUser(ctx.events, userId);
      if (!state) throw notFound('User not found.');
      return view(state, version);
    });
  }

  async updateUser(
    p: UserPrincipal,
    userId: string,
    patch: { roles?: Role[]; disabled?: boolean; password?: string },
    ifMatch: number | undefined,
    req: RequestInfo,
  ): Promise<UserView> {
    TenantService.require(p, 'manage');
    return this.tenantStores.use(p.tenantId, async (ctx) => {
      const { state, version } = await this.loadUser(ctx.events, userId);
      if (!state) throw notFound('User not found.');
      if (ifMatch !== undefined && ifMatch !== version) {
        throw new AppError('precondition_failed', `The user has changed (version ${version}); reload it and retry.`);
      }
      const cmds: UserCommand[] = [];
      if (patch.roles) cmds.push({ type: 'ChangeRoles', roles: patch.roles });
      if (patch.disabled !== undefined) cmds.push(patch.disabled ? { type: 'Disable' } : { type: 'Enable' });
      if (patch.password !== undefined) cmds.push({ type: 'ChangePassword', passwordHash: await this.hashFor(p, patch.password) });
      let s: UserState | undefined = state;
      const events: UserEvent[] = [];
      for (const c of cmds) {
        const out = decideUser(s, c, { actorUserId: p.userId });
        for (const e of out) s = evolveUser(s, e);
        events.push(...out);
      }
      if (events.length === 0) return view(state, version);
      return this.appendUser(ctx, p, userId, state, version, events, req);
    });
  }

  async userHistory(
    p: UserPrincipal,
    userId: string,
  ): Promise<Array<{ version: number; timestamp: string; author: Author; correlationId: string; events: unknown[] }>> {
    TenantService.require(p, 'manage');
    return this.tenantStores.use(p.tenantId, async (ctx) => {
      const commits = await ctx.events.readStream(userStreamId(userId));
      if (commits.length === 0) throw notFound('User not found.');
      return commits.map((c) => ({
        version: c.version,
        timestamp: c.timestamp,
        author: c.author,
        correlationId: c.correlationId,
        events: c.events.map(redactUserEvent),
      }));
    });
  }

  private async handleUser(
    ctx: OneTenantStores,
    p: UserPrincipal,
    userId: string,
    expected: number,
    cmd: UserCommand,
    req: RequestInfo,
    idem?: Idempotency,
  ): Promise<UserView> {
    const { state, version } = await this.loadUser(ctx.events, userId);
    if (version !== expected) throw conflict('A user with this email already exists in this tenant.');
    return this.appendUser(ctx, p, userId, state, version, decideUser(state, cmd), req, idem);
  }

  /** Appends one commit and returns the new state, evolved locally (no second read). */
  private async appendUser(
    ctx: OneTenantStores,
    p: UserPrincipal,
    userId: string,
    state: UserState | undefined,
    version: number,
    events: UserEvent[],
    req: RequestInfo,
    idem?: Idempotency,
  ): Promise<UserView> {
    try {
      const author: Author = { kind: 'user', userId: p.userId, email: p.email };
      const meta = { author, correlationId: req.correlationId };
      const userMeta = { ...meta, ...(idem ? { idempotency: idem } : {}) };
      const next = events.reduce<UserState | undefined>(evolveUser, state);
      if (!next) throw new Error('user state missing after append');
      // Changes to who is an enabled admin go through the tenant-admins stream first
      // (never zero admins, even for two concurrent changes).
      const guard = { events: ctx.events, loadUser: async (id: string) => (await this.loadUser(ctx.events, id)).state };
      const r = await withAdminGuard(guard, userId, state, next, meta, () =>
        ctx.events.append(userStreamId(userId), version, events, userMeta),
      );
      return view(next, r.version);
    } catch (e) {
      if (isWrongExpectedVersion(e)) {
        throw version === 0
          ? conflict('A user with this email already exists in this tenant.')
          : new AppError('precondition_failed', 'The user was changed concurrently; reload it and retry.');
      }
      throw e;
    }
  }

  /** New password hashes of a signed-in admin go through the same fair gate as sign-ins (keyed by that admin). */
  private hashFor(p: UserPrincipal, password: string): Promise<string> {
    return this.hashingGate.run(p.tenantId, `user:${p.userId}`, () => this.passwords.hash(password));
  }

  private async loadUser(events: EventStore, userId: string): Promise<{ state: UserState | undefined; version: number }> {
    if (!/^u_[A-Za-z0-9_-]{22}$/.test(userId)) return { state: undefined, version: 0 };
    let state: UserState | undefined;
    let version = 0;
    // Paged, yielding between pages: a user stream can grow long (every role or password change).
    for await (const page of readStreamPages(events, userStreamId(userId))) {
      for (const c of page) {
        for (const e of c.events) state = evolveUser(state, e as UserEvent);
        version = c.version;
      }
    }
    return { state, version };
  }

  async close(): Promise<void> {
    await this.tenantStores.close();
  }
}

/** Scratch tenants of restore drills are named `drill-…`; nobody else may use the prefix. */
export const DRILL_PREFIX = 'drill-';
export function assertNotReserved(id: string): void {
  if (id.startsWith(DRILL_PREFIX))
    throw validation(`Tenant ids starting with "${DRILL_PREFIX}" are reserved for restore drills.`, [
      { path: '/id', message: 'is reserved' },
    ]);
}

function view(s: UserState, version: number): UserView {
  return { userId: s.userId, email: s.email, displayName: s.displayName, roles: s.roles, disabled: s.disabled, version };
}

export const newCorrelationId = (): string => randomUUID();
