import { AppError, conflict, notFound } from '../../domain/errors';
import type { Author, Commit, Idempotency, NewEvent } from '../../domain/events';
import {
  normalizeEmail,
  redactUserEvent,
  type Role,
  USER_EXISTS_MESSAGE,
  type UserCommand,
  type UserEvent,
  userDecider,
  userIdForEmail,
  userStreamId,
} from '../../domain/identity';
import type { OperationOptions } from '../../ports/options';
import type { OneTenantStores, TenantStores } from '../../ports/tenant-stores';
import type { HashingGate } from '../auth/hashing-gate';
import { requirePermission, type UserPrincipal } from '../auth/principal';
import { handleCommand } from '../command-handling/handle-command';
import type { PasswordHasher } from '../passwords';
import type { RequestInfo } from '../request';
import { adminGuardAround } from './admin-guard';
import { loadUser, type UserView, userView } from './load-user';

/** Users of a list page loaded at once (each is one read of its stream). */
const USERS_AT_ONCE = 20;

export interface UserAdminDeps {
  stores: TenantStores;
  passwords: PasswordHasher;
  /** New password hashes go through the same fair gate as sign-ins (keyed by the admin). */
  hashingGate: HashingGate;
}

export interface CreateUserInput {
  email: string;
  password: string;
  roles: Role[];
  displayName?: string;
}

export interface UserPatch {
  roles?: Role[];
  disabled?: boolean;
  password?: string;
}

/** One PATCH of a user: the change, and the version the client read (If-Match). */
export interface UpdateUserInput {
  userId: string;
  patch: UserPatch;
  ifMatch?: number | undefined;
}

export interface UserHistoryEntry {
  version: number;
  timestamp: string;
  author: Author;
  correlationId: string;
  /** The events with their data (password hashes replaced by `passwordChanged: true`). */
  events: Array<NewEvent<string, Record<string, unknown>>>;
}

/**
 * An administrator manages the tenant's users: create, look up, change (roles, enable/disable,
 * password) and read their history. Every change is a command of the user decider
 * (shared/domain/identity.ts) run by handleCommand; changes of who is an enabled administrator
 * go through the tenant-admins guard (admin-guard.ts) first.
 */
export class UserAdmin {
  constructor(private readonly d: UserAdminDeps) {}

  /**
   * Creates a user, with an optional Idempotency-Key: a retry returns the first answer. The
   * key's request hash leaves the password out (a fast hash of it must not reach the log);
   * instead the retry's password is checked against the scrypt hash the first attempt stored.
   */
  async createUser(
    p: UserPrincipal,
    input: CreateUserInput,
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<{ user: UserView; replayed: boolean }> {
    requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (ctx) => {
      const email = normalizeEmail(input.email);
      const userId = userIdForEmail(ctx.userIdSalt, email);
      const r = await handleCommand(
        ctx.events,
        userStreamId(userId),
        userDecider,
        // Built after the replay check: a replayed creation hashes nothing.
        async (): Promise<UserCommand> => ({
          type: 'CreateUser',
          userId,
          email,
          displayName: input.displayName ?? null,
          roles: input.roles,
          passwordHash: await this.hashFor(p, input.password),
        }),
        {
          meta: { author: authorOf(p), correlationId: req.correlationId },
          ...(idem ? { idempotency: idem } : {}),
          isSameRequest: (earlier, key) => this.sameCreation(earlier, key, input.password),
          onConflict: () => conflict(USER_EXISTS_MESSAGE),
          aroundAppend: adminGuardAround(guardDeps(ctx), userId, { author: authorOf(p), correlationId: req.correlationId }),
        },
      );
      return { user: userView(r.state!), replayed: r.replayed };
    });
  }

  /** An administrator looks a user up by email (user ids are salted per tenant, so clients cannot derive them). */
  async findUserByEmail(p: UserPrincipal, emailIn: string): Promise<UserView> {
    requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (ctx) => {
      const state = await loadUser(ctx.events, userIdForEmail(ctx.userIdSalt, normalizeEmail(emailIn)));
      if (!state) throw notFound('No user with this email in this tenant.');
      return userView(state);
    });
  }

  /**
   * One page of the tenant's users (administrators), read from the log itself: the user streams
   * in user-id order (ids are salted hashes of the emails, so the order says nothing about
   * them), each user's current state as `findUserByEmail` answers it, never a password hash.
   * The continuation seals the page's last user id for this tenant and this list.
   */
  async listUsers(p: UserPrincipal, page: { limit: number; continuation?: string }): Promise<{ items: UserView[]; continuation?: string }> {
    requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (ctx) => {
      const prefix = userStreamId('');
      const after = page.continuation === undefined ? undefined : await ctx.continuations.open('users', {}, page.continuation);
      // One more than the page: whether another page follows is known without an empty last page.
      const streams = await ctx.events.listStreams(prefix, { limit: page.limit + 1, ...(after !== undefined ? { after } : {}) });
      const ids = streams.slice(0, page.limit);
      const items: UserView[] = [];
      for (let i = 0; i < ids.length; i += USERS_AT_ONCE) {
        const states = await Promise.all(ids.slice(i, i + USERS_AT_ONCE).map((s) => loadUser(ctx.events, s.slice(prefix.length))));
        for (const s of states) if (s) items.push(userView(s));
      }
      const last = ids.at(-1);
      return {
        items,
        ...(streams.length > page.limit && last !== undefined ? { continuation: await ctx.continuations.seal('users', {}, last) } : {}),
      };
    });
  }

  /** A user reads themselves; an administrator reads anyone. */
  async getUser(p: UserPrincipal, userId: string): Promise<UserView> {
    if (p.userId !== userId) requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (ctx) => {
      const state = await loadUser(ctx.events, userId);
      if (!state) throw notFound('User not found.');
      return userView(state);
    });
  }

  /** One PATCH of a user, decided as one UpdateUser command against the version in If-Match. */
  async updateUser(p: UserPrincipal, input: UpdateUserInput, options: RequestInfo & OperationOptions): Promise<UserView> {
    const { userId, patch, ifMatch } = input;
    requirePermission(p, 'manage');
    const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    return this.d.stores.use(
      p.tenantId,
      async (ctx) => {
        const meta = { author: authorOf(p), correlationId: options.correlationId };
        const r = await handleCommand(
          ctx.events,
          userStreamId(userId),
          userDecider,
          async (state): Promise<UserCommand> => ({
            type: 'UpdateUser',
            actorUserId: p.userId,
            ...(ifMatch !== undefined ? { expectedVersion: ifMatch } : {}),
            ...(patch.roles ? { roles: patch.roles } : {}),
            ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
            // Hashed only when the decider can accept the change (a missing user or a stale
            // If-Match is refused without the cost of a hash).
            ...(patch.password !== undefined && state && (ifMatch === undefined || ifMatch === state.version)
              ? { passwordHash: await this.hashFor(p, patch.password) }
              : {}),
          }),
          {
            meta,
            load: async (events) => {
              const state = await loadUser(events, userId);
              return { state, version: state?.version ?? 0 };
            },
            onConflict: () => new AppError('precondition_failed', 'The user was changed concurrently; reload it and retry.'),
            aroundAppend: adminGuardAround(guardDeps(ctx), userId, meta),
            ...signal,
          },
        );
        return userView(r.state!);
      },
      signal,
    );
  }

  async userHistory(p: UserPrincipal, userId: string): Promise<UserHistoryEntry[]> {
    requirePermission(p, 'manage');
    return this.d.stores.use(p.tenantId, async (ctx) => {
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

  /** A retry of a creation: same request hash, and the password matches the hash the first attempt stored. */
  private async sameCreation(earlier: Commit, idem: Idempotency, password: string): Promise<boolean> {
    const created = (earlier.events as UserEvent[]).find((e) => e.type === 'UserCreated');
    return (
      earlier.idempotency?.requestHash === idem.requestHash &&
      created?.type === 'UserCreated' &&
      (await this.d.passwords.verify(password, created.data.passwordHash))
    );
  }

  private hashFor(p: UserPrincipal, password: string): Promise<string> {
    return this.d.hashingGate.run(p.tenantId, `user:${p.userId}`, () => this.d.passwords.hash(password));
  }
}

function authorOf(p: UserPrincipal): Author {
  return { kind: 'user', userId: p.userId, email: p.email };
}

function guardDeps(ctx: OneTenantStores) {
  return { events: ctx.events, loadUser: (id: string) => loadUser(ctx.events, id) };
}
