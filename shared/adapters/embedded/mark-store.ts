import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'libsql';
import { TENANT_ID_PATTERN } from '../../domain/tenant';
import { type Db, inTransaction, preparedOn } from './sqlite-event-store';

const PURPOSE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * The embedded directory's per-tenant marks (`DATA_DIR/marks.db`, issue 11): for each kind of
 * background work (`purpose`: "projector", "backup-own-cloud", …, and the directory's own
 * fingerprint aliases) one short value per tenant, read and written by point.
 *
 * Before, each purpose was one JSON file (`marks/<purpose>.json`, ~1.4 MB per backup tier at
 * 10,000 tenants) read whole at the first look and rewritten whole when one mark changed: a
 * start's first projector pass paid ~15 ms for the projector's file and ~20 ms for the aliases
 * even when it looked at twenty tenants. Now a look reads its tenant's row; a run over every
 * tenant still reads its purpose at once (`readAll`, one range read); a save writes the rows
 * that changed, in one transaction.
 *
 * Durable (synchronous FULL) when a write returns: callers save their place in the change
 * journal after their marks and rely on the marks on disk being at least as new as that place
 * (shared/app/changes/journal-run.ts). One write per flush, so one fsync per save, not per mark.
 * Another process on the same data folder sees the rows at once. A purpose's old JSON file is
 * imported once, at its first use, and then removed. Marks are tenant ids and fingerprints,
 * never tenant data, and are not encrypted (like the tenant index and the journal).
 */
export class MarkStore {
  private db: Db | undefined;
  /** Purposes whose old JSON file this process has already imported (or found absent). */
  private readonly imported = new Set<string>();

  constructor(
    private readonly file: string,
    /** Where the JSON files of older versions are (`DATA_DIR/marks`). */
    private readonly legacyDir: string,
  ) {}

  /** The marks of `purpose` for `ids` (those it has). */
  read(purpose: string, ids: readonly string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const id of ids) {
      const v = this.get(purpose, id);
      if (v !== undefined) out[id] = v;
    }
    return out;
  }

  /** One tenant's mark of `purpose`, if any. */
  get(purpose: string, id: string): string | undefined {
    const db = this.ready(purpose, 'read');
    if (!db) return undefined;
    const row = preparedOn(db, 'SELECT v FROM marks WHERE purpose = ? AND id = ?').get(purpose, id) as { v: unknown } | undefined;
    return text(row?.v);
  }

  /**
   * Every mark of `purpose`, tenant id → value. Built by SQLite as one JSON object and parsed
   * once: libSQL hands rows over one by one at ~5 µs each (~50 ms for 10,000), the JSON ~15 ms.
   */
  readAll(purpose: string): Record<string, string> {
    const db = this.ready(purpose, 'read');
    if (!db) return {};
    const row = preparedOn(db, 'SELECT json_group_object(id, CAST(v AS TEXT)) AS j FROM marks WHERE purpose = ?').get(purpose) as
      | { j: unknown }
      | undefined;
    const parsed: unknown = typeof row?.j === 'string' ? JSON.parse(row.j) : {};
    const out = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    for (const k in out) if (typeof out[k] !== 'string') delete out[k];
    return out as Record<string, string>;
  }

  /**
   * Sets (a string) or removes (null) marks of `purpose`, in one transaction: durable on return.
   * `fsync: false` (synchronous NORMAL for this transaction): written to the OS, so it survives
   * a killed process, and made durable by the next fsynced write or checkpoint; a power cut may
   * lose it. For marks whose loss only costs a re-check and that are written often (aliases).
   */
  write(purpose: string, changes: Record<string, string | null>, options: { fsync?: boolean } = {}): void {
    const db = this.ready(purpose, 'write')!; // a write opens (creates) the database
    for (const [id, v] of Object.entries(changes))
      if (!TENANT_ID_PATTERN.test(id) || (v !== null && typeof v !== 'string')) throw new Error(`Invalid mark for "${id}"`);
    if (options.fsync === false) db.exec('PRAGMA synchronous = NORMAL');
    try {
      this.writeRows(db, purpose, changes);
    } finally {
      if (options.fsync === false) db.exec('PRAGMA synchronous = FULL');
    }
  }

  private writeRows(db: Db, purpose: string, changes: Record<string, string | null>): void {
    inTransaction(db, () => {
      const set = preparedOn(
        db,
        'INSERT INTO marks (purpose, id, v) VALUES (?, ?, ?) ON CONFLICT (purpose, id) DO UPDATE SET v = excluded.v',
      );
      const remove = preparedOn(db, 'DELETE FROM marks WHERE purpose = ? AND id = ?');
      for (const [id, v] of Object.entries(changes)) {
        if (v === null) remove.run(purpose, id);
        else set.run(purpose, id, Buffer.from(v, 'utf8'));
      }
    });
  }

  /** Removes every mark of one tenant (it was destroyed). */
  forgetTenant(id: string): void {
    if (!this.db && !existsSync(this.file)) return;
    preparedOn(this.open(), 'DELETE FROM marks WHERE id = ?').run(id);
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  private open(): Db {
    if (this.db) return this.db;
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const db = new Database(this.file);
    try {
      db.exec('PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
      db.exec(
        `CREATE TABLE IF NOT EXISTS marks (purpose TEXT NOT NULL, id TEXT NOT NULL, v BLOB NOT NULL, PRIMARY KEY (purpose, id)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS imported (purpose TEXT PRIMARY KEY) WITHOUT ROWID;`,
      );
    } catch (e) {
      db.close();
      throw e;
    }
    this.db = db;
    return db;
  }

  /**
   * The database, with `purpose`'s JSON file of an older version imported (once, then removed).
   * A read creates nothing: without the database and without such a file it gets undefined
   * (no marks), and a purpose with no file to import writes nothing either (first uses of a
   * purpose, e.g. a look, cost no fsync).
   */
  private ready(purpose: string, use: 'read' | 'write'): Db | undefined {
    if (!PURPOSE.test(purpose)) throw new Error(`Invalid marks purpose: ${purpose}`);
    if (this.imported.has(purpose) && this.db) return this.db;
    const legacy = join(this.legacyDir, `${purpose}.json`);
    const old = readLegacy(legacy);
    if (use === 'read' && !this.db && old === undefined && !existsSync(this.file)) return undefined;
    const db = this.open();
    if (old !== undefined) {
      const done = () => preparedOn(db, 'SELECT 1 FROM imported WHERE purpose = ?').get(purpose) !== undefined;
      // Imported before (a file an older version wrote again later is not imported over newer marks).
      if (!done())
        inTransaction(db, () => {
          // Another process may have imported it meanwhile: its rows (newer) win.
          if (done()) return;
          const set = preparedOn(db, 'INSERT OR IGNORE INTO marks (purpose, id, v) VALUES (?, ?, ?)');
          for (const [id, v] of Object.entries(old)) set.run(purpose, id, Buffer.from(v, 'utf8'));
          preparedOn(db, 'INSERT INTO imported (purpose) VALUES (?)').run(purpose);
        });
      // The old file is not read again. A failed removal is tried at the next start.
      rmSync(legacy, { force: true });
    }
    this.imported.add(purpose);
    return db;
  }
}

/**
 * A stored value as text. Values are stored as UTF-8 blobs: they may hold NUL (LogMarks puts
 * one between a fingerprint and its detail), which a text binding would cut off.
 */
function text(v: unknown): string | undefined {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  return typeof v === 'string' ? v : undefined;
}

/** An older version's marks file, what belongs in it (tenant ids to strings): undefined when there is none, {} when unreadable. */
function readLegacy(file: string): Record<string, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : {};
  }
  const out: Record<string, string> = {};
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return out;
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>))
    if (TENANT_ID_PATTERN.test(k) && typeof v === 'string') out[k] = v;
  return out;
}
