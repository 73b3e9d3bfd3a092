import type { EventStore } from './event-store';
import type { ProjectionStore } from './projection-store';
import type { WrappedKey } from './key-provider';

/** creating → ready ⇄ suspended. Only ready tenants are served. */
export type TenantStatus = 'creating' | 'ready' | 'suspended';

/** What the service keeps about a tenant, stored inside that tenant's own store. */
export interface TenantMeta {
  id: string;
  name: string;
  status: TenantStatus;
  createdAt: string;
  /** Name of the tenant's KEK in the KeyProvider. */
  keyName: string;
  /** The tenant's token-signing secret, wrapped by its KEK. */
  signingKey: WrappedKey;
  /** Set on a tenant built by a restore: where it came from (a leftover while still "creating"). */
  restoring?: { source: string; tier: string; asOf: string };
}

/**
 * Resolves a tenant id to its own store. It is the only place that knows where a tenant
 * lives (which Cosmos account/database, which file), so spreading tenants over several
 * Cosmos accounts (500 containers per account is a hard limit) changes only this port's
 * adapter. There is no table listing tenants: each tenant's meta lives in its own store.
 */
export interface TenantDirectory {
  /**
   * Atomically claims `meta.id` and creates the tenant's empty store holding `meta`
   * (status "creating"). Throws AppError conflict if the id is taken.
   */
  create(meta: TenantMeta): Promise<void>;
  getMeta(id: string): Promise<TenantMeta | undefined>;
  setStatus(id: string, status: TenantStatus): Promise<void>;
  /** The tenant's event store. Only for tenants whose meta exists. */
  openEventStore(id: string): Promise<EventStore>;
  /** The tenant's read projections (in the same store as its log). */
  openProjectionStore(id: string): Promise<ProjectionStore>;
  /**
   * Ids of every tenant whose store exists, from the storage's own catalog (folders /
   * containers); there is no table of tenants. Used by the feed projector.
   */
  listTenantIds(): Promise<string[]>;
  /** Removes the tenant's store entirely. Only to roll back a failed creation. */
  destroy(id: string): Promise<void>;
  /** Releases connections and file handles. */
  close(): Promise<void>;
}
