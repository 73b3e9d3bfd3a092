import type { Author } from '../domain/events';
import type { OperationOptions } from './options';

export type JsonPrimitive = string | number | boolean | null;

/** The read model of one record, as the list view holds it. */
export interface RecordView {
  type: string;
  id: string;
  version: number;
  /** null once deleted. */
  data: Record<string, unknown> | null;
  deleted: boolean;
  createdAt: string;
  createdBy: Author;
  updatedAt: string;
  updatedBy: Author;
}

export interface ListQuery {
  type: string;
  /** Equality on a field (path of property names), value compared as JSON. */
  filters: Array<{ path: string[]; value: JsonPrimitive }>;
  sort?: { path: string[]; descending: boolean };
  limit: number;
  continuation?: string;
}

export interface Page<T> {
  items: T[];
  /** Present when more items follow. */
  continuation?: string;
}

/** One change in the tenant-wide audit log (one per event). */
export interface AuditEntry {
  streamId: string;
  version: number;
  index: number;
  timestamp: string;
  eventType: string;
  author: Author;
  correlationId: string;
  /** Record type and id for record events; the entity type for type events. */
  recordType?: string;
  recordId?: string;
  changes: Array<{ path: string; old?: unknown; new?: unknown }>;
}

export interface AuditQuery {
  from?: Date;
  to?: Date;
  /** A user id or email. */
  author?: string;
  /** Record type. */
  type?: string;
  /**
   * Only entries about records and entity types (those with a recordType): what
   * non-administrators may see. Applied in the query, before paging, so a page and its
   * continuation never depend on identity rows.
   */
  recordsOnly?: boolean;
  limit: number;
  /** Opaque; never carries stream ids in clear. */
  continuation?: string;
}

export interface ScanRecordsOptions extends OperationOptions {
  /** Only records of this type. */
  type?: string;
  /** Start after this (type, id). */
  after?: { type: string; id: string };
  limit: number;
}

export interface ProjectionCheckpoint {
  /** Feed checkpoint after the last applied commit. */
  checkpoint: string | undefined;
  /** Timestamp of the last applied commit. */
  lastTimestamp: string | null;
  /** Commits applied since the projection was (re)built. */
  applied: number;
  updatedAt: string;
  /** Consecutive failures of the batch at `checkpoint`. */
  failures: number;
  lastError?: string;
  /**
   * The version of the tenant's `erasures` stream this generation's rows reflect: it was built
   * from the log after those erasures were appended, so no row holds a value they erased
   * (issue 14). Absent: not known (a generation built before this was recorded, or by the feed
   * projector only). An erasure with a higher version is one whose rebuild has not completed.
   */
  erasures?: number;
}

export interface ParkedCommit {
  streamId: string;
  version: number;
  checkpoint: string | undefined;
  error: string;
  attempts: number;
  parkedAt: string;
}

/**
 * The read projections of ONE tenant (record list and audit views), kept in the tenant's
 * own store. Writes are idempotent and order-tolerant: a record view only moves forward in
 * version, an audit entry is keyed by (stream, version, index).
 *
 * Projections live in generations: a rebuild fills generation N+1 from the log while N
 * keeps serving, then switches, so neither reads nor commands stop.
 *
 * Every method takes a last options bag with `abortSignal` (see OperationOptions); an aborted
 * write changes nothing, and dropping a generation stops between batches when it fires.
 */
export interface ProjectionStore {
  activeGeneration(options?: OperationOptions): Promise<number>;
  /**
   * A generation number for a rebuild to fill: above the active generation and above every
   * number claimed before, by this process or any other (another instance in Azure, another
   * process on the data folder); never handed out twice. So two rebuilds of one tenant at once
   * fill different generations.
   */
  claimGeneration(options?: OperationOptions): Promise<number>;
  /**
   * Switches reads and the feed projector to `generation` unless the active one is newer, then
   * drops the older ones (never newer ones: another rebuild may be filling one). Forward only:
   * false, and nothing changed, when a newer generation is active already.
   */
  activateGeneration(generation: number, options?: OperationOptions): Promise<boolean>;
  dropGeneration(generation: number, options?: OperationOptions): Promise<void>;

  /** Stores `view` unless the generation already holds this record at an equal or newer version. Returns whether it was stored. */
  upsertRecord(generation: number, view: RecordView, options?: OperationOptions): Promise<boolean>;
  /**
   * Optional bulk form of `upsertRecord` (the projector writes a page's views with it): each
   * view stored under the same rule, all in one write where the store can (the embedded store:
   * one transaction, instead of one per view). Without it, callers upsert one by one.
   */
  upsertRecords?(generation: number, views: RecordView[], options?: OperationOptions): Promise<void>;
  getRecordVersion(generation: number, type: string, id: string, options?: OperationOptions): Promise<number>;
  listRecords(generation: number, query: ListQuery, options?: OperationOptions): Promise<Page<RecordView>>;
  /** Every record view (deleted too) in (type, id) order, optionally of one type, after a cursor. */
  scanRecords(generation: number, options: ScanRecordsOptions): Promise<RecordView[]>;
  /** How many record views (deleted too) `scanRecords` would walk, optionally of one type (optional: progress totals). */
  countRecords?(generation: number, options?: OperationOptions & { type?: string }): Promise<number>;

  putAudit(generation: number, entries: AuditEntry[], options?: OperationOptions): Promise<void>;
  /**
   * Optional: `upsertRecords(views)` and `putAudit(entries)` in one write where the store can
   * (the embedded store: one transaction, so a projected command costs one commit instead of
   * two). Same rules as those two; either list may be empty. Without it, callers make the two
   * calls.
   */
  project?(generation: number, views: RecordView[], entries: AuditEntry[], options?: OperationOptions): Promise<void>;
  /** Newest first. */
  listAudit(generation: number, query: AuditQuery, options?: OperationOptions): Promise<Page<AuditEntry>>;

  getCheckpoint(generation: number, options?: OperationOptions): Promise<ProjectionCheckpoint | undefined>;
  setCheckpoint(generation: number, checkpoint: ProjectionCheckpoint, options?: OperationOptions): Promise<void>;
  park(generation: number, parked: ParkedCommit, options?: OperationOptions): Promise<void>;
  listParked(generation: number, options?: OperationOptions): Promise<ParkedCommit[]>;
}
