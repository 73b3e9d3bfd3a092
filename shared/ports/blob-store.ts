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

export interface BlobStore {
  /**
   * Writes a blob from a stream of chunks, committing it only when the stream ends: a failed
   * or aborted upload leaves no blob behind, and the adapter removes what it had staged
   * (blocks, temp files) before it rejects. When it resolves, the blob is durable: a crash
   * of this process (or, for the folder store, a power cut) after that cannot lose it.
   * Fails with AppError conflict if the name exists.
   */
  upload(
    name: string,
    chunks: AsyncIterable<Uint8Array>,
    options: { metadata: Record<string, string>; abortSignal?: AbortSignal },
  ): Promise<BlobInfo>;
  /** Streams bytes [offset, offset + count) of the stored blob (count omitted = to the end). */
  download(name: string, options?: { offset?: number; count?: number; abortSignal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>>;
  /** undefined when the blob does not exist. */
  getInfo(name: string): Promise<BlobInfo | undefined>;
  /** Replaces the metadata if the blob still has `etag` (else AppError precondition_failed). */
  setMetadata(name: string, metadata: Record<string, string>, etag: string): Promise<void>;
  /** Idempotent. */
  delete(name: string): Promise<void>;
  list(prefix?: string): AsyncIterable<BlobInfo>;
  /**
   * Removes what uploads that never finished left behind (a crash, a killed process):
   * staged blocks of blobs never committed, temp files. Only what was last written before
   * `olderThan` is touched, so uploads in progress are safe.
   */
  sweepUnfinished(options: { olderThan: Date; abortSignal?: AbortSignal }): Promise<UnfinishedSweep>;
}

export interface UnfinishedSweep {
  /** Unfinished uploads (or their parts) removed. */
  removed: number;
  /** Bytes they held, where the store can tell (0 otherwise). */
  bytes: number;
}

/** Resolves a tenant to its own blob container. */
export interface BlobStoreFactory {
  forTenant(tenantId: string): Promise<BlobStore>;
  /** Removes a tenant's container (rollback of a failed tenant creation). */
  deleteTenant(tenantId: string): Promise<void>;
}
