import { isAppError } from '../../domain/errors';
import { TENANT_STREAM } from '../../domain/tenant';
import type { KeyProvider } from '../../ports/key-provider';
import type { TenantStores } from '../../ports/tenant-stores';
import { type DegradedReason, degradedDetail, storageFaultOf, type TenantFault, type TenantHealth } from '../tenant-health';
import type { TenantSummary } from './lifecycle';
import { storeStep } from './tenant-cache';

/** A tenant as operators see it: status only, never data. */
export interface TenantStatusView extends TenantSummary {
  /** Present when the tenant cannot be served right now. */
  degraded?: { reason: DegradedReason; detail: string; since: string };
}

export interface TenantStatusDeps {
  keys: KeyProvider;
  stores: TenantStores;
  health: TenantHealth;
  /** The tenant's status from the directory (not_found for unknown ids). */
  getTenantStatus(id: string): Promise<TenantSummary>;
}

/**
 * The operator's view of one tenant: its status, and "degraded" with the reason when it
 * cannot be served (checked now: key, store, plus faults this instance saw recently).
 */
export async function describeTenant(d: TenantStatusDeps, id: string): Promise<TenantStatusView> {
  const base = await d.getTenantStatus(id);
  if (base.status !== 'ready') return base;
  let fault: TenantFault | undefined;
  try {
    await d.stores.use(id, async (ctx) => {
      // Fresh checks, even when the tenant is cached: the key still unwraps, the log reads.
      const probe = await d.keys.unwrapKey(ctx.meta.keyName, ctx.meta.signingKey).catch((e: unknown) => {
        throw d.health.note(id, 'key_unavailable', e);
      });
      probe.fill(0);
      await storeStep(d.health, id, () => ctx.events.readStream(TENANT_STREAM, { maxCount: 1 }));
    });
    // Key and log work again: only a recent "disk full" (which a read cannot disprove) stays.
    fault = d.health.recent(id);
    if (fault && fault.reason !== 'disk_full') {
      d.health.clear(id);
      fault = undefined;
    }
  } catch (e) {
    if (!(isAppError(e) && e.code === 'unavailable')) throw e;
    fault = d.health.recent(id);
  }
  if (!fault) return base;
  return { ...base, status: 'degraded', degraded: { reason: fault.reason, detail: degradedDetail(fault.reason), since: fault.since } };
}

/**
 * What the HTTP edge answers for an error thrown while serving `tenantId`: a storage fault
 * of that tenant (e.g. its disk filled up during an append) becomes 503 with a clear detail
 * and is remembered for the operator's status; anything else is unchanged.
 */
export function asTenantFault(health: TenantHealth, tenantId: string | undefined, e: unknown): unknown {
  const reason = storageFaultOf(e);
  if (!reason || !tenantId) return e;
  return health.note(tenantId, reason, e);
}
