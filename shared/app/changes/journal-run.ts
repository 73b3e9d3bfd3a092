import type { TenantChanges, TenantDirectory } from '../../ports/tenant-directory';
import type { JournalPlace, LogMarks } from './log-marks';

/**
 * A run over every tenant that takes its place in the directory's change journal
 * (TenantDirectory.changesSince, embedded: change-journal.ts; issue 11), so that a tenant the
 * journal does not list since the run before is answered from its mark without a fingerprint.
 * The incremental backups (shared/app/backup/journal.ts) and the stored-files check
 * (shared/app/file-check.ts) run so.
 *
 * Why a tenant the journal does not list may be answered from its mark: after every run that
 * saved a place, each tenant with a mark either has a log that has not moved since that mark's
 * fingerprint, or was written after the place was taken (so the journal lists it next time).
 * A run keeps that true when:
 *  - a listed tenant gets a fresh fingerprint (its mark is kept only when that equals it, and
 *    new marks record a fingerprint taken before the log was read);
 *  - a tenant whose work did not succeed loses its mark (the caller does that);
 *  - a listed tenant the run did not ask about loses its mark (`endJournalRun`; every tenant not
 *    asked about when the journal did not know the place);
 *  - the place is saved after the marks (LogMarks.flush), and only by a run that asked about
 *    every tenant it serves.
 * A journal that does not know the place (a first run, a replaced journal), and a place whose
 * last look at every tenant is JOURNAL_SWEEP_MS old (a safety net: a file replaced behind the
 * service's back), make a run that fingerprints every tenant.
 */
export interface JournalRun {
  /** What the journal lists since the place (undefined: it did not know the place). */
  written: ReadonlySet<string> | undefined;
  /** Answered from their marks unless listed here; undefined: every tenant is fingerprinted. */
  look: ReadonlySet<string> | undefined;
  /** The place the run reaches. */
  next: JournalPlace;
  /** The tenants the run asked about (askedAbout). */
  asked: Set<string>;
}

/**
 * The run asks about `tenantId`: true when the journal does not list it, so the caller may
 * answer from its mark (without a fingerprint); false when it must look.
 */
export function askedAbout(run: JournalRun | undefined, tenantId: string): boolean {
  run?.asked.add(tenantId);
  return !!run?.look && !run.look.has(tenantId);
}

/** `directory.changesSince`, read once per cursor: runs that start together (the tiers of a backup run) share one journal read. */
export function changesOnce(directory: TenantDirectory): (cursor: string | undefined) => Promise<TenantChanges> {
  const read = new Map<string, Promise<TenantChanges>>();
  return (cursor) => {
    const p = read.get(cursor ?? '') ?? directory.changesSince!(cursor);
    read.set(cursor ?? '', p);
    return p;
  };
}

/** How often a run fingerprints every tenant although the journal knows its place. */
export const JOURNAL_SWEEP_MS = 24 * 3600_000;

/**
 * Reads the place saved beside `marks` and what the journal lists since it. Call it before the
 * run's first look. `changes` shares one journal read between runs that start together (the
 * tiers of a backup run). Undefined when the directory keeps no journal.
 */
export async function beginJournalRun(
  directory: TenantDirectory,
  marks: LogMarks,
  now: Date,
  changes: (cursor: string | undefined) => Promise<TenantChanges> = (c) => directory.changesSince!(c),
): Promise<JournalRun | undefined> {
  if (!directory.changesSince || !marks.supported) return undefined;
  const place = await marks.journalPlace();
  const r = await changes(place.cursor);
  const since = now.getTime() - (place.sweptAt ? Date.parse(place.sweptAt) : Number.NaN);
  const sweep = r.all || !(since >= 0 && since < JOURNAL_SWEEP_MS);
  const written = r.all ? undefined : new Set([...r.tenants, ...place.pending]);
  // A run over every tenant answers most of them from their marks: read at once (one range read), not one by one.
  await marks.recorded();
  return {
    written,
    look: sweep ? undefined : written,
    next: { cursor: r.cursor, pending: [], sweptAt: sweep ? now.toISOString() : place.sweptAt },
    asked: new Set(),
  };
}

/** Ends a run that asked about `asked` (by default, what askedAbout noted): drops the marks it could not vouch for, then sets the place (saved at the next flush, after the marks). */
export async function endJournalRun(run: JournalRun, marks: LogMarks, asked: ReadonlySet<string> = run.asked): Promise<void> {
  if (run.written) {
    for (const id of run.written) if (!asked.has(id)) await marks.forget(id);
  } else await marks.retain(asked);
  marks.setJournalPlace(run.next);
}
