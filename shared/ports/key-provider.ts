/**
 * Tenant key-encryption keys (KEKs). The KEK never leaves the provider: callers hand it a
 * data key to wrap or a wrapped key to unwrap. Azure: Key Vault (RSA-OAEP-256, one RSA key
 * per tenant). Local: keys under the data folder protected by a master key (A256KW).
 */
import type { OperationOptions } from './options';

export interface WrappedKey {
  /** Versioned id of the KEK that wrapped it (Key Vault key URL with version, or local id). */
  keyId: string;
  /** JWA name of the wrap algorithm, e.g. "RSA-OAEP-256" or "A256KW". */
  algorithm: string;
  /** Wrapped key bytes, base64. */
  wrapped: string;
}

/** Every method takes a last options bag with `abortSignal` (see OperationOptions); an aborted create, rotate or delete changes nothing. */
export interface KeyProvider {
  /** Creates a new KEK with this name; fails with a conflict if the name exists. */
  createKey(name: string, options?: OperationOptions): Promise<{ keyId: string }>;
  /** Wraps `key` with the latest version of the named KEK. */
  wrapKey(name: string, key: Uint8Array, options?: OperationOptions): Promise<WrappedKey>;
  /**
   * Unwraps with the exact KEK version recorded in `wrapped.keyId`, which must be a version of
   * the KEK named `name` (the tenant's own key). A key id naming any other key — another
   * tenant's, another vault's — fails with an Error named 'KeyUnwrapError' before any key is
   * used: a wrapped key is data read from storage, and storage is not trusted to say whose it is.
   * The caller zeroes the returned bytes when done.
   */
  unwrapKey(name: string, wrapped: WrappedKey, options?: OperationOptions): Promise<Uint8Array>;
  /** Adds a new version of the named KEK; new wraps use it, older versions keep unwrapping. */
  rotateKey(name: string, options?: OperationOptions): Promise<{ keyId: string }>;
  /** Removes a KEK. Used only to roll back a tenant whose creation failed. */
  deleteKey(name: string, options?: OperationOptions): Promise<void>;
  /**
   * Destroys every version of the named KEK for good (tenant offboarding: crypto-shredding).
   * Idempotent: a key already destroyed answers `absent`. Local keys: the key file is
   * overwritten, fsynced, unlinked and its folder fsynced (`destroyed`). Key Vault: deleted,
   * then purged (`purged`); where the vault's purge protection refuses the purge, the key
   * stays soft-deleted, unusable, until Key Vault purges it itself (`deleted`, with
   * `recoverableUntil`).
   */
  destroyKey(name: string, options?: OperationOptions): Promise<KeyDestruction>;
}

/** What `destroyKey` did. Never carries key material. */
export interface KeyDestruction {
  outcome: 'destroyed' | 'purged' | 'deleted' | 'absent';
  /** Versions the key had when it was destroyed (0 when absent). */
  versions: number;
  /** `deleted`: the instant the provider purges the soft-deleted key by itself. */
  recoverableUntil?: string;
  /** One sentence for the receipt. */
  detail: string;
}

/** The message of the KeyUnwrapError every provider throws for a key id that names a key other than the one asked for. */
export const foreignKeyMessage =
  "The wrapped key names a key other than this tenant's own key: it was not written for this tenant and is refused.";
