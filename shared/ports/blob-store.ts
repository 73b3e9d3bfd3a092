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
   * or aborted upload leaves no blob behind (uncommitted blocks expire on their own).
   * Fails with AppError conflict if the name exists.
   */
  upload(name: string, chunks: AsyncIterable<Uint8Array>, options: { metadata: Record<string, string>; abortSignal?: AbortSignal }): Promise<BlobInfo>;
  /** Streams bytes [offset, offset + count) of the stored blob (count omitted = to the end). */
  download(name: string, options?: { offset?: number; count?: number; abortSignal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>>;
  /** undefined when the blob does not exist. */
  getInfo(name: string): Promise<BlobInfo | undefined>;
  /** Replaces the metadata if the blob still has `etag` (else AppError precondition_failed). */
  setMetadata(name: string, metadata: Record<string, string>, etag: string): Promise<void>;
  /** Idempotent. */
  delete(name: string): Promise<void>;
  list(prefix?: string): AsyncIterable<BlobInfo>;
}

/** Resolves a tenant to its own blob container. */
export interface BlobStoreFactory {
  forTenant(tenantId: string): Promise<BlobStore>;
  /** Removes a tenant's container (rollback of a failed tenant creation). */
  deleteTenant(tenantId: string): Promise<void>;
}
