import { statSync } from 'node:fs';
import Database from 'libsql';
import { WrongExpectedVersionError } from '../../domain/errors';
import type { AppendMeta, Author, Commit, NewEvent } from '../../domain/events';
import type {
  AppendResult,
  EventStore,
  FeedPage,
  ReadFeedOptions,
  ReadSnapshotOptions,
  ReadStreamOptions,
  Snapshot,
} from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import type { Clock } from '../../ports/runtime';
import { throwIfAborted } from '../abort';

export type Db = InstanceType<typeof Database>;

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction. (libsql's own db.transaction() issues ROLLBACK
 * even when SQLite has already rolled back by itself — on SQLITE_FULL, SQLITE_IOERR… — and
 * its "cannot rollback - no transaction is active" error then hides the real cause, which
 * the service needs to answer "storage full" instead of a bare 500.)
 */
export function inTransaction<T>(db: Db, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (e) {
    if (db.inTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // keep the original error
      }
    }
    throw e;
  }
}

/**
 * How hard an acknowledged write is held. `full` (the default): SQLite `synchronous = FULL`
 * in WAL mode, so every committed transaction is fsynced before the append returns and a
 * power cut loses nothing acknowledged. `fast`: `synchronous = NORMAL`, the WAL is fsynced
 * only at checkpoints; a crash of the process loses nothing, but a power cut (or an OS
 * crash) can lose the last acknowledged commits (never corrupting the file).
 */
export type Durability = 'full' | 'fast';

interface CommitRow {
  position: number;
  stream_id: string;
  version: number;
  ts: number;
  author: string;
  correlation_id: string;
  events: string;
  idem_key: string | null;
  idem_hash: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS commits (
  position       INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id      TEXT    NOT NULL,
  version        INTEGER NOT NULL,
  ts             INTEGER NOT NULL,
  author         TEXT    NOT NULL,
  correlation_id TEXT    NOT NULL,
  events         TEXT    NOT NULL,
  idem_key       TEXT,
  idem_hash      TEXT,
  UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS commits_stream_ts ON commits (stream_id, ts, version);
CREATE INDEX IF NOT EXISTS commits_idem ON commits (stream_id, idem_key) WHERE idem_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS snapshots (
  stream_id TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  ts        INTEGER NOT NULL,
  state     TEXT    NOT NULL,
  PRIMARY KEY (stream_id, version)
);
CREATE INDEX IF NOT EXISTS snapshots_ts ON snapshots (stream_id, ts, version);
`;

/**
 * The embedded event store: one libSQL database file per tenant, encrypted at rest with
 * the tenant's database key. The feed is the global `position` column (strictly
 * increasing, so it is ordered within each stream and across streams).
 *
 * Appends run in an IMMEDIATE transaction, so the version check and the insert are atomic
 * even when two processes (the local host and `func start`) share the file.
 *
 * libSQL runs each statement synchronously, so a call cannot be interrupted once it has
 * started: every method checks `options.abortSignal` before it touches the database.
 */
export class SqliteEventStore implements EventStore {
  private conn: { db: Db; stmts: Statements } | undefined;
  private opening: Promise<void> | undefined;
  private readonly key: () => Promise<string | undefined>;
  private readonly synchronous: 'FULL' | 'NORMAL';
  /** Clock time (ms) of the last call, for the directory's idle and LRU closing. */
  lastUsedMs = 0;

  /**
   * `encryptionKey`: the database key (hex) — the database opens now — or a function that
   * fetches it — the database opens on first use (and again after `close()`), so a store
   * object can be kept while its file handles are released. Lazy stores hold no key while closed.
   */
  constructor(
    readonly tenantId: string,
    private readonly file: string,
    encryptionKey: string | undefined | (() => Promise<string | undefined>),
    private readonly clock: Clock,
    private readonly storeOptions: {
      durability?: Durability;
      /** Told when the database opens and closes (the directory counts open databases). */
      onOpen?: (store: SqliteEventStore) => void;
      onClose?: (store: SqliteEventStore) => void;
    } = {},
  ) {
    this.synchronous = (storeOptions.durability ?? 'full') === 'full' ? 'FULL' : 'NORMAL';
    if (typeof encryptionKey === 'function') {
      this.key = encryptionKey;
    } else {
      this.key = () => Promise.resolve(encryptionKey);
      this.connect(encryptionKey);
    }
  }

  /** Whether the database is open right now (holding its file descriptors). */
  get isOpen(): boolean {
    return this.conn !== undefined;
  }

  /** Opens the database when it is closed (lazy stores); every method calls it first. */
  open(): Promise<void> {
    this.lastUsedMs = this.clock.now().getTime();
    if (this.conn) return Promise.resolve();
    this.opening ??= (async () => {
      try {
        const key = await this.key();
        if (!this.conn) this.connect(key);
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  private connect(encryptionKeyHex: string | undefined): void {
    // libsql supports `encryptionKey` (encryption at rest) but its typings do not declare it.
    const options = (encryptionKeyHex ? { encryptionKey: encryptionKeyHex } : {}) as ConstructorParameters<typeof Database>[1];
    const db = new Database(this.file, options);
    try {
      db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${this.synchronous}; PRAGMA busy_timeout = 5000;`);
      db.exec(SCHEMA);
      this.conn = { db, stmts: prepare(db) };
      this.storeOptions.onOpen?.(this);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private get db(): Db {
    if (!this.conn) throw new Error(`The database of tenant ${this.tenantId} is closed.`);
    return this.conn.db;
  }

  private get stmts(): Statements {
    if (!this.conn) throw new Error(`The database of tenant ${this.tenantId} is closed.`);
    return this.conn.stmts;
  }

  async append(
    streamId: string,
    expectedVersion: number,
    events: NewEvent[],
    meta: AppendMeta,
    options: OperationOptions = {},
  ): Promise<AppendResult> {
    throwIfAborted(options.abortSignal);
    await this.open();
    if (events.length === 0) throw new Error('append needs at least one event');
    return inTransaction(this.db, (): AppendResult => {
      const head = this.stmts.head.get(streamId) as { version: number; ts: number } | undefined;
      const current = head?.version ?? 0;
      if (current !== expectedVersion) throw new WrongExpectedVersionError(streamId, expectedVersion, current);
      const at = meta.originalTimestamp !== undefined ? Date.parse(meta.originalTimestamp) : this.clock.now().getTime();
      if (!Number.isFinite(at)) throw new Error('originalTimestamp must be an ISO instant');
      const ts = Math.max(at, head?.ts ?? 0);
      const version = expectedVersion + 1;
      this.stmts.insert.run(
        streamId,
        version,
        ts,
        JSON.stringify(meta.author),
        meta.correlationId,
        JSON.stringify(events),
        meta.idempotency?.key ?? null,
        meta.idempotency?.requestHash ?? null,
      );
      return { version, timestamp: new Date(ts).toISOString() };
    });
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<Commit[]> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const backward = options.direction === 'backward';
    const where = ['stream_id = ?'];
    const args: (string | number)[] = [streamId];
    if (options.fromVersion !== undefined) {
      where.push(backward ? 'version <= ?' : 'version >= ?');
      args.push(options.fromVersion);
    }
    if (options.until) {
      // Timestamps never decrease within a stream, so "at or before `until`" is a version
      // prefix: find its last version through the (stream_id, ts) index, then read by
      // version. Filtering on ts directly would walk every later commit of a long stream.
      const last = this.stmts.lastAt.get(streamId, options.until.getTime()) as { v: number } | undefined;
      if (!last) return [];
      where.push('version <= ?');
      args.push(last.v);
    }
    let sql = `SELECT * FROM commits WHERE ${where.join(' AND ')} ORDER BY version ${backward ? 'DESC' : 'ASC'}`;
    if (options.maxCount !== undefined) {
      sql += ' LIMIT ?';
      args.push(options.maxCount);
    }
    const rows = this.db.prepare(sql).all(...args) as CommitRow[];
    return rows.map((r) => this.toCommit(r));
  }

  async streamVersion(streamId: string, options: OperationOptions = {}): Promise<number> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const head = this.stmts.head.get(streamId) as { version: number } | undefined;
    return head?.version ?? 0;
  }

  async readFeed(checkpoint: string | undefined, options: ReadFeedOptions = {}): Promise<FeedPage> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const after = checkpoint === undefined ? 0 : Number(checkpoint);
    if (!Number.isSafeInteger(after) || after < 0) throw new Error('Invalid feed checkpoint');
    const rows = this.stmts.feed.all(after, options.maxCount ?? 1000) as CommitRow[];
    const last = rows.at(-1);
    return { commits: rows.map((r) => this.toCommit(r)), checkpoint: String(last ? last.position : after) };
  }

  async feedLag(
    checkpoint: string | undefined,
    options: OperationOptions = {},
  ): Promise<{ commits: number | null; newestTimestamp: string | null }> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const after = checkpoint === undefined ? 0 : Number(checkpoint);
    const n = (this.stmts.lag.get(after) as { n: number }).n;
    const newest = this.stmts.newest.get() as { ts: number } | undefined;
    return { commits: n, newestTimestamp: newest ? new Date(newest.ts).toISOString() : null };
  }

  async findByIdempotencyKey(streamId: string, key: string, options: OperationOptions = {}): Promise<Commit | undefined> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const row = this.stmts.byIdem.get(streamId, key) as CommitRow | undefined;
    return row ? this.toCommit(row) : undefined;
  }

  async readSnapshot(streamId: string, options: ReadSnapshotOptions = {}): Promise<Snapshot | undefined> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const row = (options.until ? this.stmts.snapUntil.get(streamId, options.until.getTime()) : this.stmts.snapLatest.get(streamId)) as
      | { version: number; ts: number; state: string }
      | undefined;
    return row ? { version: row.version, timestamp: new Date(row.ts).toISOString(), state: JSON.parse(row.state) as unknown } : undefined;
  }

  async writeSnapshot(streamId: string, snapshot: Snapshot, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.open();
    this.stmts.snapPut.run(streamId, snapshot.version, Date.parse(snapshot.timestamp), JSON.stringify(snapshot.state));
  }

  /** The underlying database, shared with the tenant's projection store (same encrypted file); open stores only. */
  get database(): Db {
    return this.db;
  }

  /**
   * Closes the database: its WAL is checkpointed into the file and truncated first (libsql does
   * not do it on close), so a closed tenant holds no file descriptors and no WAL on disk. A lazy
   * store opens again on its next use.
   */
  close(): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) this.storeOptions.onClose?.(this);
    if (!conn?.db.open) return;
    try {
      if (walBytes(this.file) > 0) conn.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch {
      // Busy (another process) or a read-only disk: the next open checkpoints it.
    }
    conn.db.close();
  }

  private toCommit(r: CommitRow): Commit {
    return {
      tenantId: this.tenantId,
      streamId: r.stream_id,
      version: r.version,
      timestamp: new Date(r.ts).toISOString(),
      author: JSON.parse(r.author) as Author,
      correlationId: r.correlation_id,
      events: JSON.parse(r.events) as NewEvent[],
      ...(r.idem_key ? { idempotency: { key: r.idem_key, requestHash: r.idem_hash ?? '' } } : {}),
    };
  }
}

function walBytes(file: string): number {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

type Statements = ReturnType<typeof prepare>;

function prepare(db: Db) {
  return {
    head: db.prepare('SELECT version, ts FROM commits WHERE stream_id = ? ORDER BY version DESC LIMIT 1'),
    insert: db.prepare(
      'INSERT INTO commits (stream_id, version, ts, author, correlation_id, events, idem_key, idem_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    feed: db.prepare('SELECT * FROM commits WHERE position > ? ORDER BY position LIMIT ?'),
    byIdem: db.prepare('SELECT * FROM commits WHERE stream_id = ? AND idem_key = ? LIMIT 1'),
    lastAt: db.prepare('SELECT version AS v FROM commits WHERE stream_id = ? AND ts <= ? ORDER BY ts DESC, version DESC LIMIT 1'),
    lag: db.prepare('SELECT COUNT(*) AS n FROM commits WHERE position > ?'),
    newest: db.prepare('SELECT ts FROM commits ORDER BY position DESC LIMIT 1'),
    snapLatest: db.prepare('SELECT version, ts, state FROM snapshots WHERE stream_id = ? ORDER BY version DESC LIMIT 1'),
    snapUntil: db.prepare(
      'SELECT version, ts, state FROM snapshots WHERE stream_id = ? AND ts <= ? ORDER BY ts DESC, version DESC LIMIT 1',
    ),
    snapPut: db.prepare('INSERT OR IGNORE INTO snapshots (stream_id, version, ts, state) VALUES (?, ?, ?, ?)'),
  };
}
