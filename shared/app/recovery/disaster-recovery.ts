/**
 * The disaster-recovery drill: proves that one backup tier plus the offline recovery key are
 * enough to bring a tenant back. It runs on a fresh service instance whose data folder was
 * empty (no master key, no tenant keys, no tenants):
 *
 *  1. the tenant's escrowed keys are read from the tier and imported with the recovery
 *     private key (same names, versions and key ids), opened through the escrow key found
 *     on that tier or, for a write-once tier, on another configured tier;
 *  2. the newest successful restore drill the source service recorded on the tier names an
 *     instant and the source's state hash at that instant;
 *  3. the tenant is restored from the tier as of that instant (chain verified first), under
 *     its own id, with its files when a blob store is configured;
 *  4. the restored state hash (SHA-256 of the records export, as the drills compute it) is
 *     compared with the source's.
 */
import type { KeyObject } from 'node:crypto';
import { AppError } from '../../domain/errors';
import type { BackupTarget } from '../../ports/backup-target';
import type { KeyEscrow } from '../../ports/key-escrow';
import type { BackupService, DrillRecord } from '../backup';
import type { RequestInfo } from '../service';
import { readEscrow } from './key-escrow';
import { recoveryFingerprint } from './recovery-key';

export interface DisasterRecoveryReport {
  ok: boolean;
  tenant: string;
  tier: string;
  /** SHA-256 of the recovery public key whose escrow was opened. */
  recoveryKey: string;
  keysImported: number;
  /** The source drill the comparison is against. */
  sourceDrillAt: string;
  asOf: string;
  commits: number;
  files: number;
  sourceHash: string;
  restoredHash: string;
}

export interface DisasterRecoveryDeps {
  /** Services of the fresh instance (empty data folder). */
  backups: BackupService;
  /** The fresh instance's key provider, able to import escrowed keys. */
  keys: KeyEscrow;
  target: BackupTarget;
  /** The other configured tiers: where the escrow key is looked for when `target` holds none (a write-once tier). */
  otherTargets?: readonly BackupTarget[];
}

/** Reads the newest drill record of `tenant` on `target` that succeeded and carries its source hash. */
async function newestSourceDrill(tenant: string, target: BackupTarget): Promise<DrillRecord> {
  const keys: string[] = [];
  for await (const o of target.list(`tenants/${tenant}/drills/`)) keys.push(o.key);
  for (const key of keys.sort().reverse()) {
    const bytes = await target.get(key);
    if (!bytes) continue;
    const d = JSON.parse(Buffer.from(bytes).toString('utf8')) as DrillRecord;
    if (d.ok && d.tenant === tenant && d.asOf && d.sourceHash) return d;
  }
  throw new AppError(
    'not_found',
    `No successful restore drill of ${tenant} is recorded on ${target.name}, so there is no source state hash to compare with: run \`tenant-ledger backup verify ${tenant}\` on the source service first.`,
  );
}

export async function runDisasterRecoveryDrill(
  d: DisasterRecoveryDeps,
  tenant: string,
  recoveryPrivateKey: KeyObject,
  req: RequestInfo,
  onProgress?: (message: string) => void,
): Promise<DisasterRecoveryReport> {
  onProgress?.(`reading the escrowed keys of ${tenant} on ${d.target.name}`);
  const escrow = await readEscrow(tenant, d.target, recoveryPrivateKey, d.otherTargets);
  let keysImported = 0;
  for (const e of escrow.values())
    keysImported += (await d.keys.importEscrowedKey(e.versions, recoveryPrivateKey, { escrowKeys: e.escrowKeys })).length;
  const drill = await newestSourceDrill(tenant, d.target);
  const asOf = new Date(drill.asOf!);
  onProgress?.(`restoring ${tenant} as of ${drill.asOf} (source drill of ${drill.at})`);
  const restored = await d.backups.restore({ id: 'recovery-drill' }, { tenant, target: d.target, asOf, into: tenant }, req);
  onProgress?.('comparing state hashes');
  const restoredHash = await d.backups.stateHash(tenant);
  return {
    ok: restoredHash === drill.sourceHash,
    tenant,
    tier: d.target.name,
    recoveryKey: recoveryFingerprint(recoveryPrivateKey),
    keysImported,
    sourceDrillAt: drill.at,
    asOf: asOf.toISOString(),
    commits: restored.commits,
    files: restored.files ?? 0,
    sourceHash: drill.sourceHash!,
    restoredHash,
  };
}
