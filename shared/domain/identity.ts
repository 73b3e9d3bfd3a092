/**
 * Users of one tenant, as an event-sourced aggregate: pure decide/evolve, no clock, no ids
 * generated here. Every change (creation, roles, enable/disable, password) is an event in
 * the user's own stream inside the tenant's store, so "who changed whose role, when, old
 * and new" is in the log like any other change.
 */
import { createHash } from 'node:crypto';
import type { CommitOf, Decider } from './decider';
import { AppError, conflict, notFound, unprocessable } from './errors';
import { assertNever, type NewEvent } from './events';

export const ROLES = ['admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may do. admin ⊇ editor ⊇ viewer. */
export type Permission = 'read' | 'write' | 'manage';
const grants: Record<Role, Permission[]> = {
  admin: ['read', 'write', 'manage'],
  editor: ['read', 'write'],
  viewer: ['read'],
};
export function rolesAllow(roles: readonly Role[], needed: Permission): boolean {
  return roles.some((r) => grants[r].includes(needed));
}

export type UserEvent =
  | NewEvent<'UserCreated', { userId: string; email: string; displayName: string | null; roles: Role[]; passwordHash: string }>
  | NewEvent<'UserRolesChanged', { userId: string; old: Role[]; new: Role[] }>
  | NewEvent<'UserDisabled', { userId: string }>
  | NewEvent<'UserEnabled', { userId: string }>
  | NewEvent<'UserPasswordChanged', { userId: string; passwordHash: string }>;

export interface UserState {
  userId: string;
  email: string;
  displayName: string | null;
  roles: Role[];
  disabled: boolean;
  passwordHash: string;
  /** Bumps when the password changes or the user is disabled: older tokens stop working. */
  credentialEpoch: number;
  /** The user stream's version this state is at (the ETag of the user). */
  version: number;
}

/**
 * `UpdateUser` is one PATCH: its parts are decided together (roles, then enable/disable, then
 * password), against the version the caller read (`expectedVersion`, from If-Match).
 */
export type UserCommand =
  | { type: 'CreateUser'; userId: string; email: string; displayName: string | null; roles: Role[]; passwordHash: string }
  | {
      type: 'UpdateUser';
      /** Who asks: an administrator cannot lock themselves out. */
      actorUserId: string;
      expectedVersion?: number;
      roles?: Role[];
      disabled?: boolean;
      passwordHash?: string;
    };

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * A user's id is derived from the tenant's random salt (recorded in its TenantCreated event)
 * and the normalised email, so the user's stream itself enforces email uniqueness (no index
 * needed), the same person gets unrelated ids in different tenants, and a restored tenant
 * keeps its users' ids.
 */
export function userIdForEmail(tenantSalt: string, email: string): string {
  return (
    'u_' +
    createHash('sha256')
      .update(`${tenantSalt}\u0000${normalizeEmail(email)}`)
      .digest('base64url')
      .slice(0, 22)
  );
}
export const userStreamId = (userId: string) => `user-${userId}`;

function sameRoles(a: readonly Role[], b: readonly Role[]): boolean {
  return a.length === b.length && a.every((r) => b.includes(r));
}

export function sortRoles(roles: readonly Role[]): Role[] {
  return ROLES.filter((r) => roles.includes(r));
}

export const SELF_LOCKOUT_MESSAGE = 'Administrators cannot disable themselves or remove their own admin role.';
export const USER_EXISTS_MESSAGE = 'A user with this email already exists in this tenant.';

/**
 * Every rule about one user: an email is one user (its id derives from the email), a change
 * applies to the version the caller read, roles are a set in canonical order, unchanged parts
 * change nothing, and an administrator cannot disable themselves or drop their own admin role.
 * (The tenant-wide rule "at least one enabled administrator" is decided by the tenant-admins
 * decider, shared/domain/admins.ts, which every change of an enabled admin goes through.)
 */
export function decideUser(cmd: UserCommand, state: UserState | undefined): UserEvent[] {
  switch (cmd.type) {
    case 'CreateUser': {
      if (state) throw conflict(USER_EXISTS_MESSAGE);
      const { type: _t, ...data } = cmd;
      return [{ type: 'UserCreated', data: { ...data, roles: sortRoles(data.roles) } }];
    }
    case 'UpdateUser': {
      if (!state) throw notFound('User not found.');
      if (cmd.expectedVersion !== undefined && cmd.expectedVersion !== state.version)
        throw new AppError('precondition_failed', `The user has changed (version ${state.version}); reload it and retry.`);
      const { userId } = state;
      const self = cmd.actorUserId === userId;
      const out: UserEvent[] = [];
      if (cmd.roles) {
        const roles = sortRoles(cmd.roles);
        if (self && state.roles.includes('admin') && !roles.includes('admin')) throw unprocessable(SELF_LOCKOUT_MESSAGE);
        if (!sameRoles(roles, state.roles)) out.push({ type: 'UserRolesChanged', data: { userId, old: state.roles, new: roles } });
      }
      if (cmd.disabled === true) {
        if (self) throw unprocessable(SELF_LOCKOUT_MESSAGE);
        if (!state.disabled) out.push({ type: 'UserDisabled', data: { userId } });
      } else if (cmd.disabled === false && state.disabled) {
        out.push({ type: 'UserEnabled', data: { userId } });
      }
      if (cmd.passwordHash !== undefined) out.push({ type: 'UserPasswordChanged', data: { userId, passwordHash: cmd.passwordHash } });
      return out;
    }
    default:
      return assertNever(cmd, 'user command');
  }
}

/** One event applied to the user (the commit's version is set by `evolveUser`). */
function applyUserEvent(state: UserState | undefined, event: UserEvent, version: number): UserState | undefined {
  if (event.type === 'UserCreated') {
    const d = event.data;
    return {
      userId: d.userId,
      email: d.email,
      displayName: d.displayName,
      roles: d.roles,
      disabled: false,
      passwordHash: d.passwordHash,
      credentialEpoch: 0,
      version,
    };
  }
  if (!state) return state;
  switch (event.type) {
    case 'UserRolesChanged':
      return { ...state, roles: event.data.new, version };
    case 'UserDisabled':
      return { ...state, disabled: true, credentialEpoch: state.credentialEpoch + 1, version };
    case 'UserEnabled':
      return { ...state, disabled: false, version };
    case 'UserPasswordChanged':
      return { ...state, passwordHash: event.data.passwordHash, credentialEpoch: state.credentialEpoch + 1, version };
    default:
      return assertNever(event, 'user event');
  }
}

export function evolveUser(state: UserState | undefined, commit: CommitOf<UserEvent>): UserState | undefined {
  let s = state;
  for (const e of commit.events) s = applyUserEvent(s, e, commit.version);
  return s;
}

/** The user aggregate (stream `user-<userId>`), run by handleCommand. */
export const userDecider: Decider<UserCommand, UserEvent, UserState | undefined> = {
  decide: decideUser,
  evolve: evolveUser,
  initialState: () => undefined,
};

/** Whether this user counts towards "at least one enabled administrator". */
export function isEnabledAdmin(state: UserState | undefined): boolean {
  return !!state && !state.disabled && state.roles.includes('admin');
}

/** Event data as shown to API callers: password hashes are never returned. */
export function redactUserEvent(event: NewEvent): NewEvent<string, Record<string, unknown>> {
  const data = (event.data && typeof event.data === 'object' ? event.data : {}) as Record<string, unknown>;
  if ('passwordHash' in data) {
    const { passwordHash: _omit, ...rest } = data;
    return { type: event.type, data: { ...rest, passwordChanged: true } };
  }
  return { type: event.type, data };
}
