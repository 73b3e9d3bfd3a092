/**
 * The feed projector (shared/app/projector.ts#runProjector / runAllProjectors) under
 * failures of the projection store: retries without moving the checkpoint, parking of
 * commits that keep failing, never skipping a commit silently, and the timer body over an
 * embedded tenant directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { runAllProjectors, runProjector, toView, type ProjectionRunResult } from '../../shared/app/projector';
import { TenantService } from '../../shared/app/service';
import type { Commit } from '../../shared/domain/events';
import { parseRecordStreamId } from '../../shared/domain/records';
import type { EventStore } from '../../shared/ports/event-store';
import type { ProjectionStore } from '../../shared/ports/projection-store';
import {
  allAudit,
  allViews,
  auditKey,
  commitKey,
  expectedAudit,
  FakeClock,
  FaultyProjectionStore,
  foldFromLog,
  historyArbOver,
  HistoryWriter,
  openTempStores,
  readWholeFeed,
  recordStreams,
  sortAudit,
  writeHistory,
  type HistoryOp,
  type TempStores,
} from './support';

const GEN = 1;

const op = (rec: number, patch: Record<string, unknown>, extra: Partial<HistoryOp> = {}): HistoryOp => ({
  rec,
  kind: 'write',
  data: { name: `record ${rec}`, n: 0 },
  patch,
  patch2: {},
  author: rec % 4,
  advance: 1000,
  ...extra,
});

/** Three records, eight commits: r0 v1..v3, r1 v1..v3 (deleted at v3), r2 v1..v2. */
const SCRIPT: HistoryOp[] = [
  op(0, {}),
  op(1, {}),
  op(0, { n: 1 }),
  op(2, {}),
  op(1, { n: 1, tags: ['a', 'b'] }),
  op(0, { n: 2, nested: { x: 1 } }),
  op(1, {}, { kind: 'delete' }),
  op(2, { name: null }),
];

/** Views and audit of the generation are exactly the log's (every commit projected once). */
async function expectFullyProjected(events: EventStore, store: ProjectionStore, feed: Commit[]): Promise<void> {
  const views = await allViews(store, GEN);
  expect(views.map((v) => `rec:${v.type}:${v.id}`)).toEqual(recordStreams(feed));
  for (const v of views) expect(v).toEqual(toView((await foldFromLog(events, `rec:${v.type}:${v.id}`))!));
  expect(sortAudit(await allAudit(store, GEN))).toEqual(sortAudit(feed.flatMap(expectedAudit)));
}

describe('runProjector under store failures', () => {
  let t: TempStores;
  let faulty: FaultyProjectionStore;
  let feed: Commit[];
  beforeEach(async () => {
    t = openTempStores();
    faulty = new FaultyProjectionStore(t.store);
    await writeHistory(t.events, t.clock, { typeCount: 2, ops: SCRIPT });
    feed = await readWholeFeed(t.events);
    expect(feed).toHaveLength(8);
  });
  afterEach(() => t.close());

  const run = (o: { batchSize?: number; maxAttempts?: number } = {}) => {
    t.clock.advance(60_000);
    return runProjector(t.events, faulty, GEN, { clock: t.clock, ...o });
  };

  it('(a) a failing batch is retried on the next run without moving the checkpoint, then projected exactly once', async () => {
    let failAuditCalls = 2;
    faulty.failAudit = () => failAuditCalls-- > 0;
    // Also fail one upsert on the first run, after another record's view was already written.
    faulty.failUpsert = (_v, n) => n === 2;

    const r1 = await run();
    expect(r1).toEqual<ProjectionRunResult>({ applied: 0, parked: 0, failed: true });
    const cp1 = await t.store.getCheckpoint(GEN);
    expect(cp1).toMatchObject({ applied: 0, failures: 1, lastTimestamp: null });
    expect(cp1!.checkpoint).toBeUndefined(); // still before the first commit
    expect(cp1!.lastError).toMatch(/^InjectedFault: upsertRecord call 2/);
    expect(await allAudit(t.store, GEN)).toEqual([]);

    const r2 = await run();
    expect(r2).toEqual({ applied: 0, parked: 0, failed: true });
    const cp2 = await t.store.getCheckpoint(GEN);
    expect(cp2).toMatchObject({ applied: 0, failures: 2 });
    expect(cp2!.checkpoint).toBeUndefined();
    expect(cp2!.lastError).toMatch(/^InjectedFault: putAudit call/);
    expect(Date.parse(cp2!.updatedAt)).toBeGreaterThan(Date.parse(cp1!.updatedAt));

    const r3 = await run(); // the audit fails one more time (third attempt) ...
    expect(r3.failed).toBe(true);
    expect((await t.store.getCheckpoint(GEN))!.failures).toBe(3);

    const r4 = await run(); // ... and then the store recovers.
    expect(r4).toEqual({ applied: 8, parked: 0, failed: false });
    const cp4 = (await t.store.getCheckpoint(GEN))!;
    expect(cp4).toEqual({
      checkpoint: '8',
      lastTimestamp: feed.at(-1)!.timestamp,
      applied: 8,
      updatedAt: t.clock.now().toISOString(),
      failures: 0,
    });
    expect(cp4).not.toHaveProperty('lastError');
    expect(await t.store.listParked(GEN)).toEqual([]);
    await expectFullyProjected(t.events, t.store, feed);
    // Exactly once: each audit entry was written by exactly one successful putAudit.
    const written = faulty.auditWritten.flat().map(auditKey);
    expect(written).toHaveLength(8);
    expect(new Set(written).size).toBe(8);

    // Nothing new: no writes at all, and the checkpoint is not even rewritten.
    const calls = { upsert: faulty.upsertCalls, audit: faulty.auditCalls };
    expect(await run()).toEqual({ applied: 0, parked: 0, failed: false });
    expect({ upsert: faulty.upsertCalls, audit: faulty.auditCalls }).toEqual(calls);
    expect(await t.store.getCheckpoint(GEN)).toEqual(cp4);
  });

  it('(a) with several pages, the pages before the failing one are kept and the run stops there', async () => {
    // Page 1 = commits 1-3, page 2 = 4-6 (fails twice), page 3 = 7-8.
    let fails = 2;
    faulty.failAudit = (entries) => entries.some((e) => e.version === 1 && e.streamId === feed[3]!.streamId) && fails-- > 0;
    expect(await run({ batchSize: 3 })).toEqual({ applied: 3, parked: 0, failed: true });
    expect(await t.store.getCheckpoint(GEN)).toMatchObject({ checkpoint: '3', applied: 3, failures: 1, lastTimestamp: feed[2]!.timestamp });
    expect((await allAudit(t.store, GEN)).map(auditKey).sort()).toEqual(
      feed
        .slice(0, 3)
        .map((c) => `${commitKey(c)}#0`)
        .sort(),
    );
    expect(await run({ batchSize: 3 })).toEqual({ applied: 0, parked: 0, failed: true });
    expect(await t.store.getCheckpoint(GEN)).toMatchObject({ checkpoint: '3', applied: 3, failures: 2 });
    expect(await run({ batchSize: 3 })).toEqual({ applied: 5, parked: 0, failed: false });
    expect(await t.store.getCheckpoint(GEN)).toMatchObject({ checkpoint: '8', applied: 8, failures: 0 });
    await expectFullyProjected(t.events, t.store, feed);
  });

  it('(b) a commit that always fails is parked after maxAttempts runs; the rest of its batch is projected and the checkpoint moves on', async () => {
    const poison = feed[4]!; // r1@2
    faulty.failAudit = (entries) => entries.some((e) => e.streamId === poison.streamId && e.version === poison.version);
    for (let attempt = 1; attempt < 3; attempt++) {
      expect(await run({ maxAttempts: 3 })).toEqual({ applied: 0, parked: 0, failed: true });
      const cp = await t.store.getCheckpoint(GEN);
      expect(cp).toMatchObject({ applied: 0, failures: attempt });
      expect(cp!.checkpoint).toBeUndefined();
      expect(await t.store.listParked(GEN)).toEqual([]);
    }
    expect(await run({ maxAttempts: 3 })).toEqual({ applied: 8, parked: 1, failed: false });
    expect(await t.store.listParked(GEN)).toEqual([
      {
        streamId: poison.streamId,
        version: poison.version,
        checkpoint: undefined,
        error: expect.stringMatching(/^InjectedFault: putAudit call \d+ \(1 entries\) failed$/),
        attempts: 3,
        parkedAt: t.clock.now().toISOString(),
      },
    ]);
    expect(await t.store.getCheckpoint(GEN)).toMatchObject({ checkpoint: '8', applied: 8, failures: 0 });
    // Every other commit is in the audit; the parked one is the only one missing.
    const audit = (await allAudit(t.store, GEN)).map(auditKey).sort();
    expect(audit).toEqual(
      feed
        .filter((c) => c !== poison)
        .map((c) => `${commitKey(c)}#0`)
        .sort(),
    );
    // Views are still the log's (the parked commit's stream was rebuilt by its later commit).
    for (const s of recordStreams(feed)) {
      const { type, id } = parseRecordStreamId(s)!;
      expect((await t.store.scanRecords(GEN, { type, limit: 10 })).find((v) => v.id === id)).toEqual(
        toView((await foldFromLog(t.events, s))!),
      );
    }
    // Later commits are projected normally; the parked commit stays parked and visible.
    faulty.failAudit = () => false;
    await t.events.append(
      feed[0]!.streamId,
      3,
      [
        {
          type: 'RecordUpdated',
          data: {
            type: 'item',
            id: parseRecordStreamId(feed[0]!.streamId)!.id,
            patch: { n: 3 },
            changes: [{ path: '/n', old: 2, new: 3 }],
          },
        },
      ],
      {
        author: { kind: 'system', id: 'test' },
        correlationId: 'late',
      },
    );
    expect(await run({ maxAttempts: 3 })).toEqual({ applied: 1, parked: 0, failed: false });
    expect((await t.store.listParked(GEN)).map(commitKey)).toEqual([commitKey(poison)]);
    expect(await t.store.getRecordVersion(GEN, 'item', parseRecordStreamId(feed[0]!.streamId)!.id)).toBe(4);
  });

  it('(b) a record whose view cannot be written parks its commits of the batch; other records are projected', async () => {
    const poisoned = parseRecordStreamId(feed[1]!.streamId)!; // r1: v1..v3 in the batch
    faulty.failUpsert = (v) => v.id === poisoned.id;
    expect(await run({ maxAttempts: 1 })).toEqual({ applied: 8, parked: 3, failed: false });
    expect((await t.store.listParked(GEN)).map(commitKey)).toEqual([1, 2, 3].map((v) => `${feed[1]!.streamId}@${v}`));
    expect((await allViews(t.store, GEN)).map((v) => v.id)).not.toContain(poisoned.id);
    const projected = feed.filter((c) => c.streamId !== feed[1]!.streamId);
    expect(sortAudit(await allAudit(t.store, GEN))).toEqual(sortAudit(projected.flatMap(expectedAudit)));
  });
});

// ------------------------------------------------------------------ (c) never skips silently

const scenarioArb = fc.record({
  history: historyArbOver(3, 25),
  /** Where the history is cut: the projector runs between the appends of each chunk. */
  chunks: fc.array(fc.nat(6), { minLength: 1, maxLength: 6 }),
  runsPerChunk: fc.array(fc.nat(3), { minLength: 1, maxLength: 6 }),
  batchSize: fc.integer({ min: 1, max: 8 }),
  maxAttempts: fc.integer({ min: 1, max: 4 }),
  /** Per call: true = that upsertRecord / putAudit call throws. Later calls succeed. */
  upsertFaults: fc.array(fc.boolean(), { maxLength: 40 }),
  auditFaults: fc.array(fc.boolean(), { maxLength: 40 }),
  /** A commit (index into the history's commits) whose audit always fails. */
  poison: fc.option(fc.nat(), { nil: undefined }),
});

/** After any run: every commit up to the checkpoint is parked or fully reflected. */
async function checkInvariant(t: TempStores, results: ProjectionRunResult[], last: ProjectionRunResult | undefined): Promise<number> {
  const cp = await t.store.getCheckpoint(GEN);
  const position = Number(cp?.checkpoint ?? 0);
  const done = position === 0 ? [] : (await t.events.readFeed(undefined, { maxCount: position })).commits;
  expect(done).toHaveLength(position);
  if (cp) expect(cp.applied).toBe(position);
  const parked = await t.store.listParked(GEN);
  const parkedKeys = new Set(parked.map(commitKey));
  expect(parkedKeys.size).toBe(parked.length);
  expect(parked.length).toBe(results.reduce((n, r) => n + r.parked, 0));
  const doneKeys = new Set(done.map(commitKey));
  for (const p of parked) expect(doneKeys.has(commitKey(p))).toBe(true);

  const audit = new Map((await allAudit(t.store, GEN)).map((e) => [auditKey(e), e]));
  const views = new Map((await allViews(t.store, GEN)).map((v) => [`rec:${v.type}:${v.id}`, v]));
  for (const c of done) {
    if (parkedKeys.has(commitKey(c))) continue;
    for (const e of expectedAudit(c)) expect(audit.get(auditKey(e)), `audit of ${auditKey(e)}`).toEqual(e);
    if (parseRecordStreamId(c.streamId))
      expect(views.get(c.streamId)?.version ?? 0, `view of ${commitKey(c)}`).toBeGreaterThanOrEqual(c.version);
  }
  // Nothing is in the audit that is not in the log.
  const logged = new Set((await readWholeFeed(t.events)).flatMap(expectedAudit).map(auditKey));
  for (const k of audit.keys()) expect(logged.has(k)).toBe(true);
  if (last) {
    if (last.failed) {
      expect(cp!.failures).toBeGreaterThanOrEqual(1);
      expect(cp!.lastError).toMatch(/^InjectedFault: /);
    } else if (cp) {
      expect(cp.failures).toBe(0);
      expect(cp).not.toHaveProperty('lastError');
    }
  }
  return position;
}

describe('(c) the projector never skips a commit silently', () => {
  it('after any mix of failures, every commit up to the checkpoint is parked or reflected, and the projector catches up', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const t = openTempStores();
        try {
          const faulty = new FaultyProjectionStore(t.store);
          const upsertFaults = [...sc.upsertFaults];
          const auditFaults = [...sc.auditFaults];
          let poison: Commit | undefined;
          faulty.failUpsert = () => upsertFaults.shift() ?? false;
          faulty.failAudit = (entries) =>
            (auditFaults.shift() ?? false) ||
            (poison !== undefined && entries.some((e) => e.streamId === poison!.streamId && e.version === poison!.version));
          const results: ProjectionRunResult[] = [];
          const run = async () => {
            t.clock.advance(1);
            const r = await runProjector(t.events, faulty, GEN, { clock: t.clock, batchSize: sc.batchSize, maxAttempts: sc.maxAttempts });
            results.push(r);
            await checkInvariant(t, results, r);
          };

          // Append the history in chunks, running the projector (with faults) in between.
          const writer = new HistoryWriter(t.events, t.clock, sc.history.typeCount);
          const commits: Commit[] = [];
          let next = 0;
          for (const [i, size] of sc.chunks.entries()) {
            const end = i === sc.chunks.length - 1 ? sc.history.ops.length : Math.min(sc.history.ops.length, next + size);
            for (; next < end; next++) {
              const c = await writer.apply(sc.history.ops[next]!);
              if (!c) continue;
              commits.push(c);
              // Poisoned from the moment it is appended, before any run can see it.
              if (sc.poison !== undefined && commits.length - 1 === sc.poison % 12) poison = c;
            }
            for (let k = 0; k < sc.runsPerChunk[i % sc.runsPerChunk.length]!; k++) await run();
          }

          // Liveness: with only the poison left failing, the projector reaches the end of the log.
          upsertFaults.length = 0;
          auditFaults.length = 0;
          const total = commits.length;
          for (let guard = 0; ; guard++) {
            expect(guard, 'the projector should catch up').toBeLessThan((total + 1) * (sc.maxAttempts + 1) + 5);
            const cp = await t.store.getCheckpoint(GEN);
            if (Number(cp?.checkpoint ?? 0) === total && !results.at(-1)?.failed) break;
            await run();
          }
          const parked = await t.store.listParked(GEN);
          const parkedKeys = new Set(parked.map(commitKey));
          if (poison) expect(parkedKeys.has(commitKey(poison))).toBe(true);
          for (const p of parked) expect(p.attempts).toBe(sc.maxAttempts);
          // Final state: the audit is exactly the log minus the parked commits, and every
          // record whose last commit is not parked has exactly the log's state.
          const expected = commits.filter((c) => !parkedKeys.has(commitKey(c))).flatMap(expectedAudit);
          expect(sortAudit(await allAudit(t.store, GEN))).toEqual(sortAudit(expected));
          const views = new Map((await allViews(t.store, GEN)).map((v) => [`rec:${v.type}:${v.id}`, v]));
          for (const s of recordStreams(commits)) {
            const state = await foldFromLog(t.events, s);
            if (parkedKeys.has(`${s}@${state!.version}`)) continue;
            expect(views.get(s)).toEqual(toView(state!));
          }
        } finally {
          t.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});

// ------------------------------------------------------------------ (d) runAllProjectors

describe('(d) runAllProjectors over an embedded tenant directory', () => {
  let dir: string;
  let clock: FakeClock;
  let directory: EmbeddedTenantDirectory;
  let svc: TenantService;
  let keys: LocalKeyProvider;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'projectors-'));
    clock = new FakeClock();
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
  });
  afterEach(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  const operator = { id: 'operator-key:test' };
  const createTenant = (id: string) =>
    svc.createTenant(
      operator,
      { id, name: `${id} Ltd`, admin: { email: `admin@${id}.test`, password: 'a long enough password' } },
      {
        correlationId: `create-${id}`,
      },
    );

  async function writeRecords(id: string, records: number): Promise<Commit[]> {
    const events = await directory.openEventStore(id);
    return writeHistory(events, clock, {
      typeCount: 2,
      ops: Array.from({ length: records }, (_, i) => [op(i, {}), op(i, { n: i + 1 })]).flat(),
    });
  }

  it('projects every ready tenant from its own log and skips tenants that are not ready', async () => {
    await createTenant('acme');
    await createTenant('globex');
    await createTenant('initech');
    await writeRecords('acme', 3);
    await writeRecords('globex', 1);
    await writeRecords('initech', 2);
    await directory.setStatus('initech', 'creating'); // e.g. a creation still under way
    mkdirSync(join(dir, 'data', 'tenants', 'ghost'), { recursive: true }); // a folder without meta

    const logs: string[] = [];
    const r = await runAllProjectors(directory, { clock, log: (m) => logs.push(m) });
    expect(r).toEqual({
      acme: { applied: 3 + 6, parked: 0, failed: false }, // TenantCreated + UserCreated + TenantAdminsChanged + 6 record commits
      globex: { applied: 3 + 2, parked: 0, failed: false },
    });
    expect(logs).toEqual([]);

    for (const id of ['acme', 'globex']) {
      const events = await directory.openEventStore(id);
      const store = await directory.openProjectionStore(id);
      const gen = await store.activeGeneration();
      const feed = await readWholeFeed(events);
      const views = await allViews(store, gen);
      expect(views.map((v) => `rec:${v.type}:${v.id}`)).toEqual(recordStreams(feed));
      for (const v of views) expect(v).toEqual(toView((await foldFromLog(events, `rec:${v.type}:${v.id}`))!));
      const audit = await allAudit(store, gen);
      expect(audit.map(auditKey).sort()).toEqual(feed.flatMap((c) => c.events.map((_, i) => `${commitKey(c)}#${i}`)).sort());
      // The admin's creation is audited without its password hash.
      const created = audit.find((e) => e.eventType === 'UserCreated')!;
      expect(created.changes).toEqual([
        { path: '/email', new: `admin@${id}.test` },
        { path: '/roles', new: ['admin'] },
      ]);
      const hash = (feed.find((c) => c.events[0]!.type === 'UserCreated')!.events[0]!.data as { passwordHash: string }).passwordHash;
      expect(JSON.stringify(audit)).not.toContain(hash);
      expect(await store.getCheckpoint(gen)).toMatchObject({ checkpoint: String(feed.length), applied: feed.length, failures: 0 });
    }

    // The tenant that is not ready was not touched.
    const initech = await directory.openProjectionStore('initech');
    expect(await initech.getCheckpoint(1)).toBeUndefined();
    expect(await allViews(initech, 1)).toEqual([]);
    expect(await allAudit(initech, 1)).toEqual([]);

    // A second run has nothing to do; once ready, the tenant is projected.
    expect(await runAllProjectors(directory, { clock })).toEqual({
      acme: { applied: 0, parked: 0, failed: false },
      globex: { applied: 0, parked: 0, failed: false },
    });
    await directory.setStatus('initech', 'ready');
    const r3 = await runAllProjectors(directory, { clock });
    expect(r3.initech).toEqual({ applied: 3 + 4, parked: 0, failed: false });
    expect(await allViews(initech, 1)).toHaveLength(2);
  });

  it('a tenant whose store cannot be opened is reported as failed without stopping the others', async () => {
    await createTenant('acme');
    await createTenant('globex');
    await writeRecords('globex', 1);
    await svc.close(); // closes the directory and its open stores
    // acme's wrapped database key is damaged: its store cannot be opened any more.
    const storeFile = join(dir, 'data', 'tenants', 'acme', 'store.json');
    const stored = JSON.parse(readFileSync(storeFile, 'utf8')) as { storeKey: { wrapped: string } };
    stored.storeKey.wrapped = Buffer.alloc(40, 7).toString('base64');
    writeFileSync(storeFile, JSON.stringify(stored));
    directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });

    const logs: string[] = [];
    const r = await runAllProjectors(directory, { clock, log: (m) => logs.push(m) });
    expect(r).toEqual({ acme: { applied: 0, parked: 0, failed: true }, globex: { applied: 5, parked: 0, failed: false } });
    expect(logs).toEqual([expect.stringMatching(/^projector for tenant acme could not run: KeyUnwrapError: /)]);
  });
});
