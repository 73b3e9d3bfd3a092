/**
 * Tenant keys escrowed to the backup tiers, in two layers (README, "Key escrow and
 * shredding"). Before a backup run ships a tenant's commits to a tier:
 *
 *   tenants/<id>/escrow/<key name>/<version>.sealed.json      every version of the tenant key,
 *       sealed under the key's escrow key (format /2); written to every tier, write-once
 *       ones included, and useless without the escrow key;
 *   tenants/<id>/escrow-key/<key name>-<recipient, 16 hex>.json   the escrow key, encrypted to
 *       the operator's recovery public key; written only to tiers that allow deletion
 *       (probed once per tier and process), so shredding can delete every copy of it.
 *
 * The key provider derives the escrow key from the tenant key itself, so once the tenant key
 * is destroyed and these objects are deleted no escrow key exists anywhere, and the sealed
 * versions retained on a write-once tier open for nobody, the recovery key holder included.
 * Before that, one tier holding the escrow key plus the recovery private key restores the
 * tenant (from that tier, or from a write-once tier whose sealed versions it opens).
 *
 * Format /1 objects (`<version>-<recipient>.json`: a key version encrypted directly to the
 * recovery key), written by earlier versions, are still read by recovery; once a tier holds
 * the escrow key they are deleted from it (where the tier allows).
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { isAppError, notFound, unprocessable } from '../../domain/errors';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { EscrowedKeyVersion, EscrowKeyObject, KeyEscrow } from '../../ports/key-escrow';
import { isKeyNameOfTenant } from '../backup/binding';
import { recoveryFingerprint } from './recovery-key';

export const ESCROW_FORMATS = ['tenant-ledger-key-escrow/1', 'tenant-ledger-key-escrow/2'] as const;
export const ESCROW_KEY_FORMAT = 'tenant-ledger-escrow-key/1';

export const escrowPrefix = (tenant: string) => `tenants/${tenant}/escrow/`;
export const escrowKeyPrefix = (tenant: string) => `tenants/${tenant}/escrow-key/`;
const escrowObjectKey = (tenant: string, v: EscrowedKeyVersion) =>
  v.format === 'tenant-ledger-key-escrow/1'
    ? `${escrowPrefix(tenant)}${v.keyName}/${v.version}-${v.recipient.slice(0, 16)}.json`
    : `${escrowPrefix(tenant)}${v.keyName}/${v.version}.sealed.json`;
const escrowKeyObjectKey = (tenant: string, o: EscrowKeyObject) =>
  `${escrowKeyPrefix(tenant)}${o.keyName}-${o.recipient.slice(0, 16)}.json`;
/** Whether an object under a tenant's escrow prefixes opens with the recovery private key alone (escrow keys and /1 versions). */
export const opensWithRecoveryKey = (tenant: string, objectKey: string) =>
  objectKey.startsWith(escrowKeyPrefix(tenant)) || (objectKey.startsWith(escrowPrefix(tenant)) && !objectKey.endsWith('.sealed.json'));

export class KeyEscrowService {
  private readonly fingerprint: string;
  /** Per tier object: whether it deletes what it is asked to (a write-once tier does not). */
  private readonly deletable = new WeakMap<BackupTarget, Promise<boolean>>();

  constructor(
    private readonly d: {
      escrow: KeyEscrow;
      /** The recovery public key. */
      recipient: KeyObject;
      /** The tenant's key name (TenantService.keyName). */
      keyNameOf: (tenant: string) => Promise<string>;
      log?: (message: string) => void;
    },
  ) {
    this.fingerprint = recoveryFingerprint(d.recipient);
  }

  /** SHA-256 of the recovery public key the escrow uses. */
  get recipientFingerprint(): string {
    return this.fingerprint;
  }

  /**
   * Makes sure every version of the tenant's key is escrowed (sealed) on `target`, and the
   * escrow key too when the tier allows deletion; returns how many objects were written.
   */
  async escrowTenant(tenant: string, target: BackupTarget, options: TargetCallOptions = {}): Promise<number> {
    const have = new Set<string>();
    for await (const o of target.list(escrowPrefix(tenant), options)) have.add(o.key);
    for await (const o of target.list(escrowKeyPrefix(tenant), options)) have.add(o.key);
    const keyName = await this.d.keyNameOf(tenant);
    const bundle = await this.d.escrow.escrowKey(keyName, this.d.recipient);
    let written = 0;
    const put = async (key: string, value: unknown) => {
      if (have.has(key)) return;
      try {
        await target.put(key, Buffer.from(JSON.stringify(value, null, 1)), options);
        written++;
      } catch (e) {
        // Written meanwhile by another run: the same object, as good as ours.
        if (!(isAppError(e) && e.code === 'conflict')) throw e;
      }
      have.add(key);
    };
    for (const v of bundle.versions) await put(escrowObjectKey(tenant, v), v);
    const escrowKeyAt = escrowKeyObjectKey(tenant, bundle.escrowKey);
    if (!have.has(escrowKeyAt)) {
      if (!(await this.allowsDeletion(target, options))) return written;
      await put(escrowKeyAt, bundle.escrowKey);
    }
    // This tier now opens the sealed versions (with the recovery key): the older objects that
    // open with the recovery key alone, and would outlive a shredding on a write-once tier, go.
    for (const key of have)
      if (key.startsWith(`${escrowPrefix(tenant)}${keyName}/`) && !key.endsWith('.sealed.json'))
        await target.delete(key, options).catch(() => undefined);
    return written;
  }

  /** Whether `target` deletes an object it was given (probed once per tier object with a throwaway object outside every tenant's prefix). */
  private allowsDeletion(target: BackupTarget, options: TargetCallOptions): Promise<boolean> {
    let known = this.deletable.get(target);
    if (!known) {
      known = (async () => {
        const probe = `escrow-probe/${randomBytes(8).toString('hex')}.json`;
        await target.put(probe, Buffer.from('{}'), options);
        try {
          await target.delete(probe, options);
          return (await target.get(probe, options)) === undefined;
        } catch {
          return false;
        }
      })();
      known.then(
        (ok) => {
          if (!ok)
            this.d.log?.(
              `Backup tier ${target.name} refuses deletion (write-once): tenant key escrow keys are not kept there, so recovery from it needs the escrow key from another tier (README, "Key escrow and shredding").`,
            );
        },
        () => this.deletable.delete(target),
      );
      this.deletable.set(target, known);
    }
    return known;
  }
}

export interface TenantEscrow {
  versions: EscrowedKeyVersion[];
  /** Escrow keys for this recovery key found on the tier and the other tiers given. */
  escrowKeys: EscrowKeyObject[];
}

function parseObject<T>(bytes: Uint8Array, key: string, target: BackupTarget): T {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
  } catch {
    throw unprocessable(`Escrow object ${key} on ${target.name} is not valid JSON.`);
  }
}

/**
 * The escrowed key versions of `tenant` on `target` that `recoveryPrivateKey` can open,
 * grouped by key name, with the escrow keys for it found on `target` or on `otherTargets`
 * (a write-once tier holds none). Objects for other recovery keys are skipped; malformed
 * ones are refused.
 */
export async function readEscrow(
  tenant: string,
  target: BackupTarget,
  recoveryPrivateKey: KeyObject,
  otherTargets: readonly BackupTarget[] = [],
): Promise<Map<string, TenantEscrow>> {
  const fingerprint = recoveryFingerprint(recoveryPrivateKey);
  const byName = new Map<string, TenantEscrow>();
  const entry = (name: string) => {
    const e = byName.get(name) ?? { versions: [], escrowKeys: [] };
    byName.set(name, e);
    return e;
  };
  let other = 0;
  for await (const o of target.list(escrowPrefix(tenant))) {
    const bytes = await target.get(o.key);
    if (!bytes) continue;
    const v = parseObject<EscrowedKeyVersion>(bytes, o.key, target);
    // Only keys made for this tenant id (`tenant-<id>-<8 hex>`), which is also all a restore accepts.
    if (
      !ESCROW_FORMATS.includes(v.format) ||
      typeof v.keyName !== 'string' ||
      !isKeyNameOfTenant(v.keyName, tenant) ||
      o.key !== escrowObjectKey(tenant, v)
    )
      throw unprocessable(`Escrow object ${o.key} on ${target.name} is not a key escrow object of tenant ${tenant}.`);
    if (v.format === 'tenant-ledger-key-escrow/1' && v.recipient !== fingerprint) {
      other++;
      continue;
    }
    entry(v.keyName).versions.push(v);
  }
  let escrowKeys = 0;
  for (const t of [target, ...otherTargets.filter((t) => t !== target)]) {
    try {
      for await (const o of t.list(escrowKeyPrefix(tenant))) {
        const bytes = await t.get(o.key);
        if (!bytes) continue;
        const k = parseObject<EscrowKeyObject>(bytes, o.key, t);
        if (k.format !== ESCROW_KEY_FORMAT || o.key !== escrowKeyObjectKey(tenant, k) || !byName.has(k.keyName)) continue;
        if (k.recipient !== fingerprint) {
          other++;
          continue;
        }
        byName.get(k.keyName)!.escrowKeys.push(k);
        escrowKeys++;
      }
    } catch (e) {
      // Another tier that cannot be read: the escrow key may still be on the tier itself or a third one.
      if (t === target) throw e;
    }
  }
  if (byName.size === 0) {
    throw notFound(
      other
        ? `The tenant keys of ${tenant} on ${target.name} are escrowed to another recovery key (${other} object(s)); this recovery key (${fingerprint.slice(0, 16)}…) cannot open them.`
        : `No tenant key of ${tenant} is escrowed on ${target.name}: configure a recovery public key (RECOVERY_PUBLIC_KEY, or recovery-public.pem in the data folder) and run a backup.`,
    );
  }
  const sealedOnly = [...byName.values()].some(
    (e) => e.escrowKeys.length === 0 && e.versions.some((v) => v.format !== 'tenant-ledger-key-escrow/1'),
  );
  if (sealedOnly && escrowKeys === 0) {
    throw notFound(
      other
        ? `The escrow key of ${tenant}'s key is escrowed to another recovery key (${other} object(s)); this recovery key (${fingerprint.slice(0, 16)}…) cannot open it.`
        : `The key versions of ${tenant} on ${target.name} are sealed under an escrow key that no reachable tier holds (${[target, ...otherTargets].map((t) => t.name).join(', ')}): a write-once tier keeps none, and after the tenant was shredded none exists.`,
    );
  }
  return byName;
}
