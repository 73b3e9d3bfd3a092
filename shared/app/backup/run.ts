import pLimit from 'p-limit';
import type { BackupTarget } from '../../ports/backup-target';
import type { ProgressSink } from '../progress';
import { isTimeoutMessage, seconds, withDeadline } from './deadline';
import { errorMessage } from '../../redact';

export interface RunLimits {
  /** Deadline of one tenant's work on one tier. */
  tierDeadlineMs: number;
  /** Tenants worked on at once on each tier. */
  concurrency: number;
}

export const DEFAULT_RUN_LIMITS: RunLimits = { tierDeadlineMs: 15 * 60_000, concurrency: 4 };

/** What a job reports back: the runner only needs to know whether it failed, and why. */
export interface JobOutcome {
  ok: boolean;
  error?: string;
}

export interface TierJobResult<R> {
  tenant: string;
  tier: string;
  result: R;
}

/** One run of a job over tenants and tiers (backups, drills). */
export interface PerTierRun<R extends JobOutcome> {
  tenants: readonly string[];
  /** The tenants of `tenants` worked on a tier, when not all of them (default: every one on every tier). */
  tenantsOn?: (target: BackupTarget) => readonly string[];
  targets: readonly BackupTarget[];
  limits: RunLimits;
  /** Tenant/tier pairs with a job in progress in this process (shared between runs). */
  running: Set<string>;
  /** What the job is, for messages and the `running` keys ("backup", "restore drill"). */
  what: string;
  job: (tenant: string, target: BackupTarget, signal: AbortSignal) => Promise<R>;
  /** The result reported for a job that threw, passed its deadline or was skipped. */
  failed: (tenant: string, target: BackupTarget, error: string) => R;
  /**
   * A result known without running the job (an idle tenant of an incremental run), asked when
   * the run starts for each tenant and tier whose job is not still running from an earlier run:
   * reported as it is, with no deadline and no place in the tier's queue.
   */
  known?: (tenant: string, target: BackupTarget) => R | undefined;
  onResult?: (r: TierJobResult<R>) => void;
  /**
   * Called when one tier has every tenant's result (after their `onResult`), while other tiers
   * may still be working: a tier's end-of-run work (its run coverage marker) need not wait for
   * a slow or hanging tier.
   */
  onTierDone?: (target: BackupTarget) => void;
}

/**
 * Runs `job` for every tenant on every tier. Tiers are independent of each other: each has
 * its own queue of tenants, worked through `concurrency` at a time, so a slow or hanging tier
 * never delays another. Each job has the tier deadline; a job that passes it is reported
 * failed. Once a tier has timed out in this run, its remaining tenants are not tried (they are
 * reported failed, "skipped"), so a hanging tier costs one deadline per run rather than one
 * per tenant. A job whose tenant and tier is still running from an earlier run (abandoned at
 * its deadline while a request was still open) is skipped too, never run twice at once. A
 * result `known` up front is reported without running the job.
 */
export async function runPerTier<R extends JobOutcome>(run: PerTierRun<R>): Promise<Array<TierJobResult<R>>> {
  const { targets, limits, running, what, job, failed, known, onResult, onTierDone } = run;
  const perTier = targets.map(async (target) => {
    const tenants = run.tenantsOn?.(target) ?? run.tenants;
    const limit = pLimit(limits.concurrency);
    let down: string | undefined;
    // Results in the order of `tenants`: the known ones at once, the others as their jobs end.
    const results = new Array<TierJobResult<R>>(tenants.length);
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < tenants.length; i++) {
      const tenant = tenants[i]!;
      const key = `${what}\u0000${tenant}\u0000${target.name}`;
      const ready = known && (running.size === 0 || !running.has(key)) ? known(tenant, target) : undefined;
      if (ready) {
        results[i] = { tenant, tier: target.name, result: ready };
        onResult?.(results[i]!);
        continue;
      }
      jobs.push(
        limit(async (): Promise<void> => {
          let result: R;
          if (down) {
            result = failed(tenant, target, `Skipped: ${target.name} did not answer earlier in this run (${down})`);
          } else if (running.has(key)) {
            result = failed(tenant, target, `Skipped: the previous ${what} of ${tenant} on ${target.name} is still running`);
          } else {
            running.add(key);
            let inner: Promise<R> | undefined;
            const work = withDeadline(
              limits.tierDeadlineMs,
              `${what} of ${tenant} on ${target.name}`,
              (signal) => (inner = job(tenant, target, signal)),
            );
            // The key is released when the work really ends, not when the deadline gives up on it.
            void (inner ?? work).catch(() => undefined).finally(() => running.delete(key));
            try {
              result = await work;
            } catch (e) {
              result = failed(tenant, target, errorMessage(e));
            }
            if (!result.ok && isTimeoutMessage(result.error)) down = `${tenant}: ${result.error ?? 'timed out'}`.slice(0, 200);
          }
          const r = { tenant, tier: target.name, result };
          onResult?.(r);
          results[i] = r;
        }),
      );
    }
    await Promise.all(jobs);
    onTierDone?.(target);
    return results;
  });
  return (await Promise.all(perTier)).flat();
}

export { seconds };

/**
 * Progress of a run over tiers, in the shape of every long operation's progress: phase
 * `tiers`, `done` of `total` tenant/tier jobs finished (for one tenant: tiers). Tiers run in
 * parallel, so the phase is the count of results in; each tier's own result is in the answer.
 * Reports 0 of `total` at once; undefined when nobody listens.
 */
export function tierProgress(onProgress: ProgressSink | undefined, total: number): ((r: TierJobResult<unknown>) => void) | undefined {
  if (!onProgress) return undefined;
  let done = 0;
  onProgress({ phase: 'tiers', done, total });
  return () => onProgress({ phase: 'tiers', done: Math.min(++done, total), total });
}
