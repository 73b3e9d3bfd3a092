/**
 * The incremental run's places in the directory's change journal (issue 11): a run over the
 * tenants takes a fingerprint only of the tenants the journal lists since the run before, so
 * an idle run costs no `stat` per tenant. Each tier keeps its place beside its marks
 * (`backup-<tier>-journal`); why a tenant the journal does not list may be skipped on its
 * clean-backup mark alone, and what a run must do for that to hold: shared/app/changes/journal-run.ts.
 * Here a tenant whose result on a tier is not ok (failed, timed out, skipped after the tier
 * timed out) loses its mark there, so the next run backs it up whatever the journal says.
 */
import type { TenantDirectory } from '../../ports/tenant-directory';
import type { LogMarks } from '../changes/log-marks';
import { beginJournalRun, changesOnce, endJournalRun, type JournalRun } from '../changes/journal-run';
import type { IdleTier } from './incremental';

/** What a run learned from the journal: each tier's tenants to look at, and how to save where it got. */
export interface JournalLook {
  tiers: IdleTier[];
  /**
   * After the run, with every result it reported and every tenant it was asked about: clears
   * the marks the run could not confirm, then sets each tier's place, naming the run coverage
   * marker written there (`markers`, by tier: what the next run builds its delta on) and, as
   * pending, the tenants that failed there and the `held` ones (served but held back now:
   * looked at again next time).
   */
  settle(
    results: ReadonlyArray<{ tenant: string; tier: string; result: { ok: boolean } }>,
    asked: readonly string[],
    next?: { markers?: ReadonlyMap<string, string>; held?: readonly string[] },
  ): Promise<void>;
}

/**
 * Reads each tier's place and what the journal lists since it (one journal read per distinct
 * place). Call it after the run's `at` and before its first look. Undefined when the directory
 * keeps no journal (every tenant is looked at).
 */
export async function lookUpJournal(
  directory: TenantDirectory,
  tiers: ReadonlyArray<{ name: string; marks: LogMarks }>,
  now: Date,
): Promise<JournalLook | undefined> {
  if (!directory.changesSince) return undefined;
  const changes = changesOnce(directory);
  const started = await Promise.all(tiers.map(async (t) => ({ tier: t, run: await beginJournalRun(directory, t.marks, now, changes) })));
  const runs = started.filter((r): r is { tier: (typeof tiers)[number]; run: JournalRun } => r.run !== undefined);
  if (runs.length < tiers.length) return undefined;
  return {
    tiers: runs.map(({ tier, run }) => ({ ...tier, ...(run.look ? { listed: run.look } : {}) })),
    settle: async (results, asked, next = {}) => {
      const byName = new Map(tiers.map((t) => [t.name, t.marks]));
      const failed = new Map<string, string[]>();
      for (const r of results)
        if (!r.result.ok) {
          await byName.get(r.tier)?.forget(r.tenant);
          failed.set(r.tier, [...(failed.get(r.tier) ?? []), r.tenant]);
        }
      const inRun = new Set(asked);
      for (const { tier, run } of runs) {
        await endJournalRun(run, tier.marks, inRun);
        // Pending matters to a delta run only, which needs the marker: a tier without one (a tier
        // down: every tenant failed there) makes the next run look at every tenant, its marks
        // (forgotten for those that failed) saying which to back up.
        const marker = next.markers?.get(tier.name);
        const pending = marker ? [...new Set([...(failed.get(tier.name) ?? []), ...(next.held ?? [])])] : [];
        tier.marks.setJournalPlace({ ...run.next, pending, ...(marker ? { marker } : {}) });
      }
    },
  };
}
