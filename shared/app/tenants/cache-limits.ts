import type { Clock } from '../../ports/runtime';
import type { TenantStores } from '../../ports/tenant-stores';

export interface CacheLimits {
  /** Most tenants kept open (TENANT_CACHE_MAX). */
  max: number;
  /** A tenant unused for this long is closed (TENANT_CACHE_IDLE_SECONDS). */
  idleMs: number;
}

/**
 * The tenant cache's size limit: least recently used and idle tenants are evicted, so memory,
 * unwrapped keys and (through the cache's close hook) open databases follow the active tenants,
 * not all of them. A tenant with a lease (a request or a background run using it) is never
 * evicted: `TenantStores.evict` refuses it, and the next check evicts it once it is free. So
 * under more concurrent tenants than `max`, the cache holds more for as long as they run.
 *
 * `enforce` runs whenever the cache opens a tenant and on a timer (idle tenants).
 */
export class TenantCacheLimits {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly stores: TenantStores,
    private readonly clock: Clock,
    readonly limits: CacheLimits,
  ) {}

  /** Evicts idle tenants, then the least recently used beyond `max`; never `keep` or one with a lease. */
  enforce(keep?: string): string[] {
    const now = this.clock.now().getTime();
    const cached = this.stores.cached();
    const evicted = new Set<string>();
    for (const c of cached)
      if (c.tenantId !== keep && c.leases === 0 && now - c.lastUsedMs >= this.limits.idleMs && this.stores.evict(c.tenantId))
        evicted.add(c.tenantId);
    let over = cached.length - evicted.size - this.limits.max;
    if (over > 0) {
      const free = cached.filter((c) => c.tenantId !== keep && c.leases === 0 && !evicted.has(c.tenantId));
      free.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
      for (const c of free) {
        if (over <= 0) break;
        if (this.stores.evict(c.tenantId)) {
          evicted.add(c.tenantId);
          over--;
        }
      }
    }
    return [...evicted];
  }

  /** Checks for idle tenants every min(idle / 2, 30 s) (unref'd: never keeps the process alive). */
  start(): this {
    this.timer ??= setInterval(() => this.enforce(), Math.max(1000, Math.min(this.limits.idleMs / 2, 30_000)));
    this.timer.unref?.();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
