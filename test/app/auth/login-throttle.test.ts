import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../../shared/app/auth/login-throttle';
import type { Clock } from '../../../shared/ports/runtime';

class TestClock implements Clock {
  constructor(public t = Date.parse('2026-12-01T10:00:00Z')) {}
  now() {
    return new Date(this.t);
  }
  advance(ms: number) {
    this.t += ms;
  }
}

const refused = (f: () => unknown): { code: string; details: { retryAfterSeconds?: number } } | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e as { code: string; details: { retryAfterSeconds?: number } };
  }
};

describe('LoginThrottle', () => {
  it('locks the attacking client after the free failures, with Retry-After, but not another client', () => {
    const clock = new TestClock();
    const th = new LoginThrottle(clock);
    for (let i = 0; i < 5; i++) th.reserve('acme', 'admin@acme.test', '203.0.113.9').fail();
    const e = refused(() => th.reserve('acme', 'admin@acme.test', '203.0.113.9'));
    expect(e?.code).toBe('too_many_requests');
    expect(e?.details.retryAfterSeconds).toBeGreaterThan(0);
    // The real user from another address is not affected.
    expect(refused(() => th.reserve('acme', 'admin@acme.test', '198.51.100.7').succeed())).toBeUndefined();
  });

  it('reserves before hashing: 24 parallel guesses from one client → only the free ones start', () => {
    const th = new LoginThrottle(new TestClock());
    const started: unknown[] = [];
    let refusedCount = 0;
    for (let i = 0; i < 24; i++) {
      const r = refused(() => started.push(th.reserve('acme', 'admin@acme.test', '203.0.113.9')));
      if (r) refusedCount++;
    }
    expect(started).toHaveLength(5);
    expect(refusedCount).toBe(19);
  });

  it('once at the limit, only one attempt runs at a time after the wait', () => {
    const clock = new TestClock();
    const th = new LoginThrottle(clock);
    for (let i = 0; i < 5; i++) th.reserve('acme', 'a@acme.test', 'c1').fail();
    clock.advance(16 * 60_000);
    const one = th.reserve('acme', 'a@acme.test', 'c1');
    expect(refused(() => th.reserve('acme', 'a@acme.test', 'c1'))?.code).toBe('too_many_requests');
    one.cancel();
  });

  it('failures decay: an attacker trying every 15 minutes never builds a lasting lockout of their own client either', () => {
    const clock = new TestClock();
    const th = new LoginThrottle(clock);
    // 16 parallel wrong passwords, then one more every 15 minutes (the attack from the issue).
    const burst: Array<{ fail(): void }> = [];
    for (let i = 0; i < 16; i++) {
      try {
        burst.push(th.reserve('acme', 'admin@acme.test', 'attacker'));
      } catch {
        /* refused */
      }
    }
    for (const a of burst) a.fail();
    for (let i = 0; i < 12; i++) {
      clock.advance(15 * 60_000);
      try {
        th.reserve('acme', 'admin@acme.test', 'attacker').fail();
      } catch {
        /* refused */
      }
    }
    // Meanwhile the admin signs in from their own address at any time…
    expect(refused(() => th.reserve('acme', 'admin@acme.test', 'office').succeed())).toBeUndefined();
    // …and after a quiet day the attacker's own bucket has decayed too.
    clock.advance(24 * 60 * 60_000);
    expect(refused(() => th.reserve('acme', 'admin@acme.test', 'attacker').cancel())).toBeUndefined();
  });

  it('a distributed attack slows unknown clients for the account; a client that signed in before is exempt', () => {
    const clock = new TestClock();
    const th = new LoginThrottle(clock);
    th.reserve('acme', 'admin@acme.test', 'home').succeed(); // the real user, earlier
    for (let i = 0; i < 25; i++) {
      try {
        th.reserve('acme', 'admin@acme.test', `bot-${i}`).fail();
      } catch {
        /* refused */
      }
    }
    expect(refused(() => th.reserve('acme', 'admin@acme.test', 'bot-new'))?.code).toBe('too_many_requests');
    expect(refused(() => th.reserve('acme', 'admin@acme.test', 'home').succeed())).toBeUndefined();
    // Other accounts of the tenant are not affected.
    expect(refused(() => th.reserve('acme', 'editor@acme.test', 'bot-new').cancel())).toBeUndefined();
  });

  it('password spraying: one client failing on many accounts is slowed on every account it is not known for', () => {
    const th = new LoginThrottle(new TestClock());
    th.reserve('acme', 'known@acme.test', 'sprayer').succeed();
    for (let i = 0; i < 60; i++) {
      try {
        th.reserve('acme', `user${i}@acme.test`, 'sprayer').fail();
      } catch {
        /* refused */
      }
    }
    expect(refused(() => th.reserve('acme', 'fresh@acme.test', 'sprayer'))?.code).toBe('too_many_requests');
    expect(refused(() => th.reserve('acme', 'known@acme.test', 'sprayer').cancel())).toBeUndefined();
    expect(refused(() => th.reserve('acme', 'fresh@acme.test', 'someone-else').cancel())).toBeUndefined();
  });

  it('cancelled attempts (tenant unavailable) count nothing; success clears the pair', () => {
    const th = new LoginThrottle(new TestClock());
    for (let i = 0; i < 50; i++) th.reserve('acme', 'a@acme.test', 'c').cancel();
    for (let i = 0; i < 4; i++) th.reserve('acme', 'a@acme.test', 'c').fail();
    th.reserve('acme', 'a@acme.test', 'c').succeed();
    for (let i = 0; i < 4; i++) th.reserve('acme', 'a@acme.test', 'c').fail();
    expect(refused(() => th.reserve('acme', 'a@acme.test', 'c').cancel())).toBeUndefined();
  });

  it('the same email in another tenant is another account', () => {
    const th = new LoginThrottle(new TestClock());
    for (let i = 0; i < 5; i++) th.reserve('acme', 'a@x.test', 'c').fail();
    expect(refused(() => th.reserve('acme', 'a@x.test', 'c'))?.code).toBe('too_many_requests');
    expect(refused(() => th.reserve('globex', 'a@x.test', 'c').cancel())).toBeUndefined();
  });

  it('keeps its maps bounded', () => {
    const th = new LoginThrottle(new TestClock(), { maxEntries: 100 });
    for (let i = 0; i < 1000; i++) th.reserve('acme', `u${i}@acme.test`, `c${i}`).fail();
    const sizes = th as unknown as { pairs: Map<string, unknown>; accounts: Map<string, unknown>; clients: Map<string, unknown> };
    expect(sizes.pairs.size).toBeLessThanOrEqual(100);
    expect(sizes.accounts.size).toBeLessThanOrEqual(100);
    expect(sizes.clients.size).toBeLessThanOrEqual(100);
  });
});
