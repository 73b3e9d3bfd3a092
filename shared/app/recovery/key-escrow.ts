/**
 * Tenant keys escrowed to the backup tiers. Before a backup run ships a tenant's commits to
 * a tier, every version of the tenant's key is on that tier, encrypted to the operator's
 * recovery public key:
 *
 *   tenants/<id>/escrow/<key name>/<version>-<recipient fingerprint, 16 hex>.json
 *
 * Objects are immutable like the rest of the backup; a version already escrowed to the same
 * recovery key is not written again, a new version (after a rotation) or a new recovery key
 * adds objects. Whoever reads a tier sees only ciphertext: the escrow opens with the recovery
 * private key, which the service never has.
 */
import type { KeyObject } from 'node:crypto';
import { isAppError, notFound, unprocessable } from '../../domain/errors';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { EscrowedKeyVersion, KeyEscrow } from '../../ports/key-escrow';
import { isKeyNameOfTenant } from '../backup/binding';
import { recoveryFingerprint } from './recovery-key';

export const ESCROW_FORMAT = 'tenant-ledger-key-escrow/1';

const escrowPrefix = (tenant: string) => `tenants/${tenant}/escrow/`;
const escrowObjectKey = (tenant: string, v: EscrowedKeyVersion) =>
  `${escrowPrefix(tenant)}${v.keyName}/${v.version}-${v.recipient.slice(0, 16)}.json`;

export class KeyEscrowService {
  private readonly fingerprint: string;

  constructor(
    private readonly d: {
      escrow: KeyEscrow;
      /** The recovery public key. */
      recipient: KeyObject;
      /** The tenant's key name (TenantService.keyName). */
      keyNameOf: (tenant: string) => Promise<string>;
    },
  ) {
    this.fingerprint = recoveryFingerprint(d.recipient);
  }

  /** SHA-256 of the recovery public key the escrow uses. */
  get recipientFingerprint(): string {
    return this.fingerprint;
  }

  /** Makes sure every version of the tenant's key is escrowed on `target`; returns how many objects were written. */
  async escrowTenant(tenant: string, target: BackupTarget, options: TargetCallOptions = {}): Promise<number> {
    const have = new Set<string>();
    for await (const o of target.list(escrowPrefix(tenant), options)) have.add(o.key);
    const keyName = await this.d.keyNameOf(tenant);
    const wanted = (await this.d.escrow.escrowKey(keyName, this.d.recipient)).filter((v) => !have.has(escrowObjectKey(tenant, v)));
    let written = 0;
    for (const v of wanted) {
      try {
        await target.put(escrowObjectKey(tenant, v), Buffer.from(JSON.stringify(v, null, 1)), options);
        written++;
      } catch (e) {
        // Written meanwhile by another run: the same key version, as good as ours.
        if (!(isAppError(e) && e.code === 'conflict')) throw e;
      }
    }
    return written;
  }
}

/**
 * The escrowed key versions of `tenant` on `target` that `recoveryPrivateKey` opens, grouped
 * by key name. Objects for other recovery keys are skipped; malformed ones are refused.
 */
export async function readEscrow(
  tenant: string,
  target: BackupTarget,
  recoveryPrivateKey: KeyObject,
): Promise<Map<string, EscrowedKeyVersion[]>> {
  const fingerprint = recoveryFingerprint(recoveryPrivateKey);
  const byName = new Map<string, EscrowedKeyVersion[]>();
  let other = 0;
  for await (const o of target.list(escrowPrefix(tenant))) {
    const bytes = await target.get(o.key);
    if (!bytes) continue;
    let v: EscrowedKeyVersion;
    try {
      v = JSON.parse(Buffer.from(bytes).toString('utf8')) as EscrowedKeyVersion;
    } catch {
      throw unprocessable(`Escrow object ${o.key} on ${target.name} is not valid JSON.`);
    }
    // Only keys made for this tenant id (`tenant-<id>-<8 hex>`), which is also all a restore accepts.
    if (
      v.format !== ESCROW_FORMAT ||
      typeof v.keyName !== 'string' ||
      !isKeyNameOfTenant(v.keyName, tenant) ||
      o.key !== escrowObjectKey(tenant, v)
    )
      throw unprocessable(`Escrow object ${o.key} on ${target.name} is not a ${ESCROW_FORMAT} object of tenant ${tenant}.`);
    if (v.recipient !== fingerprint) {
      other++;
      continue;
    }
    byName.set(v.keyName, [...(byName.get(v.keyName) ?? []), v]);
  }
  if (byName.size === 0) {
    throw notFound(
      other
        ? `The tenant keys of ${tenant} on ${target.name} are escrowed to another recovery key (${other} object(s)); this recovery key (${fingerprint.slice(0, 16)}…) cannot open them.`
        : `No tenant key of ${tenant} is escrowed on ${target.name}: configure a recovery public key (RECOVERY_PUBLIC_KEY, or recovery-public.pem in the data folder) and run a backup.`,
    );
  }
  return byName;
}
