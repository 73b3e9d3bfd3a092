/** The user decider (shared/domain/identity.ts), given/when/then: every rule, including the refusals. */
import { describe, expect, it } from 'vitest';
import {
  type Role,
  SELF_LOCKOUT_MESSAGE,
  USER_EXISTS_MESSAGE,
  type UserCommand,
  type UserEvent,
  userDecider,
  userIdForEmail,
} from '../../shared/domain/identity';
import { DeciderSpecification } from '../support/decider-specification';

const given = DeciderSpecification.for(userDecider);
const userId = userIdForEmail('salt', 'a@x.test');
const ADMIN = 'u_adminadminadminadmin1';
const created = (roles: Role[] = ['viewer']): UserEvent => ({
  type: 'UserCreated',
  data: { userId, email: 'a@x.test', displayName: null, roles, passwordHash: 'h1' },
});
const disabled: UserEvent = { type: 'UserDisabled', data: { userId } };
const update = (patch: Omit<Extract<UserCommand, { type: 'UpdateUser' }>, 'type' | 'actorUserId'>, actorUserId = ADMIN): UserCommand => ({
  type: 'UpdateUser',
  actorUserId,
  ...patch,
});
const create: UserCommand = {
  type: 'CreateUser',
  userId,
  email: 'a@x.test',
  displayName: 'A',
  roles: ['viewer', 'admin'],
  passwordHash: 'h1',
};

describe('user decider: create', () => {
  it('creates a user, roles in canonical order', () =>
    given([])
      .when(create)
      .thenEmits([
        { type: 'UserCreated', data: { userId, email: 'a@x.test', displayName: 'A', roles: ['admin', 'viewer'], passwordHash: 'h1' } },
      ]));
  it('an email is one user: creating it again → 409', () =>
    given([created()]).when(create).thenThrows({ code: 'conflict', message: USER_EXISTS_MESSAGE }));
});

describe('user decider: update (one PATCH)', () => {
  it('a user that does not exist → 404', () =>
    given([])
      .when(update({ disabled: true }))
      .thenThrows({ code: 'not_found' }));
  it('If-Match at another version → 412 naming the current one', () =>
    given([created(), disabled])
      .when(update({ expectedVersion: 1, disabled: false }))
      .thenThrows({ code: 'precondition_failed', message: /version 2/ }));
  it('If-Match at the current version is accepted', () =>
    given([created(), disabled])
      .when(update({ expectedVersion: 2, disabled: false }))
      .thenEmits([{ type: 'UserEnabled', data: { userId } }]));
  it('a stale If-Match is refused even when the patch changes nothing', () =>
    given([created()])
      .when(update({ expectedVersion: 7 }))
      .thenThrows({ code: 'precondition_failed' }));

  it('roles: records old and new, new in canonical order', () =>
    given([created()])
      .when(update({ roles: ['viewer', 'editor'] }))
      .thenEmits([{ type: 'UserRolesChanged', data: { userId, old: ['viewer'], new: ['editor', 'viewer'] } }]));
  it('roles: the same set in another order changes nothing', () =>
    given([created(['editor', 'viewer'])])
      .when(update({ roles: ['viewer', 'editor'] }))
      .thenNothing());
  it('roles: an administrator cannot drop their own admin role → 422', () =>
    given([created(['admin'])])
      .when(update({ roles: ['editor'] }, userId))
      .thenThrows({ code: 'unprocessable', message: SELF_LOCKOUT_MESSAGE }));
  it('roles: an administrator may change their other roles', () =>
    given([created(['admin'])])
      .when(update({ roles: ['admin', 'viewer'] }, userId))
      .thenEmits([{ type: 'UserRolesChanged', data: { userId, old: ['admin'], new: ['admin', 'viewer'] } }]));
  it("roles: another administrator may remove someone's admin role", () =>
    given([created(['admin'])])
      .when(update({ roles: ['editor'] }))
      .thenEmits([{ type: 'UserRolesChanged', data: { userId, old: ['admin'], new: ['editor'] } }]));

  it('disable: another user', () =>
    given([created()])
      .when(update({ disabled: true }))
      .thenEmits([disabled]));
  it('disable: a disabled user stays as is', () =>
    given([created(), disabled])
      .when(update({ disabled: true }))
      .thenNothing());
  it('disable: nobody disables themselves → 422', () =>
    given([created(['admin'])])
      .when(update({ disabled: true }, userId))
      .thenThrows({ code: 'unprocessable', message: SELF_LOCKOUT_MESSAGE }));
  it('enable: a disabled user', () =>
    given([created(), disabled])
      .when(update({ disabled: false }))
      .thenEmits([{ type: 'UserEnabled', data: { userId } }]));
  it('enable: an enabled user stays as is', () =>
    given([created()])
      .when(update({ disabled: false }))
      .thenNothing());

  it('password: a new hash is always a change (it ends older sessions)', () =>
    given([created()])
      .when(update({ passwordHash: 'h1' }, userId))
      .thenEmits([{ type: 'UserPasswordChanged', data: { userId, passwordHash: 'h1' } }]));
  it('all parts at once: roles, then disable, then password, in one decision', () =>
    given([created()])
      .when(update({ roles: ['editor'], disabled: true, passwordHash: 'h2', expectedVersion: 1 }))
      .thenEmits([
        { type: 'UserRolesChanged', data: { userId, old: ['viewer'], new: ['editor'] } },
        disabled,
        { type: 'UserPasswordChanged', data: { userId, passwordHash: 'h2' } },
      ]));
  it('one refused part refuses the whole patch', () =>
    given([created(['admin'])])
      .when(update({ roles: ['admin', 'editor'], disabled: true }, userId))
      .thenThrows({ code: 'unprocessable' }));
  it('an empty patch changes nothing', () => given([created()]).when(update({})).thenNothing());
});

describe('user evolve', () => {
  it('tracks the stream version, and the credential epoch (disable and password bump it; enable does not restore old tokens)', () => {
    const s = given([
      created(),
      disabled,
      { type: 'UserEnabled', data: { userId } },
      { type: 'UserPasswordChanged', data: { userId, passwordHash: 'h2' } },
    ]).state();
    expect(s).toMatchObject({ userId, disabled: false, passwordHash: 'h2', credentialEpoch: 2, version: 4 });
  });
  it('a commit with several events moves the version once', () =>
    expect(
      given([
        { events: [created()] },
        { events: [{ type: 'UserRolesChanged', data: { userId, old: ['viewer'], new: ['editor'] } }, disabled] },
      ]).state(),
    ).toMatchObject({ roles: ['editor'], disabled: true, version: 2 }));
});
