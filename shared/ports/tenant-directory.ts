import type { DeliveryPositionStore } from './delivery-positions';
import type { EventStore } from './event-store';
import type { ProjectionStore } from './projection-store';
import type { WrappedKey } from './key-provider';
import type { OperationOptions } from './options';

/**
 * creating → ready ⇄ suspended; ready/suspended → deleting (a scheduled deletion, cancellable
 * until its grace period ends; then shredded and gone). Only ready tenants are served.
 */
/** Every status a tenant can have, in its life's order. */
export const TENANT_STATUSES = ['creating', 'ready', 'suspended', 'deleting'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

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
/** Options of TenantDirectory.logFingerprint. */
export interface LogFingerprintOptions extends OperationOptions {
  /**
   * A fingerprint this directory returned earlier (e.g. a background work's mark). An adapter
   * that can tell commits from the other documents of a tenant's store returns that very
   * fingerprint when it is one of its recent ones and no commit has been written since, even
   * if other documents were (the projector's views, audit rows and checkpoint share the
   * Cosmos container with the log); otherwise, or when it cannot tell, the fingerprint now.
   * So "equal to the mark" keeps meaning "no new commit", and a run's own writes no longer
   * make the next look run the tenant again.
   */
  commitsSince?: string;
}

/** What TenantDirectory.changesSince answers: a new cursor, and the tenants to look at (or all of them). */
export type TenantChanges = { cursor: string; tenants: string[]; all?: undefined } | { cursor: string; all: true; tenants?: undefined };

/** Options of TenantDirectory.changesSince. */
export interface ChangesSinceOptions extends OperationOptions {
  /**
   * Leave out the tenants this directory object holds open now and has not closed since the
   * cursor: the caller hears of the appends made through it otherwise (ChangeSignal). Those
   * held by other processes or objects, and those closed since, are still listed.
   */
  exceptHeldHere?: boolean;
}

/** Options of TenantDirectory.listTenantIdPage. */
export interface TenantIdPageOptions extends OperationOptions {
  /** Ids after this one (exclusive); from the first when left out. */
  after?: string | undefined;
  /** At most this many ids; all that follow when left out. */
  limit?: number | undefined;
  /** Only tenants with this status (as the adapter's index last saw it: callers check the meta). */
  status?: TenantStatus | undefined;
}

export interface CreateTenantStoreOptions extends OperationOptions {
  /**
   * Writes the tenant's first commits into its new store. When given, `create` returns only
   * once the tenant is complete and its status is "ready": the embedded directory builds the
   * whole tenant in a temporary folder and renames it into place (the rename is the claim),
   * so a crash leaves either nothing or a complete tenant; Cosmos claims the id first, runs
   * this, then sets "ready" (a crash leaves a "creating" tenant that a later create reclaims).
   * If it throws, the store is removed and the error rethrown.
   */
  populate?: (events: EventStore) => Promise<void>;
}

/**
 * Every method takes a last options bag with `abortSignal` (see OperationOptions). A create
 * aborted before its claim leaves nothing behind; a shared open is not cancelled by one
 * caller's signal, that caller just stops waiting.
 */
export interface TenantDirectory {
  /**
   * Atomically claims `meta.id` and creates the tenant's store holding `meta` (status
   * "creating", or "ready" after `options.populate`). Throws AppError conflict if the id is
   * taken.
   */
  create(meta: TenantMeta, options?: CreateTenantStoreOptions): Promise<void>;
  getMeta(id: string, options?: OperationOptions): Promise<TenantMeta | undefined>;
  setStatus(id: string, status: TenantStatus, options?: OperationOptions): Promise<void>;
  /** The tenant's event store. Only for tenants whose meta exists. */
  openEventStore(id: string, options?: OperationOptions): Promise<EventStore>;
  /** The tenant's read projections (in the same store as its log). */
  openProjectionStore(id: string, options?: OperationOptions): Promise<ProjectionStore>;
  /** The tenant's webhook delivery positions (durable, leased; in the same store as its log). */
  openDeliveryPositions(id: string, options?: OperationOptions): Promise<DeliveryPositionStore>;
  /**
   * Ids of every tenant whose store exists, from the storage's own catalog (folders /
   * containers); there is no table of tenants. Used by the feed projector.
   */
  listTenantIds(options?: OperationOptions): Promise<string[]>;
  /**
   * Optional: tenant ids in id order from an index the adapter keeps on create, status change
   * and destroy, so a page costs O(page) however many tenants there are (embedded:
   * DATA_DIR/tenant-index.db). May name a tenant that is being created or was just removed:
   * callers read the meta of what they get. Adapters without an index leave it out; callers
   * then page over listTenantIds (tenantIdPage in shared/app/tenants/tenant-pages.ts).
   */
  listTenantIdPage?(options: TenantIdPageOptions): Promise<string[]>;
  /**
   * Optional: a fingerprint of the tenant's log, read without opening its store (embedded:
   * sizes and modification times of the database files, two `stat`s). It changes whenever a
   * commit is appended, also by another process; it may change without one (checkpoints,
   * projection writes), never the other way round. Undefined when the tenant has no store.
   * Adapters without such a check leave it out: their callers then do the work every time.
   * With `commitsSince`, see LogFingerprintOptions.
   */
  logFingerprint?(id: string, options?: LogFingerprintOptions): Promise<string | undefined>;
  /**
   * Optional (with logFingerprint): the marks of one kind of background work (`purpose`, e.g.
   * "projector"), tenant id → fingerprint, kept beside the stores and read without opening any
   * (shared/app/changes/log-marks.ts), by point: `ids` (undefined: every mark of the purpose).
   * `readMarks` answers a new object each time: the caller keeps and changes it.
   */
  readMarks?(purpose: string, ids?: readonly string[], options?: OperationOptions): Promise<Record<string, string>>;
  /** Sets (a string) or removes (null) marks of `purpose`: durable when it returns (journal-run.ts relies on it). */
  writeMarks?(purpose: string, changes: Record<string, string | null>, options?: OperationOptions): Promise<void>;
  /**
   * Optional: small documents of background work kept beside the marks (a run's place in the
   * change journal, a spread schedule), read and written whole; keys are tenant-id shaped.
   * Best effort: a lost save only costs a re-check. `loadMarks` answers a new object each time.
   */
  loadMarks?(purpose: string, options?: OperationOptions): Promise<Record<string, string>>;
  saveMarks?(purpose: string, marks: Record<string, string>, options?: OperationOptions): Promise<void>;
  /**
   * Optional (with logFingerprint): the tenants whose store may have been written since
   * `cursor` (a cursor this method returned before), by any process or instance sharing the
   * stores, from a journal the adapter keeps durably (embedded: change-journal.ts). It may
   * list more, never fewer. `all`: the cursor is unknown (none yet, or from a journal that was
   * replaced): look at every tenant once. Adapters without a journal leave it out: their
   * callers look at every tenant on a schedule.
   */
  changesSince?(cursor: string | undefined, options?: ChangesSinceOptions): Promise<TenantChanges>;
  /**
   * Optional: releases the tenant's open store now (file handles, memory; embedded: checkpoints
   * and truncates its WAL); the next open reopens it. Only for a tenant nobody is using: the
   * tenant cache calls it when the last lease of an evicted tenant ends.
   */
  closeTenant?(id: string, options?: OperationOptions): Promise<void>;
  /** Optional: the tenants whose store is open in this process now (embedded: database files held), in id order. */
  openTenantIds?(): string[];
  /** Removes the tenant's store entirely: to roll back a failed creation, and when an offboarded tenant is shredded. Idempotent. */
  destroy(id: string, options?: OperationOptions): Promise<void>;
  /** Releases connections and file handles. */
  close(options?: OperationOptions): Promise<void>;
}
