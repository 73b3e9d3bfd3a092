import type { Subscription } from '../../domain/webhooks';
import type { DeliveryLease, DeliveryPositionStore } from '../../ports/delivery-positions';
import type { KeyProvider } from '../../ports/key-provider';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory } from '../../ports/tenant-directory';
import type { TenantStores } from '../../ports/tenant-stores';
import { readOnce } from '../feed/change-feed';
import type { FeedPosition } from '../feed/position';
import { body } from './delivery-body';
import { attemptsDone, countAttemptsOf, type DeliveryState, initialState, parseState } from './delivery-state';
import { type PostResult, postWebhook } from './post';
import { HEADERS, SIGNATURE_ALGORITHM, sign } from './signature';
import type { TargetPolicy } from './target';

export interface WebhookSettings extends TargetPolicy {
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  /** Deliveries in flight per tenant (each subscription has at most one: order per stream). */
  tenantConcurrency: number;
  /** Deliveries in flight on this instance, all tenants together (each one socket); shared fairly between tenants. */
  instanceConcurrency: number;
  /** How often tenants with subscriptions are looked at for writes of other instances. */
  sweepMs: number;
}

/** What every runner of one worker shares. */
export interface RunnerContext {
  stores: TenantStores;
  directory: TenantDirectory;
  keys: KeyProvider;
  clock: Clock;
  settings: WebhookSettings;
  /** This worker's name in leases (unique per process). */
  holder: string;
  leaseMs: number;
  closing: AbortSignal;
  /** A delivery slot (the tenant's and the instance's in-flight caps); rejects when `abortSignal` fires while waiting. */
  slot(tenantId: string, abortSignal?: AbortSignal): Promise<() => void>;
  /** A state saved by an older version in the directory marks (read once when the store has none). */
  legacy(tenantId: string, subscriptionId: string): DeliveryState | undefined;
  /**
   * Whether the tenant is served now (its directory status is "ready"); when it is not, the
   * worker stands its subscriptions by (or drops them when the tenant is gone).
   */
  served(tenantId: string): Promise<boolean>;
  /** Told at the start of each run and before each delivery attempt (tests count them). */
  activity(tenantId: string, subscriptionId: string, kind: 'run' | 'attempt'): void;
  log?: (m: string) => void;
  onDelivery?: (tenantId: string, subscriptionId: string, r: PostResult) => void;
}

const PAGE = 50;
const MAX_BACKOFF_MS = 3_600_000;

/**
 * One subscription on this instance: at most one run at a time (so deliveries stay in order),
 * and a run delivers only while it holds the subscription's lease in the tenant's
 * DeliveryPositionStore (so of several instances only one delivers it). The position is saved
 * durably after every delivered or parked commit: after a crash at most the commit in flight is
 * delivered again.
 */
export class SubscriptionRunner {
  running = false;
  dirty = false;
  removed = false;
  /** The tenant is not served: no run starts, no retry is scheduled, a run stops before its next delivery. */
  standingBy = false;
  retry: NodeJS.Timeout | undefined;
  /** Aborts this runner's delivery in flight when it is removed (its tenant is gone). */
  private readonly aborting = new AbortController();
  /** The state while this instance holds the lease (undefined otherwise: the store has it). */
  held: DeliveryState | undefined;
  private lease: DeliveryLease | undefined;

  constructor(
    private readonly c: RunnerContext,
    readonly tenantId: string,
    public sub: Subscription,
  ) {}

  get id(): string {
    return this.sub.id;
  }

  kick(): void {
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.retry || this.removed || this.standingBy) return;
    this.running = true;
    void this.run()
      .catch((e: unknown) => this.failed(e))
      .finally(() => {
        this.running = false;
        if (this.dirty) {
          this.dirty = false;
          this.kick();
        }
      });
  }

  /** For good (the subscription was removed, or its tenant is gone): the delivery in flight is aborted. */
  stop(): void {
    this.removed = true;
    this.dirty = false;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.aborting.abort();
  }

  /** The tenant is not served: nothing more until `wake` (a delivery in flight finishes, bounded by the timeout). */
  standBy(): void {
    this.standingBy = true;
    this.dirty = false;
    clearTimeout(this.retry);
    this.retry = undefined;
  }

  /** The tenant is served again: the next kick runs from the saved position (and its saved retry time). */
  wake(): void {
    this.standingBy = false;
  }

  /** A run under way or a retry timer. */
  get busy(): boolean {
    return this.running || this.retry !== undefined;
  }

  private halted(): boolean {
    return this.removed || this.standingBy || this.c.closing.aborted;
  }

  private later(ms: number): void {
    if (this.halted()) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(
      () => {
        this.retry = undefined;
        this.kick();
      },
      Math.max(1, ms),
    );
    this.retry.unref();
  }

  private lease_(): { nowMs: number; leaseMs: number } {
    return { nowMs: this.c.clock.now().getTime(), leaseMs: this.c.leaseMs };
  }

  private async run(): Promise<void> {
    this.c.activity(this.tenantId, this.sub.id, 'run');
    const positions = await this.c.directory.openDeliveryPositions(this.tenantId);
    const now = this.c.clock.now().getTime();
    const sub = this.sub;
    // Without a lease: a look that writes nothing when another instance delivers it or nothing is due.
    const saved = await positions.read(sub.id);
    if (saved?.holder && saved.holder !== this.c.holder && saved.expiresAtMs > now) {
      this.later(Math.min(saved.expiresAtMs - now + 50, this.c.leaseMs));
      return;
    }
    const peek = parseState(saved?.state);
    if (peek && !(sub.replay && sub.replay.version > peek.replayVersion)) {
      if (sub.status !== 'active') return;
      const due = peek.nextAttemptAt ? Date.parse(peek.nextAttemptAt) : now;
      if (due > now) return this.later(due - now);
      if (peek.attempts === 0 && !(await this.hasNews(peek.position))) return;
    }
    this.lease = await positions.acquire(sub.id, this.c.holder, this.lease_());
    if (!this.lease) return this.later(this.c.leaseMs / 2);
    try {
      this.held = parseState(this.lease.state) ?? this.c.legacy(this.tenantId, sub.id) ?? initialState();
      if (sub.replay && sub.replay.version > this.held.replayVersion) {
        const from = JSON.parse(sub.replay.from) as FeedPosition;
        this.held = { ...this.held, position: from, replayVersion: sub.replay.version, attempts: 0 };
        delete this.held.nextAttemptAt;
        // A replay starts every commit's count afresh.
        delete this.held.attemptsFor;
        delete this.held.attemptsAside;
        if (!(await this.save(positions))) return;
      }
      if (sub.status === 'active') await this.deliverAll(positions);
    } finally {
      const lease = this.lease;
      this.lease = undefined;
      this.held = undefined;
      if (lease) await positions.release(lease).catch(() => undefined);
    }
  }

  /** Whether the log has commits after `position` (a read of the feed; nothing written). */
  private hasNews(position: FeedPosition): Promise<boolean> {
    return this.c.stores.use(this.tenantId, async (s) => {
      const p = await readOnce(s, position, 1, true, {});
      return p.items.length > 0 || p.more;
    });
  }

  /** Saves the held state and extends the lease; false when the lease was lost (then stop). */
  private async save(positions: DeliveryPositionStore): Promise<boolean> {
    if (!this.lease || !this.held) return false;
    this.lease = await positions.save(this.lease, JSON.stringify(this.held), this.lease_());
    if (!this.lease) this.c.log?.(`webhook ${this.sub.id} of tenant ${this.tenantId}: lease lost, another instance delivers it`);
    return this.lease !== undefined;
  }

  private async deliverAll(positions: DeliveryPositionStore): Promise<void> {
    const sub = this.sub;
    for (;;) {
      if (this.halted() || !this.held) return;
      const from = this.held.position;
      const page = await this.c.stores.use(this.tenantId, async (s) => {
        const p = await readOnce(s, from, PAGE, false, {});
        const items = [];
        for (const it of p.items) {
          const events = it.events.filter((e) => !sub.events || sub.events.includes(e.type));
          const wanted = events.length > 0 && (!sub.types || (it.recordType !== undefined && sub.types.includes(it.recordType)));
          items.push({ it, wanted, body: wanted ? await body(s, sub.id, it, events) : '' });
        }
        const secret = items.some((i) => i.wanted) ? await this.c.keys.unwrapKey(s.keyName, sub.secret) : undefined;
        return { items, end: p.end, more: p.more, secret };
      });
      try {
        for (const { it, wanted, body } of page.items) {
          if (wanted) {
            if (this.halted()) return;
            const outcome = await this.deliver(positions, it.streamId, it.version, body, page.secret!);
            if (outcome === 'stop') return;
            if (outcome === 'retry') {
              await this.save(positions);
              return;
            }
            this.held.position = it.at;
            if (!(await this.save(positions))) return;
          } else this.held.position = it.at;
        }
      } finally {
        page.secret?.fill(0);
      }
      const moved = JSON.stringify(this.held.position) !== JSON.stringify(page.end);
      this.held.position = page.end;
      if (moved && !(await this.save(positions))) return;
      if (!page.more) return;
    }
  }

  /**
   * One commit: 'done' when delivered or parked (go on), 'retry' to try it again later, 'stop'
   * when the runner was halted or lost its lease while it waited for a slot (nothing sent).
   */
  private async deliver(
    positions: DeliveryPositionStore,
    streamId: string,
    version: number,
    payload: string,
    secret: Uint8Array,
  ): Promise<'done' | 'retry' | 'stop'> {
    const { settings, clock } = this.c;
    const s = this.held!;
    // The tenant's and the instance's caps (waiting can take long when many receivers are slow).
    const release = await this.c.slot(this.tenantId, AbortSignal.any([this.c.closing, this.aborting.signal]));
    let res: PostResult;
    const now = clock.now();
    try {
      if (this.halted()) return 'stop';
      // A delivery never outlives the lease: renew it first when less than a timeout is left.
      if (this.lease!.expiresAtMs - now.getTime() < settings.timeoutMs * 2 && !(await this.save(positions))) return 'stop';
      this.c.activity(this.tenantId, this.sub.id, 'attempt');
      const timestamp = Math.floor(now.getTime() / 1000);
      res = await postWebhook(
        this.sub.url,
        payload,
        {
          [HEADERS.algorithm]: SIGNATURE_ALGORITHM,
          [HEADERS.timestamp]: String(timestamp),
          [HEADERS.subscription]: this.sub.id,
          [HEADERS.delivery]: `${streamId}@${version}`,
          [HEADERS.signature]: sign(secret, timestamp, this.sub.id, payload),
        },
        { ...settings, abortSignal: AbortSignal.any([this.c.closing, this.aborting.signal]) },
      );
    } finally {
      release();
    }
    this.c.onDelivery?.(this.tenantId, this.sub.id, res);
    s.lastAttemptAt = now.toISOString();
    countAttemptsOf(s, `${streamId}@${version}`);
    if (res.ok) {
      attemptsDone(s);
      s.delivered++;
      s.lastDeliveredAt = clock.now().toISOString();
      delete s.nextAttemptAt;
      return 'done';
    }
    s.attempts++;
    s.lastError = res.error ?? `HTTP ${res.status}`;
    if (s.attempts >= settings.maxAttempts) {
      s.parked++;
      s.parkedItems = [...s.parkedItems, { streamId, version, error: s.lastError, at: now.toISOString() }].slice(-20);
      attemptsDone(s);
      delete s.nextAttemptAt;
      this.c.log?.(
        `webhook ${this.sub.id} of tenant ${this.tenantId}: parked ${streamId}@${version} after ${settings.maxAttempts} attempts (${s.lastError})`,
      );
      return 'done';
    }
    const wait = Math.min(MAX_BACKOFF_MS, settings.retryBaseMs * 2 ** (s.attempts - 1));
    s.nextAttemptAt = new Date(now.getTime() + wait).toISOString();
    this.later(wait);
    return 'retry';
  }

  /** A run that failed before delivering (store or key unavailable): retried after the base delay. */
  private failed(e: unknown): void {
    if (this.removed || this.c.closing.aborted) return;
    // When the tenant is not served (suspended, scheduled for deletion) or gone (its store
    // removed), whatever the error: no retry and no log line, the worker stands its
    // subscriptions by or drops them. Otherwise retried after the base delay.
    void this.c.served(this.tenantId).then((served) => {
      if (!served) return;
      this.c.log?.(`webhook ${this.sub.id} of tenant ${this.tenantId}: not run: ${(e as Error)?.message ?? String(e)}`.slice(0, 300));
      this.later(this.c.settings.retryBaseMs);
    });
  }
}
