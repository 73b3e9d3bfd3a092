import { validation } from '../../domain/errors';
import type { Author } from '../../domain/events';
import type {
  AuditEntry,
  AuditQuery,
  JsonPrimitive,
  ListQuery,
  Page,
  ParkedCommit,
  ProjectionCheckpoint,
  ProjectionStore,
  RecordView,
  ScanRecordsOptions,
} from '../../ports/projection-store';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';
import { type Db, derivedWrite, execSchema, inTransaction, preparedOn } from './sqlite-event-store';

/**
 * The audit table: a rowid table (continuation tokens name a row by its rowid) with ONE index,
 * `audit_key` (gen, ts, stream_id, version, idx), which is both the entry's key (INSERT OR
 * IGNORE: a redelivered commit is a no-op) and the newest-first order listAudit reads backwards.
 * A commit's timestamp is fixed by the log, so (ts, stream, version, index) names an entry exactly
 * as (stream, version, index) does. Until issue 15 the table had a primary key (gen, stream_id,
 * version, idx) and a second index in time order: three b-trees per row, and the key's inserts
 * land all over the index in feed order (one leaf page rewritten per row on a catch-up over many
 * records). Now both b-trees grow at their right edge in feed order. Older files are migrated
 * once (migrateAudit).
 */
const AUDIT_TABLE = `(
  gen INTEGER NOT NULL, stream_id TEXT NOT NULL, version INTEGER NOT NULL, idx INTEGER NOT NULL,
  ts TEXT NOT NULL, event_type TEXT NOT NULL, author TEXT NOT NULL, author_id TEXT, author_email TEXT,
  correlation_id TEXT NOT NULL, record_type TEXT, record_id TEXT, changes TEXT NOT NULL
)`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS record_views (
  gen INTEGER NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
  data TEXT, deleted INTEGER NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
  updated_at TEXT NOT NULL, updated_by TEXT NOT NULL,
  PRIMARY KEY (gen, type, id)
);
CREATE TABLE IF NOT EXISTS audit ${AUDIT_TABLE};
CREATE UNIQUE INDEX IF NOT EXISTS audit_key ON audit (gen, ts, stream_id, version, idx);
CREATE TABLE IF NOT EXISTS projection_state (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parked (
  gen INTEGER NOT NULL, stream_id TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (gen, stream_id, version)
);
`;

/** Where the projection store gets its database: the tenant's (lazy) event store, or a fixed one. */
export interface DbSource {
  open(): Promise<void>;
  readonly database: Db;
}

const FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** `$."a"."b"` for a path of checked property names (they are user input). */
function jsonPath(path: string[]): string {
  if (path.length === 0 || path.length > 8 || !path.every((p) => FIELD.test(p))) {
    throw validation(`Field paths are 1-8 property names of letters, digits and "_": ${path.join('.')}`);
  }
  return `$${path.map((p) => `."${p}"`).join('')}`;
}

interface ViewRow {
  type: string;
  id: string;
  version: number;
  data: string | null;
  deleted: number;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

interface AuditRow {
  row_id: number;
  stream_id: string;
  version: number;
  idx: number;
  ts: string;
  event_type: string;
  author: string;
  correlation_id: string;
  record_type: string | null;
  record_id: string | null;
  changes: string;
}

const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/**
 * The position inside a continuation token. Clients only ever see these sealed by the
 * service (shared/app/continuation.ts); the shape is still checked here, so a token that
 * does not hold what this store wrote is a 400, never a driver error.
 */
function decode<T>(token: string, valid: (v: unknown) => v is T): T {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!valid(v)) throw validation('The continuation token is not valid.');
  return v;
}
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isOffset = (v: unknown): v is { o: number } => isRecord(v) && Number.isSafeInteger(v.o) && (v.o as number) >= 0;
const isAfterId = (v: unknown): v is { id: string } => isRecord(v) && typeof v.id === 'string';
/** [timestamp, row id] of the last row of a page. */
const isAuditPosition = (v: unknown): v is [string, number] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isSafeInteger(v[1]);

/**
 * A JSON function applied to a stored record only when SQLite can read its JSON. SQLite's
 * JSON functions stop at 1,000 levels of nesting and then raise "malformed JSON", which would
 * fail the whole query: a record stored before the edge capped nesting would break every
 * filtered or sorted list of its type. Such a record matches no filter and sorts as null.
 * (CASE guarantees the order of evaluation; SQLite caches the parsed JSON between the calls.)
 */
const guarded = (fn: 'json_type' | 'json_extract', p: string) => `(CASE WHEN json_valid(data) THEN ${fn}(data, '${p}') END)`;

/**
 * Read projections in the tenant's own encrypted libSQL file, next to its log. Upserts are
 * guarded by version, audit rows keyed by (stream, version, index) — stored with the commit's
 * timestamp in front (audit_key), which the log fixes per commit: replays are harmless.
 * libSQL runs each statement synchronously: `abortSignal` is checked before each method
 * touches the database (and between the generations an activation drops).
 */
/**
 * Connections the projection tables were ensured on (a lazy source reconnects after a close).
 * Weak: a store kept per tenant must not hold a closed connection, whose statements (cached per
 * connection) then stay reachable and keep its three files open (libsql-release.ts; issue 11).
 */
const schemaEnsured = new WeakSet<Db>();

export class SqliteProjectionStore implements ProjectionStore {
  private readonly source: DbSource;

  /**
   * `source`: an open database, or the tenant's event store, whose database may be closed and
   * reopened (SqliteEventStore is lazy): every method opens it first.
   */
  constructor(source: Db | DbSource) {
    this.source = 'prepare' in source ? { open: () => Promise.resolve(), database: source } : source;
    if ('prepare' in source) this.ensureSchema();
  }

  private get db(): Db {
    return this.source.database;
  }

  private async ready(): Promise<void> {
    await this.source.open();
    if (!schemaEnsured.has(this.db)) this.ensureSchema();
  }

  private ensureSchema(): void {
    migrateAudit(this.db);
    execSchema(this.db, SCHEMA);
    schemaEnsured.add(this.db);
  }

  private getState<T>(k: string): T | undefined {
    const row = preparedOn(this.db, 'SELECT v FROM projection_state WHERE k = ?').get(k) as { v: string } | undefined;
    return row ? (JSON.parse(row.v) as T) : undefined;
  }
  private setState(k: string, v: unknown): void {
    preparedOn(this.db, 'INSERT INTO projection_state (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(
      k,
      JSON.stringify(v),
    );
  }

  async activeGeneration(options: OperationOptions = {}): Promise<number> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    return this.getState<number>('generation') ?? 1;
  }

  /**
   * One statement: the next number above the active generation and above every number claimed
   * before (`claimed`), recorded as claimed. SQLite runs it under the database's write lock, so
   * two processes on the same data folder never get the same number.
   */
  async claimGeneration(options: OperationOptions = {}): Promise<number> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    const row = preparedOn(
      this.db,
      `INSERT INTO projection_state (k, v) VALUES ('claimed', (SELECT max(
         coalesce((SELECT CAST(v AS INTEGER) FROM projection_state WHERE k = 'claimed'), 0),
         coalesce((SELECT CAST(v AS INTEGER) FROM projection_state WHERE k = 'generation'), 1)) + 1))
       ON CONFLICT (k) DO UPDATE SET v = excluded.v RETURNING CAST(v AS INTEGER) AS g`,
    ).get() as { g: number };
    return Number(row.g);
  }

  async activateGeneration(generation: number, options: OperationOptions = {}): Promise<boolean> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    // Forward only, in one statement: a rebuild that finishes after a newer one has switched changes nothing.
    preparedOn(
      this.db,
      `INSERT INTO projection_state (k, v) VALUES ('generation', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v
       WHERE CAST(projection_state.v AS INTEGER) < CAST(excluded.v AS INTEGER)`,
    ).run(JSON.stringify(generation));
    if (this.getState<number>('generation') !== generation) return false;
    const older = this.db
      .prepare(
        'SELECT gen FROM record_views WHERE gen < ? UNION SELECT gen FROM audit WHERE gen < ? UNION SELECT gen FROM parked WHERE gen < ?',
      )
      .all(generation, generation, generation) as { gen: number }[];
    // Once switched, the activation stands; an abort only leaves older generations (invisible to reads) for the next one.
    // Newer generations are left alone: another rebuild may be filling one.
    for (const { gen } of older) await this.dropGeneration(gen, options);
    return true;
  }

  async dropGeneration(generation: number, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    inTransaction(this.db, () => {
      preparedOn(this.db, 'DELETE FROM record_views WHERE gen = ?').run(generation);
      preparedOn(this.db, 'DELETE FROM audit WHERE gen = ?').run(generation);
      preparedOn(this.db, 'DELETE FROM parked WHERE gen = ?').run(generation);
      preparedOn(this.db, 'DELETE FROM projection_state WHERE k = ?').run(`checkpoint:${generation}`);
    });
  }

  async upsertRecord(generation: number, v: RecordView, options: OperationOptions = {}): Promise<boolean> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    // Derived data (rebuilt from the log): no fsync of its own (derivedWrite).
    return derivedWrite(this.db, () => this.upsertRow(generation, v));
  }

  /** Every view under upsertRecord's rule, in one transaction (derived data: no fsync of its own). */
  async upsertRecords(generation: number, views: RecordView[], options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    if (views.length === 0) return;
    this.writeDerived(generation, views, []);
  }

  /** Stores the view unless the generation holds the record at an equal or newer version; whether it was stored. */
  private upsertRow(generation: number, v: RecordView): boolean {
    const r = preparedOn(
      this.db,
      `INSERT INTO record_views (gen, type, id, version, data, deleted, created_at, created_by, updated_at, updated_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (gen, type, id) DO UPDATE SET version = excluded.version, data = excluded.data, deleted = excluded.deleted,
         created_at = excluded.created_at, created_by = excluded.created_by, updated_at = excluded.updated_at, updated_by = excluded.updated_by
       WHERE excluded.version > record_views.version`,
    ).run(
      generation,
      v.type,
      v.id,
      v.version,
      v.data === null ? null : JSON.stringify(v.data),
      v.deleted ? 1 : 0,
      v.createdAt,
      JSON.stringify(v.createdBy),
      v.updatedAt,
      JSON.stringify(v.updatedBy),
    );
    return r.changes > 0;
  }

  async getRecordVersion(generation: number, type: string, id: string, options: OperationOptions = {}): Promise<number> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    const row = preparedOn(this.db, 'SELECT version FROM record_views WHERE gen = ? AND type = ? AND id = ?').get(generation, type, id) as
      | { version: number }
      | undefined;
    return row?.version ?? 0;
  }

  async listRecords(generation: number, q: ListQuery, options: OperationOptions = {}): Promise<Page<RecordView>> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    const where = ['gen = ?', 'type = ?', 'deleted = 0'];
    const args: (string | number)[] = [generation, q.type];
    for (const f of q.filters) {
      const p = jsonPath(f.path);
      where.push(...filterSql(p, f.value, args));
    }
    let order = 'id ASC';
    let offset = 0;
    if (q.sort) {
      const p = jsonPath(q.sort.path);
      const dir = q.sort.descending ? 'DESC' : 'ASC';
      order = `${guarded('json_extract', p)} ${dir}, id ${dir}`;
      if (q.continuation) offset = decode(q.continuation, isOffset).o;
    } else if (q.continuation) {
      where.push('id > ?');
      args.push(decode(q.continuation, isAfterId).id);
    }
    const rows = this.db
      .prepare(`SELECT * FROM record_views WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ? OFFSET ?`)
      .all(...args, q.limit + 1, offset) as ViewRow[];
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map(toView);
    const last = items.at(-1);
    return {
      items,
      ...(more && last ? { continuation: q.sort ? encode({ o: offset + q.limit }) : encode({ id: last.id }) } : {}),
    };
  }

  async scanRecords(generation: number, o: ScanRecordsOptions): Promise<RecordView[]> {
    throwIfAborted(o.abortSignal);
    await this.ready();
    const where = ['gen = ?'];
    const args: (string | number)[] = [generation];
    if (o.type !== undefined) {
      where.push('type = ?');
      args.push(o.type);
    }
    if (o.after) {
      where.push('(type > ? OR (type = ? AND id > ?))');
      args.push(o.after.type, o.after.type, o.after.id);
    }
    const rows = this.db
      .prepare(`SELECT * FROM record_views WHERE ${where.join(' AND ')} ORDER BY type, id LIMIT ?`)
      .all(...args, o.limit) as ViewRow[];
    return rows.map(toView);
  }

  async countRecords(generation: number, o: OperationOptions & { type?: string } = {}): Promise<number> {
    throwIfAborted(o.abortSignal);
    await this.ready();
    const row = (
      o.type === undefined
        ? this.db.prepare('SELECT COUNT(*) AS n FROM record_views WHERE gen = ?').get(generation)
        : this.db.prepare('SELECT COUNT(*) AS n FROM record_views WHERE gen = ? AND type = ?').get(generation, o.type)
    ) as { n: number };
    return Number(row.n);
  }

  async putAudit(generation: number, entries: AuditEntry[], options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    this.writeDerived(generation, [], entries);
  }

  /**
   * Views and audit rows in ONE transaction (derived data: no fsync of its own): a projected
   * command costs one commit here instead of two (the view's and the audit row's), and its view
   * and audit rows are there together or not at all.
   */
  async project(generation: number, views: RecordView[], entries: AuditEntry[], options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    if (views.length === 0 && entries.length === 0) return;
    this.writeDerived(generation, views, entries);
  }

  /** The one write of upsertRecords, putAudit and project: views and audit rows in one transaction, no fsync of its own. */
  private writeDerived(generation: number, views: RecordView[], entries: AuditEntry[]): void {
    derivedWrite(this.db, () =>
      inTransaction(this.db, () => {
        for (const v of views) this.upsertRow(generation, v);
        this.insertAudit(generation, entries);
      }),
    );
  }

  /** Audit rows, inside the caller's transaction. */
  private insertAudit(generation: number, entries: AuditEntry[]): void {
    if (entries.length === 0) return;
    const one = preparedOn(this.db, AUDIT_INSERT_ONE);
    const many = preparedOn(this.db, AUDIT_INSERT_MANY);
    // AUDIT_ROWS_PER_INSERT rows per statement while there are as many (about a third less
    // CPU per row than one statement per row), the rest one by one.
    let i = 0;
    const params: unknown[] = [];
    for (; i + AUDIT_ROWS_PER_INSERT <= entries.length; i += AUDIT_ROWS_PER_INSERT) {
      params.length = 0;
      for (let k = i; k < i + AUDIT_ROWS_PER_INSERT; k++) pushAuditRow(params, generation, entries[k]!);
      many.run(params);
    }
    for (; i < entries.length; i++) {
      params.length = 0;
      pushAuditRow(params, generation, entries[i]!);
      one.run(params);
    }
  }

  async listAudit(generation: number, q: AuditQuery, options: OperationOptions = {}): Promise<Page<AuditEntry>> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    const where = ['gen = ?'];
    const args: (string | number)[] = [generation];
    if (q.from) {
      where.push('ts >= ?');
      args.push(q.from.toISOString());
    }
    if (q.to) {
      where.push('ts <= ?');
      args.push(q.to.toISOString());
    }
    if (q.author) {
      where.push('(author_id = ? OR author_email = ?)');
      args.push(q.author, q.author.toLowerCase());
    }
    if (q.type) {
      where.push('record_type = ?');
      args.push(q.type);
    }
    if (q.recordsOnly) where.push('record_type IS NOT NULL');
    if (q.continuation) {
      // The position names the last row by its timestamp and row id, never by its stream id.
      const c = decode(q.continuation, isAuditPosition);
      const last = preparedOn(this.db, 'SELECT ts, stream_id, version, idx FROM audit WHERE rowid = ? AND gen = ? AND ts = ?').get(
        c[1],
        generation,
        c[0],
      ) as { ts: string; stream_id: string; version: number; idx: number } | undefined;
      if (!last) throw validation('The continuation token is no longer valid (the audit view was rebuilt); start from the first page.');
      where.push('(ts, stream_id, version, idx) < (?, ?, ?, ?)');
      args.push(last.ts, last.stream_id, last.version, last.idx);
    }
    const rows = this.db
      .prepare(
        `SELECT rowid AS row_id, * FROM audit WHERE ${where.join(' AND ')} ORDER BY ts DESC, stream_id DESC, version DESC, idx DESC LIMIT ?`,
      )
      .all(...args, q.limit + 1) as AuditRow[];
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      items: page.map((r) => ({
        streamId: r.stream_id,
        version: r.version,
        index: r.idx,
        timestamp: r.ts,
        eventType: r.event_type,
        author: JSON.parse(r.author) as Author,
        correlationId: r.correlation_id,
        ...(r.record_type ? { recordType: r.record_type } : {}),
        ...(r.record_id ? { recordId: r.record_id } : {}),
        changes: JSON.parse(r.changes) as AuditEntry['changes'],
      })),
      ...(more && last ? { continuation: encode([last.ts, last.row_id]) } : {}),
    };
  }

  async getCheckpoint(generation: number, options: OperationOptions = {}): Promise<ProjectionCheckpoint | undefined> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    return this.getState<ProjectionCheckpoint>(`checkpoint:${generation}`);
  }
  async setCheckpoint(generation: number, checkpoint: ProjectionCheckpoint, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    derivedWrite(this.db, () => this.setState(`checkpoint:${generation}`, checkpoint));
  }

  async park(generation: number, p: ParkedCommit, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    derivedWrite(this.db, () =>
      preparedOn(this.db, 'INSERT OR REPLACE INTO parked (gen, stream_id, version, body) VALUES (?, ?, ?, ?)').run(
        generation,
        p.streamId,
        p.version,
        JSON.stringify(p),
      ),
    );
  }
  async listParked(generation: number, options: OperationOptions = {}): Promise<ParkedCommit[]> {
    throwIfAborted(options.abortSignal);
    await this.ready();
    return (
      preparedOn(this.db, 'SELECT body FROM parked WHERE gen = ? ORDER BY stream_id, version').all(generation) as { body: string }[]
    ).map((r) => JSON.parse(r.body) as ParkedCommit);
  }
}

const AUDIT_COLUMN_NAMES =
  'gen, stream_id, version, idx, ts, event_type, author, author_id, author_email, correlation_id, record_type, record_id, changes';
const AUDIT_COLUMNS = `(${AUDIT_COLUMN_NAMES})`;

/**
 * Moves an audit table of the old shape (primary key (gen, stream_id, version, idx) and the
 * time-ordered index audit_newest) to the current one, rows and rowids kept (so continuation
 * tokens stay valid), in one transaction: a crash leaves the old table or the new one, never half.
 */
export function migrateAudit(db: Db): void {
  const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit'").get() as { sql: string } | undefined;
  if (!row || !/PRIMARY KEY/i.test(row.sql)) return;
  inTransaction(db, () => {
    db.exec(`DROP TABLE IF EXISTS audit_migrating;
      CREATE TABLE audit_migrating ${AUDIT_TABLE};
      INSERT INTO audit_migrating (rowid, ${AUDIT_COLUMN_NAMES}) SELECT rowid, ${AUDIT_COLUMN_NAMES} FROM audit;
      DROP TABLE audit;
      ALTER TABLE audit_migrating RENAME TO audit;
      CREATE UNIQUE INDEX audit_key ON audit (gen, ts, stream_id, version, idx);`);
  });
}
const AUDIT_ROW = `(${new Array(13).fill('?').join(', ')})`;
/** Audit rows inserted by one statement in putAudit. */
const AUDIT_ROWS_PER_INSERT = 25;
const AUDIT_INSERT_ONE = `INSERT OR IGNORE INTO audit ${AUDIT_COLUMNS} VALUES ${AUDIT_ROW}`;
const AUDIT_INSERT_MANY = `INSERT OR IGNORE INTO audit ${AUDIT_COLUMNS} VALUES ${new Array(AUDIT_ROWS_PER_INSERT).fill(AUDIT_ROW).join(', ')}`;

/** The 13 values of one audit row, in AUDIT_COLUMNS order. */
function pushAuditRow(params: unknown[], generation: number, e: AuditEntry): void {
  params.push(
    generation,
    e.streamId,
    e.version,
    e.index,
    e.timestamp,
    e.eventType,
    JSON.stringify(e.author),
    authorId(e.author),
    e.author.kind === 'user' ? e.author.email : null,
    e.correlationId,
    e.recordType ?? null,
    e.recordId ?? null,
    JSON.stringify(e.changes),
  );
}

function authorId(a: Author): string {
  return a.kind === 'user' ? a.userId : a.id;
}

function filterSql(p: string, value: JsonPrimitive, args: (string | number)[]): string[] {
  const type = guarded('json_type', p);
  if (value === null) return [`${type} = 'null'`];
  if (typeof value === 'boolean') return [`${type} = '${value ? 'true' : 'false'}'`];
  if (typeof value === 'number') {
    args.push(value);
    return [`${type} IN ('integer', 'real')`, `${guarded('json_extract', p)} = ?`];
  }
  args.push(value);
  return [`${type} = 'text'`, `${guarded('json_extract', p)} = ?`];
}

function toView(r: ViewRow): RecordView {
  return {
    type: r.type,
    id: r.id,
    version: r.version,
    data: r.data === null ? null : (JSON.parse(r.data) as Record<string, unknown>),
    deleted: r.deleted === 1,
    createdAt: r.created_at,
    createdBy: JSON.parse(r.created_by) as Author,
    updatedAt: r.updated_at,
    updatedBy: JSON.parse(r.updated_by) as Author,
  };
}
