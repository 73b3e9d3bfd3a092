/**
 * Users of one tenant, as an event-sourced aggregate: pure decide/evolve, no clock, no ids
 * generated here. Every change (creation, roles, enable/disable, password) is an event in
 * the user's own stream inside the tenant's store, so "who changed whose role, when, old
 * and new" is in the log like any other change.
 */
import { createHash } from 'node:crypto';
import { conflict, notFound, unprocessable } from './errors';
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
}

export type UserCommand =
  | { type: 'CreateUser'; userId: string; email: string; displayName: string | null; roles: Role[]; passwordHash: string }
  | { type: 'ChangeRoles'; roles: Role[] }
  | { type: 'Disable' }
  | { type: 'Enable' }
  | { type: 'ChangePassword'; passwordHash: string };

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

/** Who asks: rules about changing oneself need it. */
export interface UserDecisionContext {
  actorUserId?: string;
}

export const SELF_LOCKOUT_MESSAGE = 'Administrators cannot disable themselves or remove their own admin role.';

/**
 * Every rule about one user. (The tenant-wide rule "at least one enabled administrator"
 * is the tenant-admins aggregate's: shared/domain/admins.ts.)
 */
export function decideUser(state: UserState | undefined, cmd: UserCommand, ctx: UserDecisionContext = {}): UserEvent[] {
  if (cmd.type === 'CreateUser') {
    if (state) throw conflict('A user with this email already exists in this tenant.');
    const { type: _t, ...data } = cmd;
    return [{ type: 'UserCreated', data: { ...data, roles: sortRoles(data.roles) } }];
  }
  if (!state) throw notFound('User not found.');
  const userId = state.userId;
  switch (cmd.type) {
    case 'ChangeRoles': {
      const roles = sortRoles(cmd.roles);
      if (ctx.actorUserId === userId && state.roles.includes('admin') && !roles.includes('admin'))
        throw unprocessable(SELF_LOCKOUT_MESSAGE);
      return sameRoles(roles, state.roles) ? [] : [{ type: 'UserRolesChanged', data: { userId, old: state.roles, new: roles } }];
    }
    case 'Disable':
      if (ctx.actorUserId === userId) throw unprocessable(SELF_LOCKOUT_MESSAGE);
      return state.disabled ? [] : [{ type: 'UserDisabled', data: { userId } }];
    case 'Enable':
      return state.disabled ? [{ type: 'UserEnabled', data: { userId } }] : [];
    case 'ChangePassword':
      return [{ type: 'UserPasswordChanged', data: { userId, passwordHash: cmd.passwordHash } }];
    default:
      return assertNever(cmd, 'user command');
  }
}

export function evolveUser(state: UserState | undefined, event: UserEvent): UserState | undefined {
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
    };
  }
  if (!state) return state;
  switch (event.type) {
    case 'UserRolesChanged':
      return { ...state, roles: event.data.new };
    case 'UserDisabled':
      return { ...state, disabled: true, credentialEpoch: state.credentialEpoch + 1 };
    case 'UserEnabled':
      return { ...state, disabled: false };
    case 'UserPasswordChanged':
      return { ...state, passwordHash: event.data.passwordHash, credentialEpoch: state.credentialEpoch + 1 };
    default:
      return assertNever(event, 'user event');
  }
}

/** Whether this user counts towards "at least one enabled administrator". */
export function isEnabledAdmin(state: UserState | undefined): boolean {
  return !!state && !state.disabled && state.roles.includes('admin');
}

/** Event data as shown to API callers: password hashes are never returned. */
export function redactUserEvent(event: NewEvent): NewEvent {
  if (event.data && typeof event.data === 'object' && 'passwordHash' in event.data) {
    const { passwordHash: _omit, ...rest } = event.data as Record<string, unknown>;
    return { type: event.type, data: { ...rest, passwordChanged: true } };
  }
  return event;
}
