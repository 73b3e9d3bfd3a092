import { describe, expect, it } from 'vitest';
import { decideAdmins, evolveAdmins, type AdminsEvent } from '../../shared/domain/admins';
import { decideUser, evolveUser, isEnabledAdmin, type UserEvent, type UserState } from '../../shared/domain/identity';

const A = 'u_aaaaaaaaaaaaaaaaaaaaaa';
const B = 'u_bbbbbbbbbbbbbbbbbbbbbb';

describe('tenant-admins decide/evolve: at least one enabled administrator', () => {
  it('removing one of two admins leaves the other', () =>
    expect(decideAdmins([A, B], { type: 'ChangeAdmin', userId: B, enabledAdminAfter: false })).toEqual([
      { type: 'TenantAdminsChanged', data: { userId: B, admins: [A] } },
    ]));
  it('removing the last admin is refused (422)', () =>
    expect(() => decideAdmins([A], { type: 'ChangeAdmin', userId: A, enabledAdminAfter: false })).toThrow(
      expect.objectContaining({ code: 'unprocessable' }),
    ));
  it('granting adds, sorted and once', () =>
    expect(decideAdmins([B], { type: 'ChangeAdmin', userId: A, enabledAdminAfter: true })).toEqual([
      { type: 'TenantAdminsChanged', data: { userId: A, admins: [A, B] } },
    ]));
  it('an unchanged list still yields one event (the append is the concurrency guard)', () =>
    expect(decideAdmins([A, B], { type: 'ChangeAdmin', userId: A, enabledAdminAfter: true })).toHaveLength(1));
  it('a removal of someone not (verified) in the list cannot empty it by accident', () =>
    expect(() => decideAdmins([], { type: 'ChangeAdmin', userId: B, enabledAdminAfter: false })).toThrow(
      expect.objectContaining({ code: 'unprocessable' }),
    ));
  it('evolve keeps the latest list', () => {
    const events: AdminsEvent[] = [
      { type: 'TenantAdminsChanged', data: { userId: A, admins: [A] } },
      { type: 'TenantAdminsChanged', data: { userId: B, admins: [A, B] } },
    ];
    expect(events.reduce(evolveAdmins, undefined as never)).toEqual({ admins: [A, B] });
  });
});

describe('user decider: an administrator cannot lock themselves out', () => {
  const admin: UserState = [
    { type: 'UserCreated', data: { userId: A, email: 'a@x.test', displayName: null, roles: ['admin'], passwordHash: 'h' } } as UserEvent,
  ].reduce<UserState | undefined>(evolveUser, undefined)!;
  it('disabling oneself → 422', () =>
    expect(() => decideUser(admin, { type: 'Disable' }, { actorUserId: A })).toThrow(expect.objectContaining({ code: 'unprocessable' })));
  it("dropping one's own admin role → 422", () =>
    expect(() => decideUser(admin, { type: 'ChangeRoles', roles: ['editor'] }, { actorUserId: A })).toThrow(
      expect.objectContaining({ code: 'unprocessable' }),
    ));
  it('another admin may do both', () => {
    expect(decideUser(admin, { type: 'Disable' }, { actorUserId: B })).toEqual([{ type: 'UserDisabled', data: { userId: A } }]);
    expect(decideUser(admin, { type: 'ChangeRoles', roles: ['editor'] }, { actorUserId: B })).toHaveLength(1);
  });
  it('isEnabledAdmin: admin role and not disabled', () => {
    expect(isEnabledAdmin(admin)).toBe(true);
    expect(isEnabledAdmin({ ...admin, disabled: true })).toBe(false);
    expect(isEnabledAdmin({ ...admin, roles: ['editor'] })).toBe(false);
    expect(isEnabledAdmin(undefined)).toBe(false);
  });
});
