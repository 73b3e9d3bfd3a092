import type { AppendMeta, Commit, NewEvent } from '../domain/events';
import type { OperationOptions } from './options';

export interface AppendResult {
  /** The stream's version after the append (= the new commit's version). */
  version: number;
  timestamp: string;
}

export interface AppendManyOptions extends OperationOptions {
  /**
   * The caller acknowledges none of these commits until a later `append` to the same store
   * has returned (a restore imports a log into a tenant that is not served before its own
   * final commit): the store may skip flushing this batch to disk on its own. The embedded
   * store then commits it with SQLite `synchronous = NORMAL` (WAL order kept, fsynced at
   * checkpoints), and the next fully synced commit's fsync of the same WAL covers it. Stores
   * whose writes are durable anyway ignore it.
   */
  syncLater?: boolean;
}

/**
 * A subject key kept in the log's own database (issue 14): the keyring entry (JSON, the key
 * wrapped by the tenant's key; opaque to the store) of one data subject.
 */
export interface SubjectKeyRow {
  subjectRef: string;
  keyId: string;
  /** The entry as the keyring stores it (JSON text). */
  body: string;
}

export interface AppendOptions extends OperationOptions {
  /**
   * Subject keys stored in the same transaction as the commit (all or nothing, one fsync):
   * only for a store that has {@link EventStore.subjectKeys}; others must not be given any.
   * A row whose subject already has one fails the append with a `conflict` and writes nothing.
   */
  subjectKeys?: SubjectKeyRow[];
}

/**
 * Optional (embedded store): a table of subject keys in the tenant's own database, written only
 * together with a commit ({@link AppendOptions.subjectKeys}), so a new data subject's key costs
 * no write of its own. Deleting a row overwrites it (SQLite `secure_delete`) and checkpoints the
 * WAL into the database, so no page of the file keeps the deleted key.
 */
export interface SubjectKeyTable {
  get(subjectRef: string, options?: OperationOptions): Promise<SubjectKeyRow | undefined>;
  /** Idempotent. */
  delete(subjectRef: string, options?: OperationOptions): Promise<void>;
  /** Rows in subject order after `after`, at most `limit`. */
  list(options: OperationOptions & { after?: string; limit: number }): Promise<SubjectKeyRow[]>;
}

/**
 * A bulk import into a store that nobody else writes to while it lasts (a tenant being built
 * by a restore, not served yet): see {@link EventStore.beginImport}.
 */
export interface BulkImport {
  /**
   * Appends a batch as `appendMany` with `syncLater` does: in order, each commit checked against
   * its expected version, all or nothing in one transaction, not flushed to disk on its own.
   */
  append(batch: BatchAppend[], options?: OperationOptions): Promise<void>;
  /**
   * Ends the import: the store's ordinary settings come back. The settings hold for any write
   * to the store until then (a restore ends it after its projection pass), but the heads kept
   * for the version checks assume no other write came between two `append` calls.
   */
  end(): void;
}

/** One commit of an {@link EventStore.appendMany} batch: what one `append` call takes. */
export interface BatchAppend {
  streamId: string;
  expectedVersion: number;
  events: NewEvent[];
  meta: AppendMeta;
}

export interface ReadStreamOptions extends OperationOptions {
  /** Only commits with version >= fromVersion (forward) or <= fromVersion (backward). */
  fromVersion?: number;
  /** Only commits stamped at or before this instant. */
  until?: Date;
  direction?: 'forward' | 'backward';
  maxCount?: number;
}

/** A stream's folded state at a version, so reads need not replay the whole history. */
export interface ListStreamsOptions extends OperationOptions {
  /** Only streams whose id comes after this one (the last id of the previous page). */
  after?: string;
  /** At most this many ids. */
  limit: number;
}

export interface Snapshot {
  version: number;
  /** Timestamp of the commit at `version`. */
  timestamp: string;
  state: unknown;
}

export interface ReadFeedOptions extends OperationOptions {
  maxCount?: number;
}

export interface ReadSnapshotOptions extends OperationOptions {
  /** The newest snapshot stamped at or before this instant. */
  until?: Date;
}

export interface FeedPage {
  commits: Commit[];
  /** Opaque; pass it back to continue after the last commit returned. */
  checkpoint: string;
}

/**
 * The event log of ONE tenant. Streams are append-only sequences of commits; a commit's
 * version is its 1-based position in the stream. Every method takes a last options bag with
 * `abortSignal` (see OperationOptions); an append whose signal has already fired writes nothing.
 */
export interface EventStore {
  readonly tenantId: string;
  /**
   * Appends one commit if the stream is at `expectedVersion` (0 = the stream must not
   * exist). Otherwise throws WrongExpectedVersionError and writes nothing.
   */
  append(streamId: string, expectedVersion: number, events: NewEvent[], meta: AppendMeta, options?: AppendOptions): Promise<AppendResult>;
  /** Optional: subject keys kept in the log's database, written with commits (see {@link SubjectKeyTable}). */
  readonly subjectKeys?: SubjectKeyTable;
  /**
   * Optional bulk form of `append` (restores import whole logs): appends the commits in order,
   * each checked like `append` against its own expected version (a batch may hold several
   * commits of one stream). Stores that have it write the batch all or nothing, in one
   * transaction; without it, callers append one by one (see `appendAll` in shared/app).
   */
  appendMany?(batch: BatchAppend[], options?: AppendManyOptions): Promise<AppendResult[]>;
  /**
   * Optional: begins a bulk import ({@link BulkImport}) for a caller that is the store's only
   * writer until `end()` (a restore's import). The store may keep what it needs for the version
   * checks in memory instead of reading it back per commit, and tune itself for a long run of
   * writes (the embedded store: a larger page cache, fewer WAL checkpoints). Without it, callers
   * use appendMany.
   */
  beginImport?(options?: OperationOptions): Promise<BulkImport>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<Commit[]>;
  /** Current version of a stream, 0 if it does not exist. */
  streamVersion(streamId: string, options?: OperationOptions): Promise<number>;
  /**
   * Ids of the streams whose id starts with `prefix` (not empty), in id order (ordinal), at
   * most `limit`, after `after` when given: keyset paging over the log itself (a stream exists
   * from its first commit on), e.g. the tenant's users (`user-`).
   */
  listStreams(prefix: string, options: ListStreamsOptions): Promise<string[]>;
  /**
   * The tenant's feed of commits after `checkpoint` (undefined = from the beginning),
   * ordered within each stream. A page with fewer than `maxCount` commits holds every commit
   * appended after `checkpoint` before the read began: it reached the end (backups rely on it,
   * writer.ts). A full page may or may not have.
   */
  readFeed(checkpoint: string | undefined, options?: ReadFeedOptions): Promise<FeedPage>;
  /**
   * Optional: a feed checkpoint at the feed's end now, found without reading the commits
   * (embedded: the log's last position; Cosmos: the change feed's "now" continuation). A read
   * from it returns what is appended afterwards. Without it, callers read the feed through.
   */
  endCheckpoint?(options?: OperationOptions): Promise<string>;
  /**
   * How far a feed checkpoint is behind the log: `commits` behind (null when the backend
   * cannot count, e.g. Cosmos continuation tokens) and the newest commit's timestamp.
   */
  feedLag(checkpoint: string | undefined, options?: OperationOptions): Promise<{ commits: number | null; newestTimestamp: string | null }>;
  /** The commit of this stream that carried this Idempotency-Key, if any. */
  findByIdempotencyKey(streamId: string, key: string, options?: OperationOptions): Promise<Commit | undefined>;
  /** The newest snapshot of the stream (at or before `until` when given). */
  readSnapshot(streamId: string, options?: ReadSnapshotOptions): Promise<Snapshot | undefined>;
  /** Stores a snapshot; writing the same version twice is harmless. Best effort: never part of a commit. */
  writeSnapshot(streamId: string, snapshot: Snapshot, options?: OperationOptions): Promise<void>;
}
