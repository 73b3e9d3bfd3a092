/**
 * The start-up check of stored files: does every file a `FileAttached` event acknowledged still
 * have its stored object? A crash of a store that acknowledged too early (Azurite saves its
 * blob index every 5 s), a restore from an old disk or a hand-deleted object shows up here
 * instead of as a 502 on some later download.
 *
 * Cost: one pass over the tenant's log (pages of 500 commits, yielding between them) and one
 * metadata read (`getInfo`: a stat of an index file, or a HEAD on Azure) per attached file
 * version. The timer that runs it (`checkStoredFiles`) goes through tenants one at a time in
 * the background; nothing waits for it. The report lives in this process's memory: after a
 * restart, status shows `checkedAt: null` until the check has reached the tenant.
 *
 * A tenant without files costs nothing after its first check (issue 11: thousands of idle
 * tenants at every start): when a full check found no attached file, the log's fingerprint is
 * recorded (marks `file-check`, DATA_DIR/marks). While the fingerprint is the same the log is
 * the same, so it still attaches no file and there is no stored object that could have been
 * lost: the check is answered from the mark (two `stat`s, nothing opened). A tenant with
 * attached files is always read in full — an object can vanish while the log stands still
 * (issue 10; test/app/file-check-still-log.test.ts).
 *
 * A run over every ready tenant (the timer: `beginRun`, `checkReady` for each, `saveMarks`)
 * asks the directory's change journal (TenantDirectory.changesSince, embedded) which tenants
 * may have been written since the run before, its place kept beside the marks
 * (`file-check-journal`): a tenant it does not list is answered from its mark without a
 * fingerprint (nothing `stat`ed); why that holds: shared/app/changes/journal-run.ts. Here a
 * tenant whose check failed or that was not ready loses its mark.
 */
import type { RecordEvent } from '../domain/records';
import { parseRecordStreamId } from '../domain/records';
import type { BlobStoreFactory } from '../ports/blob-store';
import type { EventStore } from '../ports/event-store';
import type { Clock } from '../ports/runtime';
import { askedAbout, beginJournalRun, endJournalRun, type JournalRun } from './changes/journal-run';
import { LogMarks } from './changes/log-marks';
import type { TenantService } from './service';
import { yieldToEventLoop } from './yield';

/** At most this many missing files are listed per tenant (all are counted). */
export const MAX_LISTED_MISSING = 100;
const PAGE = 500;

export interface MissingFile {
  type: string;
  id: string;
  fileId: string;
  /** Record version whose FileAttached event points at the missing object. */
  version: number;
  attachedAt: string;
}

export interface FileCheckReport {
  checkedAt: string;
  /** File versions attached in the tenant's log (each FileAttached event). */
  attached: number;
  missing: number;
  /** The first MAX_LISTED_MISSING of them, in log order. */
  missingFiles: MissingFile[];
}

/** Detail of a `file-check` mark: the full check found no attached file in the log as fingerprinted. */
const NO_FILES = 'none';

export class StoredFileCheck {
  private readonly reports = new Map<string, FileCheckReport>();
  private readonly marks: LogMarks;
  /** The run over the ready tenants under way (beginRun). */
  private run: JournalRun | undefined;

  constructor(private readonly d: { tenants: TenantService; blobs: BlobStoreFactory; clock: Clock }) {
    this.marks = new LogMarks(d.tenants.directory, 'file-check', d.clock);
  }

  /**
   * The timer's check of one ready tenant (undefined for tenants that are not ready). A tenant
   * with attached files is always read: skipping tenants whose log has not moved would miss
   * exactly what this check exists for, an object lost while the log stood still (issue 10).
   * Only a tenant whose unchanged log attaches no file at all is answered from its mark. The
   * check runs one tenant at a time in the background, so its cost is time, not a burst.
   */
  async checkReady(tenantId: string, options: { abortSignal?: AbortSignal } = {}): Promise<FileCheckReport | undefined> {
    const run = this.run;
    // A tenant the journal does not list: its log has not moved since its mark.
    if (askedAbout(run, tenantId) && (await this.marks.detail(tenantId)) === NO_FILES) return this.fromMark(tenantId);
    try {
      const r = await this.checkLooked(tenantId, options);
      // Not ready: no mark is kept for it (a run does not ask about it while it is not ready).
      if (!r && run) await this.marks.forget(tenantId);
      return r;
    } catch (e) {
      // Checked again by the next run whatever the journal says.
      if (run) await this.marks.forget(tenantId);
      throw e;
    }
  }

  private async checkLooked(tenantId: string, options: { abortSignal?: AbortSignal }): Promise<FileCheckReport | undefined> {
    // The mark first, the meta only when it does not answer: an idle tenant costs two stats and
    // no file read (issue 11: every tenant at every start). A mark is only recorded by a full
    // check, which only a ready tenant gets; the timer asks for ready tenants (the index's status).
    try {
      const fp = await this.marks.fingerprint(tenantId, options);
      if ((await this.marks.unchanged(tenantId, fp)) && (await this.marks.detail(tenantId)) === NO_FILES) return this.fromMark(tenantId);
    } catch {
      // No fingerprint to trust: the full check below.
    }
    const meta = await this.d.tenants.directory.getMeta(tenantId, options);
    if (meta?.status !== 'ready') return undefined;
    return this.checkTenant(tenantId, options);
  }

  private fromMark(tenantId: string): FileCheckReport {
    const report: FileCheckReport = { checkedAt: this.d.clock.now().toISOString(), attached: 0, missing: 0, missingFiles: [] };
    this.reports.set(tenantId, report);
    return report;
  }

  /**
   * Starts a run over every ready tenant (the timer): with a change journal, the tenants it
   * does not list since the last run are answered from their marks. End it with `saveMarks`.
   */
  async beginRun(): Promise<void> {
    this.run = undefined;
    this.run = await beginJournalRun(this.d.tenants.directory, this.marks, this.d.clock.now());
  }

  /**
   * Saves the marks (the timer calls it at the end of a run; unsaved marks only cost a full
   * check after a restart), and after them the run's place in the journal (endJournalRun).
   */
  async saveMarks(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    if (run) await endJournalRun(run, this.marks);
    return this.marks.flush({ force: true });
  }

  async checkTenant(tenantId: string, options: { abortSignal?: AbortSignal } = {}): Promise<FileCheckReport> {
    // A transient lease: a tenant opened only for this check is closed again right after it.
    return this.d.tenants.tenantStores.use(tenantId, (s) => this.checkLog(tenantId, s.events, options), {
      transient: true,
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    });
  }

  private async checkLog(tenantId: string, events: EventStore, options: { abortSignal?: AbortSignal }): Promise<FileCheckReport> {
    // Taken after the store is open (opening can write) and before the log is read: an append
    // during the check changes it, so the mark never vouches for a log the check did not read.
    const fp = await this.marks.fingerprint(tenantId, options).catch(() => undefined);
    const blobs = await this.d.blobs.forTenant(tenantId);
    const report: FileCheckReport = { checkedAt: '', attached: 0, missing: 0, missingFiles: [] };
    let checkpoint: string | undefined;
    for (;;) {
      options.abortSignal?.throwIfAborted();
      const page = await events.readFeed(checkpoint, { maxCount: PAGE });
      for (const c of page.commits) {
        const rec = parseRecordStreamId(c.streamId);
        if (!rec) continue;
        for (const e of c.events as RecordEvent[]) {
          if (e.type !== 'FileAttached') continue;
          report.attached++;
          if (await blobs.getInfo(e.data.blobName)) continue;
          report.missing++;
          if (report.missingFiles.length < MAX_LISTED_MISSING) {
            report.missingFiles.push({ type: rec.type, id: rec.id, fileId: e.data.fileId, version: c.version, attachedAt: c.timestamp });
          }
        }
      }
      if (page.commits.length === 0 || page.checkpoint === checkpoint) break;
      checkpoint = page.checkpoint;
      await yieldToEventLoop();
    }
    report.checkedAt = this.d.clock.now().toISOString();
    this.reports.set(tenantId, report);
    if (report.attached === 0) await this.marks.record(tenantId, fp, NO_FILES);
    else await this.marks.forget(tenantId);
    await this.marks.flush();
    return report;
  }

  /** The last report of this process for the tenant, if the check has reached it. */
  report(tenantId: string): FileCheckReport | undefined {
    return this.reports.get(tenantId);
  }

  /** For the operator: counts only (file and record ids are the tenant's business). */
  summary(tenantId: string): { checkedAt: string | null; attached: number | null; missing: number | null } {
    const r = this.reports.get(tenantId);
    return r ? { checkedAt: r.checkedAt, attached: r.attached, missing: r.missing } : { checkedAt: null, attached: null, missing: null };
  }
}
