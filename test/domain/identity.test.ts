import { describe, expect, it } from 'vitest';
import {
  decideUser,
  evolveUser,
  normalizeEmail,
  redactUserEvent,
  rolesAllow,
  userIdForEmail,
  type UserCommand,
  type UserEvent,
  type UserState,
} from '../../shared/domain/identity';

/** given events, when command, then events (or error). */
function given(events: UserEvent[]) {
  const state = events.reduce<UserState | undefined>(evolveUser, undefined);
  return {
    when: (cmd: UserCommand) => ({
      // biome-ignore lint/suspicious/noThenProperty: given/when/then is the point of this helper; it is never awaited
      then: (expected: UserEvent[]) => expect(decideUser(state, cmd)).toEqual(expected),
      thenThrows: (code: string) => expect(() => decideUser(state, cmd)).toThrow(expect.objectContaining({ code })),
    }),
  };
}

const userId = userIdForEmail('acme', 'a@x.test');
const created: UserEvent = {
  type: 'UserCreated',
  data: { userId, email: 'a@x.test', displayName: null, roles: ['viewer'], passwordHash: 'h1' },
};

describe('user decide/evolve', () => {
  it('creates a user with roles in canonical order', () =>
    given([])
      .when({ type: 'CreateUser', userId, email: 'a@x.test', displayName: null, roles: ['viewer', 'admin'], passwordHash: 'h1' })
      .then([
        { type: 'UserCreated', data: { userId, email: 'a@x.test', displayName: null, roles: ['admin', 'viewer'], passwordHash: 'h1' } },
      ]));
  it('refuses to create an existing user', () =>
    given([created])
      .when({ type: 'CreateUser', userId, email: 'a@x.test', displayName: null, roles: ['viewer'], passwordHash: 'h' })
      .thenThrows('conflict'));
  it('records old and new roles', () =>
    given([created])
      .when({ type: 'ChangeRoles', roles: ['editor'] })
      .then([{ type: 'UserRolesChanged', data: { userId, old: ['viewer'], new: ['editor'] } }]));
  it('the same roles in another order change nothing', () =>
    given([{ ...created, data: { ...created.data, roles: ['editor', 'viewer'] } }])
      .when({ type: 'ChangeRoles', roles: ['viewer', 'editor'] })
      .then([]));
  it('disable is idempotent', () =>
    given([created, { type: 'UserDisabled', data: { userId } }])
      .when({ type: 'Disable' })
      .then([]));
  it('enable only a disabled user', () => given([created]).when({ type: 'Enable' }).then([]));
  it('commands on a missing user → not found', () => given([]).when({ type: 'Disable' }).thenThrows('not_found'));
  it('disabling and password changes bump the credential epoch; enabling does not restore old tokens', () => {
    const s = [
      created,
      { type: 'UserDisabled', data: { userId } },
      { type: 'UserEnabled', data: { userId } },
      { type: 'UserPasswordChanged', data: { userId, passwordHash: 'h2' } },
    ].reduce<UserState | undefined>((st, e) => evolveUser(st, e as UserEvent), undefined);
    expect(s).toMatchObject({ disabled: false, passwordHash: 'h2', credentialEpoch: 2 });
  });
});

describe('identity helpers', () => {
  it('user ids derive from the normalised email', () => {
    expect(normalizeEmail('  A@X.Test ')).toBe('a@x.test');
    expect(userIdForEmail('acme', 'A@X.TEST')).toBe(userIdForEmail('acme', 'a@x.test'));
    expect(userIdForEmail('acme', 'a@x.test')).toMatch(/^u_[A-Za-z0-9_-]{22}$/);
    expect(userIdForEmail('globex', 'a@x.test')).not.toBe(userIdForEmail('acme', 'a@x.test'));
  });
  it('roles grant read ⊂ write ⊂ manage', () => {
    expect(rolesAllow(['viewer'], 'read')).toBe(true);
    expect(rolesAllow(['viewer'], 'write')).toBe(false);
    expect(rolesAllow(['editor'], 'write')).toBe(true);
    expect(rolesAllow(['editor'], 'manage')).toBe(false);
    expect(rolesAllow(['admin'], 'manage')).toBe(true);
    expect(rolesAllow([], 'read')).toBe(false);
  });
  it('password hashes never leave through redacted events', () => {
    expect(JSON.stringify(redactUserEvent(created))).not.toContain('h1');
  });
});
