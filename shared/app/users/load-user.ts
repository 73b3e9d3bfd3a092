import type { Role, UserState } from '../../domain/identity';
import type { EventStore } from '../../ports/event-store';
import { loadUserCached } from './user-cache';

/** A user as the API shows it (never the password hash). */
export interface UserView {
  userId: string;
  email: string;
  displayName: string | null;
  roles: Role[];
  disabled: boolean;
  version: number;
}

export function userView(s: UserState): UserView {
  return { userId: s.userId, email: s.email, displayName: s.displayName, roles: s.roles, disabled: s.disabled, version: s.version };
}

const USER_ID = /^u_[A-Za-z0-9_-]{22}$/;

/**
 * The user's current state (undefined: no such user, or not a user id at all), read from the
 * log on every call: the commits after the state cached in memory (user-cache.ts), so the cost
 * does not grow with the user's history. Paged and yielding between pages when it must fold
 * from the start: a user stream can grow long (every role or password change).
 */
export async function loadUser(events: EventStore, userId: string): Promise<UserState | undefined> {
  if (!USER_ID.test(userId)) return undefined;
  return (await loadUserCached(events, userId)).state;
}
