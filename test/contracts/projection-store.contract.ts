import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import type { Author } from '../../shared/domain/events';
import type {
  AuditEntry,
  ListQuery,
  Page,
  ParkedCommit,
  ProjectionCheckpoint,
  ProjectionStore,
  RecordView,
} from '../../shared/ports/projection-store';
import { abortedSignal, expectAborted } from './abort';

export interface ProjectionStoreFixture {
  /** A fresh, empty projection store of one tenant. */
  store: ProjectionStore;
  /** Another store object on the same tenant's data, as another process or instance opens it. */
  another(): ProjectionStore;
  cleanup(): Promise<void>;
}

const alice: Author = { kind: 'user', userId: 'u-alice', email: 'alice@example.com' };
const bob: Author = { kind: 'user', userId: 'u-bob', email: 'bob@example.com' };
const operator: Author = { kind: 'operator', id: 'op-1' };

const T0 = Date.parse('2024-03-01T08:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

function view(
  type: string,
  id: string,
  version: number,
  data: Record<string, unknown> | null,
  extra: Partial<RecordView> = {},
): RecordView {
  return {
    type,
    id,
    version,
    data,
    deleted: data === null,
    createdAt: at(0),
    createdBy: alice,
    updatedAt: at(version),
    updatedBy: version > 1 ? bob : alice,
    ...extra,
  };
}

function entry(
  streamId: string,
  version: number,
  index: number,
  timestamp: string,
  author: Author,
  extra: Partial<AuditEntry> = {},
): AuditEntry {
  return {
    streamId,
    version,
    index,
    timestamp,
    eventType: 'RecordUpdated',
    author,
    correlationId: `corr-${streamId}-${version}`,
    recordType: 'customer',
    recordId: streamId.split(':').at(-1)!,
    changes: [{ path: '/name', old: 'A', new: 'B' }],
    ...extra,
  };
}

function noRecordType(e: AuditEntry): AuditEntry {
  const { recordType: _t, recordId: _i, ...rest } = e;
  return rest;
}

/** Every page of a paged query, following continuations (with a guard against loops). */
async function allPages<T>(fetch: (continuation: string | undefined) => Promise<Page<T>>): Promise<T[][]> {
  const pages: T[][] = [];
  let continuation: string | undefined;
  for (let guard = 0; guard < 50; guard++) {
    const page = await fetch(continuation);
    pages.push(page.items);
    if (page.continuation === undefined) return pages;
    continuation = page.continuation;
  }
  throw new Error('Paging did not end after 50 pages.');
}

const ids = (items: RecordView[]) => items.map((v) => v.id);
const auditKey = (e: AuditEntry) => `${e.streamId}@${e.version}.${e.index}`;

/** One suite, every ProjectionStore adapter. */
export function projectionStoreContract(name: string, make: () => Promise<ProjectionStoreFixture>): void {
  describe(`ProjectionStore contract: ${name}`, () => {
    let fx: ProjectionStoreFixture;
    let store: ProjectionStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    // ------------------------------------------------------------------ record views

    it('upsertRecord: a newer version wins, an older or equal one is ignored', async () => {
      expect(await store.getRecordVersion(1, 'customer', 'r1')).toBe(0);
      expect(await store.upsertRecord(1, view('customer', 'r1', 2, { name: 'Two' }))).toBe(true);
      expect(await store.getRecordVersion(1, 'customer', 'r1')).toBe(2);
      expect(await store.upsertRecord(1, view('customer', 'r1', 1, { name: 'One' }))).toBe(false);
      expect(await store.upsertRecord(1, view('customer', 'r1', 2, { name: 'Two again' }))).toBe(false);
      expect((await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items).toEqual([
        view('customer', 'r1', 2, { name: 'Two' }),
      ]);
      expect(await store.upsertRecord(1, view('customer', 'r1', 3, { name: 'Three' }))).toBe(true);
      expect((await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items).toEqual([
        view('customer', 'r1', 3, { name: 'Three' }),
      ]);
      // Same id, other type: another record.
      expect(await store.getRecordVersion(1, 'supplier', 'r1')).toBe(0);
    });

    it('upsertRecords (where a store has it): each view under the same rule, several records and versions in one call', async (ctx) => {
      if (!store.upsertRecords) return ctx.skip();
      await store.upsertRecord(1, view('customer', 'old', 5, { n: 5 }));
      await store.upsertRecords(1, [
        view('customer', 'a', 1, { n: 1 }),
        view('customer', 'b', 2, { n: 2 }),
        view('customer', 'old', 4, { n: 4 }), // older than stored: ignored
        view('customer', 'a', 3, { n: 3 }), // newer than the same call's first: wins
        view('customer', 'b', 1, { n: 1 }), // older than the same call's: ignored
      ]);
      expect((await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items).toEqual([
        view('customer', 'a', 3, { n: 3 }),
        view('customer', 'b', 2, { n: 2 }),
        view('customer', 'old', 5, { n: 5 }),
      ]);
      await store.upsertRecords(1, []);
      await expectAborted(() => store.upsertRecords!(1, [view('customer', 'c', 1, { n: 1 })], { abortSignal: abortedSignal() }));
      expect(await store.getRecordVersion(1, 'customer', 'c')).toBe(0);
    });

    it("project (where a store has it): views under upsertRecord's rule and audit entries stored once, in one call", async (ctx) => {
      if (!store.project) return ctx.skip();
      await store.upsertRecord(1, view('customer', 'old', 5, { n: 5 }));
      const e1 = entry('rec:customer:a', 1, 0, at(1), alice);
      const e2 = entry('rec:customer:a', 2, 0, at(2), alice);
      await store.project(
        1,
        [view('customer', 'a', 2, { n: 2 }), view('customer', 'old', 4, { n: 4 }), view('customer', 'a', 1, { n: 1 })],
        [e1, e2],
      );
      expect((await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items).toEqual([
        view('customer', 'a', 2, { n: 2 }),
        view('customer', 'old', 5, { n: 5 }),
      ]);
      // Delivered again: nothing changes, no audit entry twice. Either list may be empty.
      await store.project(1, [view('customer', 'a', 2, { n: 2 })], [e2]);
      await store.project(1, [], [e1]);
      await store.project(1, [view('customer', 'b', 1, { n: 1 })], []);
      await store.project(1, [], []);
      expect((await store.listAudit(1, { limit: 10 })).items.map(auditKey)).toEqual(['rec:customer:a@2.0', 'rec:customer:a@1.0']);
      expect(await store.getRecordVersion(1, 'customer', 'b')).toBe(1);
      await expectAborted(() =>
        store.project!(1, [view('customer', 'c', 1, { n: 1 })], [entry('rec:customer:c', 1, 0, at(3), alice)], {
          abortSignal: abortedSignal(),
        }),
      );
      expect(await store.getRecordVersion(1, 'customer', 'c')).toBe(0);
      expect((await store.listAudit(1, { limit: 10 })).items).toHaveLength(2);
    });

    it('upsertRecord: concurrent writes of many versions leave the newest', async () => {
      const versions = [3, 7, 1, 8, 2, 6, 5, 4];
      const results = await Promise.all(versions.map((v) => store.upsertRecord(1, view('customer', 'race', v, { v }))));
      expect(results[versions.indexOf(8)]).toBe(true);
      expect(await store.getRecordVersion(1, 'customer', 'race')).toBe(8);
      const [only] = (await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items;
      expect(only).toEqual(view('customer', 'race', 8, { v: 8 }));
    });

    describe('listRecords', () => {
      const customers: RecordView[] = [
        view('customer', 'c1', 1, { name: 'Anna', city: 'Prague', age: 30, vip: true, address: { country: 'CZ', zip: '11000' } }),
        view('customer', 'c2', 2, { name: 'Boris', city: 'Brno', age: 41, vip: false, address: { country: 'CZ', zip: '60200' } }),
        view('customer', 'c3', 1, { name: 'Cyril', city: 'Prague', age: 41, vip: false, address: { country: 'SK', zip: '81101' } }),
        view('customer', 'c4', 3, { name: 'Dana', city: 'Vienna', age: 30, vip: true, address: { country: 'AT', zip: '1010' } }),
        // Same values but other JSON types: must not match number/boolean/string filters.
        view('customer', 'c5', 1, { name: 'Emil', city: 'Prague', age: '30', vip: 1, address: { country: 'CZ', zip: 11000 } }),
        view('customer', 'c6', 1, { name: 'Filip', city: 'Prague', age: 52, vip: false, address: { country: 'CZ', zip: '11000' } }),
        view('customer', 'c7', 2, { name: 'Gita', city: 'Brno', age: 30, vip: true, address: { country: 'CZ', zip: '60200' } }),
      ];
      const deleted = view('customer', 'c0', 4, null, { data: null, deleted: true });
      const other = view('supplier', 's1', 1, { name: 'Anna', city: 'Prague', age: 30, vip: true, address: { country: 'CZ' } });

      beforeEach(async () => {
        for (const v of [...customers, deleted, other]) await store.upsertRecord(1, v);
      });

      const list = (q: Partial<ListQuery>) => store.listRecords(1, { type: 'customer', filters: [], limit: 100, ...q });

      it('returns the records of one type, deleted ones excluded, with every field', async () => {
        const { items, continuation } = await list({});
        expect(continuation).toBeUndefined();
        expect(ids(items).sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']);
        expect(items.find((v) => v.id === 'c2')).toEqual(customers[1]);
        expect(ids((await store.listRecords(1, { type: 'supplier', filters: [], limit: 10 })).items)).toEqual(['s1']);
        expect((await store.listRecords(1, { type: 'nothing', filters: [], limit: 10 })).items).toEqual([]);
      });

      it('filters by string, number, boolean and nested fields, compared as JSON', async () => {
        const by = async (filters: ListQuery['filters']) => ids((await list({ filters })).items).sort();
        expect(await by([{ path: ['city'], value: 'Prague' }])).toEqual(['c1', 'c3', 'c5', 'c6']);
        expect(await by([{ path: ['age'], value: 30 }])).toEqual(['c1', 'c4', 'c7']);
        expect(await by([{ path: ['age'], value: '30' }])).toEqual(['c5']);
        expect(await by([{ path: ['vip'], value: true }])).toEqual(['c1', 'c4', 'c7']);
        expect(await by([{ path: ['vip'], value: false }])).toEqual(['c2', 'c3', 'c6']);
        expect(await by([{ path: ['address', 'country'], value: 'CZ' }])).toEqual(['c1', 'c2', 'c5', 'c6', 'c7']);
        expect(await by([{ path: ['address', 'zip'], value: '11000' }])).toEqual(['c1', 'c6']);
        expect(
          await by([
            { path: ['city'], value: 'Prague' },
            { path: ['age'], value: 30 },
          ]),
        ).toEqual(['c1']);
        expect(await by([{ path: ['city'], value: 'Nowhere' }])).toEqual([]);
        expect(await by([{ path: ['missing', 'deep'], value: 'x' }])).toEqual([]);
      });

      it('sorts ascending and descending by a field', async () => {
        const asc = await list({ sort: { path: ['name'], descending: false } });
        expect(ids(asc.items)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']);
        const desc = await list({ sort: { path: ['name'], descending: true } });
        expect(ids(desc.items)).toEqual(['c7', 'c6', 'c5', 'c4', 'c3', 'c2', 'c1']);
        const nested = await list({ sort: { path: ['address', 'country'], descending: false }, filters: [{ path: ['vip'], value: true }] });
        expect(nested.items.map((v) => (v.data as { address: { country: string } }).address.country)).toEqual(['AT', 'CZ', 'CZ']);
      });

      it('pages with limit and continuation, visiting every record exactly once', async () => {
        const pages = await allPages((continuation) => list({ limit: 3, ...(continuation ? { continuation } : {}) }));
        expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
        expect(ids(pages.flat()).sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']);

        // Sorted descending, filtered.
        const sorted = await allPages((continuation) =>
          list({
            limit: 2,
            sort: { path: ['name'], descending: true },
            filters: [{ path: ['address', 'country'], value: 'CZ' }],
            ...(continuation ? { continuation } : {}),
          }),
        );
        expect(sorted.map((p) => p.length)).toEqual([2, 2, 1]);
        expect(ids(sorted.flat())).toEqual(['c7', 'c6', 'c5', 'c2', 'c1']);

        // Ties in the sort field (equal ages) across page boundaries: every record exactly once.
        const ages = async (vip: boolean, descending: boolean, limit: number) => {
          const pages = await allPages((continuation) =>
            list({
              limit,
              sort: { path: ['age'], descending },
              filters: [{ path: ['vip'], value: vip }],
              ...(continuation ? { continuation } : {}),
            }),
          );
          return { sizes: pages.map((p) => p.length), items: pages.flat() };
        };
        const notVip = await ages(false, false, 1);
        expect(notVip.sizes).toEqual([1, 1, 1]);
        expect(ids(notVip.items).sort()).toEqual(['c2', 'c3', 'c6']);
        expect(notVip.items.map((v) => v.data?.age)).toEqual([41, 41, 52]);
        const vip = await ages(true, true, 2);
        expect(vip.sizes).toEqual([2, 1]);
        expect(ids(vip.items).sort()).toEqual(['c1', 'c4', 'c7']);

        const one = await allPages((continuation) => list({ limit: 1, ...(continuation ? { continuation } : {}) }));
        expect(one.map((p) => p.length)).toEqual([1, 1, 1, 1, 1, 1, 1]);
        expect(new Set(ids(one.flat())).size).toBe(7);
      });
    });

    it('scanRecords: every view (deleted too) in (type, id) order, by type, after a cursor', async () => {
      // Types "a" and "ab": (type, id) order must put a/z before ab/a.
      const all = [
        view('ab', 'a', 1, { n: 1 }),
        view('a', 'z', 1, { n: 2 }),
        view('a', 'b', 2, null, { deleted: true, data: null }),
        view('b', 'a', 1, { n: 3 }),
        view('a', 'm', 1, { n: 4 }),
        view('ab', 'c', 1, { n: 5 }),
      ];
      for (const v of all) await store.upsertRecord(1, v);
      const key = (v: RecordView) => `${v.type}/${v.id}`;
      const expected = ['a/b', 'a/m', 'a/z', 'ab/a', 'ab/c', 'b/a'];

      const everything = await store.scanRecords(1, { limit: 100 });
      expect(everything.map(key)).toEqual(expected);
      if (store.countRecords) {
        expect(await store.countRecords(1)).toBe(6);
        expect(await store.countRecords(1, { type: 'a' })).toBe(3);
        expect(await store.countRecords(1, { type: 'nope' })).toBe(0);
        expect(await store.countRecords(2)).toBe(0);
      }
      expect(everything.find((v) => v.id === 'b')).toEqual(all[2]);

      // Cursor walk with a small limit.
      const walked: string[] = [];
      let after: { type: string; id: string } | undefined;
      for (let guard = 0; guard < 10; guard++) {
        const batch = await store.scanRecords(1, { limit: 4, ...(after ? { after } : {}) });
        expect(batch.length).toBeLessThanOrEqual(4);
        walked.push(...batch.map(key));
        if (batch.length < 4) break;
        const last = batch.at(-1)!;
        after = { type: last.type, id: last.id };
      }
      expect(walked).toEqual(expected);

      expect((await store.scanRecords(1, { type: 'a', limit: 100 })).map(key)).toEqual(['a/b', 'a/m', 'a/z']);
      expect((await store.scanRecords(1, { type: 'a', after: { type: 'a', id: 'b' }, limit: 1 })).map(key)).toEqual(['a/m']);
      expect((await store.scanRecords(1, { type: 'ab', limit: 100 })).map(key)).toEqual(['ab/a', 'ab/c']);
      expect((await store.scanRecords(1, { after: { type: 'a', id: 'z' }, limit: 100 })).map(key)).toEqual(['ab/a', 'ab/c', 'b/a']);
      expect(await store.scanRecords(1, { after: { type: 'b', id: 'a' }, limit: 100 })).toEqual([]);
      expect(await store.scanRecords(2, { limit: 100 })).toEqual([]);
    });

    // ------------------------------------------------------------------ audit

    describe('audit', () => {
      // Entries over three UTC days, several authors and types, one commit with two events.
      const entries: AuditEntry[] = [
        entry('rec:customer:c1', 1, 0, '2024-03-01T08:00:00.000Z', alice, { eventType: 'RecordCreated' }),
        entry('rec:customer:c1', 2, 0, '2024-03-01T09:30:00.000Z', bob),
        entry('rec:supplier:s1', 1, 0, '2024-03-01T23:59:59.999Z', alice, { recordType: 'supplier' }),
        entry('rec:customer:c2', 1, 0, '2024-03-02T00:00:00.000Z', operator, { eventType: 'RecordCreated' }),
        entry('rec:customer:c2', 2, 0, '2024-03-02T12:00:00.000Z', bob),
        entry('rec:customer:c2', 2, 1, '2024-03-02T12:00:00.000Z', bob, { changes: [{ path: '/city', new: 'Brno' }] }),
        entry('types', 1, 0, '2024-03-03T07:00:00.000Z', operator, {
          eventType: 'TypeSchemaSet',
          recordType: 'customer',
          changes: [{ path: '/schema', new: {} }],
        }),
      ];
      const { recordId: _omit, ...noRecord } = entries[6]!;
      entries[6] = noRecord;

      beforeEach(async () => {
        await store.putAudit(1, entries.slice(0, 4));
        await store.putAudit(1, entries.slice(3)); // entries[3] twice: stored once
      });

      const audit = (q: Partial<Parameters<ProjectionStore['listAudit']>[1]> = {}) => store.listAudit(1, { limit: 100, ...q });

      it('stores each entry once (putting it again is harmless) and lists newest first', async () => {
        await store.putAudit(1, [entries[0]!, entries[5]!]);
        const { items, continuation } = await audit();
        expect(continuation).toBeUndefined();
        expect(items).toHaveLength(entries.length);
        expect(items.map(auditKey).sort()).toEqual(entries.map(auditKey).sort());
        const stamps = items.map((e) => e.timestamp);
        expect(stamps).toEqual([...stamps].sort().reverse());
        expect(items[0]).toEqual(entries[6]);
        expect(items.find((e) => auditKey(e) === 'rec:customer:c2@2.1')).toEqual(entries[5]);
      });

      it('filters by time range (inclusive), author (user id, email or operator id) and record type', async () => {
        const keys = async (q: Partial<Parameters<ProjectionStore['listAudit']>[1]>) => (await audit(q)).items.map(auditKey).sort();
        expect(await keys({ from: new Date('2024-03-02T00:00:00.000Z') })).toEqual([
          'rec:customer:c2@1.0',
          'rec:customer:c2@2.0',
          'rec:customer:c2@2.1',
          'types@1.0',
        ]);
        expect(await keys({ to: new Date('2024-03-01T23:59:59.999Z') })).toEqual([
          'rec:customer:c1@1.0',
          'rec:customer:c1@2.0',
          'rec:supplier:s1@1.0',
        ]);
        expect(await keys({ from: new Date('2024-03-01T09:30:00.000Z'), to: new Date('2024-03-02T00:00:00.000Z') })).toEqual([
          'rec:customer:c1@2.0',
          'rec:customer:c2@1.0',
          'rec:supplier:s1@1.0',
        ]);
        expect(await keys({ author: 'u-alice' })).toEqual(['rec:customer:c1@1.0', 'rec:supplier:s1@1.0']);
        expect(await keys({ author: 'bob@example.com' })).toEqual(['rec:customer:c1@2.0', 'rec:customer:c2@2.0', 'rec:customer:c2@2.1']);
        expect(await keys({ author: 'op-1' })).toEqual(['rec:customer:c2@1.0', 'types@1.0']);
        expect(await keys({ author: 'nobody' })).toEqual([]);
        expect(await keys({ type: 'supplier' })).toEqual(['rec:supplier:s1@1.0']);
        expect(await keys({ type: 'customer', author: 'u-bob', from: new Date('2024-03-02T00:00:00.000Z') })).toEqual([
          'rec:customer:c2@2.0',
          'rec:customer:c2@2.1',
        ]);
      });

      it('pages with limit and continuation, newest first, every entry once', async () => {
        const pages = await allPages((continuation) => audit({ limit: 3, ...(continuation ? { continuation } : {}) }));
        expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
        const flat = pages.flat();
        expect(flat.map(auditKey).sort()).toEqual(entries.map(auditKey).sort());
        const stamps = flat.map((e) => e.timestamp);
        expect(stamps).toEqual([...stamps].sort().reverse());

        const filtered = await allPages((continuation) => audit({ limit: 1, author: 'u-bob', ...(continuation ? { continuation } : {}) }));
        expect(filtered.map((p) => p.length)).toEqual([1, 1, 1]);
        expect(filtered.flat().map(auditKey).sort()).toEqual(['rec:customer:c1@2.0', 'rec:customer:c2@2.0', 'rec:customer:c2@2.1']);
      });

      it('recordsOnly filters identity rows out before paging: full pages, and tokens never show a stream id', async () => {
        // Identity rows (a user's stream, the tenant stream) newer than every record row and
        // in between, so that filtering after paging would give short or empty pages.
        const secretUser = 'user-u_SecretAdminId000000001';
        const identity: AuditEntry[] = [
          { ...noRecordType(entry(secretUser, 1, 0, '2024-03-04T00:00:00.000Z', alice)), eventType: 'UserCreated' },
          { ...noRecordType(entry(secretUser, 2, 0, '2024-03-04T00:00:01.000Z', alice)), eventType: 'UserRolesChanged' },
          { ...noRecordType(entry('tenant', 2, 0, '2024-03-02T06:00:00.000Z', operator)), eventType: 'TenantSuspended' },
          { ...noRecordType(entry(secretUser, 3, 0, '2024-03-01T09:00:00.000Z', alice)), eventType: 'UserDisabled' },
        ];
        await store.putAudit(1, identity);
        const all = await audit();
        expect(all.items).toHaveLength(entries.length + identity.length);

        const tokens: string[] = [];
        const pages = await allPages(async (continuation) => {
          const page = await audit({ limit: 2, recordsOnly: true, ...(continuation ? { continuation } : {}) });
          if (page.continuation) tokens.push(page.continuation);
          return page;
        });
        expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
        expect(pages.flat().map(auditKey).sort()).toEqual(entries.map(auditKey).sort());
        expect(pages.flat().every((e) => e.recordType !== undefined)).toBe(true);
        // The same with the identity rows' author filter: nothing of theirs leaks.
        expect((await audit({ recordsOnly: true, from: new Date('2024-03-03T12:00:00.000Z') })).items).toEqual([]);

        // Tokens (also those of an administrator's unfiltered paging) are opaque about streams.
        const adminPages = await allPages(async (continuation) => {
          const page = await audit({ limit: 1, ...(continuation ? { continuation } : {}) });
          if (page.continuation) tokens.push(page.continuation);
          return page;
        });
        expect(adminPages.flat()).toHaveLength(entries.length + identity.length);
        for (const t of tokens) {
          const decoded = Buffer.from(t, 'base64url').toString('latin1');
          for (const stream of [secretUser, 'u_SecretAdminId', 'rec:customer:c', 'rec:supplier:s1']) {
            expect(t).not.toContain(stream);
            expect(decoded).not.toContain(stream);
          }
        }
      });

      it('keeps generations apart', async () => {
        expect((await store.listAudit(2, { limit: 10 })).items).toEqual([]);
        await store.putAudit(2, [entries[0]!]);
        expect((await store.listAudit(2, { limit: 10 })).items).toEqual([entries[0]]);
        expect((await audit()).items).toHaveLength(entries.length);
      });
    });

    // ------------------------------------------------------------------ generations

    it('a checkpoint keeps the erasures version it was given (and has none when not given)', async () => {
      await store.setCheckpoint(1, { checkpoint: 'cp-1', lastTimestamp: at(1), applied: 2, updatedAt: at(2), failures: 0 });
      expect((await store.getCheckpoint(1))?.erasures).toBeUndefined();
      await store.setCheckpoint(1, { checkpoint: 'cp-1', lastTimestamp: at(1), applied: 2, updatedAt: at(2), failures: 0, erasures: 3 });
      expect(await store.getCheckpoint(1)).toEqual({
        checkpoint: 'cp-1',
        lastTimestamp: at(1),
        applied: 2,
        updatedAt: at(2),
        failures: 0,
        erasures: 3,
      });
    });

    it('generations are isolated; activating one drops the older ones; dropGeneration empties one', async () => {
      expect(await store.activeGeneration()).toBe(1);
      await store.upsertRecord(1, view('customer', 'r1', 1, { name: 'One' }));
      await store.upsertRecord(1, view('customer', 'r2', 1, { name: 'Two' }));
      await store.putAudit(1, [entry('rec:customer:r1', 1, 0, at(1), alice)]);
      await store.setCheckpoint(1, { checkpoint: 'cp-1', lastTimestamp: at(1), applied: 2, updatedAt: at(2), failures: 0 });
      await store.park(1, { streamId: 'rec:customer:r9', version: 1, checkpoint: 'cp-0', error: 'boom', attempts: 3, parkedAt: at(3) });

      // Generation 2 is being rebuilt: empty while 1 serves.
      expect((await store.listRecords(2, { type: 'customer', filters: [], limit: 10 })).items).toEqual([]);
      expect(await store.getRecordVersion(2, 'customer', 'r1')).toBe(0);
      expect(await store.getCheckpoint(2)).toBeUndefined();
      expect(await store.listParked(2)).toEqual([]);
      expect(await store.upsertRecord(2, view('customer', 'r1', 1, { name: 'One (rebuilt)' }))).toBe(true);
      expect((await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items).toHaveLength(2);
      expect(
        (await store.listRecords(1, { type: 'customer', filters: [], limit: 10, sort: { path: ['name'], descending: false } })).items[0]!
          .data,
      ).toEqual({ name: 'One' });
      expect((await store.listRecords(2, { type: 'customer', filters: [], limit: 10 })).items.map((v) => v.data)).toEqual([
        { name: 'One (rebuilt)' },
      ]);
      expect(await store.activeGeneration()).toBe(1);

      await store.activateGeneration(2);
      expect(await store.activeGeneration()).toBe(2);
      // The older generation is gone entirely.
      expect((await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items).toEqual([]);
      expect(await store.scanRecords(1, { limit: 10 })).toEqual([]);
      expect((await store.listAudit(1, { limit: 10 })).items).toEqual([]);
      expect(await store.getCheckpoint(1)).toBeUndefined();
      expect(await store.listParked(1)).toEqual([]);
      // The new one serves.
      expect((await store.listRecords(2, { type: 'customer', filters: [], limit: 10 })).items).toHaveLength(1);

      // A failed rebuild (generation 3) is dropped without touching the active one.
      await store.upsertRecord(3, view('customer', 'r5', 1, { name: 'Five' }));
      await store.putAudit(3, [entry('rec:customer:r5', 1, 0, at(5), bob)]);
      await store.setCheckpoint(3, { checkpoint: 'cp-3', lastTimestamp: at(5), applied: 1, updatedAt: at(6), failures: 1, lastError: 'x' });
      await store.park(3, { streamId: 'rec:customer:r5', version: 1, checkpoint: undefined, error: 'bad', attempts: 1, parkedAt: at(6) });
      await store.dropGeneration(3);
      expect(await store.scanRecords(3, { limit: 10 })).toEqual([]);
      expect((await store.listAudit(3, { limit: 10 })).items).toEqual([]);
      expect(await store.getCheckpoint(3)).toBeUndefined();
      expect(await store.listParked(3)).toEqual([]);
      expect(await store.activeGeneration()).toBe(2);
      expect((await store.scanRecords(2, { limit: 10 })).map((v) => v.id)).toEqual(['r1']);
      await store.dropGeneration(3); // dropping an empty generation is harmless
    });

    it('claimGeneration: numbers above the active generation, never the same twice, also across store objects (another process or instance)', async () => {
      const other = fx.another();
      expect(await store.activeGeneration()).toBe(1);
      const claims = await Promise.all([
        store.claimGeneration(),
        other.claimGeneration(),
        store.claimGeneration(),
        other.claimGeneration(),
      ]);
      expect([...claims].sort((a, b) => a - b)).toEqual([2, 3, 4, 5]);
      // Claiming switches nothing.
      expect(await store.activeGeneration()).toBe(1);
      // Above every number claimed before, and above the active generation whoever activated it.
      expect(await other.claimGeneration()).toBe(6);
      expect(await store.activateGeneration(9)).toBe(true);
      expect(await other.claimGeneration()).toBe(10);
    });

    it('activateGeneration is forward only and drops older generations, never newer ones', async () => {
      const other = fx.another();
      await store.upsertRecord(1, view('customer', 'r1', 1, { name: 'One' }));
      // Two rebuilds at once, in two processes: generations 2 and 3.
      const [a, b] = [await store.claimGeneration(), await other.claimGeneration()];
      expect([a, b]).toEqual([2, 3]);
      await store.upsertRecord(a, view('customer', 'r1', 1, { name: 'Two' }));
      await other.upsertRecord(b, view('customer', 'r1', 1, { name: 'Three' }));
      await other.setCheckpoint(b, { checkpoint: 'cp-3', lastTimestamp: at(3), applied: 1, updatedAt: at(3), failures: 0, erasures: 2 });
      // The later one finishes first and switches; 1 and 2 are older and go.
      expect(await other.activateGeneration(b)).toBe(true);
      expect(await store.activeGeneration()).toBe(3);
      expect(await store.scanRecords(1, { limit: 10 })).toEqual([]);
      // The earlier one finishes after it: refused, nothing changes.
      await store.upsertRecord(a, view('customer', 'r2', 1, { name: 'Late' }));
      expect(await store.activateGeneration(a)).toBe(false);
      expect(await other.activeGeneration()).toBe(3);
      expect((await store.scanRecords(3, { limit: 10 })).map((v) => v.data)).toEqual([{ name: 'Three' }]);
      expect((await store.getCheckpoint(3))?.erasures).toBe(2);
      // Activating the active one again is no switch and drops nothing.
      expect(await store.activateGeneration(3)).toBe(true);
      expect(await store.scanRecords(3, { limit: 10 })).toHaveLength(1);
      // A newer generation being filled survives the activation of an older one.
      await store.dropGeneration(a);
      const [c, d] = [await store.claimGeneration(), await other.claimGeneration()];
      await store.upsertRecord(d, view('customer', 'r1', 2, { name: 'Five' }));
      expect(await store.activateGeneration(c)).toBe(true);
      expect(await store.activeGeneration()).toBe(c);
      expect((await store.scanRecords(d, { limit: 10 })).map((v) => v.data)).toEqual([{ name: 'Five' }]);
      expect(await store.scanRecords(3, { limit: 10 })).toEqual([]);
      expect(await other.activateGeneration(d)).toBe(true);
      expect(await store.activeGeneration()).toBe(d);
    });

    // ------------------------------------------------------------------ checkpoints, parked

    it('an already-aborted signal is refused by every method with an AbortError, and nothing changes', async () => {
      const checkpoint: ProjectionCheckpoint = { checkpoint: '7', lastTimestamp: at(7), applied: 7, updatedAt: at(8), failures: 0 };
      const parked: ParkedCommit = { streamId: 'rec:customer:p', version: 1, checkpoint: '3', error: 'boom', attempts: 1, parkedAt: at(3) };
      await store.upsertRecord(1, view('customer', 'a1', 1, { name: 'One' }));
      await store.putAudit(1, [entry('rec:customer:a1', 1, 0, at(1), alice)]);
      await store.setCheckpoint(1, checkpoint);
      await store.park(1, parked);
      const abortSignal = abortedSignal();
      await expectAborted(store.activeGeneration({ abortSignal }));
      await expectAborted(store.activateGeneration(2, { abortSignal }));
      await expectAborted(store.claimGeneration({ abortSignal }));
      await expectAborted(store.dropGeneration(1, { abortSignal }));
      await expectAborted(store.upsertRecord(1, view('customer', 'a1', 2, { name: 'Two' }), { abortSignal }));
      await expectAborted(store.upsertRecord(1, view('customer', 'a2', 1, { name: 'New' }), { abortSignal }));
      await expectAborted(store.getRecordVersion(1, 'customer', 'a1', { abortSignal }));
      await expectAborted(store.listRecords(1, { type: 'customer', filters: [], limit: 10 }, { abortSignal }));
      await expectAborted(store.scanRecords(1, { limit: 10, abortSignal }));
      await expectAborted(store.putAudit(1, [entry('rec:customer:a1', 2, 0, at(2), bob)], { abortSignal }));
      await expectAborted(store.listAudit(1, { limit: 10 }, { abortSignal }));
      await expectAborted(store.getCheckpoint(1, { abortSignal }));
      await expectAborted(store.setCheckpoint(1, { ...checkpoint, applied: 99 }, { abortSignal }));
      await expectAborted(store.park(1, { ...parked, version: 2 }, { abortSignal }));
      await expectAborted(store.listParked(1, { abortSignal }));
      // Everything is as before the refused calls.
      expect(await store.activeGeneration()).toBe(1);
      expect(await store.getRecordVersion(1, 'customer', 'a1')).toBe(1);
      expect(await store.getRecordVersion(1, 'customer', 'a2')).toBe(0);
      expect(ids((await store.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items)).toEqual(['a1']);
      expect((await store.listAudit(1, { limit: 10 })).items.map(auditKey)).toEqual(['rec:customer:a1@1.0']);
      expect(await store.getCheckpoint(1)).toEqual(checkpoint);
      expect(await store.listParked(1)).toEqual([parked]);
      // A signal that has not fired changes nothing.
      const live = new AbortController().signal;
      expect(await store.upsertRecord(1, view('customer', 'a1', 2, { name: 'Two' }), { abortSignal: live })).toBe(true);
      expect((await store.scanRecords(1, { limit: 10, abortSignal: live })).map((v) => v.version)).toEqual([2]);
    });

    it('checkpoint: round trip per generation, including "from the beginning" and the last error', async () => {
      expect(await store.getCheckpoint(1)).toBeUndefined();
      const start: ProjectionCheckpoint = { checkpoint: undefined, lastTimestamp: null, applied: 0, updatedAt: at(0), failures: 0 };
      await store.setCheckpoint(1, start);
      expect(await store.getCheckpoint(1)).toEqual(start);
      const failing: ProjectionCheckpoint = {
        checkpoint: 'opaque-token-1',
        lastTimestamp: at(3),
        applied: 12,
        updatedAt: at(4),
        failures: 2,
        lastError: 'Cannot apply rec:customer:r1@3',
      };
      await store.setCheckpoint(1, failing);
      expect(await store.getCheckpoint(1)).toEqual(failing);
      const healed: ProjectionCheckpoint = {
        checkpoint: 'opaque-token-2',
        lastTimestamp: at(5),
        applied: 13,
        updatedAt: at(6),
        failures: 0,
      };
      await store.setCheckpoint(1, healed);
      const got = await store.getCheckpoint(1);
      expect(got).toEqual(healed);
      expect(got?.lastError).toBeUndefined();
      expect(await store.getCheckpoint(2)).toBeUndefined();
    });

    it('park and listParked, per generation; parking the same commit again keeps one entry', async () => {
      const a: ParkedCommit = {
        streamId: 'rec:customer:r1',
        version: 3,
        checkpoint: 'cp-7',
        error: 'TypeError: x',
        attempts: 5,
        parkedAt: at(10),
      };
      const b: ParkedCommit = { streamId: 'types', version: 1, checkpoint: undefined, error: 'bad schema', attempts: 5, parkedAt: at(11) };
      expect(await store.listParked(1)).toEqual([]);
      await store.park(1, a);
      await store.park(1, b);
      const byKey = (p: ParkedCommit) => `${p.streamId}@${p.version}`;
      const sorted = (ps: ParkedCommit[]) => [...ps].sort((x, y) => byKey(x).localeCompare(byKey(y)));
      expect(sorted(await store.listParked(1))).toEqual(sorted([a, b]));
      await store.park(1, { ...a, attempts: 6, parkedAt: at(12) });
      const again = await store.listParked(1);
      expect(again).toHaveLength(2);
      expect(again.filter((p) => byKey(p) === byKey(a))).toHaveLength(1);
      expect(await store.listParked(2)).toEqual([]);
    });
  });
}
