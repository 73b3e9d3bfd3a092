/**
 * The tenant's administrators as one aggregate: the stream `tenant-admins` holds, after
 * every change, the list of the tenant's enabled administrators. Every command that makes
 * a user an enabled administrator or stops one being one (create with the admin role,
 * grant or remove the role, disable or enable an admin) appends here WITH the expected
 * version before it touches the user's own stream. Two such changes at the same moment
 * therefore cannot both pass: the second one's append conflicts, it re-reads the list and
 * decides again, and the rule below is checked against what really holds.
 *
 * Rule: a tenant always keeps at least one enabled administrator.
 *
 * Pure: the caller passes in the list it verified against the users' own streams (so a
 * member whose own change never completed is not counted).
 */
import type { CommitOf, Decider } from './decider';
import { unprocessable } from './errors';
import { assertNever, type NewEvent } from './events';

export const ADMINS_STREAM = 'tenant-admins';

export type AdminsEvent = NewEvent<'TenantAdminsChanged', { userId: string; admins: string[] }>;

export interface AdminsState {
  /** Enabled administrators (user ids), sorted. */
  admins: string[];
}

/**
 * Records what a user command does to `userId`: an enabled admin afterwards or not.
 * `verified` = the enabled administrators as of the stream's current version, each checked
 * against their own user stream (that check reads other streams, so the caller does it).
 */
export type AdminsCommand = { type: 'ChangeAdmin'; userId: string; enabledAdminAfter: boolean; verified: readonly string[] };

export const LAST_ADMIN_MESSAGE = 'A tenant must keep at least one enabled administrator: make another user an administrator first.';

/** Decides one change of who is an enabled administrator: never none. */
export function decideAdmins(cmd: AdminsCommand, _state?: AdminsState): AdminsEvent[] {
  switch (cmd.type) {
    case 'ChangeAdmin': {
      const { verified } = cmd;
      const next = cmd.enabledAdminAfter ? [...new Set([...verified, cmd.userId])].sort() : verified.filter((u) => u !== cmd.userId);
      if (next.length === 0) throw unprocessable(LAST_ADMIN_MESSAGE);
      // Always one event, even when the list is unchanged: the append is what serialises
      // this change with every other change of the administrators.
      return [{ type: 'TenantAdminsChanged', data: { userId: cmd.userId, admins: next } }];
    }
    default:
      return assertNever(cmd.type, 'admins command');
  }
}

export function evolveAdmins(state: AdminsState | undefined, commit: CommitOf<AdminsEvent>): AdminsState | undefined {
  let s = state;
  for (const event of commit.events) {
    switch (event.type) {
      case 'TenantAdminsChanged':
        s = { admins: [...event.data.admins] };
        break;
      default:
        return assertNever(event.type, 'admins event');
    }
  }
  return s;
}

/** The tenant-admins aggregate (stream `tenant-admins`), run by handleCommand. */
export const adminsDecider: Decider<AdminsCommand, AdminsEvent, AdminsState | undefined> = {
  decide: decideAdmins,
  evolve: evolveAdmins,
  initialState: () => undefined,
};
