import { statSync } from 'node:fs';
import Database from 'libsql';
import { conflict, WrongExpectedVersionError } from '../../domain/errors';
import type { AppendMeta, Author, Commit, NewEvent } from '../../domain/events';
import type {
  AppendManyOptions,
  AppendOptions,
  AppendResult,
  BatchAppend,
  BulkImport,
  EventStore,
  FeedPage,
  ListStreamsOptions,
  ReadFeedOptions,
  ReadSnapshotOptions,
  ReadStreamOptions,
  Snapshot,
  SubjectKeyRow,
  SubjectKeyTable,
} from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import type { Clock } from '../../ports/runtime';
import { throwIfAborted } from '../abort';
import { streamPrefixRange } from '../stream-range';

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

/** Statements of fixed SQL text, prepared once per open database (see {@link preparedOn}). */
const statementCache = new WeakMap<Db, Map<string, PreparedStatement>>();

/** A prepared statement with positional parameters. */
export interface PreparedStatement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/**
 * The statement for this fixed SQL text on this database, prepared on first use and kept
 * while the connection lives (a closed and reopened database is a new connection). Only for
 * SQL that does not vary with input: the cache is not bounded.
 */
export function preparedOn(db: Db, sql: string): PreparedStatement {
  let cache = statementCache.get(db);
  if (!cache) {
    cache = new Map();
    statementCache.set(db, cache);
  }
  let stmt = cache.get(sql);
  if (!stmt) {
    stmt = db.prepare(sql) as PreparedStatement;
    cache.set(sql, stmt);
  }
  return stmt;
}

/** A stream's head: its last version and that commit's timestamp (ms). */
type Head = { version: number; ts: number };

/** A bulk import's page cache (KiB, as `PRAGMA cache_size` takes it negated): 64 MiB. */
export const IMPORT_CACHE_KIB = -65_536;
/** A bulk import's WAL checkpoint interval in pages (~40 MiB of WAL; SQLite's default is 1,000). */
export const IMPORT_CHECKPOINT_PAGES = 10_000;
/** Streams whose heads a bulk import keeps in memory at most (then it reads them again). */
const IMPORT_HEADS = 200_000;

/** Connections opened with synchronous = FULL (DURABILITY=full). */
const fsyncEveryCommit = new WeakSet<Db>();

/**
 * Runs `fn` (writes of data derived from the log: projections, checkpoints, snapshots) with
 * `synchronous = NORMAL` on a DURABILITY=full connection: its transactions are not fsynced
 * on their own. In WAL mode that can only lose a suffix of the most recent transactions, and
 * only on power loss or an OS crash (never on a process crash); the next append's fsync (FULL)
 * makes everything written before it durable too. The log's own commits keep their fsync, so
 * nothing acknowledged is ever lost; derived data that is lost is rebuilt from the log (the
 * projector re-applies from its checkpoint, which is itself derived and written after the
 * rows it covers; a lost snapshot only means a longer replay).
 */
export function derivedWrite<T>(db: Db, fn: () => T): T {
  if (!fsyncEveryCommit.has(db)) return fn();
  db.exec('PRAGMA synchronous = NORMAL');
  try {
    return fn();
  } finally {
    db.exec('PRAGMA synchronous = FULL');
  }
}

/**
 * Runs schema statements (CREATE … IF NOT EXISTS) in one deferred transaction: creating the
 * tables of a new database costs one commit (one fsync) instead of one per statement, and
 * finding them already there writes nothing.
 */
export function execSchema(db: Db, sql: string): void {
  db.exec('BEGIN');
  try {
    db.exec(sql);
    db.exec('COMMIT');
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

/** A prepared statement that takes positional parameters. */
type Statement = { all(...params: unknown[]): unknown[] };

/** The columns commit reads select, in the order of {@link CommitRow} (rows are read as arrays). */
const COMMIT_COLUMNS = 'stream_id, version, ts, author, correlation_id, events, idem_key, idem_hash, position';
type CommitRow = [
  streamId: string,
  version: number,
  ts: number,
  author: string,
  correlationId: string,
  events: string,
  idemKey: string | null,
  idemHash: string | null,
  position: number,
];

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
CREATE TABLE IF NOT EXISTS subject_keys (
  ref    TEXT NOT NULL PRIMARY KEY,
  key_id TEXT NOT NULL,
  body   TEXT NOT NULL
);
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
  private conn: { db: Db; stmts: Statements; streamStmts: Map<number, Statement> } | undefined;
  private opening: Promise<void> | undefined;
  private readonly key: () => Promise<string | undefined>;
  private readonly synchronous: 'FULL' | 'NORMAL' | 'OFF';
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
      /**
       * SQLite `synchronous = OFF`: commits are not fsynced. Only for a database nobody has been
       * told about yet (a tenant being built), whose owner closes it and fsyncs the file itself
       * (syncFolderContents) before anything that depends on it is acknowledged.
       */
      deferSync?: boolean;
      /** Told when the database opens and closes (the directory counts open databases). */
      onOpen?: (store: SqliteEventStore) => void;
      onClose?: (store: SqliteEventStore) => void;
    } = {},
  ) {
    this.synchronous = storeOptions.deferSync ? 'OFF' : (storeOptions.durability ?? 'full') === 'full' ? 'FULL' : 'NORMAL';
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
      // synchronous first: switching a new database to WAL then costs no fsync when it is OFF (a tenant being built).
      db.exec(`PRAGMA synchronous = ${this.synchronous}; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;`);
      execSchema(db, SCHEMA);
      if (this.synchronous === 'FULL') fsyncEveryCommit.add(db);
      this.conn = { db, stmts: prepare(db), streamStmts: new Map() };
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
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    throwIfAborted(options.abortSignal);
    await this.open();
    if (events.length === 0) throw new Error('append needs at least one event');
    const keys = options.subjectKeys ?? [];
    return inTransaction(this.db, () => {
      const r = this.insertCommit(streamId, expectedVersion, events, meta);
      // The commit's new subject keys in the same transaction: durable with it, or neither is.
      for (const k of keys) this.insertSubjectKey(k);
      return r;
    });
  }

  /**
   * Subject keys in this database (issue 14): written with commits only (append's
   * `subjectKeys`); a deletion overwrites the row's bytes and checkpoints the WAL.
   */
  readonly subjectKeys: SubjectKeyTable = {
    get: async (subjectRef, options = {}) => {
      throwIfAborted(options.abortSignal);
      await this.open();
      const row = preparedOn(this.db, 'SELECT ref, key_id, body FROM subject_keys WHERE ref = ?').get(subjectRef) as
        | { ref: string; key_id: string; body: string }
        | undefined;
      return row ? { subjectRef: row.ref, keyId: row.key_id, body: row.body } : undefined;
    },
    delete: async (subjectRef, options = {}) => {
      throwIfAborted(options.abortSignal);
      await this.open();
      const db = this.db;
      // secure_delete: the freed cell (and any page freed with it) is overwritten with zeros,
      // so the wrapped key is not left in the file's free space.
      db.exec('PRAGMA secure_delete = ON');
      let changes = 0;
      try {
        changes = inTransaction(db, () => preparedOn(db, 'DELETE FROM subject_keys WHERE ref = ?').run(subjectRef).changes);
      } finally {
        db.exec('PRAGMA secure_delete = OFF');
      }
      // The WAL still holds the page as it was before: copy the zeroed page into the database
      // and empty the WAL (a reader in another process may hold it back; the next checkpoint,
      // at the latest when the database closes, finishes it).
      if (changes > 0) db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    },
    list: async (options) => {
      throwIfAborted(options.abortSignal);
      await this.open();
      const rows = preparedOn(this.db, 'SELECT ref, key_id, body FROM subject_keys WHERE ref > ? ORDER BY ref LIMIT ?').all(
        options.after ?? '',
        options.limit,
      ) as Array<{ ref: string; key_id: string; body: string }>;
      return rows.map((r) => ({ subjectRef: r.ref, keyId: r.key_id, body: r.body }));
    },
  };

  private insertSubjectKey(k: SubjectKeyRow): void {
    try {
      preparedOn(this.db, 'INSERT INTO subject_keys (ref, key_id, body) VALUES (?, ?, ?)').run(k.subjectRef, k.keyId, k.body);
    } catch (e) {
      if (String((e as { code?: unknown })?.code ?? '').startsWith('SQLITE_CONSTRAINT'))
        throw conflict('The data subject already has a key (another command created it first); retry the command.');
      throw e;
    }
  }

  /**
   * All commits in one transaction (one fsync): all or nothing. With `syncLater` the
   * transaction is not fsynced on its own (see AppendManyOptions): the next append's fsync of
   * the WAL makes it durable with everything before it.
   */
  async appendMany(batch: BatchAppend[], options: AppendManyOptions = {}): Promise<AppendResult[]> {
    throwIfAborted(options.abortSignal);
    await this.open();
    if (batch.some((c) => c.events.length === 0)) throw new Error('append needs at least one event');
    if (batch.length === 0) return [];
    const write = () => inTransaction(this.db, () => batch.map((c) => this.insertCommit(c.streamId, c.expectedVersion, c.events, c.meta)));
    return options.syncLater ? derivedWrite(this.db, write) : write();
  }

  /**
   * A bulk import (see EventStore.beginImport): batches go in as appendMany with syncLater, and
   * for the version checks each stream's head is read from the database once (the first time
   * the import meets the stream) and then kept in memory, since the caller is the only writer:
   * a commit of the import then costs its insert only, not an index lookup as well. The page
   * cache is raised to {@link IMPORT_CACHE_KIB} and WAL checkpoints run every
   * {@link IMPORT_CHECKPOINT_PAGES} pages instead of 1,000 (each checkpoint writes the pages
   * the import keeps rewriting — the stream indexes' leaves — and fsyncs), both back to what
   * they were at `end()`. A batch that fails rolls back and leaves the kept heads as they were.
   * Should the database be closed meanwhile (the directory's limit on open databases), the
   * next batch reopens it and sets the import's settings again; the kept heads stay valid
   * (they describe committed rows).
   */
  async beginImport(options: OperationOptions = {}): Promise<BulkImport> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const heads = new Map<string, Head>();
    let tuned: Db | undefined;
    let saved: { cache: number; checkpoint: number } | undefined;
    const tune = (db: Db) => {
      if (tuned === db) return;
      const pragma = (name: string) => Number(Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[0]);
      saved = { cache: pragma('cache_size'), checkpoint: pragma('wal_autocheckpoint') };
      db.exec(`PRAGMA cache_size = ${IMPORT_CACHE_KIB}; PRAGMA wal_autocheckpoint = ${IMPORT_CHECKPOINT_PAGES}`);
      tuned = db;
    };
    tune(this.db);
    let ended = false;
    return {
      append: async (batch, o = {}) => {
        throwIfAborted(o.abortSignal);
        if (ended) throw new Error('This bulk import has ended.');
        await this.open();
        if (batch.some((c) => c.events.length === 0)) throw new Error('append needs at least one event');
        if (batch.length === 0) return;
        const db = this.db;
        tune(db);
        // This batch's heads, kept only once its transaction has committed.
        const staged = new Map<string, Head>();
        const cached = {
          get: (streamId: string): Head | null | undefined => {
            const h = staged.get(streamId) ?? heads.get(streamId);
            return h ?? undefined;
          },
          set: (streamId: string, h: Head) => void staged.set(streamId, h),
        };
        derivedWrite(db, () =>
          inTransaction(db, () => {
            for (const c of batch) this.insertCommit(c.streamId, c.expectedVersion, c.events, c.meta, cached);
          }),
        );
        // Bounded: past IMPORT_HEADS streams the heads are read from the database again.
        if (heads.size + staged.size > IMPORT_HEADS) heads.clear();
        for (const [k, h] of staged) heads.set(k, h);
      },
      end: () => {
        if (ended) return;
        ended = true;
        heads.clear();
        const db = this.conn?.db;
        if (db && db === tuned && db.open && saved)
          db.exec(`PRAGMA cache_size = ${saved.cache}; PRAGMA wal_autocheckpoint = ${saved.checkpoint}`);
      },
    };
  }

  /**
   * The version check and insert of one commit; inside a transaction. `heads`: an import's
   * kept stream heads (beginImport), read from the database for a stream they do not know.
   */
  private insertCommit(
    streamId: string,
    expectedVersion: number,
    events: NewEvent[],
    meta: AppendMeta,
    heads?: { get(streamId: string): Head | null | undefined; set(streamId: string, head: Head): void },
  ): AppendResult {
    let head = heads?.get(streamId);
    if (head === undefined) head = (this.stmts.head.get(streamId) as Head | undefined) ?? null;
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
    heads?.set(streamId, { version, ts });
    return { version, timestamp: new Date(ts).toISOString() };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<Commit[]> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const backward = options.direction === 'backward';
    const args: (string | number)[] = [streamId];
    if (options.fromVersion !== undefined) args.push(options.fromVersion);
    if (options.until) {
      // Timestamps never decrease within a stream, so "at or before `until`" is a version
      // prefix: find its last version through the (stream_id, ts) index, then read by
      // version. Filtering on ts directly would walk every later commit of a long stream.
      const last = this.stmts.lastAt.get(streamId, options.until.getTime()) as { v: number } | undefined;
      if (!last) return [];
      args.push(last.v);
    }
    if (options.maxCount !== undefined) args.push(options.maxCount);
    const stmt = this.streamStatement(
      backward,
      options.fromVersion !== undefined,
      options.until !== undefined,
      options.maxCount !== undefined,
    );
    return this.toCommits(stmt.all(...args) as CommitRow[]);
  }

  /**
   * The statement for one shape of readStream (16 shapes at most), prepared once per open
   * database: re-preparing it on every read cost about 8 % of a GET.
   */
  private streamStatement(backward: boolean, from: boolean, until: boolean, limit: boolean): Statement {
    const key = (backward ? 1 : 0) | (from ? 2 : 0) | (until ? 4 : 0) | (limit ? 8 : 0);
    const cache = this.conn!.streamStmts;
    let stmt = cache.get(key);
    if (!stmt) {
      const where = ['stream_id = ?'];
      if (from) where.push(backward ? 'version <= ?' : 'version >= ?');
      if (until) where.push('version <= ?');
      const sql = `SELECT ${COMMIT_COLUMNS} FROM commits WHERE ${where.join(' AND ')} ORDER BY version ${backward ? 'DESC' : 'ASC'}${limit ? ' LIMIT ?' : ''}`;
      stmt = this.db.prepare(sql).raw(true);
      cache.set(key, stmt);
    }
    return stmt;
  }

  /**
   * Rows to commits. Consecutive commits mostly share their author and often their
   * millisecond, so those are decoded once per run of equal values (the decoded author object
   * is then shared by those commits: commits are read-only).
   */
  private toCommits(rows: CommitRow[]): Commit[] {
    const out = new Array<Commit>(rows.length);
    let authorText: string | undefined;
    let author: Author | undefined;
    let ts: number | undefined;
    let timestamp = '';
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r[3] !== authorText) {
        authorText = r[3];
        author = JSON.parse(authorText) as Author;
      }
      if (r[2] !== ts) {
        ts = r[2];
        timestamp = new Date(ts).toISOString();
      }
      const c: Commit = {
        tenantId: this.tenantId,
        streamId: r[0],
        version: r[1],
        timestamp,
        author: author!,
        correlationId: r[4],
        events: JSON.parse(r[5]) as NewEvent[],
      };
      if (r[6]) c.idempotency = { key: r[6], requestHash: r[7] ?? '' };
      out[i] = c;
    }
    return out;
  }

  async streamVersion(streamId: string, options: OperationOptions = {}): Promise<number> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const head = this.stmts.head.get(streamId) as { version: number } | undefined;
    return head?.version ?? 0;
  }

  /** Streams by id prefix: a range of the (stream_id, version) index, one row per stream (its first commit). */
  async listStreams(prefix: string, options: ListStreamsOptions): Promise<string[]> {
    throwIfAborted(options.abortSignal);
    const r = streamPrefixRange(prefix, options);
    await this.open();
    const rows = preparedOn(
      this.db,
      `SELECT stream_id FROM commits WHERE stream_id ${r.inclusive ? '>=' : '>'} ? AND stream_id < ? AND version = 1 ORDER BY stream_id LIMIT ?`,
    ).all(r.from, r.below, options.limit) as Array<{ stream_id: string }>;
    return rows.map((x) => x.stream_id);
  }

  async readFeed(checkpoint: string | undefined, options: ReadFeedOptions = {}): Promise<FeedPage> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const after = checkpoint === undefined ? 0 : Number(checkpoint);
    if (!Number.isSafeInteger(after) || after < 0) throw new Error('Invalid feed checkpoint');
    const rows = this.stmts.feed.all(after, options.maxCount ?? 1000) as CommitRow[];
    const last = rows.at(-1);
    return { commits: this.toCommits(rows), checkpoint: String(last ? last[8] : after) };
  }

  /** The log's last position: a read from it returns only later appends. */
  async endCheckpoint(options: OperationOptions = {}): Promise<string> {
    throwIfAborted(options.abortSignal);
    await this.open();
    const row = preparedOn(this.db, 'SELECT MAX(position) AS p FROM commits').get() as { p: number | null } | undefined;
    return String(row?.p ?? 0);
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
    return row ? this.toCommits([row])[0] : undefined;
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
    const state = JSON.stringify(snapshot.state);
    // Derived from the log (a lost snapshot only means a longer replay): no fsync of its own.
    derivedWrite(this.db, () => this.stmts.snapPut.run(streamId, snapshot.version, Date.parse(snapshot.timestamp), state));
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
    feed: db.prepare(`SELECT ${COMMIT_COLUMNS} FROM commits WHERE position > ? ORDER BY position LIMIT ?`).raw(true),
    byIdem: db.prepare(`SELECT ${COMMIT_COLUMNS} FROM commits WHERE stream_id = ? AND idem_key = ? LIMIT 1`).raw(true),
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
