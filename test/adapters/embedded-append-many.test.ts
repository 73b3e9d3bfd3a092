/** SqliteEventStore.appendMany (restores import whole logs with it): append's checks, one transaction, all or nothing. */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IMPORT_CACHE_KIB, IMPORT_CHECKPOINT_PAGES, SqliteEventStore } from '../../shared/adapters/embedded/sqlite-event-store';
import { isWrongExpectedVersion } from '../../shared/domain/errors';
import type { BatchAppend } from '../../shared/ports/event-store';
import { systemClock } from '../../shared/ports/runtime';

let dir = '';
let store: SqliteEventStore;
afterEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

function open(): SqliteEventStore {
  dir = mkdtempSync(join(tmpdir(), 'append-many-'));
  store = new SqliteEventStore('t-many', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock);
  return store;
}

const author = { kind: 'system', id: 'restore' } as const;
const commit = (streamId: string, expectedVersion: number, at: string, n: number, key?: string): BatchAppend => ({
  streamId,
  expectedVersion,
  events: [{ type: 'E', data: { n } }],
  meta: {
    author,
    correlationId: `c-${streamId}-${n}`,
    originalTimestamp: at,
    ...(key ? { idempotency: { key, requestHash: `h-${key}` } } : {}),
  },
});

it('appends several commits of several streams in order, with their original times and keys, read back like appended ones', async () => {
  const s = open();
  const r = await s.appendMany([
    commit('a', 0, '2026-01-01T00:00:00.000Z', 1, 'k1'),
    commit('b', 0, '2026-01-01T00:00:01.000Z', 2),
    commit('a', 1, '2026-01-01T00:00:02.000Z', 3),
  ]);
  expect(r).toEqual([
    { version: 1, timestamp: '2026-01-01T00:00:00.000Z' },
    { version: 1, timestamp: '2026-01-01T00:00:01.000Z' },
    { version: 2, timestamp: '2026-01-01T00:00:02.000Z' },
  ]);
  const a = await s.readStream('a');
  expect(a.map((c) => [c.version, c.timestamp, c.events[0]?.data, c.correlationId])).toEqual([
    [1, '2026-01-01T00:00:00.000Z', { n: 1 }, 'c-a-1'],
    [2, '2026-01-01T00:00:02.000Z', { n: 3 }, 'c-a-3'],
  ]);
  expect(a[0]?.idempotency).toEqual({ key: 'k1', requestHash: 'h-k1' });
  expect(a[1]?.idempotency).toBeUndefined();
  expect((await s.findByIdempotencyKey('a', 'k1'))?.version).toBe(1);
  const feed = await s.readFeed(undefined);
  expect(feed.commits.map((c) => `${c.streamId}@${c.version}`)).toEqual(['a@1', 'b@1', 'a@2']);
});

it('a wrong expected version anywhere in the batch writes nothing of it', async () => {
  const s = open();
  await s.append('a', 0, [{ type: 'E', data: {} }], { author, correlationId: 'c0' });
  const err = await s
    .appendMany([commit('b', 0, '2026-01-01T00:00:00.000Z', 1), commit('a', 0, '2026-01-01T00:00:01.000Z', 2)])
    .catch((e: unknown) => e);
  expect(isWrongExpectedVersion(err)).toBe(true);
  expect(await s.streamVersion('b')).toBe(0);
  expect(await s.streamVersion('a')).toBe(1);
  expect((await s.readFeed(undefined)).commits).toHaveLength(1);
});

it('a commit without events or an already aborted signal writes nothing', async () => {
  const s = open();
  await expect(
    s.appendMany([commit('a', 0, '2026-01-01T00:00:00.000Z', 1), { ...commit('b', 0, '2026-01-01T00:00:00.000Z', 2), events: [] }]),
  ).rejects.toThrow();
  const ac = new AbortController();
  ac.abort();
  await expect(s.appendMany([commit('a', 0, '2026-01-01T00:00:00.000Z', 1)], { abortSignal: ac.signal })).rejects.toThrow();
  expect((await s.readFeed(undefined)).commits).toHaveLength(0);
  expect(await s.appendMany([])).toEqual([]);
});

describe("beginImport (a restore's bulk import)", () => {
  const pragma = (s: SqliteEventStore, name: string) =>
    Number(Object.values(s.database.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[0]);

  it('checks every version across batches (heads kept in memory) and continues streams already in the store', async () => {
    const s = open();
    await s.append('a', 0, [{ type: 'E', data: {} }], { author, correlationId: 'c0', originalTimestamp: '2026-01-01T00:00:05.000Z' });
    const bulk = await s.beginImport();
    try {
      await bulk.append([commit('a', 1, '2026-01-01T00:00:06.000Z', 1), commit('b', 0, '2026-01-01T00:00:06.000Z', 2)]);
      // A later batch: 'a' is at 2 and 'b' at 1 without reading them back.
      await bulk.append([commit('a', 2, '2026-01-01T00:00:07.000Z', 3), commit('b', 1, '2026-01-01T00:00:08.000Z', 4)]);
      // Stale (the stream moved on in an earlier batch) and ahead (a gap): refused, nothing of the batch written.
      for (const bad of [commit('a', 2, '2026-01-01T00:00:09.000Z', 5), commit('b', 3, '2026-01-01T00:00:09.000Z', 5)]) {
        const err = await bulk.append([commit('c', 0, '2026-01-01T00:00:09.000Z', 6), bad]).catch((e: unknown) => e);
        expect(isWrongExpectedVersion(err)).toBe(true);
      }
      expect(await s.streamVersion('c')).toBe(0);
      // The failed batches left the kept heads as they were: 'c' is new again, 'a' at 3.
      await bulk.append([commit('c', 0, '2026-01-01T00:00:09.000Z', 6), commit('a', 3, '2026-01-01T00:00:01.000Z', 7)]);
    } finally {
      bulk.end();
    }
    expect((await s.readStream('a')).map((c) => [c.version, c.timestamp])).toEqual([
      [1, '2026-01-01T00:00:05.000Z'],
      [2, '2026-01-01T00:00:06.000Z'],
      [3, '2026-01-01T00:00:07.000Z'],
      // An earlier original time never makes a stream's timestamps go back (as append).
      [4, '2026-01-01T00:00:07.000Z'],
    ]);
    expect(await s.streamVersion('b')).toBe(2);
    expect(await s.streamVersion('c')).toBe(1);
    expect((await s.readFeed(undefined)).commits).toHaveLength(7);
  });

  it('tunes the connection for the import and gives its settings back at end(), also after a reopen', async () => {
    const s = open();
    const before = { cache: pragma(s, 'cache_size'), checkpoint: pragma(s, 'wal_autocheckpoint') };
    const bulk = await s.beginImport();
    expect(pragma(s, 'cache_size')).toBe(IMPORT_CACHE_KIB);
    expect(pragma(s, 'wal_autocheckpoint')).toBe(IMPORT_CHECKPOINT_PAGES);
    await bulk.append([commit('a', 0, '2026-01-01T00:00:00.000Z', 1)]);
    // Closed meanwhile (the directory's open-database limit): the next batch reopens and re-tunes.
    s.close();
    await bulk.append([commit('a', 1, '2026-01-01T00:00:01.000Z', 2)]);
    expect(pragma(s, 'wal_autocheckpoint')).toBe(IMPORT_CHECKPOINT_PAGES);
    bulk.end();
    expect({ cache: pragma(s, 'cache_size'), checkpoint: pragma(s, 'wal_autocheckpoint') }).toEqual(before);
    await expect(bulk.append([commit('a', 2, '2026-01-01T00:00:02.000Z', 3)])).rejects.toThrow(/ended/);
    expect(await s.streamVersion('a')).toBe(2);
  });
});
