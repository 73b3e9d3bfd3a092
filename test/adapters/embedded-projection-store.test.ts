import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../shared/adapters/embedded/sqlite-event-store';
import { SqliteProjectionStore } from '../../shared/adapters/embedded/sqlite-projection-store';
import { systemClock } from '../../shared/ports/runtime';
import { projectionStoreContract } from '../contracts/projection-store.contract';

projectionStoreContract('embedded (libSQL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'proj-'));
  const events = new SqliteEventStore('t-proj', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock);
  return {
    store: new SqliteProjectionStore(events.database),
    cleanup: async () => {
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
