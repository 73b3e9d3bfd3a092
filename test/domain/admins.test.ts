/** The tenant-admins decider (shared/domain/admins.ts), given/when/then: a tenant keeps at least one enabled administrator. */
import { describe, expect, it } from 'vitest';
import { type AdminsEvent, adminsDecider, LAST_ADMIN_MESSAGE } from '../../shared/domain/admins';
import { isEnabledAdmin, type UserState } from '../../shared/domain/identity';
import { DeciderSpecification } from '../support/decider-specification';

const A = 'u_aaaaaaaaaaaaaaaaaaaaaa';
const B = 'u_bbbbbbbbbbbbbbbbbbbbbb';
const given = DeciderSpecification.for(adminsDecider);
const list = (userId: string, admins: string[]): AdminsEvent => ({ type: 'TenantAdminsChanged', data: { userId, admins } });

describe('tenant-admins decider: at least one enabled administrator', () => {
  it('removing one of two admins leaves the other', () =>
    given([list(B, [A, B])])
      .when({ type: 'ChangeAdmin', userId: B, enabledAdminAfter: false, verified: [A, B] })
      .thenEmits([list(B, [A])]));
  it('removing the last admin is refused (422)', () =>
    given([list(A, [A])])
      .when({ type: 'ChangeAdmin', userId: A, enabledAdminAfter: false, verified: [A] })
      .thenThrows({ code: 'unprocessable', message: LAST_ADMIN_MESSAGE }));
  it('granting adds, sorted and once', () =>
    given([list(B, [B])])
      .when({ type: 'ChangeAdmin', userId: A, enabledAdminAfter: true, verified: [B] })
      .thenEmits([list(A, [A, B])]));
  it('the first admin of a new tenant', () =>
    given([])
      .when({ type: 'ChangeAdmin', userId: A, enabledAdminAfter: true, verified: [] })
      .thenEmits([list(A, [A])]));
  it('an unchanged list still yields one event (the append is the concurrency guard)', () =>
    given([list(A, [A, B])])
      .when({ type: 'ChangeAdmin', userId: A, enabledAdminAfter: true, verified: [A, B] })
      .thenEmits([list(A, [A, B])]));
  it('decides on the verified list, not the stored one: a listed admin who is not one any more does not count', () =>
    given([list(B, [A, B])])
      .when({ type: 'ChangeAdmin', userId: A, enabledAdminAfter: false, verified: [A] })
      .thenThrows({ code: 'unprocessable' }));
  it('a removal of someone not (verified) in the list cannot empty it by accident', () =>
    given([]).when({ type: 'ChangeAdmin', userId: B, enabledAdminAfter: false, verified: [] }).thenThrows({ code: 'unprocessable' }));
  it('evolve keeps the latest list', () => expect(given([list(A, [A]), list(B, [A, B])]).state()).toEqual({ admins: [A, B] }));
});

describe('isEnabledAdmin', () => {
  const admin: UserState = {
    userId: A,
    email: 'a@x.test',
    displayName: null,
    roles: ['admin'],
    disabled: false,
    passwordHash: 'h',
    credentialEpoch: 0,
    version: 1,
  };
  it('admin role and not disabled', () => {
    expect(isEnabledAdmin(admin)).toBe(true);
    expect(isEnabledAdmin({ ...admin, disabled: true })).toBe(false);
    expect(isEnabledAdmin({ ...admin, roles: ['editor'] })).toBe(false);
    expect(isEnabledAdmin(undefined)).toBe(false);
  });
});
