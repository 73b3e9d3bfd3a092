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
import { drillKey, drillsPrefix, parseStored } from './chain-format';
import type { BuildContext } from './deps';
import { lastManifest, verify } from './reader';
import { removeBuiltTenant, restoreMarked } from './restore';
import { errorMessage, redact } from '../../redact';

type LatestManifest = Awaited<ReturnType<typeof lastManifest>>;

/** One drill: the latest backup of `tenant` on `target`. */
export interface DrillInput {
  tenant: string;
  target: BackupTarget;
  /**
   * The drill timer's re-proof period: when the last drill on the tier proved this same latest
   * backup (the same manifest, nothing backed up since) less than this long ago, no restore is
   * run; the answer says so (`provenAt`). Unset: always drill (POST …/backups/drill, the CLI).
   */
  reproofAfterMs?: number;
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
  /** What was restored: chain, place and SHA-256 of the tier's latest manifest (lastManifest). */
  manifest?: string;
  /**
   * Only in an answer, never stored: the drill was not repeated, because the drill recorded at
   * this instant proved the same latest backup (DrillInput.reproofAfterMs). The other fields are
   * that drill's.
   */
  provenAt?: string;
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
  let latest: LatestManifest | undefined;
  if (input.reproofAfterMs !== undefined && input.reproofAfterMs > 0) {
    // A check that fails for any reason (a tier that does not answer) just drills.
    const check = await provenAlready(ctx, input, input.reproofAfterMs, call).catch(() => undefined);
    if (check?.proven) return check.proven;
    latest = check?.latest;
  }
  // Scratch tenants of drills that a crash interrupted go first.
  await ctx.leftovers.sweep();
  const at = ctx.clock.now().toISOString();
  const scratch = `${DRILL_PREFIX}${randomBytes(6).toString('hex')}`;
  ctx.leftovers.begin(scratch);
  let record: DrillRecord;
  try {
    // The latest manifest as the check read it (no second listing of the tier), else read now.
    const { last: m, identity } = latest ?? (await lastManifest(tenant, target, call));
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
      ...(identity ? { manifest: identity } : {}),
      ...(outcome === 'degraded' ? { error: `${missing} file(s) the log references are missing from the backup` } : {}),
    };
  } catch (e) {
    record = {
      at,
      tier: target.name,
      tenant,
      ok: false,
      outcome: 'failed',
      error: errorMessage(e),
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
      error: redact(`The drill ${outcome}, but its record could not be stored on ${target.name}: ${(e as Error)?.message}`).slice(0, 300),
    };
  }
  if (!record.ok)
    ctx.log?.(
      `RESTORE DRILL ${record.outcome.toUpperCase()} for tenant ${tenant} on ${target.name}: ${record.error ?? 'state hash differs from the source'}`,
    );
  return record;
}

/**
 * The last drill recorded on the tier, when it proved the tier's latest backup as it is now (the
 * same manifest: nothing backed up since, no new chain) less than `maxAgeMs` ago and the chain
 * still verifies: then that drill's result stands, marked with `provenAt`. An idle tenant's backup is thus restored once
 * per period instead of at every drill run (on Cosmos a drill restores into a scratch
 * container: ~100 RU per commit). Otherwise no `proven`: drill (the latest manifest read here is
 * what it restores).
 */
async function provenAlready(
  ctx: BuildContext,
  input: DrillInput,
  maxAgeMs: number,
  call: { abortSignal?: AbortSignal },
): Promise<{ latest: LatestManifest; proven?: DrillRecord }> {
  const { tenant, target } = input;
  const latest = await lastManifest(tenant, target, call);
  const { identity } = latest;
  if (!identity) return { latest };
  const keys: string[] = [];
  for await (const o of target.list(drillsPrefix(tenant), call)) keys.push(o.key);
  // The newest instant's records (two drills can share one: a manual one and the timer's); all must stand.
  const newest = keys.sort().at(-1);
  if (!newest) return { latest };
  const instant = newest.slice(0, newest.lastIndexOf('-'));
  const records: DrillRecord[] = [];
  for (const key of keys.filter((k) => k.slice(0, k.lastIndexOf('-')) === instant)) {
    const bytes = await target.get(key, call);
    if (!bytes) return { latest };
    records.push(parseStored<DrillRecord>(bytes));
  }
  const last = records[0]!;
  const age = ctx.clock.now().getTime() - Date.parse(last.at);
  if (!(age >= 0 && age < maxAgeMs && records.every((r) => r.ok && r.outcome === 'ok' && r.manifest === identity))) return { latest };
  // The chain's bytes are still checked at every run (hashes, MACs, decryption: verify), at a
  // fraction of a restore's cost; anything wrong there drills, which records the failure.
  const checked = await verify(ctx, tenant, target, { call });
  if (!checked.ok || checked.commits !== last.commits) return { latest };
  return { latest, proven: { ...last, at: ctx.clock.now().toISOString(), tier: target.name, tenant, provenAt: last.at } };
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
