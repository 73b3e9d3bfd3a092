import type { OperationOptions } from './options';

/**
 * Blob storage for one tenant's files (Azure Blob Storage: one container per tenant;
 * locally Azurite). Only ciphertext ever reaches it: the service encrypts before writing.
 */
export interface BlobInfo {
  name: string;
  /** Stored (ciphertext) size in bytes. */
  size: number;
  createdOn: Date;
  etag: string;
  /** Blob metadata; keys are compared case-insensitively by readers. */
  metadata: Record<string, string>;
}

export interface UploadOptions extends OperationOptions {
  metadata: Record<string, string>;
  /**
   * A hint that the body is small (a keyring entry: a few hundred bytes) and written on a
   * latency-sensitive path: a store may keep a body of at most {@link SMALL_BLOB_MAX} bytes in
   * one piece with its index (the folder store: one file and two fsyncs instead of two files and
   * three; Azure: one Put Blob instead of a staged block and a commit). Durability and
   * create-once semantics are the same; larger bodies ignore the hint.
   */
  small?: boolean;
}

/** The largest body the `small` upload hint applies to. */
export const SMALL_BLOB_MAX = 4096;

export interface DownloadOptions extends OperationOptions {
  offset?: number;
  count?: number;
}

export interface SweepUnfinishedOptions extends OperationOptions {
  olderThan: Date;
}

/**
 * Every method takes a last options bag with `abortSignal` (see OperationOptions). An aborted
 * call writes nothing (an aborted upload leaves no blob and nothing staged); a signal that fires
 * while a download or listing is being read ends it with an AbortError.
 */
export interface BlobStore {
  /**
   * Writes a blob from a stream of chunks, committing it only when the stream ends: a failed
   * or aborted upload leaves no blob behind, and the adapter removes what it had staged
   * (blocks, temp files) before it rejects. When it resolves, the blob is durable: a crash
   * of this process (or, for the folder store, a power cut) after that cannot lose it.
   * Fails with AppError conflict if the name exists. An adapter may ask for the next chunk
   * while it still writes the last one (the folder store does): a source must not change a
   * chunk's bytes once it has yielded it.
   */
  upload(name: string, chunks: AsyncIterable<Uint8Array>, options: UploadOptions): Promise<BlobInfo>;
  /** Streams bytes [offset, offset + count) of the stored blob (count omitted = to the end). */
  download(name: string, options?: DownloadOptions): Promise<AsyncIterable<Uint8Array>>;
  /** undefined when the blob does not exist. */
  getInfo(name: string, options?: OperationOptions): Promise<BlobInfo | undefined>;
  /** Replaces the metadata if the blob still has `etag` (else AppError precondition_failed). */
  setMetadata(name: string, metadata: Record<string, string>, etag: string, options?: OperationOptions): Promise<void>;
  /** Idempotent. */
  delete(name: string, options?: OperationOptions): Promise<void>;
  /** In name order; `prefix` undefined lists everything. */
  list(prefix?: string, options?: OperationOptions): AsyncIterable<BlobInfo>;
  /**
   * Removes what uploads that never finished left behind (a crash, a killed process):
   * staged blocks of blobs never committed, temp files. Only what was last written before
   * `olderThan` is touched, so uploads in progress are safe.
   */
  sweepUnfinished(options: SweepUnfinishedOptions): Promise<UnfinishedSweep>;
}

export interface UnfinishedSweep {
  /** Unfinished uploads (or their parts) removed. */
  removed: number;
  /** Bytes they held, where the store can tell (0 otherwise). */
  bytes: number;
}

/** Resolves a tenant to its own blob container. */
export interface BlobStoreFactory {
  forTenant(tenantId: string, options?: OperationOptions): Promise<BlobStore>;
  /** Removes a tenant's container (rollback of a failed tenant creation; shredding of an offboarded tenant). Idempotent. */
  deleteTenant(tenantId: string, options?: OperationOptions): Promise<void>;
}
