import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../shared/adapters/embedded/sqlite-event-store';
import { SqliteProjectionStore } from '../../shared/adapters/embedded/sqlite-projection-store';
import type { AuditEntry } from '../../shared/ports/projection-store';
import { systemClock } from '../../shared/ports/runtime';
import { projectionStoreContract } from '../contracts/projection-store.contract';

projectionStoreContract('embedded (libSQL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'proj-'));
  const key = randomBytes(32).toString('hex');
  const events = new SqliteEventStore('t-proj', join(dir, 'events.db'), key, systemClock);
  const others: SqliteEventStore[] = [];
  return {
    store: new SqliteProjectionStore(events.database),
    // Its own connection to the same file, as another process on the data folder has.
    another: () => {
      const e = new SqliteEventStore('t-proj', join(dir, 'events.db'), key, systemClock);
      others.push(e);
      return new SqliteProjectionStore(e.database);
    },
    cleanup: async () => {
      for (const e of others) e.close();
      events.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
});

describe('embedded projection store: hostile stored data and positions', () => {
  let dir: string;
  let events: SqliteEventStore;
  let store: SqliteProjectionStore;
  const alice = { kind: 'user' as const, userId: 'u-alice', email: 'alice@example.com' };
  const view = (id: string, data: Record<string, unknown>) => ({
    type: 'doc',
    id,
    version: 1,
    data,
    deleted: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: alice,
    updatedAt: '2026-01-01T00:00:00.000Z',
    updatedBy: alice,
  });
  /** `{"name": n, "x": [[[…]]]}` nested `depth` arrays deep, as a record stored before the edge capped nesting. */
  const deep = (depth: number, name: string) => {
    let x: unknown = [];
    for (let i = 1; i < depth; i++) x = [x];
    return { name, n: 1, x };
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'proj-deep-'));
    events = new SqliteEventStore('t-deep', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock);
    store = new SqliteProjectionStore(events.database);
  });
  afterEach(() => {
    events.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('a record nested deeper than SQLite JSON reads (1,010 and 4,000 levels) does not fail filtered or sorted lists of its type', async () => {
    await store.upsertRecord(1, view('r_deep1', deep(1010, 'b')));
    await store.upsertRecord(1, view('r_deep2', deep(4000, 'c')));
    await store.upsertRecord(1, view('r_ok1', { name: 'a', n: 1 }));
    await store.upsertRecord(1, view('r_ok2', { name: 'd', n: 2 }));
    const all = await store.listRecords(1, { type: 'doc', filters: [], limit: 10 });
    expect(all.items.map((v) => v.id)).toEqual(['r_deep1', 'r_deep2', 'r_ok1', 'r_ok2']);
    // Filters: the deep records match nothing; the others are found as before.
    const n1 = await store.listRecords(1, { type: 'doc', filters: [{ path: ['n'], value: 1 }], limit: 10 });
    expect(n1.items.map((v) => v.id)).toEqual(['r_ok1']);
    for (const value of [null, true, 'a'] as const) {
      await expect(store.listRecords(1, { type: 'doc', filters: [{ path: ['name'], value }], limit: 10 })).resolves.toBeDefined();
    }
    // Sorting: the deep records sort as null (first ascending), and paging still walks every record once.
    const seen: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await store.listRecords(1, {
        type: 'doc',
        filters: [],
        sort: { path: ['name'], descending: false },
        limit: 1,
        ...(continuation ? { continuation } : {}),
      });
      seen.push(...page.items.map((v) => v.id));
      continuation = page.continuation;
    } while (continuation);
    expect(seen).toEqual(['r_deep1', 'r_deep2', 'r_ok1', 'r_ok2']);
  });

  it('a position that does not hold what the store wrote is a validation error, never a driver error', async () => {
    await store.upsertRecord(1, view('r_1', { name: 'a' }));
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const bad = async (p: Promise<unknown>) => {
      const e = await p.then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e, 'expected a rejection').toMatchObject({ name: 'AppError', code: 'validation' });
    };
    await bad(store.listRecords(1, { type: 'doc', filters: [], limit: 1, continuation: b64({ id: { a: 1 } }) }));
    await bad(store.listRecords(1, { type: 'doc', filters: [], limit: 1, continuation: b64(null) }));
    await bad(store.listRecords(1, { type: 'doc', filters: [], limit: 1, continuation: 'not base64 json' }));
    await bad(
      store.listRecords(1, {
        type: 'doc',
        filters: [],
        sort: { path: ['name'], descending: false },
        limit: 1,
        continuation: b64({ o: 'x' }),
      }),
    );
    await bad(
      store.listRecords(1, {
        type: 'doc',
        filters: [],
        sort: { path: ['name'], descending: false },
        limit: 1,
        continuation: b64({ o: -1 }),
      }),
    );
    await bad(store.listAudit(1, { limit: 1, continuation: b64([1]) }));
    await bad(store.listAudit(1, { limit: 1, continuation: b64(null) }));
    await bad(store.listAudit(1, { limit: 1, continuation: b64(['a', 'b', 'c', 1]) }));
  });
});

describe('embedded projection store: the audit table (issue 15)', () => {
  let dir: string;
  let events: SqliteEventStore;
  const alice = { kind: 'user' as const, userId: 'u-alice', email: 'alice@example.com' };
  const entry = (streamId: string, version: number, timestamp: string): AuditEntry => ({
    streamId,
    version,
    index: 0,
    timestamp,
    eventType: 'RecordUpdated',
    author: alice,
    correlationId: `c-${streamId}-${version}`,
    recordType: 'doc',
    recordId: streamId,
    changes: [{ path: '/n', old: version - 1, new: version }],
  });
  const indexesOf = (db: SqliteEventStore['database']) =>
    (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit' ORDER BY name").all() as { name: string }[]
    ).map((r) => r.name);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'proj-audit-'));
    events = new SqliteEventStore('t-audit', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock);
  });
  afterEach(() => {
    events.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('keeps one index on the audit table (its key, in time order), and a redelivered entry is still stored once', async () => {
    const store = new SqliteProjectionStore(events.database);
    expect(indexesOf(events.database)).toEqual(['audit_key']);
    const plan = (
      events.database
        .prepare(
          'EXPLAIN QUERY PLAN SELECT rowid, * FROM audit WHERE gen = 1 ORDER BY ts DESC, stream_id DESC, version DESC, idx DESC LIMIT 5',
        )
        .all() as { detail: string }[]
    ).map((r) => r.detail);
    expect(plan.join('\n')).toMatch(/USING INDEX audit_key/);
    expect(plan.join('\n')).not.toMatch(/TEMP B-TREE/);
    const a = entry('rec:doc:a', 1, '2026-01-01T00:00:00.000Z');
    const b = entry('rec:doc:b', 1, '2026-01-01T00:00:01.000Z');
    await store.putAudit(1, [a, b]);
    await store.putAudit(1, [b, a, b]);
    const page = await store.listAudit(1, { limit: 10 });
    expect(page.items.map((e) => `${e.streamId}@${e.version}`)).toEqual(['rec:doc:b@1', 'rec:doc:a@1']);
  });

  it('moves an audit table of the old shape to the current one, rows, order and continuation positions kept', async () => {
    const db = events.database;
    // The table as stores before issue 15 created it.
    db.exec(`CREATE TABLE audit (
      gen INTEGER NOT NULL, stream_id TEXT NOT NULL, version INTEGER NOT NULL, idx INTEGER NOT NULL,
      ts TEXT NOT NULL, event_type TEXT NOT NULL, author TEXT NOT NULL, author_id TEXT, author_email TEXT,
      correlation_id TEXT NOT NULL, record_type TEXT, record_id TEXT, changes TEXT NOT NULL,
      PRIMARY KEY (gen, stream_id, version, idx));
      CREATE INDEX audit_newest ON audit (gen, ts DESC, stream_id DESC, version DESC, idx DESC);`);
    const insert = db.prepare(
      `INSERT INTO audit (gen, stream_id, version, idx, ts, event_type, author, author_id, author_email, correlation_id, record_type, record_id, changes)
       VALUES (1, ?, ?, 0, ?, 'RecordUpdated', ?, 'u-alice', 'alice@example.com', ?, 'doc', ?, '[]')`,
    );
    for (let v = 1; v <= 5; v++)
      insert.run(`rec:doc:r${v % 2}`, v, `2026-01-01T00:00:0${v}.000Z`, JSON.stringify(alice), `c-${v}`, `r${v % 2}`);
    // A continuation taken on the old table: still valid after the migration.
    const before = new SqliteProjectionStore(db);
    const first = await before.listAudit(1, { limit: 2 });
    expect(first.items.map((e) => e.version)).toEqual([5, 4]);
    expect(indexesOf(db)).toEqual(['audit_key']);
    // A second store on the migrated table changes nothing; the rest of the pages follow.
    const store = new SqliteProjectionStore(db);
    const rest = await store.listAudit(1, { limit: 10, continuation: first.continuation! });
    expect(rest.items.map((e) => e.version)).toEqual([3, 2, 1]);
    expect(rest.items[0]).toMatchObject({ streamId: 'rec:doc:r1', author: alice, correlationId: 'c-3', recordType: 'doc', recordId: 'r1' });
    // The key still holds: the old rows redelivered are ignored, a new one is added.
    await store.putAudit(1, [entry('rec:doc:r1', 1, '2026-01-01T00:00:01.000Z'), entry('rec:doc:r0', 6, '2026-01-01T00:00:06.000Z')]);
    const all = await store.listAudit(1, { limit: 10 });
    expect(all.items.map((e) => e.version)).toEqual([6, 5, 4, 3, 2, 1]);
  });
});
