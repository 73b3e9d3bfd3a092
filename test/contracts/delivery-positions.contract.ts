import { describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/domain/errors';
import type { DeliveryPositionStore } from '../../shared/ports/delivery-positions';
import { abortedSignal, expectAborted } from './abort';

export interface DeliveryPositionsFixture {
  /** A fresh tenant's store. */
  store: DeliveryPositionStore;
  /** Another tenant's store (isolation). */
  other: DeliveryPositionStore;
  /** A new store object over the same tenant's storage, as after a restart or on another instance. */
  reopen(): Promise<DeliveryPositionStore>;
  cleanup(): Promise<void>;
}

const LEASE = 30_000;
const T0 = 1_800_000_000_000;
const at = (nowMs: number) => ({ nowMs, leaseMs: LEASE });

/**
 * The DeliveryPositionStore contract every adapter passes: durable state per subscription,
 * leases that only one holder has at a time (compare-and-set, races included), expiry of a
 * crashed holder's lease, lost leases writing nothing, removal, tenant isolation, bad ids and
 * aborts refused.
 */
export function deliveryPositionsContract(name: string, fixture: () => Promise<DeliveryPositionsFixture>): void {
  describe(`DeliveryPositionStore contract: ${name}`, () => {
    it("a new subscription's first state is written once, durably, and read back by a new store object", async () => {
      const f = await fixture();
      try {
        expect(await f.store.read('wh_a')).toBeUndefined();
        expect(await f.store.create('wh_a', '{"p":1}')).toBe(true);
        expect(await f.store.create('wh_a', '{"p":2}')).toBe(false);
        expect(await f.store.read('wh_a')).toMatchObject({ state: '{"p":1}', holder: undefined });
        expect(await (await f.reopen()).read('wh_a')).toMatchObject({ state: '{"p":1}' });
        // Another tenant sees nothing of it.
        expect(await f.other.read('wh_a')).toBeUndefined();
      } finally {
        await f.cleanup();
      }
    });

    it('one holder at a time: a live lease is refused to others, renewed for its holder, and saves move the state', async () => {
      const f = await fixture();
      try {
        await f.store.create('wh_b', 's0');
        const a = await f.store.acquire('wh_b', 'A', at(T0));
        expect(a).toMatchObject({ subscriptionId: 'wh_b', holder: 'A', state: 's0', expiresAtMs: T0 + LEASE });
        expect(await f.store.acquire('wh_b', 'B', at(T0 + 1000))).toBeUndefined();
        const a1 = await f.store.save(a!, 's1', at(T0 + 2000));
        expect(a1).toMatchObject({ holder: 'A', state: 's1', expiresAtMs: T0 + 2000 + LEASE });
        expect(a1!.token).not.toBe(a!.token);
        // A save with the superseded token writes nothing.
        expect(await f.store.save(a!, 'stale', at(T0 + 3000))).toBeUndefined();
        expect((await f.store.read('wh_b'))?.state).toBe('s1');
        // Seen from another instance: held by A.
        expect(await (await f.reopen()).read('wh_b')).toMatchObject({ state: 's1', holder: 'A', expiresAtMs: T0 + 2000 + LEASE });
        // Still A's when B looks just before the extended expiry.
        expect(await (await f.reopen()).acquire('wh_b', 'B', at(T0 + 2000 + LEASE - 1))).toBeUndefined();
        // A takes it again (a new lease, same state).
        const again = await f.store.acquire('wh_b', 'A', at(T0 + 4000));
        expect(again).toMatchObject({ holder: 'A', state: 's1' });
      } finally {
        await f.cleanup();
      }
    });

    it("a crashed holder's lease expires: another takes over with the last saved state, and the old holder can no longer write", async () => {
      const f = await fixture();
      try {
        await f.store.create('wh_c', 's0');
        const a = await f.store.acquire('wh_c', 'A', at(T0));
        const a1 = await f.store.save(a!, 's1', at(T0 + 10));
        const other = await f.reopen();
        const b = await other.acquire('wh_c', 'B', at(T0 + 10 + LEASE + 1));
        expect(b).toMatchObject({ holder: 'B', state: 's1' });
        expect(await f.store.save(a1!, 'from the dead', at(T0 + 10 + LEASE + 2))).toBeUndefined();
        await f.store.release(a1!);
        expect(await other.read('wh_c')).toMatchObject({ state: 's1', holder: 'B' });
        const b1 = await other.save(b!, 's2', at(T0 + LEASE + 100));
        expect(b1?.state).toBe('s2');
        expect((await f.store.read('wh_c'))?.state).toBe('s2');
      } finally {
        await f.cleanup();
      }
    });

    it('a released lease is free at once for another holder; the state stays', async () => {
      const f = await fixture();
      try {
        await f.store.create('wh_d', 's0');
        const a = await f.store.acquire('wh_d', 'A', at(T0));
        const a1 = await f.store.save(a!, 's1', at(T0 + 1));
        await f.store.release(a1!);
        expect(await f.store.read('wh_d')).toMatchObject({ state: 's1', holder: undefined });
        expect(await f.store.acquire('wh_d', 'B', at(T0 + 2))).toMatchObject({ holder: 'B', state: 's1' });
      } finally {
        await f.cleanup();
      }
    });

    it('of concurrent takers exactly one wins, with or without a saved state', async () => {
      const f = await fixture();
      try {
        const stores = [f.store, await f.reopen(), await f.reopen(), await f.reopen()];
        for (const id of ['wh_e', 'wh_f']) {
          if (id === 'wh_f') await f.store.create(id, 's0');
          const won = (await Promise.all(stores.map((s, i) => s.acquire(id, `H${i}`, at(T0))))).filter((l) => l !== undefined);
          expect(won).toHaveLength(1);
          // The winner holds it: a latecomer is refused.
          expect(await f.store.acquire(id, 'late', at(T0 + 1))).toBeUndefined();
        }
        // Expired: again exactly one of the racers takes it over.
        const won = (await Promise.all(stores.map((s, i) => s.acquire('wh_f', `N${i}`, at(T0 + LEASE + 5))))).filter(
          (l) => l !== undefined,
        );
        expect(won).toHaveLength(1);
      } finally {
        await f.cleanup();
      }
    });

    it('a lease taken before any state is saved starts empty; the first state then fills it in and that lease is lost', async () => {
      const f = await fixture();
      try {
        const a = await f.store.acquire('wh_g', 'A', at(T0));
        expect(a).toMatchObject({ holder: 'A', state: undefined });
        expect(await f.store.read('wh_g')).toBeUndefined();
        expect(await f.store.create('wh_g', 'start')).toBe(true);
        expect(await f.store.save(a!, 'from START', at(T0 + 1))).toBeUndefined();
        expect((await f.store.read('wh_g'))?.state).toBe('start');
      } finally {
        await f.cleanup();
      }
    });

    it('remove forgets the position: a save of its lease then writes nothing; removing twice is fine', async () => {
      const f = await fixture();
      try {
        await f.store.create('wh_h', 's0');
        const a = await f.store.acquire('wh_h', 'A', at(T0));
        await f.store.remove('wh_h');
        await f.store.remove('wh_h');
        expect(await f.store.save(a!, 's1', at(T0 + 1))).toBeUndefined();
        expect(await f.store.read('wh_h')).toBeUndefined();
        expect(await (await f.reopen()).read('wh_h')).toBeUndefined();
      } finally {
        await f.cleanup();
      }
    });

    it('refuses ids that are not subscription ids (400) and already-aborted calls, changing nothing', async () => {
      const f = await fixture();
      try {
        for (const bad of ['', '../x', 'a/b', 'x'.repeat(65), "wh_'; DROP TABLE x; --"]) {
          const e = await f.store.create(bad, 's').then(
            () => undefined,
            (err: unknown) => err,
          );
          expect(isAppError(e) && e.status === 400, `${bad}: ${String(e)}`).toBe(true);
          await expect(f.store.acquire(bad, 'A', at(T0))).rejects.toSatisfy((err: unknown) => isAppError(err) && err.status === 400);
        }
        const abortSignal = abortedSignal();
        await expectAborted(f.store.create('wh_i', 's', { abortSignal }));
        await expectAborted(f.store.acquire('wh_i', 'A', { ...at(T0), abortSignal }));
        await expectAborted(f.store.read('wh_i', { abortSignal }));
        await expectAborted(f.store.remove('wh_i', { abortSignal }));
        expect(await f.store.read('wh_i')).toBeUndefined();
        await f.store.create('wh_i', 's0');
        const a = await f.store.acquire('wh_i', 'A', at(T0));
        await expectAborted(f.store.save(a!, 's1', { ...at(T0), abortSignal }));
        await expectAborted(f.store.release(a!, { abortSignal }));
        expect(await f.store.read('wh_i')).toMatchObject({ state: 's0', holder: 'A' });
      } finally {
        await f.cleanup();
      }
    });
  });
}
