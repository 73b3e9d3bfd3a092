/**
 * Helpers for the projection tests: a fake clock, temp embedded stores, a history writer
 * that runs the real record domain (decideRecord/evolveRecord) against a real
 * SqliteEventStore, independent reference folds, and store wrappers that count or fail.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SqliteEventStore, type Db } from '../../shared/adapters/embedded/sqlite-event-store';
import { SqliteProjectionStore } from '../../shared/adapters/embedded/sqlite-projection-store';
import type { Author, Commit, NewEvent } from '../../shared/domain/events';
import type { Change } from '../../shared/domain/json';
import { decideRecord, evolveRecord, parseRecordStreamId, recordStreamId, type RecordState } from '../../shared/domain/records';
import { decideTypeSet, evolveTypes, TYPES_STREAM, type TypeDefinition } from '../../shared/domain/type-set';
import type { AppendMeta } from '../../shared/domain/events';
import type {
  AppendResult,
  EventStore,
  FeedPage,
  ListStreamsOptions,
  ReadFeedOptions,
  ReadSnapshotOptions,
  ReadStreamOptions,
  Snapshot,
} from '../../shared/ports/event-store';
import type { OperationOptions } from '../../shared/ports/options';
import type {
  AuditEntry,
  AuditQuery,
  ListQuery,
  Page,
  ParkedCommit,
  ProjectionCheckpoint,
  ProjectionStore,
  RecordView,
  ScanRecordsOptions,
} from '../../shared/ports/projection-store';
import type { Clock } from '../../shared/ports/runtime';

// ------------------------------------------------------------------ clock, stores

export const T0 = Date.parse('2026-03-02T08:00:00.000Z');

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  constructor(public t = T0) {}
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface TempStores {
  dir: string;
  clock: FakeClock;
  events: SqliteEventStore;
  store: SqliteProjectionStore;
  close(): void;
}

/** A fresh tenant log + projection store in one encrypted libSQL file under a temp folder. */
export function openTempStores(clock = new FakeClock(), tenantId = 't-proj'): TempStores {
  const dir = mkdtempSync(join(tmpdir(), 'projections-'));
  const events = new SqliteEventStore(tenantId, join(dir, 'events.db'), randomBytes(32).toString('hex'), clock);
  const store = new SqliteProjectionStore(events.database);
  return {
    dir,
    clock,
    events,
    store,
    close: () => {
      try {
        events.close();
      } finally {
        rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      }
    },
  };
}

export async function withTempStores<T>(fn: (t: TempStores) => Promise<T>, clock?: FakeClock): Promise<T> {
  const t = openTempStores(clock);
  try {
    return await fn(t);
  } finally {
    t.close();
  }
}

// ------------------------------------------------------------------ domain fixtures

export const AUTHORS: Author[] = [
  { kind: 'user', userId: 'u_alice', email: 'alice@acme.test' },
  { kind: 'user', userId: 'u_bob', email: 'bob@acme.test' },
  { kind: 'operator', id: 'operator-key:ops' },
  { kind: 'system', id: 'importer' },
];

/** A valid record id (r_ + 22 characters) for a small number. */
export const recordId = (n: number): string => `r_${String(n).padStart(22, '0')}`;

export const RECORD_COUNT = 4;
export const TYPE_NAMES = ['item', 'order'] as const;

export function recordStream(rec: number, typeCount: 1 | 2): { type: string; id: string; streamId: string } {
  const type = TYPE_NAMES[typeCount === 1 ? 0 : rec % 2]!;
  const id = recordId(rec);
  return { type, id, streamId: recordStreamId(type, id) };
}

// ------------------------------------------------------------------ generators

/**
 * Object keys, including characters that JSON Pointer must escape ("~" and "/"). No numeric
 * keys (so a missing parent of "/x/0" is known to be an array) and no "__proto__" (see the
 * known issue in projection-properties.test.ts).
 */
export const KEYS = ['a', 'b', 'c', 'n', 'x~y', 'p/q'] as const;
const keyArb = fc.constantFrom(...KEYS);

const leafArb = fc.oneof(fc.boolean(), fc.integer({ min: -5, max: 5 }), fc.string({ maxLength: 3 }), fc.constant(null));

export const { json: jsonArb, object: jsonObjectArb } = fc.letrec<{ json: unknown; array: unknown[]; object: Record<string, unknown> }>(
  (tie) => ({
    json: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, tie('array'), tie('object')),
    array: fc.array(tie('json'), { maxLength: 3 }),
    object: fc.dictionary(keyArb, tie('json'), { maxKeys: 3, noNullPrototype: true }),
  }),
);

/** An RFC 7396 merge patch: nulls remove, nested objects recurse, anything else replaces. */
export const { patch: mergePatchArb } = fc.letrec<{ patch: Record<string, unknown>; value: unknown }>((tie) => ({
  patch: fc.dictionary(keyArb, tie('value'), { minKeys: 1, maxKeys: 3, noNullPrototype: true }),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constant(null), jsonArb, tie('patch')),
}));

/** One step of a random history. */
export interface HistoryOp {
  /** Which record (0..RECORD_COUNT-1). */
  rec: number;
  /** write = create if missing, else merge patch; patch2 = two patches in one commit. */
  kind: 'write' | 'patch2' | 'delete' | 'schema';
  data: Record<string, unknown>;
  patch: Record<string, unknown>;
  patch2: Record<string, unknown>;
  author: number;
  /** Clock advance before the append, in ms (0 = same millisecond as the previous commit). */
  advance: number;
}

export function historyOpArbOver(records: number): fc.Arbitrary<HistoryOp> {
  return fc.record({
    rec: fc.nat(records - 1),
    kind: fc.oneof(
      { weight: 10, arbitrary: fc.constant('write' as const) },
      { weight: 2, arbitrary: fc.constant('patch2' as const) },
      { weight: 1, arbitrary: fc.constant('delete' as const) },
      { weight: 1, arbitrary: fc.constant('schema' as const) },
    ),
    data: jsonObjectArb,
    patch: mergePatchArb,
    patch2: mergePatchArb,
    author: fc.nat(AUTHORS.length - 1),
    advance: fc.constantFrom(0, 1, 1000, 60_000),
  });
}
export const historyOpArb = historyOpArbOver(RECORD_COUNT);

/** Random histories over `records` records (of one or two types). */
export function historyArbOver(records = RECORD_COUNT, maxOps = 30): fc.Arbitrary<History> {
  return fc.record({
    typeCount: fc.constantFrom(1 as const, 2 as const),
    ops: fc.array(historyOpArbOver(records), { minLength: 1, maxLength: maxOps }),
  });
}
export const historyArb = historyArbOver();
export type History = { typeCount: 1 | 2; ops: HistoryOp[] };

// ------------------------------------------------------------------ history writer

/**
 * Turns history ops into commits the way the service does: fold the state, decide, append at
 * the expected version. Commands the domain refuses (patching a deleted record) or that
 * change nothing are skipped, as a client would see them refused or be told "no change".
 */
export class HistoryWriter {
  private readonly states = new Map<string, RecordState | undefined>();
  private types = new Map<string, TypeDefinition>();
  private typesVersion = 0;
  private n = 0;

  constructor(
    private readonly events: EventStore,
    private readonly clock: FakeClock,
    private readonly typeCount: 1 | 2,
  ) {}

  /** Applies one op; returns the appended commit as read back from the log, if any. */
  async apply(op: HistoryOp): Promise<Commit | undefined> {
    const meta: AppendMeta = { author: AUTHORS[op.author]!, correlationId: `corr-${++this.n}` };
    if (op.kind === 'schema') {
      const type = recordStream(op.rec, this.typeCount).type;
      const schema = { type: 'object', description: `rev ${this.n}`, properties: op.data };
      const out = decideTypeSet({ kind: 'setSchema', type, schema, definitionCheck: { outcome: 'accepted' } }, this.types);
      if (out.length === 0) return undefined;
      return this.append(TYPES_STREAM, this.typesVersion, out, meta, op.advance, (c) => {
        this.types = evolveTypes(this.types, c);
        this.typesVersion = c.version;
      });
    }
    const { type, id, streamId } = recordStream(op.rec, this.typeCount);
    const state = this.states.get(streamId);
    let out: NewEvent[];
    if (!state) out = decideRecord(undefined, { kind: 'create', type, id, data: op.data, schemaCheck: { outcome: 'valid' } });
    else if (state.deleted) return undefined;
    else if (op.kind === 'delete') out = decideRecord(state, { kind: 'delete', expectedVersion: state.version });
    else {
      out = decideRecord(state, { kind: 'patch', patch: op.patch, expectedVersion: state.version, schemaCheck: { outcome: 'valid' } });
      if (op.kind === 'patch2') {
        // A commit with two events: the second decided on the state after the first.
        const mid = evolveRecord(state, { version: state.version, timestamp: state.updatedAt, author: state.updatedBy, events: out })!;
        out = [
          ...out,
          ...decideRecord(mid, { kind: 'patch', patch: op.patch2, expectedVersion: mid.version, schemaCheck: { outcome: 'valid' } }),
        ];
      }
    }
    if (out.length === 0) return undefined;
    return this.append(streamId, state?.version ?? 0, out, meta, op.advance, (c) => {
      this.states.set(streamId, evolveRecord(state, c));
    });
  }

  private async append(
    streamId: string,
    expected: number,
    out: NewEvent[],
    meta: AppendMeta,
    advance: number,
    evolve: (c: Commit) => void,
  ): Promise<Commit> {
    this.clock.advance(advance);
    const r = await this.events.append(streamId, expected, out, meta);
    const [commit] = await this.events.readStream(streamId, { fromVersion: r.version, maxCount: 1 });
    evolve(commit!);
    return commit!;
  }
}

export async function writeHistory(events: EventStore, clock: FakeClock, h: History): Promise<Commit[]> {
  const w = new HistoryWriter(events, clock, h.typeCount);
  const out: Commit[] = [];
  for (const op of h.ops) {
    const c = await w.apply(op);
    if (c) out.push(c);
  }
  return out;
}

// ------------------------------------------------------------------ references

/** The whole feed, in feed order. */
export async function readWholeFeed(events: EventStore): Promise<Commit[]> {
  const all: Commit[] = [];
  let checkpoint: string | undefined;
  for (;;) {
    const page: FeedPage = await events.readFeed(checkpoint, { maxCount: 1000 });
    all.push(...page.commits);
    if (page.commits.length < 1000) return all;
    checkpoint = page.checkpoint;
  }
}

/** A record's state by folding its entire stream (no snapshots), optionally up to an instant. */
export async function foldFromLog(events: EventStore, streamId: string, until?: Date): Promise<RecordState | undefined> {
  let state: RecordState | undefined;
  for (const c of await events.readStream(streamId)) {
    if (until && Date.parse(c.timestamp) > until.getTime()) break;
    state = evolveRecord(state, c);
  }
  return state;
}

/** The audit entries a commit must produce (record and type streams only). */
export function expectedAudit(c: Commit): AuditEntry[] {
  const rec = parseRecordStreamId(c.streamId);
  return c.events.map((e, index) => {
    const data = e.data as { changes: Change[]; type?: string };
    return {
      streamId: c.streamId,
      version: c.version,
      index,
      timestamp: c.timestamp,
      eventType: e.type,
      author: c.author,
      correlationId: c.correlationId,
      ...(rec ? { recordType: rec.type, recordId: rec.id } : c.streamId === TYPES_STREAM ? { recordType: data.type! } : {}),
      changes: data.changes,
    };
  });
}

export const auditKey = (e: { streamId: string; version: number; index: number }): string => `${e.streamId}@${e.version}#${e.index}`;
export const commitKey = (c: { streamId: string; version: number }): string => `${c.streamId}@${c.version}`;

/** Audit entries in a canonical order (stream, version, index). */
export function sortAudit(entries: AuditEntry[]): AuditEntry[] {
  return [...entries].sort((a, b) =>
    a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : a.version - b.version || a.index - b.index,
  );
}

export async function allAudit(store: ProjectionStore, generation: number): Promise<AuditEntry[]> {
  const page = await store.listAudit(generation, { limit: 1_000_000 });
  if (page.continuation) throw new Error('audit larger than the test limit');
  return page.items;
}

export async function allViews(store: ProjectionStore, generation: number): Promise<RecordView[]> {
  return store.scanRecords(generation, { limit: 1_000_000 });
}

/** Distinct record streams of a feed. */
export function recordStreams(feed: Commit[]): string[] {
  return [...new Set(feed.map((c) => c.streamId).filter((s) => parseRecordStreamId(s)))].sort();
}

// ------------------------------------------------------------------ wrappers

export class InjectedFault extends Error {
  override name = 'InjectedFault';
}

/** A ProjectionStore that delegates everything and can be told to fail chosen writes. */
export class FaultyProjectionStore implements ProjectionStore {
  upsertCalls = 0;
  auditCalls = 0;
  /** Return true to make the n-th (1-based) upsertRecord call throw. */
  failUpsert: (view: RecordView, call: number) => boolean = () => false;
  /** Return true to make the n-th (1-based) putAudit call throw (before anything is written). */
  failAudit: (entries: AuditEntry[], call: number) => boolean = () => false;
  /** Audit entries passed to putAudit calls that succeeded, in call order. */
  readonly auditWritten: AuditEntry[][] = [];
  /** Views passed to upsertRecord calls that succeeded (whether or not the guard stored them). */
  readonly upserted: Array<{ view: RecordView; stored: boolean }> = [];

  constructor(readonly inner: ProjectionStore) {}

  activeGeneration(options?: OperationOptions): Promise<number> {
    return this.inner.activeGeneration(options);
  }
  claimGeneration(options?: OperationOptions): Promise<number> {
    return this.inner.claimGeneration(options);
  }
  activateGeneration(g: number, options?: OperationOptions): Promise<boolean> {
    return this.inner.activateGeneration(g, options);
  }
  dropGeneration(g: number, options?: OperationOptions): Promise<void> {
    return this.inner.dropGeneration(g, options);
  }
  async upsertRecord(g: number, view: RecordView, options?: OperationOptions): Promise<boolean> {
    const n = ++this.upsertCalls;
    if (this.failUpsert(view, n)) throw new InjectedFault(`upsertRecord call ${n} (${view.type}/${view.id}@${view.version}) failed`);
    const stored = await this.inner.upsertRecord(g, view, options);
    this.upserted.push({ view, stored });
    return stored;
  }
  getRecordVersion(g: number, type: string, id: string, options?: OperationOptions): Promise<number> {
    return this.inner.getRecordVersion(g, type, id, options);
  }
  listRecords(g: number, q: ListQuery, options?: OperationOptions): Promise<Page<RecordView>> {
    return this.inner.listRecords(g, q, options);
  }
  scanRecords(g: number, o: ScanRecordsOptions): Promise<RecordView[]> {
    return this.inner.scanRecords(g, o);
  }
  async putAudit(g: number, entries: AuditEntry[], options?: OperationOptions): Promise<void> {
    const n = ++this.auditCalls;
    if (this.failAudit(entries, n)) throw new InjectedFault(`putAudit call ${n} (${entries.length} entries) failed`);
    await this.inner.putAudit(g, entries, options);
    this.auditWritten.push(entries);
  }
  listAudit(g: number, q: AuditQuery, options?: OperationOptions): Promise<Page<AuditEntry>> {
    return this.inner.listAudit(g, q, options);
  }
  getCheckpoint(g: number, options?: OperationOptions): Promise<ProjectionCheckpoint | undefined> {
    return this.inner.getCheckpoint(g, options);
  }
  setCheckpoint(g: number, cp: ProjectionCheckpoint, options?: OperationOptions): Promise<void> {
    return this.inner.setCheckpoint(g, cp, options);
  }
  park(g: number, p: ParkedCommit, options?: OperationOptions): Promise<void> {
    return this.inner.park(g, p, options);
  }
  listParked(g: number, options?: OperationOptions): Promise<ParkedCommit[]> {
    return this.inner.listParked(g, options);
  }
}

/** An EventStore that delegates everything, counts replayed commits and can fail snapshot writes. */
export class CountingEventStore implements EventStore {
  /** Commits returned by readStream since the last reset. */
  replayed = 0;
  readStreamCalls = 0;
  snapshotWrites = 0;
  /** 'reject': writeSnapshot returns a rejected promise; 'throw': it throws synchronously. */
  failSnapshotWrites: false | 'reject' | 'throw' = false;

  constructor(readonly inner: EventStore) {}

  get tenantId(): string {
    return this.inner.tenantId;
  }
  reset(): void {
    this.replayed = 0;
    this.readStreamCalls = 0;
    this.snapshotWrites = 0;
  }
  append(
    streamId: string,
    expectedVersion: number,
    events: NewEvent[],
    meta: AppendMeta,
    options?: OperationOptions,
  ): Promise<AppendResult> {
    return this.inner.append(streamId, expectedVersion, events, meta, options);
  }
  async readStream(streamId: string, options?: ReadStreamOptions): Promise<Commit[]> {
    const commits = await this.inner.readStream(streamId, options);
    this.readStreamCalls++;
    this.replayed += commits.length;
    return commits;
  }
  streamVersion(streamId: string, options?: OperationOptions): Promise<number> {
    return this.inner.streamVersion(streamId, options);
  }
  readFeed(checkpoint: string | undefined, options?: ReadFeedOptions): Promise<FeedPage> {
    return this.inner.readFeed(checkpoint, options);
  }
  listStreams(prefix: string, options: ListStreamsOptions): Promise<string[]> {
    return this.inner.listStreams(prefix, options);
  }
  feedLag(checkpoint: string | undefined, options?: OperationOptions): Promise<{ commits: number | null; newestTimestamp: string | null }> {
    return this.inner.feedLag(checkpoint, options);
  }
  findByIdempotencyKey(streamId: string, key: string, options?: OperationOptions): Promise<Commit | undefined> {
    return this.inner.findByIdempotencyKey(streamId, key, options);
  }
  readSnapshot(streamId: string, options?: ReadSnapshotOptions): Promise<Snapshot | undefined> {
    return this.inner.readSnapshot(streamId, options);
  }
  writeSnapshot(streamId: string, snapshot: Snapshot, options?: OperationOptions): Promise<void> {
    if (this.failSnapshotWrites === 'throw') throw new InjectedFault('writeSnapshot failed (synchronously)');
    if (this.failSnapshotWrites === 'reject') return Promise.reject(new InjectedFault('writeSnapshot failed'));
    this.snapshotWrites++;
    return this.inner.writeSnapshot(streamId, snapshot, options);
  }
}

/**
 * A deliberately broken projection store for mutation checks: upsertRecord ignores the
 * version guard and always overwrites (what a store would do with a plain INSERT OR REPLACE).
 */
export class UnguardedProjectionStore extends SqliteProjectionStore {
  constructor(private readonly rawDb: Db) {
    super(rawDb);
  }
  override async upsertRecord(generation: number, v: RecordView): Promise<boolean> {
    this.rawDb
      .prepare(
        `INSERT OR REPLACE INTO record_views (gen, type, id, version, data, deleted, created_at, created_by, updated_at, updated_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
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
    return true;
  }
  /** The bulk form breaks the same way (one unguarded write per view). */
  override async upsertRecords(generation: number, views: RecordView[]): Promise<void> {
    for (const v of views) await this.upsertRecord(generation, v);
  }
  /** And the form that writes views with audit rows (the views unguarded, the audit as the store does). */
  override async project(generation: number, views: RecordView[], entries: AuditEntry[]): Promise<void> {
    await this.upsertRecords(generation, views);
    await this.putAudit(generation, entries);
  }
}
