import type { Clock } from '../ports/runtime';

interface Entry {
  failures: number;
  blockedUntil: number;
}

/**
 * Slows down and then locks repeated failed logins per (tenant, email), whether or not the
 * email exists, so the lockout itself reveals nothing. After `freeAttempts` failures each
 * further failure doubles the wait (1 s, 2 s, 4 s … capped at `maxLockSeconds`).
 *
 * Kept in memory per instance: in Azure with several instances an attacker gets at most
 * (instances × freeAttempts) fast tries before every instance slows them down.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly freeAttempts = 5,
    private readonly maxLockSeconds = 15 * 60,
  ) {}

  private key(tenantId: string, email: string): string {
    return `${tenantId}\u0000${email}`;
  }

  /** Seconds the caller must wait before trying again, or 0. */
  retryAfter(tenantId: string, email: string): number {
    const e = this.entries.get(this.key(tenantId, email));
    if (!e) return 0;
    const ms = e.blockedUntil - this.clock.now().getTime();
    return ms > 0 ? Math.ceil(ms / 1000) : 0;
  }

  recordFailure(tenantId: string, email: string): void {
    const k = this.key(tenantId, email);
    const e = this.entries.get(k) ?? { failures: 0, blockedUntil: 0 };
    e.failures++;
    if (e.failures >= this.freeAttempts) {
      const seconds = Math.min(this.maxLockSeconds, 2 ** (e.failures - this.freeAttempts));
      e.blockedUntil = this.clock.now().getTime() + seconds * 1000;
    }
    this.entries.set(k, e);
    if (this.entries.size > 100_000) this.entries.delete(this.entries.keys().next().value as string);
  }

  recordSuccess(tenantId: string, email: string): void {
    this.entries.delete(this.key(tenantId, email));
  }
}
