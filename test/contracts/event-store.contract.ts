import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { isWrongExpectedVersion } from '../../shared/domain/errors';
import type { AppendMeta } from '../../shared/domain/events';
import type { EventStore } from '../../shared/ports/event-store';
import { abortedSignal, expectAborted } from './abort';

export interface EventStoreFixture {
  store: EventStore;
  /** Advances or sets the store's clock when the adapter takes one (for reads by time). */
  setNow?: (d: Date) => void;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** The tenant feed (Cosmos change feed) can be exercised by this backend. */
  feed: boolean;
  /**
   * feedLag counts the commits behind a checkpoint (default true). False for backends whose
   * checkpoints cannot be counted (Cosmos continuation tokens): `commits` must then be null for
   * a checkpoint. Without a checkpoint every backend counts (all commits are behind).
   */
  countsFeedLag?: boolean;
}

const meta: AppendMeta = { author: { kind: 'user', userId: 'u1', email: 'a@example.com' }, correlationId: 'c-1' };

/** One suite, every EventStore adapter. */
export function eventStoreContract(name: string, make: () => Promise<EventStoreFixture>, options: ContractOptions): void {
  const counts = options.countsFeedLag ?? true;
  /** What feedLag must report as `commits` when `n` commits are behind. */
  const behind = (n: number) => (counts ? n : null);
  describe(`EventStore contract: ${name}`, () => {
    let fx: EventStoreFixture;
    let store: EventStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('appends to a new stream and reads it back with every envelope field', async () => {
      const r = await store.append('s-1', 0, [{ type: 'Created', data: { a: 1 } }], meta);
      expect(r.version).toBe(1);
      const commits = await store.readStream('s-1');
      expect(commits).toHaveLength(1);
      const c = commits[0]!;
      expect(c).toMatchObject({ tenantId: store.tenantId, streamId: 's-1', version: 1, author: meta.author, correlationId: 'c-1' });
      expect(c.events).toEqual([{ type: 'Created', data: { a: 1 } }]);
      expect(c.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(c.timestamp).toBe(r.timestamp);
      expect(await store.streamVersion('s-1')).toBe(1);
      expect(await store.streamVersion('missing')).toBe(0);
      expect(await store.readStream('missing')).toEqual([]);
    });

    it('keeps several events of one commit in order', async () => {
      await store.append(
        's-m',
        0,
        [
          { type: 'A', data: 1 },
          { type: 'B', data: 2 },
        ],
        meta,
      );
      const [c] = await store.readStream('s-m');
      expect(c!.events.map((e) => e.type)).toEqual(['A', 'B']);
    });

    it('rejects a wrong expected version and writes nothing', async () => {
      await store.append('s-2', 0, [{ type: 'E', data: 1 }], meta);
      for (const expected of [0, 2, 5]) {
        const err = await store.append('s-2', expected, [{ type: 'E', data: 'x' }], meta).catch((e: unknown) => e);
        expect(isWrongExpectedVersion(err), `expected ${expected}`).toBe(true);
      }
      expect(await store.streamVersion('s-2')).toBe(1);
      expect(await store.readStream('s-2')).toHaveLength(1);
    });

    it('an already-aborted signal is refused by every method with an AbortError, and nothing is written', async () => {
      await store.append('s-ab', 0, [{ type: 'E', data: 1 }], meta);
      await store.writeSnapshot('s-ab', { version: 1, timestamp: new Date().toISOString(), state: { n: 1 } });
      const abortSignal = abortedSignal();
      const idem = { key: 'k-ab', requestHash: 'h' };
      await expectAborted(store.append('s-ab', 1, [{ type: 'E', data: 2 }], { ...meta, idempotency: idem }, { abortSignal }));
      await expectAborted(store.append('s-new', 0, [{ type: 'E', data: 1 }], meta, { abortSignal }));
      await expectAborted(
        store.writeSnapshot('s-ab', { version: 2, timestamp: new Date().toISOString(), state: { n: 2 } }, { abortSignal }),
      );
      await expectAborted(store.readStream('s-ab', { abortSignal }));
      await expectAborted(store.streamVersion('s-ab', { abortSignal }));
      await expectAborted(store.readFeed(undefined, { abortSignal }));
      await expectAborted(store.feedLag(undefined, { abortSignal }));
      await expectAborted(store.findByIdempotencyKey('s-ab', 'k-ab', { abortSignal }));
      await expectAborted(store.readSnapshot('s-ab', { abortSignal }));
      await expectAborted(store.listStreams('s-', { limit: 10, abortSignal }));
      // Nothing was written: the same reads without a signal see the state from before.
      expect(await store.streamVersion('s-ab')).toBe(1);
      expect(await store.streamVersion('s-new')).toBe(0);
      expect(await store.readStream('s-ab')).toHaveLength(1);
      expect(await store.findByIdempotencyKey('s-ab', 'k-ab')).toBeUndefined();
      expect((await store.readSnapshot('s-ab'))?.version).toBe(1);
      // A signal that has not fired changes nothing.
      const live = new AbortController().signal;
      expect((await store.append('s-ab', 1, [{ type: 'E', data: 2 }], meta, { abortSignal: live })).version).toBe(2);
      expect(await store.readStream('s-ab', { abortSignal: live })).toHaveLength(2);
    });

    it('concurrent appends at the same version: exactly one winner, no gap, no duplicate', async () => {
      await store.append('s-c', 0, [{ type: 'E', data: 0 }], meta);
      const attempts = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.append('s-c', 1, [{ type: 'E', data: i + 1 }], meta)),
      );
      const won = attempts.filter((a) => a.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const a of attempts) if (a.status === 'rejected') expect(isWrongExpectedVersion(a.reason)).toBe(true);
      const commits = await store.readStream('s-c');
      expect(commits.map((c) => c.version)).toEqual([1, 2]);
    });

    it('racing writers that each retry on conflict produce a gapless sequence', async () => {
      const writer = async (w: number) => {
        for (let i = 0; i < 3; i++) {
          for (;;) {
            const v = await store.streamVersion('s-r');
            try {
              await store.append('s-r', v, [{ type: 'E', data: `${w}-${i}` }], meta);
              break;
            } catch (e) {
              if (!isWrongExpectedVersion(e)) throw e;
            }
          }
        }
      };
      await Promise.all([writer(1), writer(2), writer(3)]);
      const commits = await store.readStream('s-r');
      expect(commits.map((c) => c.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(new Set(commits.map((c) => c.events[0]!.data)).size).toBe(9);
    });

    it('reads forward from a version, backward, and with a max count', async () => {
      for (let v = 0; v < 5; v++) await store.append('s-3', v, [{ type: 'E', data: v + 1 }], meta);
      expect((await store.readStream('s-3', { fromVersion: 3 })).map((c) => c.version)).toEqual([3, 4, 5]);
      expect((await store.readStream('s-3', { direction: 'backward' })).map((c) => c.version)).toEqual([5, 4, 3, 2, 1]);
      expect((await store.readStream('s-3', { direction: 'backward', fromVersion: 2 })).map((c) => c.version)).toEqual([2, 1]);
      expect((await store.readStream('s-3', { maxCount: 2 })).map((c) => c.version)).toEqual([1, 2]);
      expect((await store.readStream('s-3', { direction: 'backward', maxCount: 1 })).map((c) => c.version)).toEqual([5]);
    });

    it('reads a stream up to an instant, and timestamps never decrease', async () => {
      const stamps: string[] = [];
      for (let v = 0; v < 4; v++) {
        const r = await store.append('s-t', v, [{ type: 'E', data: v + 1 }], meta);
        stamps.push(r.timestamp);
        await new Promise((res) => setTimeout(res, 5));
      }
      expect([...stamps].sort()).toEqual(stamps);
      const cut = new Date(stamps[1]!);
      const upTo = await store.readStream('s-t', { until: cut });
      expect(upTo.map((c) => c.version)).toEqual(stamps.filter((s) => s <= stamps[1]!).map((_, i) => i + 1));
      expect(await store.readStream('s-t', { until: new Date(Date.parse(stamps[0]!) - 1) })).toEqual([]);
      const back = await store.readStream('s-t', { until: cut, direction: 'backward', maxCount: 1 });
      expect(back[0]!.version).toBe(upTo.at(-1)!.version);
    });

    it("restores keep a commit's original timestamp, never earlier than the previous commit", async () => {
      const r1 = await store.append('s-o', 0, [{ type: 'E', data: 1 }], { ...meta, originalTimestamp: '2020-01-02T03:04:05.678Z' });
      expect(r1.timestamp).toBe('2020-01-02T03:04:05.678Z');
      const r2 = await store.append('s-o', 1, [{ type: 'E', data: 2 }], { ...meta, originalTimestamp: '2019-01-01T00:00:00.000Z' });
      expect(r2.timestamp).toBe('2020-01-02T03:04:05.678Z');
      const [c1] = await store.readStream('s-o');
      expect(c1!.timestamp).toBe('2020-01-02T03:04:05.678Z');
    });

    it('streams of one tenant are independent', async () => {
      await store.append('s-x', 0, [{ type: 'E', data: 1 }], meta);
      await store.append('s-y', 0, [{ type: 'E', data: 2 }], meta);
      expect((await store.readStream('s-x'))[0]!.events[0]!.data).toBe(1);
      expect((await store.readStream('s-y'))[0]!.events[0]!.data).toBe(2);
    });

    it('lists the streams of a prefix once each, in id order, a page at a time after the last id', async () => {
      // Several commits per stream, neighbours on both sides of the prefix, a snapshot: each stream once.
      for (const id of ['user-c', 'user-a', 'user-b', 'usef', 'user.', 'users', 'user-']) {
        await store.append(id, 0, [{ type: 'E', data: 1 }], meta);
        await store.append(id, 1, [{ type: 'E', data: 2 }], meta);
      }
      await store.writeSnapshot('user-a', { version: 2, timestamp: new Date().toISOString(), state: {} });
      expect(await store.listStreams('user-', { limit: 10 })).toEqual(['user-', 'user-a', 'user-b', 'user-c']);
      const first = await store.listStreams('user-', { limit: 2 });
      expect(first).toEqual(['user-', 'user-a']);
      expect(await store.listStreams('user-', { limit: 2, after: first.at(-1)! })).toEqual(['user-b', 'user-c']);
      expect(await store.listStreams('user-', { limit: 2, after: 'user-c' })).toEqual([]);
      // an `after` before the prefix starts at the prefix; a prefix nobody has lists nothing
      expect(await store.listStreams('user-', { limit: 10, after: 'a' })).toEqual(['user-', 'user-a', 'user-b', 'user-c']);
      expect(await store.listStreams('nobody-', { limit: 10 })).toEqual([]);
      for (const limit of [0, -1, 1.5]) await expect(store.listStreams('user-', { limit })).rejects.toThrow(/limit/);
      await expect(store.listStreams('', { limit: 1 })).rejects.toThrow(/prefix/);
    });

    it('persists the Idempotency-Key on its commit and finds the commit by it', async () => {
      const idem = { key: 'k-1', requestHash: 'a'.repeat(64) };
      await store.append('s-i', 0, [{ type: 'E', data: 1 }], { ...meta, idempotency: idem });
      await store.append('s-i', 1, [{ type: 'E', data: 2 }], meta);
      await store.append('s-i', 2, [{ type: 'E', data: 3 }], { ...meta, idempotency: { key: 'k-2', requestHash: 'b'.repeat(64) } });
      const commits = await store.readStream('s-i');
      expect(commits[0]!.idempotency).toEqual(idem);
      expect('idempotency' in commits[1]!).toBe(false);
      expect(commits[2]!.idempotency?.key).toBe('k-2');

      const found = await store.findByIdempotencyKey('s-i', 'k-1');
      expect(found).toEqual(commits[0]);
      expect((await store.findByIdempotencyKey('s-i', 'k-2'))?.version).toBe(3);
      // Keys are per stream, and unknown keys find nothing.
      await store.append('s-j', 0, [{ type: 'E', data: 1 }], meta);
      expect(await store.findByIdempotencyKey('s-j', 'k-1')).toBeUndefined();
      expect(await store.findByIdempotencyKey('s-i', 'k-3')).toBeUndefined();
      expect(await store.findByIdempotencyKey('missing', 'k-1')).toBeUndefined();
    });

    it('snapshots: newest wins, `until` picks an older one, rewriting a version is harmless, commits are unaffected', async () => {
      const stamps: string[] = [];
      for (let v = 0; v < 4; v++) {
        stamps.push((await store.append('s-snap', v, [{ type: 'E', data: v + 1 }], meta)).timestamp);
        await new Promise((res) => setTimeout(res, 5));
      }
      expect(await store.readSnapshot('s-snap')).toBeUndefined();
      const older = { version: 2, timestamp: stamps[1]!, state: { sum: 3, items: ['a', 'b'] } };
      const newer = { version: 4, timestamp: stamps[3]!, state: { sum: 10, items: ['a', 'b', 'c', 'd'] } };
      await store.writeSnapshot('s-snap', older);
      await store.writeSnapshot('s-snap', newer);
      await store.writeSnapshot('s-snap', newer); // the same version again: no error, no change
      expect(await store.readSnapshot('s-snap')).toEqual(newer);
      // `until` between the two snapshots' commits (stamps strictly increase: 5 ms apart).
      expect(await store.readSnapshot('s-snap', { until: new Date(Date.parse(stamps[3]!) - 1) })).toEqual(older);
      expect(await store.readSnapshot('s-snap', { until: new Date(stamps[1]!) })).toEqual(older);
      expect(await store.readSnapshot('s-snap', { until: new Date(Date.parse(stamps[1]!) - 1) })).toBeUndefined();
      expect(await store.readSnapshot('s-other')).toBeUndefined();

      // Snapshots are not commits.
      expect(await store.streamVersion('s-snap')).toBe(4);
      expect((await store.readStream('s-snap')).map((c) => c.version)).toEqual([1, 2, 3, 4]);
      expect((await store.readStream('s-snap', { direction: 'backward', maxCount: 1 }))[0]!.version).toBe(4);
      await store.append('s-snap', 4, [{ type: 'E', data: 5 }], meta);
      expect(await store.streamVersion('s-snap')).toBe(5);
    });

    it('endCheckpoint: a feed read from it returns only what is appended afterwards', async () => {
      if (!options.feed) return;
      expect(store.endCheckpoint).toBeTypeOf('function');
      if (!store.endCheckpoint) return;
      expect((await store.readFeed(await store.endCheckpoint())).commits).toEqual([]);
      await store.append('e-1', 0, [{ type: 'A', data: {} }], meta);
      await store.append('e-2', 0, [{ type: 'A', data: {} }], meta);
      const end = await store.endCheckpoint();
      expect((await store.readFeed(end)).commits).toEqual([]);
      await store.append('e-1', 1, [{ type: 'B', data: {} }], meta);
      const after = await store.readFeed(end);
      expect(after.commits.map((c) => [c.streamId, c.version])).toEqual([['e-1', 2]]);
      await expectAborted(store.endCheckpoint({ abortSignal: abortedSignal() }));
    });

    it(`feedLag: the newest commit's timestamp and, from the beginning, the number of commits`, async () => {
      expect(await store.feedLag(undefined)).toEqual({ commits: 0, newestTimestamp: null });
      await store.append('l-a', 0, [{ type: 'E', data: 1 }], meta);
      await store.append('l-b', 0, [{ type: 'E', data: 2 }], meta);
      await new Promise((res) => setTimeout(res, 5));
      const last = await store.append('l-a', 1, [{ type: 'E', data: 3 }], meta);
      // Snapshots are not commits: neither counted nor newest.
      await store.writeSnapshot('l-a', { version: 2, timestamp: new Date(Date.parse(last.timestamp) + 60_000).toISOString(), state: {} });
      expect(await store.feedLag(undefined)).toEqual({ commits: 3, newestTimestamp: last.timestamp });
    });

    it.skipIf(!options.feed)('feedLag: the commits behind go down to 0 as the feed is read', async () => {
      for (let i = 0; i < 4; i++) await store.append(`lf-${i % 2}`, Math.floor(i / 2), [{ type: 'E', data: i }], meta);
      const newest = (await store.readStream('lf-1', { direction: 'backward', maxCount: 1 }))[0]!.timestamp;
      expect(await store.feedLag(undefined)).toEqual({ commits: 4, newestTimestamp: newest });
      let cp: string | undefined;
      let read = 0;
      for (let guard = 0; guard < 20; guard++) {
        const page = await store.readFeed(cp, { maxCount: 1 });
        cp = page.checkpoint;
        if (page.commits.length === 0) break;
        read += page.commits.length;
        const lag = await store.feedLag(cp);
        if (counts) expect(lag.commits).toBe(4 - read);
        else expect(lag.commits).toBeNull();
        expect(lag.newestTimestamp).toBe(newest);
      }
      expect(read).toBe(4);
      expect(await store.feedLag(cp)).toEqual({ commits: behind(0), newestTimestamp: newest });
    });

    it.skipIf(!options.feed)('feed: returns every commit once, ordered within each stream, resumable from a checkpoint', async () => {
      await store.append('f-a', 0, [{ type: 'E', data: 'a1' }], meta);
      await store.append('f-b', 0, [{ type: 'E', data: 'b1' }], meta);
      await store.append('f-a', 1, [{ type: 'E', data: 'a2' }], meta);
      const first = await store.readFeed(undefined);
      const seen = first.commits.filter((c) => c.streamId.startsWith('f-'));
      expect(seen.filter((c) => c.streamId === 'f-a').map((c) => c.version)).toEqual([1, 2]);
      expect(seen.filter((c) => c.streamId === 'f-b').map((c) => c.version)).toEqual([1]);
      await store.append('f-b', 1, [{ type: 'E', data: 'b2' }], meta);
      const next = await store.readFeed(first.checkpoint);
      expect(next.commits.map((c) => `${c.streamId}@${c.version}`)).toEqual(['f-b@2']);
      const again = await store.readFeed(next.checkpoint);
      expect(again.commits).toEqual([]);
    });

    it.skipIf(!options.feed)('feed: pages with maxCount without losing or repeating commits', async () => {
      for (let i = 0; i < 7; i++) await store.append(`p-${i % 3}`, Math.floor(i / 3), [{ type: 'E', data: i }], meta);
      const got: string[] = [];
      let cp: string | undefined;
      for (let guard = 0; guard < 20; guard++) {
        const page = await store.readFeed(cp, { maxCount: 2 });
        got.push(...page.commits.map((c) => `${c.streamId}@${c.version}`));
        cp = page.checkpoint;
        if (page.commits.length === 0) break;
      }
      expect(got.sort()).toEqual(['p-0@1', 'p-0@2', 'p-0@3', 'p-1@1', 'p-1@2', 'p-2@1', 'p-2@2']);
    });

    it.skipIf(!options.feed)('feed: a page shorter than maxCount has reached the end (backups stop there)', async () => {
      for (let i = 0; i < 7; i++) await store.append(`short-${i % 3}`, Math.floor(i / 3), [{ type: 'E', data: i }], meta);
      for (const max of [2, 3, 7, 8, 50]) {
        const got: string[] = [];
        let cp: string | undefined;
        for (let guard = 0; guard < 20; guard++) {
          const page = await store.readFeed(cp, { maxCount: max });
          got.push(...page.commits.filter((c) => c.streamId.startsWith('short-')).map((c) => `${c.streamId}@${c.version}`));
          cp = page.checkpoint;
          if (page.commits.length < max) break;
        }
        expect(got.sort(), `maxCount ${max}`).toEqual([
          'short-0@1',
          'short-0@2',
          'short-0@3',
          'short-1@1',
          'short-1@2',
          'short-2@1',
          'short-2@2',
        ]);
      }
    });
  });
}
