import type { BlobStore } from './blob-store';
import type { EventStore } from './event-store';
import type { OperationOptions } from './options';
import type { ProjectionStore } from './projection-store';
import type { TenantMeta } from './tenant-directory';

/** What a continuation token continues (shared/app/continuation.ts seals them). */
export type ContinuationKind = 'records' | 'records-as-of' | 'history' | 'audit' | 'changes' | 'users';

/** Seals and opens one tenant's continuation tokens (key derived from its signing secret). */
export interface ContinuationSealer {
  seal(kind: ContinuationKind, query: unknown, position: string): Promise<string>;
  open(kind: ContinuationKind, query: unknown, token: string): Promise<string>;
}

/**
 * The stores of one ready tenant, valid while the lease that handed them out is held. Do not
 * keep any of them (or the signing secret) past the end of the lease: once the last lease of
 * an entry that was forgotten or evicted ends, its secrets are zeroed and its stores may be
 * closed.
 */
export interface OneTenantStores {
  readonly tenantId: string;
  /** The tenant's meta as read when the entry was opened (status "ready"). */
  readonly meta: TenantMeta;
  /** Name of the tenant's key-encryption key in the KeyProvider. */
  readonly keyName: string;
  /** The tenant's log. */
  readonly events: EventStore;
  /** The tenant's read projections (opened on first use, in the same store as its log). */
  projections(options?: OperationOptions): Promise<ProjectionStore>;
  /** The tenant's own blob container (files). */
  blobs(options?: OperationOptions): Promise<BlobStore>;
  /** The tenant's continuation-token sealer. */
  readonly continuations: ContinuationSealer;
  /** The tenant's token-signing secret, unwrapped (zeroed when the entry closes). */
  readonly signingKey: Uint8Array;
  /** Random per tenant, recorded in its TenantCreated event: user ids derive from it. */
  readonly userIdSalt: string;
}

/** A held lease: the stores stay open until `release()` (call it exactly once, in a `finally`). */
export interface TenantLease {
  readonly stores: OneTenantStores;
  release(): void;
}

export interface UseTenantOptions extends OperationOptions {
  /**
   * Background work visiting the tenant (a check, a sweep): when the tenant was not open before
   * this lease and nobody else leased it meanwhile, it is closed as soon as the lease ends
   * (its secrets zeroed, its database closed), so a pass over every tenant leaves no idle
   * tenant holding memory or file handles. Tenants that requests opened stay cached.
   */
  transient?: boolean;
}

/** One cached tenant, as an eviction policy sees it. */
export interface CachedTenantInfo {
  tenantId: string;
  /** Leases held right now (an entry with leases is never closed). */
  leases: number;
  /** Clock time (ms) the entry was last leased or released. */
  lastUsedMs: number;
}

/**
 * The tenants this instance serves, each behind the ready-check: a tenant that does not
 * exist, is still being created or is suspended is "not found"; one whose key or store
 * cannot be used is "unavailable" (503, degraded). Opened tenants are cached; suspension
 * reaches every instance within the cache's status TTL.
 *
 * Use it as a lease: `use(tenant, async (stores) => …)` (or `acquire` … `release`). While a
 * lease is held, nothing (not `forget`, not `evict`, not an eviction policy) closes that
 * tenant's stores or zeroes its secrets; they are closed when the last lease ends.
 */
export interface TenantStores {
  /** Runs `work` with the tenant's stores; the lease ends when `work` settles. */
  use<T>(tenantId: string, work: (stores: OneTenantStores) => Promise<T> | T, options?: UseTenantOptions): Promise<T>;
  /** Takes a lease by hand (for work that spans callbacks); `release()` it in a `finally`. */
  acquire(tenantId: string, options?: UseTenantOptions): Promise<TenantLease>;
  /**
   * Drops what this instance caches about the tenant (after it was suspended, removed or
   * restored): the next `use` reads it afresh. Running leases finish on the old entry, which
   * is closed when the last of them ends.
   */
  forget(tenantId: string): void;
  /** Like `forget`, but only when no lease is held; false (and nothing done) otherwise. */
  evict(tenantId: string): boolean;
  /** The cached tenants (for an eviction policy). */
  cached(): CachedTenantInfo[];
  /** Closes every entry (leases or not: shutdown) and the directory. */
  close(): Promise<void>;
}
