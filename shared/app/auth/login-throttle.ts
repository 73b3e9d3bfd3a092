import { AppError } from '../../domain/errors';
import type { Clock } from '../../ports/runtime';

/**
 * Sign-in throttling that an attacker cannot turn into a lockout of the real user.
 *
 * Failures are counted in three decaying buckets (each failure adds 1; the count halves
 * every `halfLifeMs`, so old failures fade out instead of adding up for ever):
 *
 *  - per (client, account): after `pairFree` failures, this client must wait 1 s, 2 s,
 *    4 s … (at most `maxWaitMs`) before its next try on this account. An attacker only ever
 *    slows down their own client.
 *  - per account, from clients that are NOT known for the account: after `accountFree`
 *    failures (a distributed attack from many addresses), unknown clients wait the same
 *    way. A client that signed in to this account successfully before (within
 *    `knownForMs`) is exempt, so the real user on a device they used before gets in.
 *  - per client, over all accounts (password spraying): after `clientFree` failures the
 *    client waits; again clients known for the account being tried are exempt.
 *
 * Every attempt is RESERVED before any password hashing starts and counts while in flight:
 * parallel guesses cannot overtake the counters. Once a bucket is at its limit, at most
 * one attempt of that scope runs at a time.
 *
 * Accounts are (tenant, normalised email) whether or not the email exists, so throttling
 * reveals nothing about which emails exist. State lives in memory per instance (with
 * bounded size): with N instances an attacker gets at most N times the budget.
 */
export interface LoginThrottleOptions {
  pairFree?: number;
  accountFree?: number;
  clientFree?: number;
  halfLifeMs?: number;
  maxWaitMs?: number;
  knownForMs?: number;
  /** Most entries kept per map (oldest dropped first). */
  maxEntries?: number;
}

interface Bucket {
  /** Decayed failure count as of `at`. */
  score: number;
  at: number;
  /** Attempts reserved and not yet settled. */
  pending: number;
  lastFailureAt: number;
}

export interface LoginAttempt {
  /** The password was right: clears this client's failures for the account and remembers the client. */
  succeed(): void;
  /** The password (or email) was wrong: counts one failure everywhere this attempt was reserved. */
  fail(): void;
  /** Neither (the tenant is unavailable, the hashing queue was full…): releases the reservation, counts nothing. */
  cancel(): void;
}

export class LoginThrottle {
  private readonly pairs = new Map<string, Bucket>();
  private readonly accounts = new Map<string, Bucket>();
  private readonly clients = new Map<string, Bucket>();
  /** (account, client) → until when the client counts as known for the account. */
  private readonly known = new Map<string, number>();
  private readonly o: Required<LoginThrottleOptions>;

  constructor(
    private readonly clock: Clock,
    options: LoginThrottleOptions = {},
  ) {
    this.o = {
      pairFree: options.pairFree ?? 5,
      accountFree: options.accountFree ?? 20,
      clientFree: options.clientFree ?? 50,
      halfLifeMs: options.halfLifeMs ?? 60 * 60_000,
      maxWaitMs: options.maxWaitMs ?? 15 * 60_000,
      knownForMs: options.knownForMs ?? 30 * 24 * 60 * 60_000,
      maxEntries: options.maxEntries ?? 100_000,
    };
  }

  /**
   * Reserves one attempt of `client` on (tenant, email), or throws 429 with Retry-After.
   * Call exactly one of succeed/fail/cancel on the result.
   */
  reserve(tenantId: string, email: string, client: string): LoginAttempt {
    const now = this.clock.now().getTime();
    const account = `${tenantId}\u0000${email}`;
    const pairKey = `${account}\u0000${client}`;
    const isKnown = (this.known.get(pairKey) ?? 0) > now;
    const scopes: Array<[Map<string, Bucket>, string, number]> = [[this.pairs, pairKey, this.o.pairFree]];
    if (!isKnown) scopes.push([this.accounts, account, this.o.accountFree], [this.clients, client, this.o.clientFree]);

    let wait = 0;
    for (const [map, key, free] of scopes) wait = Math.max(wait, this.waitMs(map.get(key), free, now));
    if (wait > 0) throw tooMany(wait);

    const buckets = scopes.map(([map, key]) => this.touch(map, key, now));
    for (const b of buckets) b.pending++;
    let settled = false;
    const settle = (failed: boolean) => {
      if (settled) return;
      settled = true;
      const at = this.clock.now().getTime();
      for (const b of buckets) {
        b.pending--;
        if (failed) {
          b.score = decayed(b, at, this.o.halfLifeMs) + 1;
          b.at = at;
          b.lastFailureAt = at;
        }
      }
    };
    return {
      succeed: () => {
        settle(false);
        this.pairs.delete(pairKey);
        this.remember(this.known, pairKey, this.clock.now().getTime() + this.o.knownForMs);
      },
      fail: () => settle(true),
      cancel: () => settle(false),
    };
  }

  /** How long (ms) a new attempt in this bucket must wait; 0 = it may start now. */
  private waitMs(b: Bucket | undefined, free: number, now: number): number {
    if (!b) return 0;
    const score = decayed(b, now, this.o.halfLifeMs);
    // Failures as a whole number: 5 failures a moment ago count as 5 (not 4.999), and they
    // count as one fewer once half of one has decayed.
    const failures = Math.round(score);
    // Below the limit, including the attempts still in flight: go.
    if (failures + b.pending < free) return 0;
    if (failures < free) return 1000; // the free attempts are all in flight: wait for them
    // At or over the limit: exponential backoff from the last failure, one attempt at a time.
    const backoff = Math.min(this.o.maxWaitMs, 1000 * 2 ** Math.min(30, failures - free));
    const until = b.lastFailureAt + backoff;
    if (until > now) return until - now;
    return b.pending > 0 ? 1000 : 0;
  }

  private touch(map: Map<string, Bucket>, key: string, now: number): Bucket {
    let b = map.get(key);
    if (b) {
      b.score = decayed(b, now, this.o.halfLifeMs);
      b.at = now;
      map.delete(key);
    } else {
      b = { score: 0, at: now, pending: 0, lastFailureAt: 0 };
    }
    this.remember(map, key, b);
    return b;
  }

  /** Inserts as newest and drops the oldest entries beyond the bound. */
  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > this.o.maxEntries) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
    }
  }
}

function decayed(b: Bucket, now: number, halfLifeMs: number): number {
  const dt = Math.max(0, now - b.at);
  return b.score * 0.5 ** (dt / halfLifeMs);
}

function tooMany(waitMs: number): AppError {
  return new AppError('too_many_requests', 'Too many sign-in attempts. Try again later.', {
    retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
  });
}
