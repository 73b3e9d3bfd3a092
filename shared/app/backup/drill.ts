/**
 * Restore drills: a backup counts only when a restore has proven it. A drill restores the
 * latest backup on a tier into a scratch tenant, compares state hashes with the source, records
 * the outcome on the tier and removes the scratch tenant.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../domain/errors';
import type { BackupTarget } from '../../ports/backup-target';
import type { OperationOptions } from '../../ports/options';
import type { TenantStores } from '../../ports/tenant-stores';
import { exportRecordLines } from '../records/audit-export';
import { DRILL_PREFIX, type RequestInfo } from '../service';
import { authorizeBackupCaller, type BackupCaller } from './caller';
import { drillKey } from './chain-format';
import type { BuildContext } from './deps';
import { lastManifest } from './reader';
import { removeBuiltTenant, restoreMarked } from './restore';

/** One drill: the latest backup of `tenant` on `target`. */
export interface DrillInput {
  tenant: string;
  target: BackupTarget;
}

export interface DrillRecord {
  at: string;
  tier: string;
  tenant: string;
  /** True only for "ok". */
  ok: boolean;
  /** "degraded": the log restored and matched, but files the log references are missing. */
  outcome: 'ok' | 'degraded' | 'failed';
  /** Files the restored log references that the backup does not have. */
  missingFiles?: number;
  asOf?: string;
  commits?: number;
  sourceHash?: string;
  restoredHash?: string;
  error?: string;
}

/**
 * A restore drill: restores the latest backup on `target` into a scratch tenant, compares
 * the state hash (SHA-256 of the export) with the source as of the same instant, records
 * the result on the target (immutable `drills/` object) and removes the scratch tenant.
 */
export async function drill(
  ctx: BuildContext,
  caller: BackupCaller,
  input: DrillInput,
  options: RequestInfo & OperationOptions,
): Promise<DrillRecord> {
  const { tenant, target } = input;
  authorizeBackupCaller(caller);
  const call = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  // Scratch tenants of drills that a crash interrupted go first.
  await ctx.leftovers.sweep();
  const at = ctx.clock.now().toISOString();
  const scratch = `${DRILL_PREFIX}${randomBytes(6).toString('hex')}`;
  ctx.leftovers.begin(scratch);
  let record: DrillRecord;
  try {
    const { last: m } = await lastManifest(tenant, target, call);
    if (!m) throw new AppError('not_found', `There is no backup of ${tenant} on ${target.name}.`);
    const asOf = new Date(m.segment.lastTimestamp);
    const restored = await restoreMarked(ctx, { tenant, target, asOf, into: scratch, caller, ...options });
    const sourceHash = await stateHash(ctx.stores, tenant, asOf);
    const restoredHash = await stateHash(ctx.stores, scratch, undefined);
    const missing = restored.missingFiles.length;
    const outcome = sourceHash !== restoredHash ? 'failed' : missing > 0 ? 'degraded' : 'ok';
    record = {
      at,
      tier: target.name,
      tenant,
      ok: outcome === 'ok',
      outcome,
      asOf: asOf.toISOString(),
      commits: restored.commits,
      missingFiles: missing,
      sourceHash,
      restoredHash,
      ...(outcome === 'degraded' ? { error: `${missing} file(s) the log references are missing from the backup` } : {}),
    };
  } catch (e) {
    record = {
      at,
      tier: target.name,
      tenant,
      ok: false,
      outcome: 'failed',
      error: `${(e as Error)?.name}: ${(e as Error)?.message}`.slice(0, 300),
    };
  } finally {
    await removeBuiltTenant(ctx, scratch);
    ctx.leftovers.end(scratch);
  }
  try {
    await target.put(drillKey(tenant, at, randomBytes(3).toString('hex')), Buffer.from(JSON.stringify(record, null, 1)), call);
  } catch (e) {
    // A tier that cannot store the drill's record is reported like a failed drill (its
    // status would otherwise keep showing an older drill), and the other tiers still run.
    const outcome =
      record.outcome === 'ok'
        ? 'succeeded'
        : `${record.outcome === 'degraded' ? 'was degraded' : 'failed'} (${record.error ?? 'state hash differs from the source'})`;
    record = {
      ...record,
      ok: false,
      outcome: 'failed',
      error: `The drill ${outcome}, but its record could not be stored on ${target.name}: ${(e as Error)?.message}`.slice(0, 300),
    };
  }
  if (!record.ok)
    ctx.log?.(
      `RESTORE DRILL ${record.outcome.toUpperCase()} for tenant ${tenant} on ${target.name}: ${record.error ?? 'state hash differs from the source'}`,
    );
  return record;
}

/**
 * The state hash: SHA-256 of the tenant's records export as of `asOf` (or now), read from its
 * stores leased behind the ready-check (no tenant user's role is involved).
 */
export async function stateHash(stores: TenantStores, tenant: string, asOf: Date | undefined): Promise<string> {
  return stores.use(
    tenant,
    async (s) => {
      const h = createHash('sha256');
      for await (const line of exportRecordLines({ events: s.events, projections: await s.projections() }, asOf)) h.update(line);
      return h.digest('hex');
    },
    // Transient: a tenant (or scratch tenant) opened only for its hash is closed again after it.
    { transient: true },
  );
}
