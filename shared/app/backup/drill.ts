/**
 * Restore drills: a backup counts only when a restore has proven it. A drill restores the
 * latest backup on a tier into a scratch tenant, compares state hashes with the source, records
 * the outcome on the tier and removes the scratch tenant.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../domain/errors';
import type { BackupTarget } from '../../ports/backup-target';
import type { OperatorPrincipal } from '../../ports/operator-auth';
import type { RecordService } from '../records';
import { DRILL_PREFIX, type RequestInfo } from '../service';
import { drillKey } from './chain-format';
import type { BuildContext } from './deps';
import { lastManifest } from './reader';
import { removeBuiltTenant, restoreMarked } from './restore';

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
  tenant: string,
  target: BackupTarget,
  operator: OperatorPrincipal,
  req: RequestInfo,
  options: { abortSignal?: AbortSignal } = {},
): Promise<DrillRecord> {
  const records = ctx.records;
  if (!records) throw new Error('BackupService needs the RecordService for drills.');
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
    const restored = await restoreMarked(ctx, { tenant, target, asOf, into: scratch, operator, req, ...options });
    const sourceHash = await exportHash(records, tenant, asOf);
    const restoredHash = await exportHash(records, scratch, undefined);
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

/** The state hash: SHA-256 of the tenant's export as of `asOf`. */
async function exportHash(records: RecordService, tenant: string, asOf: Date | undefined): Promise<string> {
  const h = createHash('sha256');
  const reader = { tenantId: tenant, userId: 'system:drill', email: 'drill@system', roles: ['viewer' as const] };
  for await (const line of records.exportRecords(reader, asOf)) h.update(line);
  return h.digest('hex');
}
