import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import Database from 'libsql';
import type { TenantChanges } from '../../ports/tenant-directory';
import { type Db, inTransaction } from './sqlite-event-store';

const CURSOR = /^([0-9a-f]{16}):(\d{1,15})$/;
/** Owners opened in this process and not closed (several directories can share one process: tests, tools). */
const liveOwners = new Set<string>();

/**
 * The embedded directory's change journal (`DATA_DIR/change-journal.db`, issue 11): which
 * tenants' databases may have been written since a point, by any process on the data folder,
 * so background work looks at those instead of every tenant.
 *
 * It follows opens, not commits, so a command pays nothing for it:
 *  - before a process opens a tenant's database it records, durably (synchronous FULL), that
 *    it holds it open (`writing`: tenant, owner); nothing can be written to the database
 *    before that row is on disk;
 *  - after it closed the database (the last write and the WAL checkpoint done) it removes its
 *    row and gives the tenant a new sequence number (`changed`), in one transaction;
 *  - creating a tenant holds its id the same way across the claim (the rename) and numbers it
 *    after; destroying one removes its rows.
 * So a tenant written after a reader took `cursor` is, whenever the reader asks again, either
 * held open (listed) or numbered above `cursor` (listed). A process that died holding tenants
 * open leaves its rows: they stay listed (a look each time, never a missed write) until a
 * process on the same host opens the journal (or reads it, at most once a minute) and finds the
 * owner gone (its pid not running, or this pid but no live journal of this process): then they
 * are numbered and removed.
 *
 * Readers keep the cursor; one from another journal (the file was lost or replaced) or none
 * gets `all` (look at every tenant once). It holds tenant ids only, unencrypted, like the
 * tenant index beside it.
 */
export class ChangeJournal {
  private db: Db | undefined;
  private journalId = '';
  /** Who holds rows in `writing`: host, pid and a token of this start. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  /** Tenants this process has a `writing` row for. */
  private readonly held = new Set<string>();
  private releasedAt = 0;

  constructor(private readonly file: string) {
    liveOwners.add(this.owner);
  }

  private open(): Db {
    if (this.db) return this.db;
    const db = new Database(this.file);
    try {
      db.exec('PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
      db.exec(
        `CREATE TABLE IF NOT EXISTS journal_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS changed (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS changed_by_seq ON changed (seq);
         CREATE TABLE IF NOT EXISTS writing (id TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (id, owner)) WITHOUT ROWID;`,
      );
      db.prepare("INSERT OR IGNORE INTO journal_meta (k, v) VALUES ('id', ?)").run(randomBytes(8).toString('hex'));
      this.journalId = (db.prepare("SELECT v FROM journal_meta WHERE k = 'id'").get() as { v: string }).v;
      this.db = db;
    } catch (e) {
      db.close();
      throw e;
    }
    this.releaseGoneOwners();
    return db;
  }

  /** Before the tenant's database is opened: durable once this returns. */
  writing(id: string): void {
    if (this.held.has(id)) return;
    this.open().prepare('INSERT OR IGNORE INTO writing (id, owner) VALUES (?, ?)').run(id, this.owner);
    this.held.add(id);
  }

  /** After the tenant's database is closed (or its open failed): numbered, no longer held. */
  closed(id: string): void {
    if (!this.held.has(id)) return;
    this.transaction((db) => {
      this.number(db, id);
      db.prepare('DELETE FROM writing WHERE id = ? AND owner = ?').run(id, this.owner);
    });
    this.held.delete(id);
  }

  /** The tenant is gone: its rows go too (readers that still mark it drop it when they list the tenants). */
  forget(id: string): void {
    this.held.delete(id);
    this.transaction((db) => {
      db.prepare('DELETE FROM changed WHERE id = ?').run(id);
      db.prepare('DELETE FROM writing WHERE id = ?').run(id);
    });
  }

  /** Tenants that may have been written since `cursor` (see TenantDirectory.changesSince). */
  since(cursor: string | undefined, options: { exceptHeldHere?: boolean } = {}): TenantChanges {
    const db = this.open();
    // Owners that died since the open (a killed tool on the data folder) are let go within a minute.
    if (Date.now() - this.releasedAt >= 60_000) this.releaseGoneOwners();
    // The end first: whatever is numbered after it is listed now and again next time.
    const end = (db.prepare('SELECT coalesce(max(seq), 0) AS s FROM changed').get() as { s: number }).s;
    const now = `${this.journalId}:${end}`;
    const m = CURSOR.exec(cursor ?? '');
    if (!m || m[1] !== this.journalId || Number(m[2]) > end) return { cursor: now, all: true };
    const rows = db
      .prepare('SELECT id FROM changed WHERE seq > ? UNION SELECT id FROM writing WHERE owner != ?')
      .all(Number(m[2]), options.exceptHeldHere ? this.owner : '') as Array<{ id: string }>;
    return { cursor: now, tenants: rows.map((r) => r.id) };
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  /** This owner is done (its directory closed): another start may release what it still holds. */
  dispose(): void {
    this.close();
    liveOwners.delete(this.owner);
  }

  private number(db: Db, id: string): void {
    db.prepare(
      'INSERT INTO changed (id, seq) VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM changed)) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq',
    ).run(id);
  }

  private transaction(work: (db: Db) => void): void {
    const db = this.open();
    inTransaction(db, () => work(db));
  }

  /** Rows of owners on this host that are no longer running: numbered and removed. */
  private releaseGoneOwners(): void {
    const db = this.db!;
    this.releasedAt = Date.now();
    const owners = (db.prepare('SELECT DISTINCT owner FROM writing').all() as Array<{ owner: string }>).map((r) => r.owner);
    const host = hostname();
    for (const owner of owners) {
      if (owner === this.owner || !ownerGone(owner, host)) continue;
      this.transaction((d) => {
        const ids = d.prepare('SELECT id FROM writing WHERE owner = ?').all(owner) as Array<{ id: string }>;
        for (const { id } of ids) this.number(d, id);
        d.prepare('DELETE FROM writing WHERE owner = ?').run(owner);
      });
    }
  }
}

/** An owner of this host whose process is not running (or this process, but not one of its live directories). Other hosts: never. */
function ownerGone(owner: string, host: string): boolean {
  const parts = owner.split(':');
  const token = parts.pop();
  const pid = Number(parts.pop());
  if (parts.join(':') !== host || !Number.isSafeInteger(pid) || pid <= 0 || !token) return false;
  if (pid === process.pid) return !liveOwners.has(owner); // this pid: an earlier process with it, or a directory closed here
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
