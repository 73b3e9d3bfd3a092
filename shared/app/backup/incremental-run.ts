/**
 * The incremental timer's run (issue 11): backs up every served tenant whose log moved, on
 * every tier, and moves every idle tenant's coverage to the run's instant, at a cost that
 * follows what changed rather than the number of tenants.
 *
 * When every tier's place in the change journal names the run coverage marker the run before
 * wrote there (still on the tier, and not older than the last full backup run that started new
 * chains there), the run is a delta one:
 *  - it looks only at the tenants the journal lists since that place and the ones left pending
 *    there (a fingerprint, then a backup when the log moved: incremental.ts), and asks
 *    `served` only about those;
 *  - it ends each tier with a delta marker on that marker (run-coverage.ts, coverage.ts);
 *  - the tenants the journal does not list are neither listed, fingerprinted nor reported:
 *    their logs have not moved since the run before vouched for them (shared/app/changes/journal-run.ts),
 *    which the delta carries over;
 *  - each tier's place then names the new marker, and as pending the tenants looked at and not
 *    done (failed, or held back by a recent fault).
 * Otherwise (no journal, a first run, a place the journal no longer knows, the daily safety
 * sweep due, a marker missing or a full run since) it is a run over every served tenant
 * (BackupService.backupTenants with runCoverage), ending with full markers the next run builds on.
 * Results are only those of the tenants looked at.
 */
import type { BackupTarget } from '../../ports/backup-target';
import { errorMessage } from '../../redact';
import { changesOnce, JOURNAL_SWEEP_MS } from '../changes/journal-run';
import type { JournalPlace, LogMarks } from '../changes/log-marks';
import { runCoverageAt, runCoverageParts } from './chain-format';
import { readRunMarker, type RunCoverageEntry, runMarkerKeys } from './coverage';
import type { BackupDeps } from './deps';
import { backupTenantIfChanged } from './incremental';
import { type DeltaBase, RunCoverage, type RunCoverageResult, readyTenants, type TenantStatuses } from './run-coverage';
import { type RunLimits, runPerTier, type TierJobResult } from './run';
import type { BackupRunResult } from './writer';

/** Who an incremental run serves (the tenants' use cases answer it: TenantLifecycle.served). */
export interface ServedTenants {
  /** Every tenant served now (a run over every tenant). */
  all(): Promise<string[]>;
  /** Of `ids`: those served now, and those held back now (ready, with a recent fault): looked at again next run. */
  among(ids: readonly string[]): Promise<{ served: string[]; held: string[] }>;
  /** Every tenant held back now. */
  held(): string[];
}

/** What one incremental run did: which kind it was, how many tenants it looked at, and their results. */
export interface IncrementalRun {
  kind: 'delta' | 'full';
  looked: number;
  results: Array<TierJobResult<BackupRunResult>>;
}

/** What the runs use of the backup service. */
export interface RunHost {
  d: BackupDeps;
  targets: readonly BackupTarget[];
  limits: RunLimits;
  running: Set<string>;
  tierMarks(target: BackupTarget): LogMarks;
  /** Saves every tier's changed marks, then its place. */
  flushMarks(): Promise<void>;
  /** A run over every tenant of `tenants` (BackupService.backupTenants). */
  backupTenants(
    tenants: readonly string[],
    options: {
      onResult?: (r: TierJobResult<BackupRunResult>) => void;
      runCoverage: { onResult?: (r: RunCoverageResult) => void; held?: readonly string[] };
    },
  ): Promise<Array<TierJobResult<BackupRunResult>>>;
}

/** One tier's start of a delta run (deltaPlan). */
interface DeltaTier {
  target: BackupTarget;
  marks: LogMarks;
  place: JournalPlace;
  /** The tenants to look at there: listed by the journal since the place, or pending in it. */
  look: ReadonlySet<string>;
  cursor: string | undefined;
  base: DeltaBase;
}

export async function incrementalRun(
  host: RunHost,
  served: ServedTenants,
  options: { onResult?: (r: TierJobResult<BackupRunResult>) => void; onCoverage?: (r: RunCoverageResult) => void } = {},
): Promise<IncrementalRun> {
  const { d } = host;
  // Before the first look (a millisecond back, as backupTenants takes it): what the run confirms holds up to here.
  const at = new Date(d.clock.now().getTime() - 1).toISOString();
  const plan = await deltaPlan(host).catch(() => undefined);
  if (!plan) {
    const tenants = await served.all();
    const results = await host.backupTenants(tenants, {
      ...(options.onResult ? { onResult: options.onResult } : {}),
      runCoverage: { ...(options.onCoverage ? { onResult: options.onCoverage } : {}), held: served.held() },
    });
    return { kind: 'full', looked: tenants.length, results };
  }
  try {
    const listed = new Set(plan.flatMap((t) => [...t.look]));
    const { served: ids, held } = await served.among([...listed]);
    const isServed = new Set(ids);
    const coverage = new RunCoverage(at, new Map(plan.map((t) => [t.target.name, t.base])));
    for (const t of plan) for (const id of t.look) if (!isServed.has(id)) coverage.passedOver(t.target.name, id);
    const markers: Array<Promise<RunCoverageResult>> = [];
    const statuses = statusesPerTurn(host);
    const onTier = new Map(plan.map((t) => [t.target.name, ids.filter((id) => t.look.has(id))]));
    const results = await runPerTier<BackupRunResult>({
      tenants: ids,
      tenantsOn: (target) => onTier.get(target.name) ?? [],
      targets: plan.map((t) => t.target),
      limits: host.limits,
      running: host.running,
      what: 'backup',
      job: (tenant, target, abortSignal) =>
        backupTenantIfChanged(d, host.tierMarks(target), tenant, target, { abortSignal, ...vouchFor(coverage, target, tenant) }),
      failed: (tenant, target, error) => failedBackup(host, tenant, target, error),
      onResult: (r) => {
        coverage.settle(r.tier, r.tenant, r.result);
        options.onResult?.(r);
      },
      onTierDone: (target) => markers.push(writeMarker(host, coverage, target, statuses, options.onCoverage)),
    });
    const written = await Promise.all(markers);
    const keep = new Set([...ids, ...held]);
    for (const t of plan) {
      const tier = t.target.name;
      const ok = new Set<string>();
      for (const r of results)
        if (r.tier === tier) {
          if (r.result.ok) ok.add(r.tenant);
          else await t.marks.forget(r.tenant);
        }
      // Listed and not served (held back, no longer ready, gone): their marks no longer vouch for them.
      for (const id of t.look) if (!isServed.has(id)) await t.marks.forget(id);
      const marker = written.find((c) => c.tier === tier);
      t.marks.setJournalPlace({
        cursor: t.cursor,
        // Looked at and not done, still served or held back: looked at again next time.
        pending: [...t.look].filter((id) => !ok.has(id) && keep.has(id)),
        sweptAt: t.place.sweptAt,
        // No marker written: the next run has nothing to build on and looks at every tenant.
        ...(marker?.ok && marker.key ? { marker: marker.key } : {}),
      });
    }
    return { kind: 'delta', looked: ids.length, results };
  } finally {
    await host.flushMarks();
  }
}

/**
 * Per tier, where a delta run starts, or undefined when one tier cannot have one: its place,
 * what the journal lists since it (with the place's pending tenants), and the marker the place
 * names (read only when it is a delta itself: a new delta copies its lists).
 */
async function deltaPlan(host: RunHost): Promise<DeltaTier[] | undefined> {
  const { directory, clock } = host.d;
  if (!directory.changesSince || !directory.listTenantIdPage || host.targets.length === 0) return undefined;
  const now = clock.now().getTime();
  const changesSince = changesOnce(directory);
  const plan: DeltaTier[] = [];
  for (const target of host.targets) {
    const marks = host.tierMarks(target);
    if (!marks.supported) return undefined;
    const place = await marks.journalPlace();
    const parts = place.marker ? runCoverageParts(place.marker) : undefined;
    const sinceSweep = now - (place.sweptAt ? Date.parse(place.sweptAt) : Number.NaN);
    if (!place.cursor || !place.marker || !parts || !(sinceSweep >= 0 && sinceSweep < JOURNAL_SWEEP_MS)) return undefined;
    // A full run since the full marker started new chains that its entries do not name.
    const rebased = await marks.rebasedAt();
    if (rebased !== undefined && !(rebased < (parts.base ? runCoverageAt(parts.base)! : parts.at))) return undefined;
    const changes = await changesSince(place.cursor);
    if (changes.all) return undefined;
    // The marker the place names, and the full one it rests on, still on the tier.
    const keys = new Set(await runMarkerKeys(target));
    if (!keys.has(place.marker) || (parts.base && !keys.has(parts.base))) return undefined;
    const marker = parts.base ? await readRunMarker(target, place.marker) : undefined;
    if (parts.base && !marker) return undefined;
    plan.push({
      target,
      marks,
      place,
      look: new Set([...changes.tenants, ...place.pending]),
      cursor: changes.cursor,
      base: { key: place.marker, ...(marker ? { marker } : {}) },
    });
  }
  return plan;
}

/** A job's hooks that vouch for its tenant in the run's markers: an unchanged log's last clean backup, or a clean backup that read the log after the run's instant. */
export function vouchFor(coverage: RunCoverage, target: BackupTarget, tenant: string) {
  return {
    onUnchanged: (c: RunCoverageEntry) => coverage.candidate(target.name, tenant, c),
    onRecorded: (c: RunCoverageEntry, coveredUntil: string) => {
      if (coveredUntil >= coverage.at) coverage.candidate(target.name, tenant, c);
    },
  };
}

/** Notes on each tier where a full run started a new chain that it did (LogMarks.noteRebased): the next incremental run there looks at every tenant. */
export async function noteRebased(host: RunHost, results: ReadonlyArray<TierJobResult<BackupRunResult>>): Promise<void> {
  const at = host.d.clock.now().toISOString();
  for (const target of host.targets)
    if (results.some((r) => r.tier === target.name && r.result.ok && !r.result.unchanged))
      await host
        .tierMarks(target)
        .noteRebased(at)
        .catch((e: unknown) => host.d.log?.(`backup on ${target.name}: the full run could not be noted (${errorMessage(e)})`));
}

/** The result of a backup job that threw, passed its deadline or was skipped (logged). */
export function failedBackup(host: RunHost, tenant: string, target: BackupTarget, error: string): BackupRunResult {
  host.d.log?.(`backup of tenant ${tenant} to ${target.name} failed: ${error}`);
  return { tier: target.name, ok: false, segments: 0, commits: 0, lastTimestamp: null, error };
}

/** Writes `target`'s run coverage marker (RunCoverage.writeTier), logging a failure and telling `onResult`. */
export async function writeMarker(
  host: RunHost,
  coverage: RunCoverage,
  target: BackupTarget,
  statuses: () => Promise<TenantStatuses>,
  onResult?: (r: RunCoverageResult) => void,
): Promise<RunCoverageResult> {
  const c = await coverage.writeTier(target, statuses, host.limits.tierDeadlineMs);
  if (!c.ok) host.d.log?.(`run coverage marker on ${c.tier} failed: ${c.error}`);
  onResult?.(c);
  return c;
}

/**
 * Which tenants are ready now, for the markers written after a tier's work: one read for the
 * tiers done in the same turn of the loop (an idle run: all of them), a new one for a tier done later.
 */
export function statusesPerTurn(host: RunHost): () => Promise<TenantStatuses> {
  let now: Promise<TenantStatuses> | undefined;
  return () => {
    if (!now) {
      now = readyTenants(host.d.directory);
      setImmediate(() => {
        now = undefined;
      });
    }
    return now;
  };
}
