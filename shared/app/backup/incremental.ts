/**
 * Incremental backups that scale with change, not with the number of tenants: a tenant whose
 * log has not moved since its last clean backup on a tier is skipped there (nothing listed, read
 * or written), and its coverage marker is renewed by one put once it is COVERAGE_REFRESH_MS old.
 * A run decides the idle tenants of every tier up front (`idleResults`: one log fingerprint per
 * tenant, whatever the number of tiers, then plain look-ups in each tier's marks), so only the
 * tenants with something to do on a tier go through the run's queue and deadline there
 * (`backupTenantIfChanged`, which looks again with a fingerprint of its own).
 */
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { LogMarks } from '../changes/log-marks';
import { chainPrefix } from './chain-format';
import { COVERAGE_FORMAT, type CoverageMarker, coverageKey } from './coverage';
import type { BackupDeps } from './deps';
import { manifestKeys } from './reader';
import { type BackupRunResult, backupTenant } from './writer';

/** An idle tenant's coverage on a tier is renewed (one marker, no listing) at most this often. */
export const COVERAGE_REFRESH_MS = 60 * 60_000;

/** What the last clean backup on a tier recorded with its mark (LogMarks detail). */
interface SkipDetail {
  chain: number;
  manifests: number;
  coveredUntil: string;
}

/**
 * What an incremental run may do for `tenant` on a tier given its log fingerprint `fp`: `skip`
 * (the log has not moved and the coverage is fresh: `result` is the whole answer), `renew` (the
 * log has not moved but the coverage is COVERAGE_REFRESH_MS old), or undefined (back it up: no
 * fingerprint, a moved log, or no usable record of the last backup).
 */
async function idleDecision(
  marks: LogMarks,
  tenant: string,
  tier: string,
  fp: string | undefined,
  nowMs: number,
): Promise<{ kind: 'skip'; result: BackupRunResult } | { kind: 'renew'; last: SkipDetail; skipped: BackupRunResult } | undefined> {
  if (!(await marks.unchanged(tenant, fp))) return undefined;
  const last = parseSkipDetail(await marks.detail(tenant));
  if (!last) return undefined;
  const skipped: BackupRunResult = { tier, ok: true, segments: 0, commits: 0, lastTimestamp: null, chain: last.chain, unchanged: true };
  return nowMs - Date.parse(last.coveredUntil) < COVERAGE_REFRESH_MS ? { kind: 'skip', result: skipped } : { kind: 'renew', last, skipped };
}

/**
 * An incremental backup of `tenant` to `target` that scales with change: when the tenant's log
 * fingerprint (two stats on the embedded store, shared/app/changes/log-marks.ts), taken now, is
 * the one recorded after the last successful run on this tier, the log has not moved and nothing
 * is listed, read or written on the tier. So that restores "as of" a recent instant keep working
 * for idle tenants, the tier's coverage marker is renewed by a single put once it is
 * COVERAGE_REFRESH_MS old (the chain still holds every commit, as none was made since). Stores
 * without fingerprints back up every time.
 */
export async function backupTenantIfChanged(
  d: BackupDeps,
  marks: LogMarks,
  tenant: string,
  target: BackupTarget,
  options: { full?: boolean; abortSignal?: AbortSignal } = {},
): Promise<BackupRunResult> {
  const call: TargetCallOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const fp = await marks.fingerprint(tenant, call).catch(() => undefined);
  // A full run never skips (it starts a new chain and rechecks every file); it records its chain.
  const now = d.clock.now();
  const idle = options.full ? undefined : await idleDecision(marks, tenant, target.name, fp, now.getTime());
  if (idle?.kind === 'skip') return idle.result;
  if (idle?.kind === 'renew') {
    try {
      const at = now.toISOString();
      const { last } = idle;
      const marker: CoverageMarker = {
        format: COVERAGE_FORMAT,
        tenant,
        chain: last.chain,
        at,
        manifests: last.manifests,
        missingFiles: [],
      };
      await target.put(coverageKey(chainPrefix(tenant, last.chain), at), Buffer.from(JSON.stringify(marker)), call);
      await marks.record(tenant, fp, JSON.stringify({ ...last, coveredUntil: at }));
      return { ...idle.skipped, coveredUntil: at };
    } catch {
      // Fall through to a whole run, which reports what is wrong with the tier.
    }
  }
  const r = await backupTenant(d, tenant, target, options);
  // Only a complete, clean run may let later runs skip (and only for the log it read); any
  // other outcome (missing files, a failure) makes the next run a whole one again.
  if (r.ok && !r.missingFiles && r.chain !== undefined && r.coveredUntil) {
    const manifests = (await manifestKeys(tenant, target, r.chain, call).catch(() => undefined))?.length;
    if (manifests !== undefined)
      await marks.record(tenant, fp, JSON.stringify({ chain: r.chain, manifests, coveredUntil: r.coveredUntil }));
  } else await marks.forget(tenant);
  return r;
}

/**
 * The idle part of an incremental run over `tenants`, decided before any tier work starts: per
 * tier, the tenants whose log fingerprint is the one recorded after their last clean backup
 * there and whose coverage is fresh, with the `unchanged` result a job would report for them.
 * Each tenant's fingerprint is taken once for all tiers, `concurrency` tenants at a time. A
 * tenant left out on a tier (moved, never backed up, coverage to renew, no fingerprint, a
 * failed look) is backed up there by the run's job, which looks again with a fresh fingerprint
 * (so a coverage renewal never rests on this older look). Decisions stop at `budgetMs` (a
 * store that does not answer): the tenants not looked at by then are left to the jobs.
 */
export async function idleResults(input: {
  tenants: readonly string[];
  tiers: ReadonlyArray<{ name: string; marks: LogMarks }>;
  fingerprint: (tenant: string, call: TargetCallOptions) => Promise<string | undefined>;
  nowMs: () => number;
  concurrency: number;
  budgetMs: number;
}): Promise<Map<string, Map<string, BackupRunResult>>> {
  const { tenants, tiers, fingerprint, nowMs, concurrency, budgetMs } = input;
  const out = new Map<string, Map<string, BackupRunResult>>(tiers.map((t) => [t.name, new Map()]));
  if (tenants.length === 0 || tiers.length === 0) return out;
  // Set once the answer is given: a look still under way past the budget no longer writes into it.
  const stop = new AbortController();
  let next = 0;
  const look = async (): Promise<void> => {
    while (next < tenants.length && !stop.signal.aborted) {
      const tenant = tenants[next++]!;
      const fp = await fingerprint(tenant, { abortSignal: stop.signal }).catch(() => undefined);
      if (fp === undefined || stop.signal.aborted) continue;
      const now = nowMs();
      for (const { name, marks } of tiers) {
        const idle = await idleDecision(marks, tenant, name, fp, now);
        if (idle?.kind === 'skip' && !stop.signal.aborted) out.get(name)?.set(tenant, idle.result);
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      stop.abort();
      resolve();
    }, budgetMs);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: Math.min(concurrency, tenants.length) }, look)), overdue]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  return out;
}

function parseSkipDetail(detail: string | undefined): SkipDetail | undefined {
  try {
    const v = JSON.parse(detail ?? '') as { chain?: unknown; manifests?: unknown; coveredUntil?: unknown };
    return Number.isSafeInteger(v.chain) && Number.isSafeInteger(v.manifests) && typeof v.coveredUntil === 'string'
      ? { chain: v.chain as number, manifests: v.manifests as number, coveredUntil: v.coveredUntil }
      : undefined;
  } catch {
    return undefined;
  }
}
