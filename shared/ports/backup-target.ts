/**
 * One backup tier's storage (tier 1 "own cloud" and tier 2 "external EU cloud": any
 * S3-compatible service; tier 3: a separate Azure Blob Storage account, ideally with an
 * immutability policy). Objects are written once and never modified: a backup is a chain
 * of immutable segments and manifests, so a target that forbids overwrites is fine.
 * Only ciphertext and hashes are ever written here.
 */
export interface BackupObject {
  key: string;
  size: number;
  lastModified: Date;
}

/**
 * Every call takes an options bag with `abortSignal`: the backup engine gives each tier run a
 * deadline and aborts it when the deadline passes. Adapters also bound each request with their
 * own connect and idle timeouts (see the adapters), so a tier that accepts connections and
 * never answers fails the call instead of holding it forever.
 */
export interface TargetCallOptions {
  abortSignal?: AbortSignal;
}

export interface BackupTarget {
  /** Tier name, e.g. "own-cloud", "eu-cloud", "azure". */
  readonly name: string;
  /** Writes an object; fails with AppError conflict if the key exists (objects are immutable). */
  put(key: string, body: Uint8Array, options?: TargetCallOptions): Promise<void>;
  /** undefined when absent. */
  get(key: string, options?: TargetCallOptions): Promise<Uint8Array | undefined>;
  /** Like put, for large objects (file ciphertext): streamed, `size` bytes, constant memory. */
  putStream(key: string, chunks: AsyncIterable<Uint8Array>, size: number, options?: TargetCallOptions): Promise<void>;
  /** Streams an object; undefined when absent. */
  getStream(key: string, options?: TargetCallOptions): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Keys under a prefix, in lexicographic order. */
  list(prefix: string, options?: TargetCallOptions): AsyncIterable<BackupObject>;
  /** Idempotent; used by retention only (may be refused while an immutability policy holds). */
  delete(key: string, options?: TargetCallOptions): Promise<void>;
}
