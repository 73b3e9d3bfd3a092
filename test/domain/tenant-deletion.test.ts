/** The tenant decider's deletion rules (offboarding), given/when/then. */
import { describe, expect, it } from 'vitest';
import { type TenantEvent, tenantDecider } from '../../shared/domain/tenant';
import { DeciderSpecification } from '../support/decider-specification';

const given = DeciderSpecification.for(tenantDecider);
const created: TenantEvent = { type: 'TenantCreated', data: { id: 'acme', name: 'ACME', userIdSalt: 's1' } };
const suspended: TenantEvent = { type: 'TenantSuspended', data: { id: 'acme' } };
const PURGE = '2026-12-20T10:00:00.000Z';
const scheduled: TenantEvent = { type: 'TenantDeletionScheduled', data: { id: 'acme', deletionId: 'del-00000001', purgeAfter: PURGE } };
const cancelled: TenantEvent = { type: 'TenantDeletionCancelled', data: { id: 'acme', deletionId: 'del-00000001' } };
const shredding: TenantEvent = { type: 'TenantShreddingStarted', data: { id: 'acme', deletionId: 'del-00000001' } };
const schedule = { type: 'ScheduleDeletion', id: 'acme', deletionId: 'del-00000001', purgeAfter: PURGE } as const;

describe('tenant decider: deletion', () => {
  it('schedules the deletion of a running tenant', () => given([created]).when(schedule).thenEmits([scheduled]));
  it('schedules the deletion of a suspended tenant', () => given([created, suspended]).when(schedule).thenEmits([scheduled]));
  it('scheduling again changes nothing: the first schedule and its grace period stand', () =>
    given([created, scheduled])
      .when({ type: 'ScheduleDeletion', id: 'acme', deletionId: 'del-00000002', purgeAfter: '2027-01-01T00:00:00.000Z' })
      .thenNothing());
  it('a tenant never created cannot be scheduled → 404', () => given([]).when(schedule).thenThrows({ code: 'not_found' }));
  it('cancels a scheduled deletion', () => given([created, scheduled]).when({ type: 'CancelDeletion', id: 'acme' }).thenEmits([cancelled]));
  it('cancelling what is not scheduled → 409', () =>
    given([created])
      .when({ type: 'CancelDeletion', id: 'acme' })
      .thenThrows({ code: 'conflict', message: /not scheduled/ }));
  it('cancelling once shredding has started → 409', () =>
    given([created, scheduled, shredding])
      .when({ type: 'CancelDeletion', id: 'acme' })
      .thenThrows({ code: 'conflict', message: /can no longer be cancelled/ }));
  it('schedule, cancel, schedule again: a new deletion', () =>
    given([created, scheduled, cancelled])
      .when({ type: 'ScheduleDeletion', id: 'acme', deletionId: 'del-00000002', purgeAfter: PURGE })
      .thenEmits([{ type: 'TenantDeletionScheduled', data: { id: 'acme', deletionId: 'del-00000002', purgeAfter: PURGE } }]));
  it('shredding starts only once the grace period has ended → 409 before', () => {
    given([created, scheduled])
      .when({ type: 'StartShredding', id: 'acme', now: '2026-12-20T09:59:59.999Z' })
      .thenThrows({ code: 'conflict', message: /grace period .* runs until 2026-12-20T10:00:00.000Z/ });
    given([created, scheduled]).when({ type: 'StartShredding', id: 'acme', now: PURGE }).thenEmits([shredding]);
  });
  it('shredding starts once; what is not scheduled is not shredded', () => {
    given([created, scheduled, shredding]).when({ type: 'StartShredding', id: 'acme', now: PURGE }).thenNothing();
    given([created, scheduled, cancelled])
      .when({ type: 'StartShredding', id: 'acme', now: PURGE })
      .thenThrows({ code: 'conflict', message: /not scheduled/ });
  });
  it('suspend and resume are refused while a deletion is scheduled → 409', () => {
    given([created, scheduled])
      .when({ type: 'SuspendTenant', id: 'acme' })
      .thenThrows({ code: 'conflict', message: /cancel the deletion/ });
    given([created, suspended, scheduled])
      .when({ type: 'ResumeTenant', id: 'acme' })
      .thenThrows({ code: 'conflict', message: /cancel the deletion/ });
  });
  it('evolve: the schedule is kept, the suspension it came from too, and a cancel removes it', () => {
    expect(given([created, suspended, scheduled]).state()).toMatchObject({
      suspended: true,
      deletion: { deletionId: 'del-00000001', purgeAfter: PURGE, shredding: false },
    });
    expect(given([created, scheduled, shredding]).state()?.deletion?.shredding).toBe(true);
    expect(given([created, suspended, scheduled, cancelled]).state()).toEqual({
      id: 'acme',
      name: 'ACME',
      userIdSalt: 's1',
      suspended: true,
    });
  });
});
