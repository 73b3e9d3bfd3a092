/**
 * The start-up check of stored files: does every file a `FileAttached` event acknowledged still
 * have its stored object? A crash of a store that acknowledged too early (Azurite saves its
 * blob index every 5 s), a restore from an old disk or a hand-deleted object shows up here
 * instead of as a 502 on some later download.
 *
 * Cost: nothing for a tenant whose log has not moved since its last clean check
 * (`checkIfChanged`); otherwise one pass over the tenant's log (pages of 500 commits, yielding between them) and one
 * metadata read (`getInfo`: a stat of an index file, or a HEAD on Azure) per attached file
 * version. The timer that runs it (`checkStoredFiles`) goes through tenants one at a time in
 * the background; nothing waits for it. The report lives in this process's memory: after a
 * restart, status shows `checkedAt: null` until the check has reached the tenant.
 */
import type { RecordEvent } from '../domain/records';
import { parseRecordStreamId } from '../domain/records';
import type { BlobStoreFactory } from '../ports/blob-store';
import type { Clock } from '../ports/runtime';
import type { TenantService } from './service';
import { LogMarks } from './changes/log-marks';
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

export class StoredFileCheck {
  private readonly reports = new Map<string, FileCheckReport>();
  private marks: LogMarks | undefined;

  constructor(private readonly d: { tenants: TenantService; blobs: BlobStoreFactory; clock: Clock }) {}

  /**
   * The timer's check of one tenant, which does not scale with idle tenants: a tenant whose log
   * has not moved since a check that found every file (its log fingerprint, two stats on the
   * embedded store) keeps that check's result and is not read again; only its counts are kept
   * (DATA_DIR/marks, never file or record ids). Tenants that are not ready are left out
   * (undefined). Stores without fingerprints (Cosmos) are checked every time.
   */
  async checkIfChanged(
    tenantId: string,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<{ report: FileCheckReport; skipped: boolean } | undefined> {
    this.marks ??= new LogMarks(this.d.tenants.directory, 'files-check', this.d.clock);
    const marks = this.marks;
    const fp = await marks.fingerprint(tenantId, options);
    if (await marks.unchanged(tenantId, fp)) {
      const earlier = parseCounts(await marks.detail(tenantId));
      if (earlier) {
        const report: FileCheckReport = { checkedAt: earlier.checkedAt, attached: earlier.attached, missing: 0, missingFiles: [] };
        this.reports.set(tenantId, report);
        return { report, skipped: true };
      }
    }
    const meta = await this.d.tenants.directory.getMeta(tenantId);
    if (meta?.status !== 'ready') return undefined;
    // Opened first (opening can write, e.g. a missing table), then the fingerprint the mark keeps.
    await this.d.tenants.stores(tenantId);
    const before = await marks.fingerprint(tenantId, options);
    const report = await this.checkTenant(tenantId, options);
    if (report.missing === 0)
      await marks.record(tenantId, before, JSON.stringify({ attached: report.attached, checkedAt: report.checkedAt }));
    else await marks.forget(tenantId);
    return { report, skipped: false };
  }

  /** Saves the marks of `checkIfChanged` (end of a timer run). */
  async flushMarks(): Promise<void> {
    await this.marks?.flush({ force: true });
  }

  async checkTenant(tenantId: string, options: { abortSignal?: AbortSignal } = {}): Promise<FileCheckReport> {
    const { events } = await this.d.tenants.stores(tenantId);
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

function parseCounts(detail: string | undefined): { attached: number; checkedAt: string } | undefined {
  try {
    const v = JSON.parse(detail ?? '') as { attached?: unknown; checkedAt?: unknown };
    return Number.isSafeInteger(v.attached) && typeof v.checkedAt === 'string'
      ? { attached: v.attached as number, checkedAt: v.checkedAt }
      : undefined;
  } catch {
    return undefined;
  }
}
