import type { KeyObject } from 'node:crypto';
import type { OperationOptions } from './options';

/**
 * Key custody for disaster recovery, in two layers so that shredding a tenant also shreds
 * its escrow on write-once tiers (README, "Key escrow and shredding"):
 *
 * - Each version of a tenant key is sealed (AES-256-GCM) under the tenant's **escrow key**
 *   (`EscrowedKeyVersion`, format `/2`). These objects go to every tier, write-once ones
 *   included: without the escrow key they open for nobody, the recovery key holder included.
 * - The escrow key is encrypted to the operator's recovery public key (`EscrowKeyObject`) and
 *   kept only where it can be deleted (tiers that allow deletion). The key provider derives it
 *   from the tenant key itself, so destroying the tenant key and deleting these objects leaves
 *   no escrow key anywhere.
 *
 * Format `/1` (a key version encrypted directly to the recovery key) is what earlier versions
 * wrote; it is still read for recovery and no longer written.
 */
export interface EscrowedKeyVersionV1 {
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

export interface EscrowedKeyVersionV2 {
  format: 'tenant-ledger-key-escrow/2';
  keyName: string;
  version: string;
  keyId: string;
  createdAt: string;
  /** AES-256-GCM under the escrow key; associated data `tenant-ledger-key-escrow/2:<keyId>`. */
  algorithm: 'A256GCM';
  /** base64 of nonce (12) ‖ ciphertext (32) ‖ tag (16). */
  sealedKey: string;
}

export type EscrowedKeyVersion = EscrowedKeyVersionV1 | EscrowedKeyVersionV2;

/** The escrow key of one tenant key, encrypted to a recovery public key. Kept only on deletable storage. */
export interface EscrowKeyObject {
  format: 'tenant-ledger-escrow-key/1';
  keyName: string;
  /** SHA-256 (hex) of the recovery public key it is encrypted to. */
  recipient: string;
  /** RSA-OAEP with SHA-256; the OAEP label is `tenant-ledger-escrow-key:<keyName>`. */
  algorithm: 'RSA-OAEP-256';
  encryptedKey: string;
}

export interface EscrowBundle {
  escrowKey: EscrowKeyObject;
  versions: EscrowedKeyVersionV2[];
}

/** Implemented by key providers whose keys can leave them encrypted (the local provider). */
export interface KeyEscrow {
  /** Every version of the named key sealed under its escrow key, and the escrow key encrypted to `recipient`; plaintext never leaves the provider. */
  escrowKey(name: string, recipient: KeyObject, options?: OperationOptions): Promise<EscrowBundle>;
  /**
   * Re-creates the named key from escrowed versions, opened with the recovery private key
   * (directly for `/1`, through one of `escrowKeys` for `/2`): same name, versions and key
   * ids, so everything the key wrapped unwraps again. Fails with a conflict if a key of that
   * name exists, and with a KeyUnwrapError when no escrow key opens the `/2` versions.
   */
  importEscrowedKey(
    versions: EscrowedKeyVersion[],
    recoveryPrivateKey: KeyObject,
    options?: OperationOptions & { escrowKeys?: EscrowKeyObject[] },
  ): Promise<{ keyId: string }[]>;
}
