/** What the revert use cases depend on, and the checks they share. */
import { validation } from '../../domain/errors';
import type { Clock } from '../../ports/runtime';
import type { TenantStores } from '../../ports/tenant-stores';
import type { RecordsContext } from '../records';

export interface RevertDeps {
  /** The tenants' stores, leased for the length of a revert. */
  stores: TenantStores;
  /** The record use cases' shared context: the tenants' types (cached) and the schema sandbox. */
  records: Pick<RecordsContext, 'types' | 'schemas' | 'log' | 'personal'>;
  clock: Clock;
}

/** A revert goes back in time only: the state at a future instant is not known yet. */
export function assertPast(asOf: Date, clock: Clock): void {
  if (Number.isNaN(asOf.getTime()))
    throw validation('asOf must be a valid instant.', [{ path: '/asOf', message: 'is not a valid date-time' }]);
  if (asOf.getTime() > clock.now().getTime())
    throw validation('asOf lies in the future; a revert goes back to an instant that has passed.', [
      { path: '/asOf', message: 'must not be in the future' },
    ]);
}
