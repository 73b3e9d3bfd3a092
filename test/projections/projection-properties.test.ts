/**
 * Property tests of the projection handler (shared/app/projector.ts#projectCommits) on the
 * real embedded adapters: the record views and the audit view converge to the log whatever
 * the delivery (duplicates, redeliveries, arbitrary batch splits, reordering across and
 * within streams, concurrent deliveries racing with appends), plus properties of the JSON
 * helpers the audit is made of (diff, applyMergePatch).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { projectCommits, runProjector, StateCarry, toView } from '../../shared/app/projector';
import { loadRecord } from '../../shared/app/record-reader';
import type { Commit } from '../../shared/domain/events';
import { applyMergePatch, deepEqual, diff, escapePointer, isPlainObject, type Change } from '../../shared/domain/json';
import type { EventStore } from '../../shared/ports/event-store';
import type { ProjectionStore } from '../../shared/ports/projection-store';
import {
  allAudit,
  allViews,
  CountingEventStore,
  expectedAudit,
  foldFromLog,
  historyArb,
  historyArbOver,
  HistoryWriter,
  jsonArb,
  jsonObjectArb,
  mergePatchArb,
  openTempStores,
  readWholeFeed,
  recordStreams,
  sortAudit,
  UnguardedProjectionStore,
  writeHistory,
  type History,
} from './support';

const REF = 1;
const GEN = 2;

/** Checks generation GEN against the reference generation REF and against the log itself. */
async function expectConverged(events: EventStore, store: ProjectionStore, feed: Commit[]): Promise<void> {
  const views = await allViews(store, GEN);
  // 1. Same record views as projecting the whole feed once, in order.
  expect(views).toEqual(await allViews(store, REF));
  // 2. ... which are exactly the records of the log, each equal to its state folded from the log.
  expect(views.map((v) => `rec:${v.type}:${v.id}`)).toEqual(recordStreams(feed));
  for (const v of views) {
    const streamId = `rec:${v.type}:${v.id}`;
    const folded = await foldFromLog(events, streamId);
    expect(v).toEqual(toView(folded!));
    expect(v).toEqual(toView((await loadRecord(events, streamId))!));
  }
  // 3. Same audit entries as the reference, and exactly one per event of the log.
  const audit = await allAudit(store, GEN);
  expect(audit).toEqual(await allAudit(store, REF));
  expect(sortAudit(audit)).toEqual(sortAudit(feed.flatMap(expectedAudit)));
}

async function projectReference(events: EventStore, store: ProjectionStore): Promise<Commit[]> {
  const feed = await readWholeFeed(events);
  await projectCommits(events, store, REF, feed);
  return feed;
}

// ------------------------------------------------------------------ sequential deliveries

/**
 * A delivery plan independent of the history's length (indices are taken modulo it), so it
 * shrinks on its own: every commit once, plus duplicates, shuffled by sort keys, cut into
 * batches, and some batches delivered again at the end.
 */
const planArb = fc.record({
  duplicates: fc.array(fc.nat(), { maxLength: 12 }),
  sortKeys: fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 60 }),
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
  redeliver: fc.array(fc.nat(), { maxLength: 3 }),
});
type Plan = typeof planArb extends fc.Arbitrary<infer T> ? T : never;

function batchesOf(plan: Plan, n: number): number[][] {
  if (n === 0) return [];
  const items = [...Array.from({ length: n }, (_, i) => i), ...plan.duplicates.map((d) => d % n)];
  const keyed = items.map((item, i) => ({ item, key: plan.sortKeys[i] ?? 0, i }));
  keyed.sort((a, b) => a.key - b.key || a.i - b.i);
  const ordered = keyed.map((k) => k.item);
  const cuts = [...new Set(plan.cuts.map((c) => c % (ordered.length + 1)))].sort((a, b) => a - b);
  const batches: number[][] = [];
  let from = 0;
  for (const c of [...cuts, ordered.length]) {
    batches.push(ordered.slice(from, c));
    from = c;
  }
  for (const r of plan.redeliver) batches.push(batches[r % batches.length]!);
  return batches;
}

describe('projectCommits: any delivery of the feed converges to the log', () => {
  it('duplicated, redelivered, split and reordered batches give the same views and audit as one in-order pass', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, planArb, async (h: History, plan: Plan) => {
        const t = openTempStores();
        try {
          await writeHistory(t.events, t.clock, h);
          const feed = await projectReference(t.events, t.store);
          for (const batch of batchesOf(plan, feed.length)) {
            await projectCommits(
              t.events,
              t.store,
              GEN,
              batch.map((i) => feed[i]!),
            );
          }
          await expectConverged(t.events, t.store, feed);
        } finally {
          t.close();
        }
      }),
      { numRuns: 100 },
    );
  });

  it('with record states carried from batch to batch (as one projector run does), any delivery still converges to the log', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, planArb, async (h: History, plan: Plan) => {
        const t = openTempStores();
        try {
          await writeHistory(t.events, t.clock, h);
          const feed = await projectReference(t.events, t.store);
          const carry = new StateCarry();
          for (const batch of batchesOf(plan, feed.length)) {
            await projectCommits(
              t.events,
              t.store,
              GEN,
              batch.map((i) => feed[i]!),
              { carry },
            );
          }
          await expectConverged(t.events, t.store, feed);
        } finally {
          t.close();
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a catch-up run folds each record from the feed instead of re-reading its stream on every page', async () => {
    const t = openTempStores();
    try {
      // 4 records, 40 commits each, interleaved: every page of 10 commits touches every record.
      const ops = Array.from({ length: 160 }, (_, i) => ({
        kind: 'write' as const,
        rec: i % 4,
        author: 0,
        advance: 1,
        data: { n: i },
        patch: { n: i },
        patch2: {},
      }));
      const feed = await writeHistory(t.events, t.clock, { typeCount: 1, ops });
      expect(feed).toHaveLength(160);
      const counting = new CountingEventStore(t.events);
      const r = await runProjector(counting, t.store, GEN, { clock: t.clock, batchSize: 10, maxPages: 1000 });
      expect(r).toMatchObject({ applied: 160, failed: false });
      // Every page continues the states the run holds: no stream is read back (before: 4 reads per page).
      expect(counting.readStreamCalls).toBe(0);
      await projectReference(t.events, t.store);
      await expectConverged(t.events, t.store, await readWholeFeed(t.events));
    } finally {
      t.close();
    }
  });

  it('the plan generator really reorders within a stream and duplicates commits', () => {
    // Guard against a vacuous generator: one concrete plan, checked by hand.
    const batches = batchesOf({ duplicates: [1, 1], sortKeys: [5, 4, 3, 2, 1], cuts: [2, 4], redeliver: [0] }, 3);
    expect(batches).toEqual([[1, 1], [2, 1], [0], [1, 1]]);
  });
});

// ------------------------------------------------------------------ concurrent deliveries

/**
 * One feed delivery triggered after an append: which already appended commits, in which
 * order; how many scheduler steps the writer pauses before its next append (so deliveries
 * can read the log in between); how many appends later the delivery's view writes land
 * (a slow projector whose rebuilt view arrives after newer ones; STRAGGLER = only after every
 * other delivery has finished).
 */
const STRAGGLER = 3;
const deliveryArb = fc.record({
  now: fc.boolean(),
  pick: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
  pause: fc.nat(6),
  lag: fc.nat(STRAGGLER),
});

/** Resolves waiters once `count` reached their target (or everything is released). */
class Progress {
  count = 0;
  private released = false;
  private readonly waiters: Array<{ n: number; go: () => void }> = [];
  until(n: number): Promise<void> {
    return new Promise((go) => {
      this.waiters.push({ n, go });
      this.notify();
    });
  }
  advance(): void {
    this.count++;
    this.notify();
  }
  releaseAll(): void {
    this.released = true;
    this.notify();
  }
  private notify(): void {
    for (const w of [...this.waiters]) {
      if (this.released || this.count >= w.n) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.go();
      }
    }
  }
}

/**
 * Wraps the ports the projector uses so that every call first waits for the fast-check
 * scheduler (and, for view/audit writes, until `writesAfter` resolves): deliveries, their
 * reads of the log and their writes interleave with each other and with the appends in
 * whatever order the scheduler picks.
 */
function scheduled<T extends object>(s: fc.Scheduler, target: T, methods: string[], writesAfter?: () => Promise<void>): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const v = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof v === 'function' && methods.includes(String(prop))) {
        return async (...args: unknown[]) => {
          if (writesAfter && (prop === 'upsertRecord' || prop === 'upsertRecords' || prop === 'putAudit' || prop === 'project'))
            await writesAfter();
          await s.schedule(Promise.resolve(), String(prop));
          return (v as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(obj) : v;
    },
  });
}

function concurrentProperty(makeStore: (t: ReturnType<typeof openTempStores>) => ProjectionStore) {
  return fc.asyncProperty(
    historyArbOver(2, 20),
    fc.array(deliveryArb, { minLength: 1, maxLength: 30 }),
    fc.scheduler(),
    async (h, deliveries, s) => {
      const t = openTempStores();
      try {
        const store = makeStore(t);
        const events = scheduled(s, t.events as EventStore, ['readStream', 'readSnapshot', 'writeSnapshot']);
        const writer = new HistoryWriter(t.events, t.clock, h.typeCount);
        const progress = new Progress();
        const appended: Commit[] = [];
        const delivered = new Set<number>();
        const running: Promise<void>[] = [];
        const stragglers: Promise<void>[] = [];
        let othersDone!: () => void;
        const allOthersDone = new Promise<void>((r) => (othersDone = r));
        const deliver = (idx: number[], lag: number) => {
          for (const i of idx) delivered.add(i);
          const target = progress.count + lag;
          const gate = lag === STRAGGLER ? () => allOthersDone : () => progress.until(target);
          const views = scheduled(s, store, ['getRecordVersion', 'upsertRecord', 'upsertRecords', 'putAudit', 'project'], gate);
          (lag === STRAGGLER ? stragglers : running).push(
            projectCommits(
              events,
              views,
              GEN,
              idx.map((i) => appended[i]!),
            ),
          );
        };
        const writing = (async () => {
          for (const [i, op] of h.ops.entries()) {
            const d = deliveries[i % deliveries.length]!;
            for (let k = 0; k <= d.pause; k++) await s.schedule(Promise.resolve(), `before append ${i}`);
            const c = await writer.apply(op);
            progress.advance();
            if (c) appended.push(c);
            if (d.now && appended.length)
              deliver(
                d.pick.map((p) => p % appended.length),
                d.lag,
              );
          }
          // The feed delivers every commit at least once: whatever was not delivered yet goes now.
          const rest = appended.map((_, i) => i).filter((i) => !delivered.has(i));
          if (rest.length) deliver(rest.reverse(), 0);
          progress.releaseAll();
        })();
        await s.waitFor(writing.then(() => Promise.all(running)));
        othersDone();
        await s.waitFor(Promise.all(stragglers));
        // Reference: the same log projected once, in order, with no concurrency.
        const feed = await projectReference(t.events, t.store);
        await expectConverged(t.events, t.store, feed);
      } finally {
        t.close();
      }
    },
  );
}

/** Runs the same stale-rebuild race against a store; returns the final view version and the log's. */
async function staleRebuildRace(
  makeStore: (t: ReturnType<typeof openTempStores>) => ProjectionStore,
): Promise<{ view: number; log: number }> {
  const t = openTempStores();
  try {
    const store = makeStore(t);
    const writer = new HistoryWriter(t.events, t.clock, 1);
    const op = { rec: 0, kind: 'write' as const, data: { n: 1 }, patch2: {}, author: 0, advance: 1000 };
    const v1 = (await writer.apply({ ...op, patch: {} }))!;
    // Delivery A of v1 rebuilds the view from the log (at v1), then stalls before writing it.
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    let reachedUpsert!: () => void;
    const atUpsert = new Promise<void>((r) => (reachedUpsert = r));
    const slow = new Proxy(store, {
      get(obj, prop, receiver) {
        const v = Reflect.get(obj, prop, receiver) as (...a: unknown[]) => Promise<unknown>;
        if (prop === 'upsertRecord' || prop === 'project') {
          return async (...a: unknown[]) => {
            reachedUpsert();
            await stalled;
            return v.apply(obj, a);
          };
        }
        return typeof v === 'function' ? v.bind(obj) : v;
      },
    });
    const a = projectCommits(t.events, slow, GEN, [v1]);
    await atUpsert;
    // Meanwhile v2 is appended and delivered B completes.
    const v2 = (await writer.apply({ ...op, patch: { n: 2 } }))!;
    await projectCommits(t.events, store, GEN, [v2]);
    release();
    await a;
    const [view] = await allViews(store, GEN);
    return { view: view!.version, log: await t.events.streamVersion(v1.streamId) };
  } finally {
    t.close();
  }
}

describe('projectCommits: concurrent deliveries racing with appends', () => {
  it('a stale rebuild that lands after a newer view is refused (and an unguarded store would keep it)', async () => {
    expect(await staleRebuildRace((t) => t.store)).toEqual({ view: 2, log: 2 });
    expect(await staleRebuildRace((t) => new UnguardedProjectionStore(t.events.database))).toEqual({ view: 1, log: 2 });
  });

  it('converge to the log (views and audit)', async () => {
    await fc.assert(
      concurrentProperty((t) => t.store),
      { numRuns: 100 },
    );
  });

  it('(mutation check) a store whose upsert ignores the version guard is caught', async () => {
    // Same property against a deliberately broken store: a stale rebuild of a view that lands
    // after a newer one must make the property fail, or the property has no teeth.
    const r = await fc.check(
      concurrentProperty((t) => new UnguardedProjectionStore(t.events.database)),
      { numRuns: 100, seed: 4242, endOnFailure: true },
    );
    expect(r.failed).toBe(true);
  });
});

// ------------------------------------------------------------------ JSON helpers

/** Splits a JSON Pointer into unescaped tokens. */
function tokens(pointer: string): string[] {
  return pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(value: unknown, pointer: string): unknown {
  let v = value;
  for (const tok of tokens(pointer)) {
    if (Array.isArray(v)) v = /^\d+$/.test(tok) ? v[Number(tok)] : undefined;
    else if (isPlainObject(v)) v = Object.hasOwn(v, tok) ? v[tok] : undefined;
    else return undefined;
  }
  return v;
}

const REMOVED = Symbol('removed');

/**
 * Applies leaf changes to a copy of `a`: `new` sets the value (creating missing parents: an
 * array when the next token is an index, otherwise an object), a change without `new`
 * removes the leaf. Removed array slots are trimmed from the end afterwards.
 */
function applyChanges(a: unknown, changes: Change[]): unknown {
  let root: unknown = a === undefined ? undefined : structuredClone(a);
  for (const c of changes) {
    const toks = tokens(c.path);
    const hasNew = Object.hasOwn(c, 'new');
    if (toks.length === 0) {
      root = hasNew ? structuredClone(c.new) : undefined;
      continue;
    }
    if (root === undefined) root = /^\d+$/.test(toks[0]!) ? [] : {};
    let parent = root as Record<string, unknown> | unknown[];
    for (let i = 0; i < toks.length - 1; i++) {
      const tok = toks[i]!;
      const key = Array.isArray(parent) ? Number(tok) : tok;
      let child = (parent as Record<string | number, unknown>)[key];
      if (child === undefined || child === REMOVED) {
        child = /^\d+$/.test(toks[i + 1]!) ? [] : {};
        (parent as Record<string | number, unknown>)[key] = child;
      }
      parent = child as Record<string, unknown> | unknown[];
    }
    const last = toks.at(-1)!;
    if (Array.isArray(parent)) parent[Number(last)] = hasNew ? structuredClone(c.new) : REMOVED;
    else if (hasNew) parent[last] = structuredClone(c.new);
    else delete parent[last];
  }
  return trim(root);
}

function trim(v: unknown): unknown {
  if (Array.isArray(v)) {
    const out = v.map(trim);
    while (out.length && out.at(-1) === REMOVED) out.pop();
    return out;
  }
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, trim(x)]));
  return v;
}

const isEmptyContainer = (v: unknown) =>
  v === REMOVED || (Array.isArray(v) && v.length === 0) || (isPlainObject(v) && Object.keys(v).length === 0);

/**
 * Drops object members and trailing array elements that are (or become) empty containers:
 * leaf changes cannot tell "{}/[] left behind" from "member gone" (see the test below).
 */
function dropEmpty(v: unknown): unknown {
  if (Array.isArray(v)) {
    const out = v.map(dropEmpty);
    while (out.length && isEmptyContainer(out.at(-1))) out.pop();
    return out;
  }
  if (isPlainObject(v)) {
    return Object.fromEntries(
      Object.entries(v)
        .map(([k, x]) => [k, dropEmpty(x)] as const)
        .filter(([, x]) => !isEmptyContainer(x)),
    );
  }
  return v;
}

/** Paths a merge patch may change: its nodes exactly, and whole subtrees under its non-object values. */
function touched(patch: Record<string, unknown>, base = ''): { exact: Set<string>; subtree: Set<string> } {
  const exact = new Set<string>([base]);
  const subtree = new Set<string>();
  for (const [k, v] of Object.entries(patch)) {
    const p = `${base}/${escapePointer(k)}`;
    if (isPlainObject(v)) {
      const inner = touched(v, p);
      for (const x of inner.exact) exact.add(x);
      for (const x of inner.subtree) subtree.add(x);
    } else subtree.add(p);
  }
  return { exact, subtree };
}

describe('diff and applyMergePatch', () => {
  it('every change of diff(a, b) is a leaf with the right old and new values, paths unique', () => {
    fc.assert(
      fc.property(jsonArb, jsonArb, (a, b) => {
        const changes = diff(a, b);
        const paths = changes.map((c) => c.path);
        expect(new Set(paths).size).toBe(paths.length);
        for (const c of changes) {
          // No change is nested under another one.
          expect(paths.some((p) => p !== c.path && c.path.startsWith(`${p}/`))).toBe(false);
          expect(Object.hasOwn(c, 'old')).toBe(getAt(a, c.path) !== undefined);
          expect(Object.hasOwn(c, 'new')).toBe(getAt(b, c.path) !== undefined);
          if ('old' in c) expect(c.old).toEqual(getAt(a, c.path));
          if ('new' in c) expect(c.new).toEqual(getAt(b, c.path));
          expect(deepEqual(c.old, c.new)).toBe(false);
        }
        expect(changes.length === 0).toBe(deepEqual(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('diff(a, b) applied as leaf changes to a reconstructs b (up to emptied containers)', () => {
    fc.assert(
      fc.property(jsonObjectArb, jsonObjectArb, (a, b) => {
        expect(dropEmpty(applyChanges(a, diff(a, b)))).toEqual(dropEmpty(b));
      }),
      { numRuns: 500 },
    );
    // And exactly, when b does not drop or empty a container of a.
    expect(
      applyChanges({ a: 1, b: { c: [1, 2, 3] } }, diff({ a: 1, b: { c: [1, 2, 3] } }, { a: 2, b: { c: [1], d: { e: [true] } } })),
    ).toEqual({
      a: 2,
      b: { c: [1], d: { e: [true] } },
    });
  });

  // Known limitation of shared/domain/json.ts#diff (reported, not fixed here): a removed
  // container is listed only as its leaves, so "member removed" and "member emptied" give the
  // same changes, and an added container does not say whether it is an array or an object.
  // No applier can reconstruct b from a for both pairs below; this test flips when diff is fixed.
  it.fails('diff distinguishes a removed container from an emptied one (known limitation)', () => {
    expect(diff({ x: { y: 1 } }, {})).not.toEqual(diff({ x: { y: 1 } }, { x: {} }));
    expect(diff({}, { x: [1] })).not.toEqual(diff({}, { x: { 0: 1 } }));
  });

  // JSON.parse makes "__proto__" an own member; merge patch and diff must keep it as data
  // (assigning it with `result[k] = ...` would set the prototype and smuggle inherited values
  // past schema checks and into the audit).
  it('a "__proto__" member of a merge patch is data, not a prototype', () => {
    const before = { name: 'real' };
    const next = applyMergePatch(before, JSON.parse('{"__proto__": {"name": "x"}, "name": null}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(next)).toBe(Object.prototype);
    expect(diff(before, next)).toEqual(diff(before, JSON.parse(JSON.stringify(next))));
  });

  it('applyMergePatch followed by diff changes only paths the patch touches, and is idempotent', () => {
    fc.assert(
      fc.property(jsonObjectArb, mergePatchArb, (a, patch) => {
        const before = structuredClone(a);
        const patchCopy = structuredClone(patch);
        const next = applyMergePatch(a, patch) as Record<string, unknown>;
        expect(a).toEqual(before); // inputs untouched
        expect(patch).toEqual(patchCopy);
        const { exact, subtree } = touched(patch);
        for (const c of diff(a, next)) {
          const ok = exact.has(c.path) || [...subtree].some((p) => c.path === p || c.path.startsWith(`${p}/`));
          expect(ok, `change at ${c.path} outside the patch ${JSON.stringify(patch)}`).toBe(true);
        }
        // RFC 7396: patching twice is the same as once; nulls never survive in patched members.
        expect(applyMergePatch(next, patch)).toEqual(next);
        for (const [k, v] of Object.entries(patch)) if (v === null) expect(Object.hasOwn(next, k)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
