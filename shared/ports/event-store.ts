import type { AppendMeta, Commit, NewEvent } from '../domain/events';
import type { OperationOptions } from './options';

export interface AppendResult {
  /** The stream's version after the append (= the new commit's version). */
  version: number;
  timestamp: string;
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
  append(
    streamId: string,
    expectedVersion: number,
    events: NewEvent[],
    meta: AppendMeta,
    options?: OperationOptions,
  ): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<Commit[]>;
  /** Current version of a stream, 0 if it does not exist. */
  streamVersion(streamId: string, options?: OperationOptions): Promise<number>;
  /**
   * The tenant's feed of commits after `checkpoint` (undefined = from the beginning),
   * ordered within each stream.
   */
  readFeed(checkpoint: string | undefined, options?: ReadFeedOptions): Promise<FeedPage>;
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
