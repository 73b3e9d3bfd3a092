/**
 * BackupService: the backup use cases behind one object for the functions, timers and CLI —
 * backups per tier (writer.ts; incremental runs that skip idle tenants: incremental.ts), status
 * (status.ts), verify and chain walks (reader.ts), retention (retention.ts, writer.ts), restores
 * (restore.ts) and drills (drill.ts). It holds what the runs share: the tiers, the run limits,
 * the runs in progress and the tenants being built here.
 */
import { AppError } from '../../domain/errors';
import type { Commit } from '../../domain/events';
import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { OperationOptions } from '../../ports/options';
import type { ProgressSink } from '../progress';
import type { RequestInfo } from '../service';
import type { ChainInfo } from './chain-format';
import type { BackupDeps, BuildContext } from './deps';
import type { BackupCaller } from './caller';
import { type DrillInput, type DrillRecord, drill, stateHash } from './drill';
import { LeftoverTenants } from './leftovers';
import { listChains, type ReadChainOptions, readChain, type VerifyResult, verify } from './reader';
import type { RetentionPolicy } from './retention';
import { type RestoreInput, type RestoreOptions, type RestoreResult, removeBuiltTenant, restore } from './restore';
import { DEFAULT_RUN_LIMITS, type RunLimits, runPerTier, type TierJobResult, tierProgress } from './run';
import { backupStatus, type TierStatus } from './status';
import { LogMarks } from '../changes/log-marks';
import { backupTenantIfChanged, type IdleLookup, idleResults } from './incremental';
import { type JournalLook, lookUpJournal } from './journal';
import { RunCoverage, type RunCoverageResult } from './run-coverage';
import {
  failedBackup,
  type IncrementalRun,
  incrementalRun,
  noteRebased,
  type RunHost,
  type ServedTenants,
  statusesPerTurn,
  vouchFor,
  writeMarker,
} from './incremental-run';
import { applyRetention, type BackupRunResult, backupTenant } from './writer';

/** A backup (or drill) result of one tenant on one tier, as the runs report it. */
export type TenantTierResult<R> = TierJobResult<R>;

/** Tenants whose log fingerprint an incremental run takes at once (before the tiers' work). */
const FINGERPRINT_CONCURRENCY = 16;

export class BackupService {
  /** Tenant/tier pairs with a backup or drill in progress in this process. */
  readonly running = new Set<string>();
  /** Restore and drill tenants being built in this process; crash leftovers are removed. */
  readonly leftovers: LeftoverTenants;
  private readonly ctx: BuildContext;
  /** Per tier: what each tenant's log looked like at its last clean backup there (skips idle tenants). */
  private readonly marks = new Map<string, LogMarks>();

  constructor(private readonly d: BackupDeps) {
    this.leftovers = new LeftoverTenants({
      directory: d.directory,
      exclusive: d.exclusiveStore ?? false,
      remove: (id) => removeBuiltTenant(d, id),
      now: () => d.clock.now().getTime(),
      ...(d.log ? { log: d.log } : {}),
    });
    this.ctx = { ...d, leftovers: this.leftovers };
  }

  private get limits(): RunLimits & { statusTimeoutMs: number } {
    return { ...DEFAULT_RUN_LIMITS, statusTimeoutMs: 15_000, ...this.d.limits };
  }

  get targets(): BackupTarget[] {
    return this.d.targets ?? [];
  }

  target(tier: string): BackupTarget {
    const t = this.targets.find((x) => x.name === tier);
    if (!t)
      throw new AppError(
        'not_found',
        `No backup tier named "${tier}" is configured (tiers: ${this.targets.map((x) => x.name).join(', ') || 'none'}).`,
      );
    return t;
  }

  /**
   * Backs the tenant up to every tier. Tiers run independently, each with the tier deadline:
   * one tier failing or hanging never blocks the others, and the answer comes within the
   * deadline. `full` starts a new chain (a fresh base that rechecks every file the log references).
   */
  async backupAllTiers(tenant: string, options: { full?: boolean; onProgress?: ProgressSink } = {}): Promise<BackupRunResult[]> {
    const { onProgress, ...run } = options;
    const onResult = tierProgress(onProgress, this.targets.length);
    return (await this.backupTenants([tenant], { ...run, ...(onResult ? { onResult } : {}) })).map((r) => r.result);
  }

  /**
   * Backs up every tenant to every tier (the timers): each tier works through the tenants on
   * its own, `concurrency` at a time, each tenant with the tier deadline; a tier that timed out
   * is skipped for the rest of the run. `after` runs inside the same deadline after a
   * successful backup (the daily run applies retention there). `runCoverage` (the incremental
   * timer's run over every tenant: give it every served tenant) ends each tier, as soon as it
   * is done, with a full run coverage marker (run-coverage.ts; none without fingerprints, e.g.
   * Cosmos) and moves each tier's place in the change journal (journal.ts). Runs for some
   * tenants only (POST …/backups, the CLI) write none: a marker of one tenant would push the
   * markers of whole runs out of the few a tier keeps.
   */
  async backupTenants<X extends object = object>(
    tenants: readonly string[],
    options: {
      full?: boolean;
      /** With `full` (the daily run): a tenant whose chain is only the base of its unchanged log, younger than this, is left as it is (`unchanged`, no `after`). */
      rebaseAfterMs?: number;
      after?: (tenant: string, target: BackupTarget, call: TargetCallOptions) => Promise<X>;
      onResult?: (r: TenantTierResult<BackupRunResult & Partial<X>>) => void;
      runCoverage?: {
        onResult?: (r: RunCoverageResult) => void;
        /** Served tenants held back now (not in `tenants`: a recent fault): looked at again by the next run. */
        held?: readonly string[];
      };
    } = {},
  ): Promise<Array<TenantTierResult<BackupRunResult & Partial<X>>>> {
    try {
      // Before the first look (and a millisecond back, so that a commit stamped in the same
      // millisecond after a look is not claimed): what the run confirms holds up to here.
      const at = new Date(this.d.clock.now().getTime() - 1).toISOString();
      // Idle tenants (log unchanged) are known before any tier work starts (a run over the
      // tenants asks the change journal which to look at); a full run or one with `after` runs every tenant.
      const { idle, journal } = options.full || options.after ? {} : await this.idleResults(tenants, !!options.runCoverage);
      const covered = options.runCoverage && idle ? new RunCoverage(at) : undefined;
      const markers: Array<Promise<RunCoverageResult>> = [];
      const stillReady = statusesPerTurn(this.runHost);
      const known = (tenant: string, target: BackupTarget) => {
        const i = idle?.(target.name, tenant);
        if (i) covered?.confirmed(target.name, tenant, i.covered);
        return i?.result as (BackupRunResult & Partial<X>) | undefined;
      };
      const results = await runPerTier<BackupRunResult & Partial<X>>({
        tenants,
        targets: this.targets,
        limits: this.limits,
        running: this.running,
        what: 'backup',
        ...(idle ? { known } : {}),
        job: async (tenant, target, abortSignal) => {
          // The others: backed up, or skipped after a fresh look (one that failed up front).
          const r = (await backupTenantIfChanged(this.d, this.tierMarks(target), tenant, target, {
            ...(options.full ? { full: true, ...(options.rebaseAfterMs ? { rebaseAfterMs: options.rebaseAfterMs } : {}) } : {}),
            abortSignal,
            ...(covered ? vouchFor(covered, target, tenant) : {}),
          })) as BackupRunResult & Partial<X>;
          if (r.ok && !r.unchanged && options.after) Object.assign(r, await options.after(tenant, target, { abortSignal }));
          return r;
        },
        failed: (tenant, target, error) => failedBackup(this.runHost, tenant, target, error) as BackupRunResult & Partial<X>,
        onResult: (r) => {
          covered?.settle(r.tier, r.tenant, r.result);
          options.onResult?.(r);
        },
        // Each tier's marker as soon as that tier is done: a hanging tier holds back only its own.
        ...(covered
          ? {
              onTierDone: (target: BackupTarget) =>
                markers.push(writeMarker(this.runHost, covered, target, stillReady, options.runCoverage?.onResult)),
            }
          : {}),
      });
      // Each tier's place names the marker written there: the next run builds a delta on it.
      const written = new Map((await Promise.all(markers)).flatMap((c) => (c.ok && c.key ? [[c.tier, c.key] as const] : [])));
      await journal?.settle(results, tenants, {
        markers: written,
        ...(options.runCoverage?.held ? { held: options.runCoverage.held } : {}),
      });
      // A full run started new chains: the markers the next runs would build on vouch for the old ones.
      if (options.full) await noteRebased(this.runHost, results);
      return results;
    } finally {
      await this.runHost.flushMarks();
    }
  }

  /** The incremental timer's run: a delta run when it can be, else a run over every served tenant (incremental-run.ts). */
  incrementalRun(
    served: ServedTenants,
    options: { onResult?: (r: TenantTierResult<BackupRunResult>) => void; onCoverage?: (r: RunCoverageResult) => void } = {},
  ): Promise<IncrementalRun> {
    return incrementalRun(this.runHost, served, options);
  }

  /** What the incremental runs use of this service. */
  private get runHost(): RunHost {
    return {
      d: this.d,
      targets: this.targets,
      limits: this.limits,
      running: this.running,
      tierMarks: (t) => this.tierMarks(t),
      flushMarks: () => Promise.all([...this.marks.values()].map((m) => m.flush({ force: true }))).then(() => undefined),
      backupTenants: (tenants, options) => this.backupTenants(tenants, options),
    };
  }

  /**
   * Per tier, the tenants an incremental run reports unchanged without a job (incremental.ts);
   * `useJournal` (a run over the tenants): only those the change journal lists are
   * fingerprinted (journal.ts). No `idle` without fingerprints (every tenant is run).
   */
  private async idleResults(tenants: readonly string[], useJournal: boolean): Promise<{ idle?: IdleLookup; journal?: JournalLook }> {
    const tiers = this.targets.map((t) => ({ name: t.name, marks: this.tierMarks(t) }));
    const first = tiers[0]?.marks;
    if (!first?.supported) return {};
    const journal = useJournal ? await lookUpJournal(this.d.directory, tiers, this.d.clock.now()) : undefined;
    const idle = await idleResults({
      tenants,
      tiers: journal?.tiers ?? tiers,
      fingerprint: (tenant, call) => first.fingerprint(tenant, call),
      concurrency: FINGERPRINT_CONCURRENCY,
      budgetMs: this.limits.tierDeadlineMs,
    });
    return { idle, ...(journal ? { journal } : {}) };
  }

  private tierMarks(target: BackupTarget): LogMarks {
    let m = this.marks.get(target.name);
    if (!m) {
      m = new LogMarks(this.d.directory, `backup-${target.name}`, this.d.clock);
      this.marks.set(target.name, m);
    }
    return m;
  }

  /** Backs `tenant` up to one tier (writer.ts). */
  backupTenant(
    tenant: string,
    target: BackupTarget,
    options: { maxCommitsPerSegment?: number; full?: boolean; abortSignal?: AbortSignal } = {},
  ): Promise<BackupRunResult> {
    return backupTenant(this.d, tenant, target, options);
  }

  /** Per tier: last backup, coverage, last drill and lag (status.ts). */
  status(tenant: string): Promise<TierStatus[]> {
    return backupStatus(this.d, tenant, this.targets, this.limits.statusTimeoutMs);
  }

  /** One restore drill of `tenant` on `target` (drill.ts). */
  drill(caller: BackupCaller, input: DrillInput, options: RequestInfo & OperationOptions): Promise<DrillRecord> {
    return drill(this.ctx, caller, input, options);
  }

  /**
   * Drills of every tenant on every tier (the drill timer, and POST …/backups/drill for one
   * tenant): tiers independent, each drill with the tier deadline, like backups. With
   * `reproofAfterMs` (the timer), a backup a drill has proven within that period is not restored again.
   */
  async drillTenants(
    caller: BackupCaller,
    input: { tenants: readonly string[]; reproofAfterMs?: number },
    options: RequestInfo & { onResult?: (r: TenantTierResult<DrillRecord>) => void; onProgress?: ProgressSink },
  ): Promise<Array<TenantTierResult<DrillRecord>>> {
    const { correlationId } = options;
    const counted = tierProgress(options.onProgress, this.targets.length * input.tenants.length);
    const onResult = (r: TenantTierResult<DrillRecord>) => {
      options.onResult?.(r);
      counted?.(r);
    };
    return runPerTier<DrillRecord>({
      tenants: input.tenants,
      targets: this.targets,
      limits: this.limits,
      running: this.running,
      what: 'restore drill',
      job: (tenant, target, abortSignal) =>
        this.drill(
          caller,
          { tenant, target, ...(input.reproofAfterMs !== undefined ? { reproofAfterMs: input.reproofAfterMs } : {}) },
          { correlationId, abortSignal },
        ),
      failed: (tenant, target, error) => ({
        at: this.d.clock.now().toISOString(),
        tier: target.name,
        tenant,
        ok: false,
        outcome: 'failed',
        error,
      }),
      onResult,
    });
  }

  /** The tenant's chains on a target (reader.ts). */
  chains(tenant: string, target: BackupTarget, call: TargetCallOptions = {}): Promise<ChainInfo[]> {
    return listChains(tenant, target, call);
  }

  /** Deletes the chains the retention calendar does not keep (retention.ts, writer.ts). */
  applyRetention(
    tenant: string,
    target: BackupTarget,
    policy?: RetentionPolicy,
    call: TargetCallOptions = {},
  ): Promise<{ kept: number[]; deleted: number[]; refused: number }> {
    return applyRetention(this.d, tenant, target, policy, call);
  }

  /** Walks and checks a chain, yielding its commits (reader.ts). */
  readChain(tenant: string, target: BackupTarget, options: ReadChainOptions = {}): AsyncGenerator<Commit> {
    return readChain(this.d, tenant, target, options);
  }

  /** Checks the newest complete chain (reader.ts). */
  verify(
    tenant: string,
    target: BackupTarget,
    options: { until?: Date; onProgress?: ProgressSink; call?: TargetCallOptions } = {},
  ): Promise<VerifyResult> {
    return verify(this.d, tenant, target, options);
  }

  /** Restores `tenant` from `target` as of `asOf` into the new tenant `into` (restore.ts). */
  restore(caller: BackupCaller, input: RestoreInput, options: RestoreOptions): Promise<RestoreResult> {
    return restore(this.ctx, { ...input, ...options, caller });
  }

  /** SHA-256 of the tenant's records export as of `asOf` (or now): what drills compare (drill.ts). */
  stateHash(tenant: string, asOf?: Date): Promise<string> {
    return stateHash(this.d.stores, tenant, asOf);
  }
}
