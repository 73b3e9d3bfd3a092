/**
 * The incremental run's place in the directory's change journal (TenantDirectory.changesSince,
 * embedded: change-journal.ts; issue 11): a run over the tenants takes a fingerprint only of
 * the tenants the journal lists since the run before, so an idle run costs no `stat` per tenant.
 *
 * Each tier keeps its place beside its marks (LogMarks.journalPlace, `backup-<tier>-journal`).
 * Why a tenant the journal does not list may be skipped on its mark alone: after every run that
 * saved a place, each tenant with a mark on the tier either has a log that has not moved since
 * that mark's fingerprint, or was written after the place was taken (the journal lists it at
 * the next run). A run keeps that true:
 *  - a listed tenant gets a fresh fingerprint (its mark is kept only when that equals it, and a
 *    backup records the fingerprint taken before it read the log);
 *  - a tenant whose result on a tier is not ok (failed, timed out, skipped) loses its mark
 *    there, so the next run backs it up whatever the journal says;
 *  - a listed tenant the run was not asked about (not served now) loses its marks too (every
 *    tenant not asked about, when the journal did not know the place);
 *  - the place is saved with the marks, after them (LogMarks.flush), and only by a run that
 *    settled every tenant.
 * A journal that does not know the place (the first run, a replaced journal), and a place whose
 * last look at every tenant is BACKUP_SWEEP_MS old (a safety net), get a run that fingerprints
 * every tenant, as without a journal.
 */
import type { TenantDirectory } from '../../ports/tenant-directory';
import type { LogMarks } from '../changes/log-marks';
import type { IdleTier } from './incremental';

/** How often a run fingerprints every tenant although the journal knows its place. */
export const BACKUP_SWEEP_MS = 24 * 3600_000;

/** What a run learned from the journal: each tier's tenants to look at, and how to save where it got. */
export interface JournalLook {
  tiers: IdleTier[];
  /** After the run, with every result it reported: clears the marks the run could not confirm, then sets each tier's new place. */
  settle(results: ReadonlyArray<{ tenant: string; tier: string; result: { ok: boolean } }>, asked: readonly string[]): Promise<void>;
}

/**
 * Reads each tier's place and what the journal lists since it. Call it after the run's `at` and
 * before its first look. Undefined when the directory keeps no journal (every tenant is looked at).
 */
export async function lookUpJournal(
  directory: TenantDirectory,
  tiers: ReadonlyArray<{ name: string; marks: LogMarks }>,
  now: Date,
): Promise<JournalLook | undefined> {
  if (!directory.changesSince) return undefined;
  const asked = new Map<string, ReturnType<NonNullable<TenantDirectory['changesSince']>>>();
  const looked = await Promise.all(
    tiers.map(async (t) => {
      const place = await t.marks.journalPlace();
      const key = place.cursor ?? '';
      const changes = asked.get(key) ?? directory.changesSince!(place.cursor);
      asked.set(key, changes);
      const r = await changes;
      const sweptAt = place.sweptAt ? Date.parse(place.sweptAt) : Number.NaN;
      const sweep = r.all || !(now.getTime() - sweptAt < BACKUP_SWEEP_MS && now.getTime() >= sweptAt);
      const listed = r.all ? undefined : new Set([...r.tenants, ...place.pending]);
      return {
        tier: { ...t, ...(sweep ? {} : { listed }) },
        listed,
        place: { cursor: r.cursor, pending: [], sweptAt: sweep ? now.toISOString() : place.sweptAt },
      };
    }),
  );
  return {
    tiers: looked.map((l) => l.tier),
    settle: async (results, askedTenants) => {
      const inRun = new Set(askedTenants);
      const byName = new Map(looked.map((l) => [l.tier.name, l.tier.marks]));
      for (const r of results) if (!r.result.ok) await byName.get(r.tier)?.forget(r.tenant);
      for (const { tier, listed, place } of looked) {
        // Tenants written since the place that this run did not look at; all of them when the journal did not know it.
        if (listed) for (const id of listed) if (!inRun.has(id)) await tier.marks.forget(id);
        if (!listed) await tier.marks.retain(inRun);
        tier.marks.setJournalPlace(place);
      }
    },
  };
}
