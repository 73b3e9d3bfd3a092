import type { CommitOf, Decider } from './decider';
import { conflict, notFound, validation } from './errors';
import { assertNever, type NewEvent } from './events';

/**
 * `^[a-z0-9][a-z0-9-]{2,39}$`, and additionally no "--" and no trailing "-": the id becomes
 * an Azure Blob container name (`t-<id>`), which forbids both.
 */
export const TENANT_ID_PATTERN = /^(?!.*--)[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;

export function assertTenantId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !TENANT_ID_PATTERN.test(id)) {
    throw validation(
      'Tenant ids are 3-40 characters: lowercase letters, digits and single dashes, starting and ending with a letter or digit.',
      [{ path: '/id', message: `must match ${TENANT_ID_PATTERN.source}` }],
    );
  }
}

/** Scratch tenants of restore drills are named `drill-…`; nobody else may use the prefix. */
export const DRILL_PREFIX = 'drill-';

/** A tenant id an operator may create: well-formed, and not a restore drill's. */
export function assertNotReserved(id: string): void {
  if (id.startsWith(DRILL_PREFIX))
    throw validation(`Tenant ids starting with "${DRILL_PREFIX}" are reserved for restore drills.`, [
      { path: '/id', message: 'is reserved' },
    ]);
}

/** The tenant's own lifecycle stream (TenantCreated first: user ids derive from its salt). */
export const TENANT_STREAM = 'tenant';
/** Restores that built this tenant, audited in its own log. */
export const RESTORES_STREAM = 'restores';

export type TenantEvent =
  | NewEvent<'TenantCreated', { id: string; name: string; userIdSalt: string }>
  | NewEvent<'TenantSuspended', { id: string }>
  | NewEvent<'TenantResumed', { id: string }>
  | NewEvent<'TenantDeletionScheduled', { id: string; deletionId: string; purgeAfter: string }>
  | NewEvent<'TenantDeletionCancelled', { id: string; deletionId: string }>
  | NewEvent<'TenantShreddingStarted', { id: string; deletionId: string }>;

/** A scheduled deletion (offboarding): restorable until `purgeAfter`, then shredded. */
export interface TenantDeletion {
  deletionId: string;
  /** ISO instant the grace period ends; the shred timer starts at or after it. */
  purgeAfter: string;
  /** Shredding has started: the deletion can no longer be cancelled. */
  shredding: boolean;
}

export interface TenantState {
  id: string;
  name: string;
  /** Random per tenant (passed in: the domain generates nothing): user ids derive from it. */
  userIdSalt: string;
  suspended: boolean;
  /** Present while a deletion is scheduled (or shredding). */
  deletion?: TenantDeletion;
}

export type TenantCommand =
  | { type: 'CreateTenant'; id: string; name: string; userIdSalt: string }
  | { type: 'SuspendTenant'; id: string }
  | { type: 'ResumeTenant'; id: string }
  /** `deletionId` and `purgeAfter` (now + grace period) are passed in: the domain reads no clock. */
  | { type: 'ScheduleDeletion'; id: string; deletionId: string; purgeAfter: string }
  | { type: 'CancelDeletion'; id: string }
  /** `now`: the instant the shred timer runs (passed in). */
  | { type: 'StartShredding'; id: string; now: string };

/**
 * Every rule about a tenant's lifecycle as its log records it: a tenant is created once, with
 * a well-formed id that is not a restore drill's; suspending a suspended tenant or resuming a
 * running one changes nothing; a tenant that was never created cannot be suspended or resumed.
 * (Whether it is served is its directory status, which the application sets after the append.)
 */
export function decideTenant(cmd: TenantCommand, state: TenantState | undefined): TenantEvent[] {
  switch (cmd.type) {
    case 'CreateTenant':
      assertTenantId(cmd.id);
      assertNotReserved(cmd.id);
      if (state) throw conflict(`Tenant "${cmd.id}" already exists.`);
      return [{ type: 'TenantCreated', data: { id: cmd.id, name: cmd.name, userIdSalt: cmd.userIdSalt } }];
    case 'SuspendTenant':
      if (!state) throw notFound(`Tenant "${cmd.id}" does not exist.`);
      if (state.deletion) throw conflict(scheduledMessage(cmd.id, state.deletion));
      return state.suspended ? [] : [{ type: 'TenantSuspended', data: { id: cmd.id } }];
    case 'ResumeTenant':
      if (!state) throw notFound(`Tenant "${cmd.id}" does not exist.`);
      if (state.deletion) throw conflict(scheduledMessage(cmd.id, state.deletion));
      return state.suspended ? [{ type: 'TenantResumed', data: { id: cmd.id } }] : [];
    case 'ScheduleDeletion':
      if (!state) throw notFound(`Tenant "${cmd.id}" does not exist.`);
      // Scheduling again changes nothing: the first schedule (and its grace period) stands.
      if (state.deletion) return [];
      return [{ type: 'TenantDeletionScheduled', data: { id: cmd.id, deletionId: cmd.deletionId, purgeAfter: cmd.purgeAfter } }];
    case 'CancelDeletion':
      if (!state) throw notFound(`Tenant "${cmd.id}" does not exist.`);
      if (!state.deletion) throw conflict(`Tenant "${cmd.id}" is not scheduled for deletion.`);
      if (state.deletion.shredding)
        throw conflict(`Tenant "${cmd.id}" is being shredded (its grace period ended); the deletion can no longer be cancelled.`);
      return [{ type: 'TenantDeletionCancelled', data: { id: cmd.id, deletionId: state.deletion.deletionId } }];
    case 'StartShredding':
      if (!state) throw notFound(`Tenant "${cmd.id}" does not exist.`);
      if (!state.deletion) throw conflict(`Tenant "${cmd.id}" is not scheduled for deletion.`);
      if (state.deletion.shredding) return [];
      if (Date.parse(cmd.now) < Date.parse(state.deletion.purgeAfter))
        throw conflict(`The grace period of tenant "${cmd.id}" runs until ${state.deletion.purgeAfter}.`);
      return [{ type: 'TenantShreddingStarted', data: { id: cmd.id, deletionId: state.deletion.deletionId } }];
    default:
      return assertNever(cmd, 'tenant command');
  }
}

export function evolveTenant(state: TenantState | undefined, commit: CommitOf<TenantEvent>): TenantState | undefined {
  let s = state;
  for (const e of commit.events) {
    switch (e.type) {
      case 'TenantCreated':
        s = { id: e.data.id, name: e.data.name, userIdSalt: e.data.userIdSalt, suspended: false };
        break;
      case 'TenantSuspended':
        if (s) s = { ...s, suspended: true };
        break;
      case 'TenantResumed':
        if (s) s = { ...s, suspended: false };
        break;
      case 'TenantDeletionScheduled':
        if (s) s = { ...s, deletion: { deletionId: e.data.deletionId, purgeAfter: e.data.purgeAfter, shredding: false } };
        break;
      case 'TenantDeletionCancelled':
        if (s) {
          const { deletion: _cancelled, ...rest } = s;
          s = rest;
        }
        break;
      case 'TenantShreddingStarted':
        if (s?.deletion) s = { ...s, deletion: { ...s.deletion, shredding: true } };
        break;
      default:
        return assertNever(e, 'tenant event');
    }
  }
  return s;
}

function scheduledMessage(id: string, d: TenantDeletion): string {
  return `Tenant "${id}" is scheduled for deletion (purged after ${d.purgeAfter}); cancel the deletion first.`;
}

/** The tenant aggregate (stream `tenant`), run by handleCommand. */
export const tenantDecider: Decider<TenantCommand, TenantEvent, TenantState | undefined> = {
  decide: decideTenant,
  evolve: evolveTenant,
  initialState: () => undefined,
};

/** Where a restored tenant came from (its `restores` stream). */
export interface RestoreDetails {
  source: string;
  tier: string;
  asOf: string;
  restoredUntil?: string;
}
export type RestoresEvent = NewEvent<'TenantRestored', RestoreDetails>;
export type RestoresCommand = { type: 'RecordRestore'; details: RestoreDetails };

/** The restores log: every restore into this tenant is recorded, none is refused. State: how many. */
export const restoresDecider: Decider<RestoresCommand, RestoresEvent, number> = {
  decide: (cmd) => {
    switch (cmd.type) {
      case 'RecordRestore':
        return [{ type: 'TenantRestored', data: cmd.details }];
      default:
        return assertNever(cmd.type, 'restores command');
    }
  },
  evolve: (n, commit) => n + commit.events.length,
  initialState: () => 0,
};
