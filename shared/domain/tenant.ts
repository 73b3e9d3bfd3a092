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
  | NewEvent<'TenantResumed', { id: string }>;

export interface TenantState {
  id: string;
  name: string;
  /** Random per tenant (passed in: the domain generates nothing): user ids derive from it. */
  userIdSalt: string;
  suspended: boolean;
}

export type TenantCommand =
  | { type: 'CreateTenant'; id: string; name: string; userIdSalt: string }
  | { type: 'SuspendTenant'; id: string }
  | { type: 'ResumeTenant'; id: string };

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
      return state.suspended ? [] : [{ type: 'TenantSuspended', data: { id: cmd.id } }];
    case 'ResumeTenant':
      if (!state) throw notFound(`Tenant "${cmd.id}" does not exist.`);
      return state.suspended ? [{ type: 'TenantResumed', data: { id: cmd.id } }] : [];
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
      default:
        return assertNever(e, 'tenant event');
    }
  }
  return s;
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
