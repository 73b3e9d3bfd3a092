/**
 * The stores most use cases need (log, projections, continuation tokens), held under a lease
 * of TenantStores for as long as `work` runs: no eviction or `forget` closes them or zeroes the
 * tenant's keys meanwhile (shared/ports/tenant-stores.ts). The tenant must be served (ready):
 * otherwise TenantStores refuses with not found / unavailable before `work` starts.
 */
import type { EventStore } from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import type { ProjectionStore } from '../../ports/projection-store';
import type { ContinuationSealer, OneTenantStores, TenantStores } from '../../ports/tenant-stores';

export interface LeasedStores {
  events: EventStore;
  projections: ProjectionStore;
  continuations: ContinuationSealer;
  /** Everything the lease hands out (keys, blobs, meta), for the few that need more. */
  tenant: OneTenantStores;
}

export function withStores<T>(
  stores: TenantStores,
  tenantId: string,
  work: (s: LeasedStores) => Promise<T>,
  options: OperationOptions = {},
): Promise<T> {
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  return stores.use(
    tenantId,
    async (tenant) =>
      work({ events: tenant.events, projections: await tenant.projections(signal), continuations: tenant.continuations, tenant }),
    signal,
  );
}
