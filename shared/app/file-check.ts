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
 */
import type { RecordEvent } from '../domain/records';
import { parseRecordStreamId } from '../domain/records';
import type { BlobStoreFactory } from '../ports/blob-store';
import type { Clock } from '../ports/runtime';
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

export class StoredFileCheck {
  private readonly reports = new Map<string, FileCheckReport>();

  constructor(private readonly d: { tenants: TenantService; blobs: BlobStoreFactory; clock: Clock }) {}

  /**
   * The timer's check of one ready tenant (undefined for tenants that are not ready). It always
   * reads: skipping tenants whose log has not moved (tried for issue 11) would miss exactly what
   * this check exists for, an object lost while the log stood still (issue 10). The check runs
   * one tenant at a time in the background, so its cost is time, not a burst.
   */
  async checkReady(tenantId: string, options: { abortSignal?: AbortSignal } = {}): Promise<FileCheckReport | undefined> {
    const meta = await this.d.tenants.directory.getMeta(tenantId, options);
    if (meta?.status !== 'ready') return undefined;
    return this.checkTenant(tenantId, options);
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
