/**
 * Binding backup manifests (and through them their segments) to their tenant, chain and place.
 *
 * A manifest of format `tenant-ledger-backup/2` carries `mac`: HMAC-SHA-256 over every field
 * that matters — tenant, chain, seq, the previous manifest's hash, the segment's object key,
 * SHA-256, size, commit count and timestamps, the checkpoint, the wrapped key and the
 * encryption parameters — keyed with a key derived (HKDF-SHA-256) from the segment's data key.
 * That data key is obtainable only by unwrapping the manifest's wrapped key with the tenant's
 * own key (the key provider refuses a key id of any other key). So:
 *
 *  - a segment and manifest of tenant A copied into tenant E's folder fail E's verify and
 *    restore (A's wrapped key is not E's key; rewriting the key id breaks the unwrap);
 *  - any edit of a manifest (its tenant, seq, chain, link, segment hash, checkpoint, …) breaks
 *    the MAC, so the unkeyed SHA-256 chain can no longer be rebuilt around a moved, reordered or
 *    swapped segment of the same tenant;
 *  - the segment's bytes are bound by the SHA-256 inside the MAC, and decrypted (AES-GCM) only
 *    after the MAC is checked.
 *
 * Manifests written before this (`tenant-ledger-backup/1`) have no MAC: they are read as
 * "legacy unbound" segments — their data key must still be unwrapped by the tenant's own key
 * (so a foreign segment is still refused), verify reports them in `warnings`, and a /1 manifest
 * after a /2 one in the same chain is refused as a downgrade.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { BACKUP_FORMAT_V2, type Manifest } from './chain-format';

export { BACKUP_FORMAT_V1, BACKUP_FORMAT_V2 } from './chain-format';

/** The manifest fields the MAC covers: the Manifest of chain-format.ts, without `mac`. */
export type BoundManifestFields = Omit<Manifest, 'mac'>;

const MAC_INFO = Buffer.from('tenant-ledger-backup/2 manifest mac', 'utf8');

/** The exact bytes the MAC covers: a JSON array in a fixed order (independent of the manifest's own key order). */
function macInput(m: BoundManifestFields, chain: number): Buffer {
  return Buffer.from(
    JSON.stringify([
      BACKUP_FORMAT_V2,
      m.tenant,
      chain,
      m.seq,
      m.previous,
      m.segment.key,
      m.segment.sha256,
      m.segment.size,
      m.segment.commits,
      m.segment.firstTimestamp,
      m.segment.lastTimestamp,
      m.checkpoint,
      m.wrappedKey.keyId,
      m.wrappedKey.algorithm,
      m.wrappedKey.wrapped,
      m.encryption.protocol,
      m.encryption.algorithm,
      m.encryption.regionSize,
      m.encryption.compression,
      m.encryption.content,
      m.createdAt,
    ]),
    'utf8',
  );
}

/** HMAC-SHA-256 (base64url) of a manifest in chain `chain`, keyed with a key derived from the segment's data key `cek`. */
export function manifestMac(cek: Uint8Array, m: BoundManifestFields, chain: number): string {
  const macKey = Buffer.from(hkdfSync('sha256', cek, Buffer.alloc(0), MAC_INFO, 32));
  try {
    return createHmac('sha256', macKey).update(macInput(m, chain)).digest('base64url');
  } finally {
    macKey.fill(0);
  }
}

/** True when `mac` is the MAC of the manifest under the segment's data key `cek` (constant-time compare). */
export function manifestMacMatches(cek: Uint8Array, m: BoundManifestFields, chain: number, mac: unknown): boolean {
  if (typeof mac !== 'string') return false;
  const expected = Buffer.from(manifestMac(cek, m, chain), 'utf8');
  const given = Buffer.from(mac, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * The name a tenant's key has when the tenant was created (`tenant-<id>-<8 hex>`, see
 * TenantService): used to recognise the source tenant's key when a restore runs after the
 * source tenant's store is gone and its meta cannot tell the key's name.
 */
export function isKeyNameOfTenant(keyName: string, tenant: string): boolean {
  return keyName.startsWith(`tenant-${tenant}-`) && /^[0-9a-f]{8}$/.test(keyName.slice(`tenant-${tenant}-`.length));
}

/**
 * The key name in a versioned key id, as the key providers write them: `local:<name>/<version>`
 * (local keys) or `https://<vault>/keys/<name>/<version>` (Key Vault). Undefined otherwise.
 * Only a hint: the key provider checks the id again when it unwraps.
 */
export function keyNameOfKeyId(keyId: unknown): string | undefined {
  if (typeof keyId !== 'string') return undefined;
  const local = /^local:([a-z0-9][a-z0-9-]{1,126})\/[0-9a-f]{16}$/.exec(keyId);
  if (local) return local[1];
  try {
    const m = /^\/keys\/([a-z0-9][a-z0-9-]{1,126})\/[0-9A-Za-z]{1,64}$/.exec(new URL(keyId).pathname);
    return m?.[1];
  } catch {
    return undefined;
  }
}
