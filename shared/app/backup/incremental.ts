/**
 * Incremental backups that scale with change, not with the number of tenants: a tenant whose
 * log has not moved since its last clean backup on a tier is skipped there (nothing listed, read
 * or written). A run decides the idle tenants of every tier up front (`idleResults`: one log
 * fingerprint per tenant the change journal lists, or per tenant without a journal, whatever
 * the number of tiers, then plain look-ups in each tier's marks; journal.ts), so only the
 * tenants with something to do on a tier go through the run's queue and
 * deadline there (`backupTenantIfChanged`, which looks again with a fingerprint of its own). So
 * that restores "as of" a recent instant keep working for idle tenants, a run over the tenants
 * writes one run coverage marker per tier listing the tenants it found unchanged
 * (run-coverage.ts); no put is made per idle tenant (issue 11: the hourly per-tenant renewal
 * this replaces was ~30,000 puts an hour at 10,000 tenants and 3 tiers).
 */
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import { LogMarks } from '../changes/log-marks';
import type { RunCoverageEntry } from './coverage';
import type { BackupDeps } from './deps';
import { manifestKeys } from './reader';
import { type BackupRunResult, backupTenant } from './writer';

/**
 * What the last clean backup on a tier recorded with its mark (LogMarks detail, JSON; marks
 * written by earlier versions have the same fields). `coveredUntil` is that backup's own
 * coverage; it is recorded and required as before but no longer decides anything.
 */
interface SkipDetail {
  chain: number;
  manifests: number;
  coveredUntil: string;
  /** The full run that started this chain: when, and how many manifests it wrote (known when a run of this version made it). */
  base?: { at: string; manifests: number };
}

/** An idle tenant on a tier: the result reported for it, and what the skip rests on (its last clean backup there). */
export interface IdleTenant {
  result: BackupRunResult;
  covered: RunCoverageEntry;
}

/**
 * Whether an incremental run may skip `tenant` on a tier given its log fingerprint `fp`: the
 * log has not moved since the last clean backup there, with a usable record of that backup.
 * Undefined: back it up (no fingerprint, a moved log, or no usable record).
 */
async function idleDecision(marks: LogMarks, tenant: string, tier: string, fp: string | undefined): Promise<IdleTenant | undefined> {
  if (!(await marks.unchanged(tenant, fp))) return undefined;
  const value = await marks.current(tenant);
  return value === undefined ? undefined : idleFromMark(marks, tenant, tier, value);
}

function idleTenant(tier: string, last: Pick<SkipDetail, 'chain' | 'manifests'>): IdleTenant {
  return {
    result: { tier, ok: true, segments: 0, commits: 0, lastTimestamp: null, chain: last.chain, unchanged: true },
    covered: { chain: last.chain, manifests: last.manifests },
  };
}

/**
 * Whether a full run may leave `tenant` on a tier as it is: the log has not moved since the last
 * clean backup there, that backup's chain is still only what the full run that started it wrote
 * (nothing to consolidate: a new chain would hold the same commits) and that run is younger than
 * `rebaseAfterMs`.
 */
async function fullDecision(
  marks: LogMarks,
  tenant: string,
  tier: string,
  fp: string | undefined,
  now: number,
  rebaseAfterMs: number,
): Promise<IdleTenant | undefined> {
  const idle = await idleDecision(marks, tenant, tier, fp);
  const last = idle && parseSkipDetail(await marks.detail(tenant));
  const age = last?.base ? now - Date.parse(last.base.at) : Number.NaN;
  return last?.base && last.manifests === last.base.manifests && age >= 0 && age < rebaseAfterMs ? idle : undefined;
}

/**
 * An incremental backup of `tenant` to `target` that scales with change: when the tenant's log
 * fingerprint (two stats on the embedded store, shared/app/changes/log-marks.ts), taken now, is
 * the one recorded after the last successful run on this tier, the log has not moved and nothing
 * is listed, read or written on the tier (`onUnchanged` hears what the skip rests on, for the
 * run's coverage marker). Stores without fingerprints back up every time.
 */
export async function backupTenantIfChanged(
  d: BackupDeps,
  marks: LogMarks,
  tenant: string,
  target: BackupTarget,
  options: {
    full?: boolean;
    /** With `full`: a tenant whose chain is only the base of its unchanged log, younger than this, is left as it is. */
    rebaseAfterMs?: number;
    abortSignal?: AbortSignal;
    onUnchanged?: (covered: RunCoverageEntry) => void;
    /** A clean backup was recorded: what the chain now holds (every commit stamped up to `coveredUntil`). */
    onRecorded?: (covered: RunCoverageEntry, coveredUntil: string) => void;
  } = {},
): Promise<BackupRunResult> {
  const call: TargetCallOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const fp = await marks.fingerprint(tenant, call).catch(() => undefined);
  const now = d.clock.now();
  // A full run skips only a chain that is just the base of the unchanged log, younger than
  // rebaseAfterMs (otherwise it starts a new chain and rechecks every file); it records its chain.
  const idle = options.full
    ? options.rebaseAfterMs
      ? await fullDecision(marks, tenant, target.name, fp, now.getTime(), options.rebaseAfterMs)
      : undefined
    : await idleDecision(marks, tenant, target.name, fp);
  if (idle) {
    options.onUnchanged?.(idle.covered);
    return idle.result;
  }
  const before = parseSkipDetail(await marks.detail(tenant));
  const r = await backupTenant(d, tenant, target, options);
  // Only a complete, clean run may let later runs skip (and only for the log it read); any
  // other outcome (missing files, a failure) makes the next run a whole one again.
  if (r.ok && !r.missingFiles && r.chain !== undefined && r.coveredUntil) {
    const manifests = (await manifestKeys(tenant, target, r.chain, call).catch(() => undefined))?.length;
    // The chain's base: this run when it was a full one, else the one known for the same chain.
    const base =
      options.full && manifests !== undefined ? { at: now.toISOString(), manifests } : before?.chain === r.chain ? before.base : undefined;
    if (manifests !== undefined) {
      await marks.record(
        tenant,
        fp,
        JSON.stringify({ chain: r.chain, manifests, coveredUntil: r.coveredUntil, ...(base ? { base } : {}) }),
      );
      options.onRecorded?.({ chain: r.chain, manifests }, r.coveredUntil);
    }
  } else await marks.forget(tenant);
  return r;
}

/** A tier as the idle part of a run sees it: its marks, and the tenants its journal place lists (undefined: every tenant is looked at). */
export interface IdleTier {
  name: string;
  marks: LogMarks;
  listed?: ReadonlySet<string> | undefined;
}

/**
 * The idle part of an incremental run over `tenants`, decided before any tier work starts: per
 * tier, the tenants whose log has not moved since their last clean backup there, with the
 * `unchanged` result a job would report for them and what the skip rests on.
 *  - A tier with a journal place (`listed`, from the directory's change journal, journal.ts)
 *    takes no fingerprint of a tenant the journal does not list: its log has not moved since
 *    its mark was recorded, so a clean backup's mark is enough.
 *  - The others are looked at: each tenant's fingerprint is taken once for all tiers,
 *    `concurrency` tenants at a time, and compared with each tier's mark.
 * A tenant left out on a tier (moved, never backed up, no fingerprint, a failed look) is backed
 * up there by the run's job, which looks again with a fresh fingerprint. Looks stop at
 * `budgetMs` (a store that does not answer): the tenants not looked at by then are left to the
 * jobs.
 */
export async function idleResults(input: {
  tenants: readonly string[];
  tiers: readonly IdleTier[];
  fingerprint: (tenant: string, call: TargetCallOptions) => Promise<string | undefined>;
  concurrency: number;
  budgetMs: number;
}): Promise<IdleLookup> {
  const { tiers, fingerprint, concurrency, budgetMs } = input;
  const listedOn = (tier: IdleTier, tenant: string) => !tier.listed || tier.listed.has(tenant);
  // Per tier: the marks (read once), and the decisions made from a fingerprint.
  const byTier = new Map(
    await Promise.all(
      tiers.map(
        async (t) => [t.name, { tier: t, marks: await t.marks.recorded(), looked: new Map<string, IdleTenant | undefined>() }] as const,
      ),
    ),
  );
  // Unlisted on every tier: decided from the marks alone, when asked (IdleLookup).
  const tenants = input.tenants.filter((tenant) => tiers.some((t) => listedOn(t, tenant)));
  // Set once the answer is given: a look still under way past the budget no longer writes into it.
  const stop = new AbortController();
  let next = 0;
  const look = async (): Promise<void> => {
    while (next < tenants.length && !stop.signal.aborted) {
      const tenant = tenants[next++]!;
      const fp = await fingerprint(tenant, { abortSignal: stop.signal }).catch(() => undefined);
      if (stop.signal.aborted || fp === undefined) continue;
      for (const t of tiers) {
        const idle = await idleDecision(t.marks, tenant, t.name, fp);
        if (!stop.signal.aborted) byTier.get(t.name)?.looked.set(tenant, idle);
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
    if (tenants.length > 0) await Promise.race([Promise.all(Array.from({ length: Math.min(concurrency, tenants.length) }, look)), overdue]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  return (tierName, tenant) => {
    const t = byTier.get(tierName);
    if (!t) return undefined;
    if (t.looked.has(tenant)) return t.looked.get(tenant);
    // Not looked at: idle only where the journal does not list it (else its job looks).
    if (listedOn(t.tier, tenant)) return undefined;
    const value = t.marks.get(tenant);
    return value === undefined ? undefined : idleFromMark(t.tier.marks, tenant, tierName, value);
  };
}

/** What idleResults answers: the idle tenant on a tier, or undefined (its job backs it up, looking again). */
export type IdleLookup = (tier: string, tenant: string) => IdleTenant | undefined;

/** Parsed marks per tier, by tenant: the recorded value they were parsed from and the decision (marks change only with a tenant's backups). */
const parsed = new WeakMap<LogMarks, Map<string, { value: string; idle: IdleTenant | undefined }>>();

/** An idle tenant from the mark it has on a tier (recorded `value`): when that mark records a clean backup. */
function idleFromMark(marks: LogMarks, tenant: string, tier: string, value: string): IdleTenant | undefined {
  const cache = parsed.get(marks) ?? new Map<string, { value: string; idle: IdleTenant | undefined }>();
  parsed.set(marks, cache);
  let hit = cache.get(tenant);
  if (hit?.value !== value) {
    const last = quickSkipDetail(LogMarks.detailOf(value));
    hit = { value, idle: last && idleTenant(tier, last) };
    cache.set(tenant, hit);
  }
  // A result of its own for each run (callers may add to it); what it rests on is shared.
  return hit.idle && { result: { ...hit.idle.result }, covered: hit.idle.covered };
}

/**
 * The chain and manifests of a skip detail as this version writes it, read without JSON.parse
 * (30,000 of them at a start of a run over 10,000 tenants and 3 tiers cost ~50 ms); any other
 * text goes through parseSkipDetail, which checks every field.
 */
const WRITTEN =
  /^\{"chain":(\d{1,15}),"manifests":(\d{1,15}),"coveredUntil":"[^"\\]*"(?:,"base":\{"at":"[^"\\]*","manifests":\d{1,15}\})?\}$/;
function quickSkipDetail(detail: string | undefined): Pick<SkipDetail, 'chain' | 'manifests'> | undefined {
  const m = detail === undefined ? null : WRITTEN.exec(detail);
  return m ? { chain: Number(m[1]), manifests: Number(m[2]) } : parseSkipDetail(detail);
}

function parseSkipDetail(detail: string | undefined): SkipDetail | undefined {
  try {
    const v = JSON.parse(detail ?? '') as {
      chain?: unknown;
      manifests?: unknown;
      coveredUntil?: unknown;
      base?: { at?: unknown; manifests?: unknown };
    };
    return Number.isSafeInteger(v.chain) && Number.isSafeInteger(v.manifests) && typeof v.coveredUntil === 'string'
      ? {
          chain: v.chain as number,
          manifests: v.manifests as number,
          coveredUntil: v.coveredUntil,
          ...(typeof v.base?.at === 'string' && Number.isSafeInteger(v.base.manifests)
            ? { base: { at: v.base.at, manifests: v.base.manifests as number } }
            : {}),
        }
      : undefined;
  } catch {
    return undefined;
  }
}
