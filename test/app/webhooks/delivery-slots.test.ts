/** The delivery slots (shared/app/webhooks/delivery-slots.ts): both caps, turn order between tenants, aborted waiters. */
import { describe, expect, it } from 'vitest';
import { DeliverySlots } from '../../../shared/app/webhooks/delivery-slots';

/** Lets granted promises settle. */
const settle = () => new Promise((r) => setImmediate(r));

/** Acquires a slot and notes (in `granted`) when it is given. */
function ask(slots: DeliverySlots, tenant: string, granted: string[], signal?: AbortSignal) {
  const p = slots.acquire(tenant, signal).then((release) => {
    granted.push(tenant);
    return release;
  });
  p.catch(() => undefined);
  return p;
}

describe('delivery slots', () => {
  it('never has more in flight than the instance cap; a release lets the next one go', async () => {
    const slots = new DeliverySlots(4, 3);
    const granted: string[] = [];
    const asks = [ask(slots, 'a', granted), ask(slots, 'a', granted), ask(slots, 'b', granted), ask(slots, 'b', granted)];
    await settle();
    expect(granted).toEqual(['a', 'a', 'b']);
    expect(slots.active()).toBe(3);
    expect(slots.waiting()).toBe(1);
    (await asks[0]!)();
    await settle();
    expect(granted).toEqual(['a', 'a', 'b', 'b']);
    expect(slots.active()).toBe(3);
    for (const p of asks.slice(1)) (await p)();
    expect(slots.active()).toBe(0);
    expect(slots.holds('a') || slots.holds('b')).toBe(false);
  });

  it('never has more in flight for one tenant than the tenant cap, while other tenants go on', async () => {
    const slots = new DeliverySlots(2, 10);
    const granted: string[] = [];
    const a = [ask(slots, 'a', granted), ask(slots, 'a', granted), ask(slots, 'a', granted)];
    const b = ask(slots, 'b', granted);
    await settle();
    expect(granted).toEqual(['a', 'a', 'b']);
    expect(slots.active('a')).toBe(2);
    (await a[1]!)();
    // Releasing twice is harmless (counted once).
    (await a[1]!)();
    await settle();
    expect(granted).toEqual(['a', 'a', 'b', 'a']);
    expect(slots.active('a')).toBe(2);
    for (const p of [a[0]!, a[2]!, b]) (await p)();
    expect(slots.active()).toBe(0);
  });

  it('at the cap, a freed slot goes to the waiting tenants in turn, not to whoever asked first', async () => {
    const slots = new DeliverySlots(4, 1);
    const granted: string[] = [];
    const releases: Array<() => void> = [];
    const take = (t: string) => ask(slots, t, granted).then((r) => releases.push(r));
    for (const t of ['big', 'big', 'big', 'big', 's1', 's1', 's2']) void take(t);
    await settle();
    expect(granted).toEqual(['big']);
    // Release the delivery in flight, one at a time: each frees the one slot for the next tenant in turn.
    while (releases.length > 0) {
      releases.shift()!();
      await settle();
      expect(slots.active()).toBeLessThanOrEqual(1);
    }
    // In turn: big, s1, s2, big, s1, big after the first — first come, first served would give big ×4, s1 ×2, s2.
    expect(granted).toEqual(['big', 'big', 's1', 's2', 'big', 's1', 'big']);
    expect(slots.active()).toBe(0);
    expect(slots.waiting()).toBe(0);
  });

  it('a waiter whose signal fires leaves the queue and is never granted', async () => {
    const slots = new DeliverySlots(1, 1);
    const granted: string[] = [];
    const first = ask(slots, 'a', granted);
    const ac = new AbortController();
    const aborted = ask(slots, 'gone', granted, ac.signal);
    const next = ask(slots, 'b', granted);
    await settle();
    ac.abort(new Error('tenant gone'));
    await expect(aborted).rejects.toThrow('tenant gone');
    expect(slots.holds('gone')).toBe(false);
    (await first)();
    await settle();
    expect(granted).toEqual(['a', 'b']);
    (await next)();
    expect(slots.active()).toBe(0);
    expect(() => slots.acquire('x', ac.signal)).toThrow('tenant gone');
  });
});
