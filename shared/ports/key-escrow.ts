import type { KeyObject } from 'node:crypto';
import type { OperationOptions } from './options';

/**
 * Key custody for disaster recovery: a tenant key version encrypted to the operator's
 * recovery public key. Stored next to the tenant's backups on every tier, so the tiers plus
 * the recovery private key (kept offline) are enough to restore; the tiers alone are not.
 */
export interface EscrowedKeyVersion {
  format: 'tenant-ledger-key-escrow/1';
  /** Name of the key in the provider and the key id its wraps carry (`local:<name>/<version>`). */
  keyName: string;
  version: string;
  keyId: string;
  createdAt: string;
  /** SHA-256 (hex) of the recovery public key (SPKI DER) the key is encrypted to. */
  recipient: string;
  /** RSA-OAEP with SHA-256; the OAEP label is `tenant-ledger-key-escrow:<keyId>`. */
  algorithm: 'RSA-OAEP-256';
  /** The 32-byte key, encrypted, base64. */
  encryptedKey: string;
}

/** Implemented by key providers whose keys can leave them encrypted (the local provider). */
export interface KeyEscrow {
  /** Every version of the named key, each encrypted to `recipient`; plaintext never leaves the provider. */
  escrowKey(name: string, recipient: KeyObject, options?: OperationOptions): Promise<EscrowedKeyVersion[]>;
  /**
   * Re-creates the named key from escrowed versions (decrypted with the recovery private
   * key): same name, versions and key ids, so everything the key wrapped unwraps again.
   * Fails with a conflict if a key of that name exists.
   */
  importEscrowedKey(
    versions: EscrowedKeyVersion[],
    recoveryPrivateKey: KeyObject,
    options?: OperationOptions,
  ): Promise<{ keyId: string }[]>;
}
