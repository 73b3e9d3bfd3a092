/** The tenant and restores deciders (shared/domain/tenant.ts), given/when/then: every rule, including the refusals. */
import { describe, expect, it } from 'vitest';
import { restoresDecider, type TenantEvent, tenantDecider } from '../../shared/domain/tenant';
import { DeciderSpecification } from '../support/decider-specification';

const given = DeciderSpecification.for(tenantDecider);
const created: TenantEvent = { type: 'TenantCreated', data: { id: 'acme', name: 'ACME', userIdSalt: 's1' } };
const suspended: TenantEvent = { type: 'TenantSuspended', data: { id: 'acme' } };

describe('tenant decider', () => {
  it('creates a tenant with its salt', () =>
    given([]).when({ type: 'CreateTenant', id: 'acme', name: 'ACME', userIdSalt: 's1' }).thenEmits([created]));
  it('a tenant is created once → 409', () =>
    given([created]).when({ type: 'CreateTenant', id: 'acme', name: 'Other', userIdSalt: 's2' }).thenThrows({ code: 'conflict' }));
  it('a malformed id → 400', () =>
    given([]).when({ type: 'CreateTenant', id: 'Acme--x', name: 'x', userIdSalt: 's' }).thenThrows({ code: 'validation' }));
  it("a restore drill's prefix is reserved → 400", () =>
    given([])
      .when({ type: 'CreateTenant', id: 'drill-acme', name: 'x', userIdSalt: 's' })
      .thenThrows({ code: 'validation', message: /reserved/ }));
  it('suspends a running tenant', () => given([created]).when({ type: 'SuspendTenant', id: 'acme' }).thenEmits([suspended]));
  it('suspending a suspended tenant changes nothing', () =>
    given([created, suspended]).when({ type: 'SuspendTenant', id: 'acme' }).thenNothing());
  it('resumes a suspended tenant', () =>
    given([created, suspended])
      .when({ type: 'ResumeTenant', id: 'acme' })
      .thenEmits([{ type: 'TenantResumed', data: { id: 'acme' } }]));
  it('resuming a running tenant changes nothing', () => given([created]).when({ type: 'ResumeTenant', id: 'acme' }).thenNothing());
  it('a tenant never created cannot be suspended or resumed → 404', () => {
    given([]).when({ type: 'SuspendTenant', id: 'acme' }).thenThrows({ code: 'not_found' });
    given([]).when({ type: 'ResumeTenant', id: 'acme' }).thenThrows({ code: 'not_found' });
  });
  it('evolve: the salt stays, suspension flips', () => {
    expect(given([created, suspended]).state()).toEqual({
      id: 'acme',
      name: 'ACME',
      userIdSalt: 's1',
      suspended: true,
    });
    expect(given([created, suspended, { type: 'TenantResumed', data: { id: 'acme' } }]).state()).toMatchObject({ suspended: false });
  });
});

describe('restores decider', () => {
  const details = { source: 'acme', tier: 'own', asOf: '2026-12-01T00:00:00.000Z', restoredUntil: '2026-11-30T23:59:00.000Z' };
  const givenRestores = DeciderSpecification.for(restoresDecider);
  it('every restore is recorded, with where it came from', () =>
    givenRestores([])
      .when({ type: 'RecordRestore', details })
      .thenEmits([{ type: 'TenantRestored', data: details }]));
  it('a tenant restored again records the next restore too', () => {
    const history = givenRestores([{ type: 'TenantRestored', data: details }]);
    history.when({ type: 'RecordRestore', details }).thenEmits([{ type: 'TenantRestored', data: details }]);
    expect(history.state()).toBe(1);
  });
});
