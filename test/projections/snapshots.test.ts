/**
 * Snapshots behind record reads (shared/app/record-reader.ts#loadRecord): current and
 * point-in-time reads equal a full fold of the log whatever the history length and whatever
 * snapshots exist; reads stay bounded once a snapshot is left behind; failing snapshot
 * writes never break a read.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRecord, SNAPSHOT_EVERY } from '../../shared/app/record-reader';
import type { Commit } from '../../shared/domain/events';
import { decideRecord, evolveRecord, recordStreamId, type RecordState } from '../../shared/domain/records';
import { AUTHORS, CountingEventStore, FakeClock, foldFromLog, openTempStores, recordId, T0, type TempStores } from './support';

const TYPE = 'item';
const ID = recordId(7);
const STREAM = recordStreamId(TYPE, ID);
const STEP = 1000; // ms between commits: commit v is stamped at T0 + v * STEP

/** Commit v's instant. */
const at = (v: number) => new Date(T0 + v * STEP);

/**
 * Appends `n` commits to one record through decide/evolve: a create, then merge patches that
 * add, change and remove (nested) members, the last one a delete when `endWithDelete`.
 */
async function writeRecord(t: TempStores, n: number, endWithDelete = false, from = 1): Promise<Commit[]> {
  let state: RecordState | undefined = from > 1 ? await foldFromLog(t.events, STREAM) : undefined;
  const out: Commit[] = [];
  for (let v = from; v <= n; v++) {
    t.clock.t = at(v).getTime();
    const cmd =
      v === 1
        ? {
            kind: 'create' as const,
            type: TYPE,
            id: ID,
            data: { title: 'first', count: 0, tags: [] as string[] },
            schemaCheck: { outcome: 'valid' as const },
          }
        : v === n && endWithDelete
          ? { kind: 'delete' as const, expectedVersion: state?.version }
          : {
              kind: 'patch' as const,
              patch: {
                count: v,
                [`k${v % 7}`]: v % 3 === 0 ? null : { at: v, list: [v, v + 1] },
                nested: { [`n${v % 5}`]: v % 4 === 0 ? null : `v${v}` },
                ...(v % 11 === 0 ? { tags: [`t${v}`] } : {}),
              },
              expectedVersion: state?.version,
              schemaCheck: { outcome: 'valid' as const },
            };
    const events = decideRecord(state, cmd);
    const r = await t.events.append(STREAM, state?.version ?? 0, events, { author: AUTHORS[v % AUTHORS.length]!, correlationId: `c-${v}` });
    const commit: Commit = {
      tenantId: t.events.tenantId,
      streamId: STREAM,
      version: r.version,
      timestamp: r.timestamp,
      author: AUTHORS[v % AUTHORS.length]!,
      correlationId: `c-${v}`,
      events,
    };
    state = evolveRecord(state, commit);
    out.push(commit);
  }
  expect(await t.events.streamVersion(STREAM)).toBe(n);
  return out;
}

/** Instants to read at: before creation, on and between commits around the snapshot boundaries, after the end. */
function instants(n: number): Date[] {
  const versions = [1, 2, SNAPSHOT_EVERY - 1, SNAPSHOT_EVERY, SNAPSHOT_EVERY + 1, 2 * SNAPSHOT_EVERY, Math.floor(n / 2), n - 1, n].filter(
    (v) => v >= 1 && v <= n,
  );
  const out = [new Date(T0 - 1), at(0), new Date(T0 + 10 * n * STEP)];
  for (const v of new Set(versions)) out.push(at(v), new Date(at(v).getTime() + STEP / 2), new Date(at(v).getTime() - 1));
  return out;
}

describe('loadRecord with snapshots', () => {
  let t: TempStores;
  let counting: CountingEventStore;
  beforeEach(() => {
    t = openTempStores(new FakeClock(T0));
    counting = new CountingEventStore(t.events);
  });
  afterEach(() => t.close());

  /** Reads through the counting store; returns the state and the commits it replayed. */
  async function read(until?: Date): Promise<{ state: RecordState | undefined; replayed: number }> {
    counting.reset();
    const state = await loadRecord(counting, STREAM, until);
    return { state, replayed: counting.replayed };
  }

  for (const n of [0, 49, 50, 120, 1000]) {
    it(`a record with ${n} commits: every read equals the full fold; repeated reads replay fewer than ${SNAPSHOT_EVERY} commits`, async () => {
      await writeRecord(t, n, n === 120);

      // Current state.
      const cold = await read();
      expect(cold.state).toEqual(await foldFromLog(t.events, STREAM));
      expect(cold.replayed).toBe(n);
      expect(counting.snapshotWrites).toBe(n >= SNAPSHOT_EVERY ? 1 : 0);
      for (let i = 0; i < 3; i++) {
        const warm = await read();
        expect(warm.state).toEqual(cold.state);
        expect(warm.replayed).toBeLessThan(SNAPSHOT_EVERY);
        if (n >= SNAPSHOT_EVERY) expect(warm.replayed).toBe(0);
      }
      if (n === 0) expect(cold.state).toBeUndefined();
      if (n === 120) expect(cold.state).toMatchObject({ deleted: true, version: 120 });

      // Point in time, cold then warm at each instant (snapshots from earlier reads in place).
      for (const until of instants(n)) {
        const first = await read(until);
        expect(first.state, `asOf ${until.toISOString()}`).toEqual(await foldFromLog(t.events, STREAM, until));
        if (until.getTime() < at(1).getTime()) expect(first.state).toBeUndefined();
        const again = await read(until);
        expect(again.state).toEqual(first.state);
        expect(again.replayed, `second read asOf ${until.toISOString()}`).toBeLessThan(SNAPSHOT_EVERY);
      }
    });
  }

  it('reads walking forward in time stay bounded (each replays less than SNAPSHOT_EVERY + the step)', async () => {
    const n = 1000;
    await writeRecord(t, n);
    const step = 10;
    for (let v = step; v <= n; v += step) {
      const r = await read(new Date(at(v).getTime() + STEP / 2));
      expect(r.state?.version).toBe(v);
      expect(r.replayed).toBeLessThan(SNAPSHOT_EVERY + step);
    }
    const current = await read();
    expect(current.replayed).toBeLessThan(SNAPSHOT_EVERY);
    expect(current.state).toEqual(await foldFromLog(t.events, STREAM));
    // After appending more, only the tail after the newest snapshot is replayed.
    await writeRecord(t, n + 30, false, n + 1);
    const tail = await read();
    expect(tail.state).toEqual(await foldFromLog(t.events, STREAM));
    expect(tail.replayed).toBeLessThan(SNAPSHOT_EVERY + 30);
    await writeRecord(t, n + 30 + SNAPSHOT_EVERY, false, n + 31);
    const long = await read();
    expect(long.state).toEqual(await foldFromLog(t.events, STREAM));
    expect(long.replayed).toBeGreaterThanOrEqual(SNAPSHOT_EVERY);
    expect((await read()).replayed).toBe(0);
  });

  it('snapshot reads pick the newest snapshot at or before the instant, whatever order they were written in', async () => {
    const n = 300;
    await writeRecord(t, n);
    // Leave snapshots at 300, then 100, then 250 (reads out of time order).
    for (const v of [n, 100, 250]) await read(at(v));
    // Every instant still folds to the log, and each read replays at most the distance to a snapshot.
    for (let v = 1; v <= n; v += 7) {
      const until = new Date(at(v).getTime() + 1);
      const r = await read(until);
      expect(r.state).toEqual(await foldFromLog(t.events, STREAM, until));
    }
  });

  it('snapshot writes that fail do not break reads, and do not leave a snapshot', async () => {
    const n = 120;
    await writeRecord(t, n);
    const full = await foldFromLog(t.events, STREAM);
    counting.failSnapshotWrites = 'reject';
    for (const until of [undefined, at(60), at(119), undefined]) {
      const r = await read(until);
      expect(r.state, `asOf ${until?.toISOString()}`).toEqual(until ? await foldFromLog(t.events, STREAM, until) : full);
      expect(r.replayed).toBeGreaterThanOrEqual(SNAPSHOT_EVERY); // no snapshot to start from
      expect(await t.events.readSnapshot(STREAM)).toBeUndefined();
    }
    // Once writes work again, the next read leaves a snapshot and later reads are short.
    counting.failSnapshotWrites = false;
    expect((await read()).replayed).toBe(n);
    expect((await read()).replayed).toBe(0);
  });

  // Snapshots are best effort: an adapter whose writeSnapshot throws before returning a
  // promise (a non-async method, a serialisation error) must not fail the read.
  it('a snapshot write that throws synchronously does not break the read', async () => {
    await writeRecord(t, SNAPSHOT_EVERY);
    counting.failSnapshotWrites = 'throw';
    expect((await read()).state).toEqual(await foldFromLog(t.events, STREAM));
  });
});
