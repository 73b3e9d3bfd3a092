import Database from 'libsql';
import type { TenantStatus } from '../../ports/tenant-directory';

type Db = InstanceType<typeof Database>;

/**
 * The embedded directory's index of its tenants: `DATA_DIR/tenant-index.db`, a small libSQL
 * database with one row per tenant (id, status), kept by the directory on create, status
 * change and destroy. It lets a page of the tenant list, the ready tenants of the timers or
 * the tenants scheduled for deletion be read in id order in O(page) (one indexed range read),
 * without listing and sorting the tenants folder or reading every tenant's meta.
 *
 * It holds ids and statuses only (the folder names are the same ids, in the clear on disk); it
 * is not encrypted. The tenant folders and their `meta.json` stay the truth; the index is
 * derived from them and repaired from them:
 *  - every change is written to the index first with `pending = 1` (durable: synchronous FULL),
 *    then to the folder/meta, then marked settled; a crash in between leaves a pending row;
 *  - once per process, before the first use, `reconcile` lists the tenants folder (one
 *    `readdir`, no meta reads) and reads the meta only of tenants that have no row or a pending
 *    one, and drops rows whose folder is gone. So a crash, a lost index file or an index from
 *    an older version costs one folder listing at the next start, and rows that point at a
 *    tenant still being built (or a creation that failed) are skipped by callers, which read
 *    the meta of what they list.
 * Writes by another process sharing the data folder are seen at once (the same database file);
 * a tenant folder made without this index (an older version) is found at the next start.
 */
export class TenantIndex {
  private db: Db | undefined;
  private readyPromise: Promise<Db> | undefined;
  /** Tenant folders the last reconcile found without a meta (not tenants; sweepLeftovers removes them). */
  readonly withoutMeta = new Set<string>();

  constructor(
    private readonly file: string,
    private readonly source: {
      /** Ids of every tenant folder (no meta read). */
      listFolders(): Promise<string[]>;
      /** The tenant's status from its meta; undefined when it has no meta (not a tenant); throws when unreadable. */
      readStatus(id: string): Promise<TenantStatus | undefined>;
    },
  ) {}

  /** Opens and reconciles the index once (see the class comment). */
  private ready(): Promise<Db> {
    this.readyPromise ??= (async () => {
      const db = new Database(this.file);
      try {
        db.exec('PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
        db.exec(
          `CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, status TEXT NOT NULL, pending INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
           CREATE INDEX IF NOT EXISTS tenants_by_status ON tenants (status, id);`,
        );
        await this.reconcile(db);
      } catch (e) {
        db.close();
        this.readyPromise = undefined;
        throw e;
      }
      this.db = db;
      return db;
    })();
    return this.readyPromise;
  }

  private async reconcile(db: Db): Promise<void> {
    const rows = db.prepare('SELECT id, pending FROM tenants').all() as Array<{ id: string; pending: number }>;
    const known = new Map(rows.map((r) => [r.id, r.pending]));
    const folders = await this.source.listFolders();
    const present = new Set(folders);
    const fix: Array<{ id: string; status: TenantStatus | undefined }> = [];
    for (const id of folders) {
      const pending = known.get(id);
      if (pending === 0) continue;
      let status: TenantStatus | undefined;
      try {
        status = await this.source.readStatus(id);
      } catch {
        // A meta that cannot be read: the row (if any) stays as it is, for whoever reads the meta.
        continue;
      }
      if (!status) this.withoutMeta.add(id);
      fix.push({ id, status });
    }
    const upsert = db.prepare(
      'INSERT INTO tenants (id, status, pending) VALUES (?, ?, 0) ON CONFLICT (id) DO UPDATE SET status = excluded.status, pending = 0',
    );
    const remove = db.prepare('DELETE FROM tenants WHERE id = ?');
    db.transaction(() => {
      for (const { id, status } of fix) {
        if (status) upsert.run(id, status);
        else remove.run(id);
      }
      for (const id of known.keys()) if (!present.has(id)) remove.run(id);
    })();
  }

  /** Before a change of `id` to `status` is made on disk: a durable pending row. */
  async begin(id: string, status: TenantStatus): Promise<void> {
    const db = await this.ready();
    db.prepare(
      'INSERT INTO tenants (id, status, pending) VALUES (?, ?, 1) ON CONFLICT (id) DO UPDATE SET status = excluded.status, pending = 1',
    ).run(id, status);
  }

  /** After the change is on disk (the row's status is the meta's). */
  async settle(id: string, status: TenantStatus): Promise<void> {
    const db = await this.ready();
    db.prepare('UPDATE tenants SET status = ?, pending = 0 WHERE id = ?').run(status, id);
  }

  /** After the tenant's folder is gone (or a creation that never claimed the id failed). */
  async remove(id: string): Promise<void> {
    const db = await this.ready();
    db.prepare('DELETE FROM tenants WHERE id = ?').run(id);
  }

  /** Up to `limit` ids (every one without) after `after`, in id order, optionally only those whose status is `status`. */
  async page(options: { after?: string | undefined; limit?: number | undefined; status?: TenantStatus | undefined }): Promise<string[]> {
    const db = await this.ready();
    // SQLite: a negative LIMIT is no limit.
    const limit = options.limit === undefined ? -1 : Math.max(0, Math.min(2 ** 31 - 1, Math.floor(options.limit)));
    const after = options.after ?? '';
    if (options.status === undefined)
      return (db.prepare('SELECT id FROM tenants WHERE id > ? ORDER BY id LIMIT ?').all(after, limit) as Array<{ id: string }>).map(
        (r) => r.id,
      );
    // By status: settled rows as they are; a pending row (a change under way, or cut off by a
    // failure) only when its meta says so now, so the answer is the metas' statuses.
    const status = options.status;
    const out: string[] = [];
    let from = after;
    for (;;) {
      const rows = db
        .prepare('SELECT id, status, pending FROM tenants WHERE (status = ? OR pending = 1) AND id > ? ORDER BY id LIMIT ?')
        .all(status, from, limit) as Array<{ id: string; status: string; pending: number }>;
      for (const r of rows) {
        if (limit >= 0 && out.length >= limit) return out;
        if (!r.pending) {
          if (r.status === status) out.push(r.id);
        } else if ((await this.source.readStatus(r.id).catch(() => undefined)) === status) out.push(r.id);
      }
      if (limit < 0 || rows.length < limit || out.length >= limit) return out;
      from = rows.at(-1)!.id;
    }
  }

  /** Opens and reconciles the index now (the directory's start-up sweep). */
  async open(): Promise<void> {
    await this.ready();
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
    this.readyPromise = undefined;
  }
}
