/**
 * No tenant stalls another: long work on the shared event loop runs in time slices
 * (shared/app/yield.ts) and yields in between, through one queue that hands out one slice per
 * turn of the loop. Checked here without any timing assertion:
 *  - the queue interleaves long operations with other callbacks, one slice per turn;
 *  - a cold replay of a long stream yields between its pages (other callbacks run meanwhile)
 *    and still returns exactly the full fold; long replays leave snapshots on their way;
 *  - a bounded `asOf` list (at most N records rebuilt per request) pages through the whole
 *    type, every continuation followed, to exactly the unbounded answer, which equals an
 *    independent fold of each record's log.
 * Time is simulated where the default budget matters (performance.now is stubbed), so
 * nothing depends on how fast this machine is.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { AS_OF_SCAN_PER_REQUEST, listRecordsAsOf } from '../../shared/app/list-as-of';
import { runProjector } from '../../shared/app/projector';
import { RecordService } from '../../shared/app/records';
import { TenantService } from '../../shared/app/service';
import { loadRecord, READ_PAGE, readStreamPages, replayRecordTo, SNAPSHOT_EVERY } from '../../shared/app/record-reader';
import { SLICE_MS, TimeSlice, yieldToEventLoop } from '../../shared/app/yield';
import type { Commit } from '../../shared/domain/events';
import { decideRecord, evolveRecord, recordStreamId, type RecordState } from '../../shared/domain/records';
import { AUTHORS, CountingEventStore, FakeClock, foldFromLog, openTempStores, recordId, T0, type TempStores } from '../projections/support';

const TYPE = 'item';

/** Appends `n` commits to one record (a create, then merge patches), one second apart. */
async function writeLong(t: TempStores, id: string, n: number): Promise<string> {
  const streamId = recordStreamId(TYPE, id);
  let state: RecordState | undefined;
  for (let v = 1; v <= n; v++) {
    t.clock.t = T0 + v * 1000;
    const out = decideRecord(
      state,
      v === 1
        ? { kind: 'create', type: TYPE, id, data: { count: 0, tags: [] }, schemaCheck: { outcome: 'valid' } }
        : {
            kind: 'patch',
            patch: { count: v, [`k${v % 5}`]: v % 3 ? v : null },
            expectedVersion: v - 1,
            schemaCheck: { outcome: 'valid' },
          },
    );
    const r = await t.events.append(streamId, v - 1, out, { author: AUTHORS[v % AUTHORS.length]!, correlationId: `c${v}` });
    state = evolveRecord(state, {
      version: r.version,
      timestamp: r.timestamp,
      author: AUTHORS[v % AUTHORS.length]!,
      events: out,
    } as Commit);
  }
  return streamId;
}

/** Counts turns of the event loop: a setImmediate that re-arms itself until stopped. */
function turnCounter(): { readonly turns: number; stop(): void } {
  let turns = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turns() {
      return turns;
    },
    stop: () => {
      running = false;
    },
  };
}

describe('the shared yield queue', () => {
  it('interleaves long operations with other callbacks: one slice per turn of the loop', async () => {
    const trace: string[] = [];
    let running = true;
    const other = () => {
      if (!running) return;
      trace.push('other');
      setImmediate(other);
    };
    setImmediate(other);
    const long = async (name: string) => {
      for (let i = 0; i < 5; i++) {
        trace.push(name);
        await yieldToEventLoop();
      }
    };
    await Promise.all([long('A'), long('B'), long('C')]);
    running = false;
    const slices = trace.filter((x) => x !== 'other');
    expect(slices).toHaveLength(15);
    // Between two slices that followed a yield, the other callback always ran: never two
    // long slices in one turn, however many long operations wait.
    const afterFirst = trace.slice(trace.indexOf('other'));
    for (let i = 1; i < afterFirst.length; i++) {
      if (afterFirst[i] !== 'other') expect(afterFirst[i - 1], `trace ${afterFirst.join(' ')}`).toBe('other');
    }
    // Round-robin: each operation got its turns in order (A B C A B C …).
    expect(slices.slice(3)).toEqual(['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B', 'C', 'A', 'B', 'C']);
  });

  it('TimeSlice yields only once its budget is used (simulated clock)', async () => {
    let now = 0;
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const slice = new TimeSlice(10);
      now = 9;
      await slice.maybeYield();
      expect(slice.yields).toBe(0);
      now = 10;
      await slice.maybeYield();
      expect(slice.yields).toBe(1);
      // A new slice started at the yield.
      now = 15;
      await slice.maybeYield();
      expect(slice.yields).toBe(1);
      now = 20;
      await slice.maybeYield();
      expect(slice.yields).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('long replays yield and return the same state', () => {
  let t: TempStores;
  let counting: CountingEventStore;
  beforeEach(() => {
    t = openTempStores(new FakeClock(T0));
    counting = new CountingEventStore(t.events);
  });
  afterEach(() => t.close());

  const N = 10 * READ_PAGE + 37;

  it(`a cold read of a ${N}-commit record reads in pages of ${READ_PAGE}, lets other callbacks run between them, and equals the full fold`, async () => {
    const streamId = await writeLong(t, recordId(1), N);
    const turns = turnCounter();
    const slice = new TimeSlice(0); // every page uses up its budget: a yield after each
    const state = await loadRecord(counting, streamId, undefined, { slice });
    const turnsDuringRead = turns.turns;
    turns.stop();
    expect(state).toEqual(await foldFromLog(t.events, streamId));
    expect(state?.version).toBe(N);
    expect(counting.readStreamCalls).toBe(Math.ceil(N / READ_PAGE));
    expect(slice.yields).toBe(Math.ceil(N / READ_PAGE) - 1);
    expect(turnsDuringRead).toBeGreaterThanOrEqual(slice.yields);
    // The read left its snapshot as before: the next read replays nothing.
    counting.reset();
    expect(await loadRecord(counting, streamId)).toEqual(state);
    expect(counting.replayed).toBe(0);
  });

  it(`with the default budget (${SLICE_MS} ms, simulated clock) the read yields once per budget, not per page`, async () => {
    const streamId = await writeLong(t, recordId(2), N);
    let now = 0;
    // Each clock read moves time by 1 ms: the default budget is used up after a few pages.
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => (now += 1));
    let yields = 0;
    let state: RecordState | undefined;
    try {
      const turns = turnCounter();
      const slice = new TimeSlice();
      state = await loadRecord(t.events, streamId, undefined, { slice });
      yields = slice.yields;
      expect(turns.turns).toBeGreaterThanOrEqual(yields);
      turns.stop();
    } finally {
      spy.mockRestore();
    }
    expect(yields).toBeGreaterThan(0);
    expect(yields).toBeLessThan(Math.ceil(N / READ_PAGE) - 1);
    expect(state).toEqual(await foldFromLog(t.events, streamId));
  });

  it('an asOf read of a long record pages too and equals the fold up to that instant', async () => {
    const streamId = await writeLong(t, recordId(3), N);
    for (const v of [1, READ_PAGE, READ_PAGE + 1, 7 * READ_PAGE - 3, N]) {
      const until = new Date(T0 + v * 1000 + 500);
      const s = await loadRecord(t.events, streamId, until, { slice: new TimeSlice(0), snapshotDuringReplay: Number.MAX_SAFE_INTEGER });
      expect(s, `asOf v${v}`).toEqual(await foldFromLog(t.events, streamId, until));
      expect(s?.version).toBe(v);
    }
  });

  it('a long replay leaves snapshots on its way, so later reads of earlier instants start close by', async () => {
    const streamId = await writeLong(t, recordId(4), N);
    const every = 3 * READ_PAGE;
    await loadRecord(counting, streamId, undefined, { snapshotDuringReplay: every });
    // One snapshot per `every` commits replayed, plus the final one.
    expect(counting.snapshotWrites).toBe(Math.floor(N / every) + 1);
    for (const v of [every + 5, 2 * every + 40, 3 * every + 1]) {
      counting.reset();
      const until = new Date(T0 + v * 1000);
      const s = await loadRecord(counting, streamId, until);
      expect(s).toEqual(await foldFromLog(t.events, streamId, until));
      expect(counting.replayed, `asOf v${v}`).toBeLessThan(SNAPSHOT_EVERY);
    }
  });

  it('replayRecordTo and readStreamPages cover exactly the versions asked for', async () => {
    const streamId = await writeLong(t, recordId(5), 3 * READ_PAGE + 1);
    for (const v of [1, READ_PAGE, READ_PAGE + 1, 3 * READ_PAGE + 1]) {
      const s = await replayRecordTo(t.events, streamId, v, new TimeSlice(0));
      expect(s?.version).toBe(v);
      const reference = await foldFromLog(t.events, streamId, new Date(T0 + v * 1000));
      expect(s).toEqual(reference);
    }
    const versions: number[] = [];
    for await (const page of readStreamPages(t.events, streamId, { fromVersion: READ_PAGE - 1, toVersion: 2 * READ_PAGE + 2 })) {
      expect(page.length).toBeLessThanOrEqual(READ_PAGE);
      versions.push(...page.map((c) => c.version));
    }
    expect(versions).toEqual(Array.from({ length: READ_PAGE + 4 }, (_, i) => READ_PAGE - 1 + i));
    // Beyond the end: nothing, and no error.
    expect(await replayRecordTo(t.events, streamId, 10 * READ_PAGE)).toEqual(await foldFromLog(t.events, streamId));
  });
});

describe('asOf lists do bounded work per request and page to the complete answer', () => {
  let t: TempStores;
  const RECORDS = 45;
  let streams: string[];
  let gen: number;
  /** The instant listed: after every record's 2nd commit, before its 3rd. */
  const asOf = new Date(T0 + 2 * 1000 * 1000 + 500);

  beforeEach(async () => {
    t = openTempStores(new FakeClock(T0));
    streams = [];
    // Record i: created at round 1, patched at rounds 2 and 3 (kind flips), deleted at round 2 when i % 9 === 4.
    const states: Array<RecordState | undefined> = [];
    for (let round = 1; round <= 3; round++) {
      for (let i = 0; i < RECORDS; i++) {
        t.clock.t = T0 + round * 1000 * 1000 + i;
        const id = recordId(100 + i);
        const s = states[i];
        if (s?.deleted) continue;
        const cmd =
          round === 1
            ? ({
                kind: 'create',
                type: TYPE,
                id,
                data: { n: i, kind: i % 7 === 0 ? 'rare' : 'common' },
                schemaCheck: { outcome: 'valid' },
              } as const)
            : round === 2 && i % 9 === 4
              ? ({ kind: 'delete', expectedVersion: s?.version } as const)
              : ({
                  kind: 'patch',
                  patch: { round, kind: (i + round) % 7 === 0 ? 'rare' : 'common' },
                  expectedVersion: s?.version,
                  schemaCheck: { outcome: 'valid' },
                } as const);
        const out = decideRecord(s, cmd);
        const r = await t.events.append(recordStreamId(TYPE, id), s?.version ?? 0, out, {
          author: AUTHORS[0]!,
          correlationId: `c${round}-${i}`,
        });
        states[i] = evolveRecord(s, { version: r.version, timestamp: r.timestamp, author: AUTHORS[0]!, events: out } as Commit);
        if (round === 1) streams.push(recordStreamId(TYPE, id));
      }
    }
    gen = await t.store.activeGeneration();
    for (;;) {
      const r = await runProjector(t.events, t.store, gen, { clock: t.clock });
      expect(r.failed).toBe(false);
      if (r.applied === 0) break;
    }
  });
  afterEach(() => t.close());

  /** Independent reference: each record folded from its whole log up to the instant. */
  async function reference(keep: (s: RecordState) => boolean): Promise<RecordState[]> {
    const out: RecordState[] = [];
    for (const sid of streams) {
      const s = await foldFromLog(t.events, sid, asOf);
      if (s && !s.deleted && keep(s)) out.push(s);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Follows every continuation; returns all items and the pages seen. */
  async function all(limit: number, maxExamined: number, keep: (s: RecordState) => boolean, events = t.events) {
    const items: RecordState[] = [];
    const pages: Array<{ items: number; after?: string }> = [];
    let after: string | undefined;
    for (let guard = 0; guard < 1000; guard++) {
      const page = await listRecordsAsOf(
        events,
        t.store,
        gen,
        { type: TYPE, asOf, limit, maxExamined, ...(after !== undefined ? { after } : {}) },
        keep,
      );
      items.push(...page.items);
      pages.push({ items: page.items.length, ...(page.after !== undefined ? { after: page.after } : {}) });
      if (page.after === undefined) return { items, pages };
      after = page.after;
    }
    throw new Error('the continuation never ended');
  }

  const rare = (s: RecordState) => s.data.kind === 'rare';
  const everything = () => true;

  for (const [name, keep] of [
    ['a filter few records match', rare],
    ['no filter', everything],
  ] as const) {
    it(`${name}: every combination of limit and work bound pages to exactly the full answer`, async () => {
      const expected = await reference(keep);
      expect(expected.length).toBeGreaterThan(0);
      const unbounded = await all(1000, Number.MAX_SAFE_INTEGER, keep);
      expect(unbounded.items).toEqual(expected);
      expect(unbounded.pages).toHaveLength(1);
      for (const limit of [1, 4, 50]) {
        for (const maxExamined of [1, 7, 44, 45, 1000]) {
          const r = await all(limit, maxExamined, keep);
          expect(r.items, `limit ${limit}, at most ${maxExamined} examined`).toEqual(expected);
          for (const p of r.pages) expect(p.items).toBeLessThanOrEqual(limit);
        }
      }
    });
  }

  it('each request rebuilds at most the bound; a page may end early, even empty, with a continuation', async () => {
    const counting = new CountingEventStore(t.events);
    const maxExamined = 6;
    let after: string | undefined;
    let emptyWithContinuation = 0;
    let requests = 0;
    const seen: string[] = [];
    for (;;) {
      counting.reset();
      const page = await listRecordsAsOf(
        counting,
        t.store,
        gen,
        { type: TYPE, asOf, limit: 50, maxExamined, ...(after !== undefined ? { after } : {}) },
        rare,
      );
      requests++;
      // Each record rebuilt is at least one stream read (no snapshots: these are short).
      expect(counting.readStreamCalls).toBeLessThanOrEqual(maxExamined);
      seen.push(...page.items.map((s) => s.id));
      if (page.after === undefined) break;
      if (page.items.length === 0) emptyWithContinuation++;
      after = page.after;
    }
    expect(requests).toBe(Math.ceil(RECORDS / maxExamined));
    expect(emptyWithContinuation).toBeGreaterThan(0);
    expect(seen).toEqual((await reference(rare)).map((s) => s.id));
    expect(AS_OF_SCAN_PER_REQUEST).toBeGreaterThanOrEqual(500);
  });

  it('the scan lets other callbacks run between records once its budget is used', async () => {
    let now = 0;
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => (now += SLICE_MS));
    try {
      const turns = turnCounter();
      const r = await listRecordsAsOf(t.events, t.store, gen, { type: TYPE, asOf, limit: 1000 }, everything);
      const during = turns.turns;
      turns.stop();
      // The clock moves a whole budget per read: about one yield per record.
      expect(during).toBeGreaterThanOrEqual(RECORDS - 1);
      expect(r.items).toEqual(await reference(everything));
    } finally {
      spy.mockRestore();
    }
  });
});

describe('RecordService.list with asOf over more records than one request rebuilds', () => {
  it(`answers in pages of at most ${AS_OF_SCAN_PER_REQUEST} rebuilt records; following every continuation gives the complete answer`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asof-bound-'));
    const clock = new FakeClock(T0);
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    const directory = new EmbeddedTenantDirectory(dir, keys, clock);
    const tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
    const records = new RecordService(tenants, clock);
    try {
      await tenants.createTenant(
        { id: 'op' },
        { id: 'bound', name: 'Bound', admin: { email: 'a@bound.test', password: 'a long enough password' } },
        { correlationId: 'c' },
      );
      const admin = await tenants.authenticate(
        'bound',
        `Bearer ${(await tenants.login({ tenantId: 'bound', email: 'a@bound.test', password: 'a long enough password' })).access_token}`,
      );
      await records.defineType(admin, { type: TYPE, schema: { type: 'object' } }, { correlationId: 'c' });
      const { events, projections } = await tenants.stores('bound');
      const n = AS_OF_SCAN_PER_REQUEST + 50;
      for (let i = 0; i < n; i++) {
        clock.t = T0 + 1000 + i;
        const id = recordId(i);
        const out = decideRecord(undefined, {
          kind: 'create',
          type: TYPE,
          id,
          data: { n: i, kind: i % 400 === 7 ? 'rare' : 'common' },
          schemaCheck: { outcome: 'valid' },
        });
        await events.append(recordStreamId(TYPE, id), 0, out, { author: AUTHORS[0]!, correlationId: `c${i}` });
      }
      const gen = await projections.activeGeneration();
      while ((await runProjector(events, projections, gen, { clock })).applied > 0);
      const asOfNow = new Date(T0 + 10_000);

      const follow = async (filters: Array<{ path: string[]; value: string }>) => {
        const pages: Array<{ items: number; continuation: boolean }> = [];
        const ids: string[] = [];
        let continuation: string | undefined;
        do {
          const page = await records.list(admin, {
            type: TYPE,
            filters,
            limit: 500,
            asOf: asOfNow,
            ...(continuation ? { continuation } : {}),
          });
          ids.push(...page.items.map((r) => r.id));
          continuation = page.continuation;
          pages.push({ items: page.items.length, continuation: continuation !== undefined });
        } while (continuation);
        return { ids, pages };
      };

      // Nothing matches: the first request stops at the bound with an empty page and a continuation.
      const none = await follow([{ path: ['kind'], value: 'none' }]);
      expect(none.ids).toEqual([]);
      expect(none.pages).toEqual([
        { items: 0, continuation: true },
        { items: 0, continuation: false },
      ]);
      // A few match, spread over both requests' ranges.
      const rare = await follow([{ path: ['kind'], value: 'rare' }]);
      const expected = Array.from({ length: n }, (_, i) => i)
        .filter((i) => i % 400 === 7)
        .map(recordId);
      expect(rare.ids).toEqual(expected);
      expect(rare.pages.map((p) => p.continuation)).toEqual([true, false]);
      // Everything: pages of `limit` as before.
      const all = await follow([]);
      expect(all.ids).toEqual(Array.from({ length: n }, (_, i) => recordId(i)));
      expect(all.pages.map((p) => p.items)).toEqual([500, 500, 50]);
    } finally {
      await tenants.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
