import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DRILL_PREFIX } from '../../domain/tenant';
import { type Subscription, WEBHOOKS_STREAM, type WebhooksState, webhooksDecider } from '../../domain/webhooks';
import type { KeyProvider } from '../../ports/key-provider';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory } from '../../ports/tenant-directory';
import type { TenantStores } from '../../ports/tenant-stores';
import type { ChangeSignal } from '../changes/change-signal';
import { foldStream } from '../command-handling/handle-command';
import type { FeedPosition } from '../feed/position';
import { Observers, type WebhookActivity } from './activity';
import { DeliverySlots } from './delivery-slots';
import { type DeliveryState, initialState, parseHint, parseState } from './delivery-state';
import type { PostResult } from './post';
import { type RunnerContext, SubscriptionRunner, type WebhookSettings } from './subscription-runner';

export type { WebhookActivity } from './activity';
export type { DeliveryState } from './delivery-state';
export type { WebhookSettings } from './subscription-runner';

export interface WebhookWorkerDeps {
  stores: TenantStores;
  directory: TenantDirectory;
  keys: KeyProvider;
  signal: ChangeSignal;
  clock: Clock;
  settings: WebhookSettings;
  log?: (m: string) => void;
  /**
   * This worker's name in the delivery leases. Default: unique per process (Cosmos: several
   * instances share the leases, a crashed one's expire). The embedded store gives a fixed name:
   * its data folder belongs to one process, so a restarted process takes over its
   * predecessor's leases at once instead of waiting for them to expire.
   */
  holder?: string;
  /** Told after each delivery attempt (bench and tests). */
  onDelivery?: (tenantId: string, subscriptionId: string, r: PostResult) => void;
  /**
   * Called after a look at a tenant without subscriptions, whose log the pass opened through the
   * directory: e.g. close it again unless requests use it. Without it the store stayed open for
   * the idle time (TENANT_CACHE_IDLE_SECONDS) after every kick, and the projector's sweep kicks
   * every tenant it finds changed (issue 11).
   */
  afterLook?: (tenantId: string) => Promise<void> | void;
}

const PURPOSE = 'webhooks';

/**
 * Delivers each tenant's changes to its webhook subscriptions. Change-driven: an append in
 * this process (the change signal) starts the tenant's subscriptions; tenants without
 * subscriptions cost one stream-version read per burst of appends; tenants with no appends
 * cost nothing. Writes of other instances are found by a slow sweep of the tenants known to
 * have subscriptions and by the projector's sweep (`kick` for every tenant whose log it finds
 * changed, which after a start is every tenant on Cosmos).
 *
 * Positions are durable and shared: each subscription's state lives in the tenant's
 * DeliveryPositionStore, and a run delivers only under the subscription's lease there
 * (subscription-runner.ts). Each subscription delivers one commit at a time, in feed order
 * (so in order per record stream); a tenant has at most `tenantConcurrency` deliveries in
 * flight and the instance at most `instanceConcurrency` in all, shared between tenants in turn
 * (delivery-slots.ts), each bounded by `timeoutMs`, so a hanging endpoint holds only its own slot.
 */
export class WebhookWorker {
  private readonly runners = new Map<string, SubscriptionRunner>();
  private readonly tenants = new Map<string, TenantEntry>();
  /** Tenants known to have subscriptions → the marks' value (legacy: every subscription's state). */
  private marks: Record<string, string> = {};
  private unsubscribe: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly closing = new AbortController();
  private readonly ctx: RunnerContext;
  private readonly observers = new Observers();
  /** The tenant's and the instance's caps on deliveries in flight (shared fairly between tenants). */
  readonly slots: DeliverySlots;

  constructor(private readonly d: WebhookWorkerDeps) {
    this.slots = new DeliverySlots(d.settings.tenantConcurrency, d.settings.instanceConcurrency);
    this.ctx = {
      stores: d.stores,
      directory: d.directory,
      keys: d.keys,
      clock: d.clock,
      settings: d.settings,
      holder: d.holder ?? `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`,
      // A lease outlives any one delivery several times over (renewed before each).
      leaseMs: Math.max(30_000, 4 * d.settings.timeoutMs),
      closing: this.closing.signal,
      slot: (t, abortSignal) => this.slots.acquire(t, abortSignal),
      legacy: (t, id) => parseState(JSON.stringify(parseHint(this.marks[t] ?? '{}')[id] ?? null)),
      served: (t) => this.served(t),
      activity: (tenantId, subscriptionId, kind) => this.observers.tell({ tenantId, subscriptionId, kind }),
      ...(d.log ? { log: d.log } : {}),
      ...(d.onDelivery ? { onDelivery: d.onDelivery } : {}),
    };
  }

  async start(): Promise<this> {
    this.marks = (await this.d.directory.loadMarks?.(PURPOSE).catch(() => ({}))) ?? {};
    this.unsubscribe = this.d.signal.subscribe((t) => this.kick(t));
    for (const t of Object.keys(this.marks)) this.kick(t);
    this.sweepTimer = setInterval(() => {
      for (const t of Object.keys(this.marks)) this.kick(t);
    }, this.d.settings.sweepMs);
    this.sweepTimer.unref();
    return this;
  }

  /** The tenant's log moved (or its subscriptions changed): look at its subscriptions. */
  kick(tenantId: string): void {
    if (this.closed) return;
    let t = this.tenants.get(tenantId);
    if (!t) {
      t = { running: false, dirty: false, version: -1, subs: {} };
      this.tenants.set(tenantId, t);
    }
    if (t.running) {
      t.dirty = true;
      return;
    }
    t.running = true;
    void this.pass(tenantId, t).finally(() => {
      t.running = false;
      if (t.dirty) {
        t.dirty = false;
        this.kick(tenantId);
      }
    });
  }

  /** Calls `listener` with what the worker does (runs, attempts, stand-bys, drops); returns the unsubscribe function. */
  observe(listener: (a: WebhookActivity) => void): () => void {
    return this.observers.observe(listener);
  }

  /**
   * What this worker holds for a tenant right now: its entry (and whether a look at its
   * subscriptions is under way), runners (with a run under way or
   * a retry timer: `busy`), and whether it is in the list of tenants with subscriptions. After a
   * tenant is gone, nothing.
   */
  holding(tenantId: string): { entry: boolean; looking: boolean; runners: number; busy: number; listed: boolean; slots: boolean } {
    const runners = [...this.runners.values()].filter((r) => r.tenantId === tenantId);
    return {
      entry: this.tenants.has(tenantId),
      looking: this.tenants.get(tenantId)?.running ?? false,
      runners: runners.length,
      busy: runners.filter((r) => r.busy).length,
      listed: this.marks[tenantId] !== undefined,
      slots: this.slots.holds(tenantId),
    };
  }

  /** A subscription's delivery state (for its status): this instance's while it delivers, else the saved one. */
  async state(tenantId: string, subscriptionId: string): Promise<DeliveryState | undefined> {
    const held = this.runners.get(`${tenantId}/${subscriptionId}`)?.held;
    if (held) return { ...held };
    const positions = await this.d.directory.openDeliveryPositions(tenantId);
    return parseState((await positions.read(subscriptionId))?.state) ?? this.ctx.legacy(tenantId, subscriptionId);
  }

  /** Starts a new subscription at `position` (where the log ends now), saved durably at once. */
  async begin(tenantId: string, subscriptionId: string, position: FeedPosition): Promise<void> {
    const positions = await this.d.directory.openDeliveryPositions(tenantId);
    await positions.create(subscriptionId, JSON.stringify(initialState(position)));
    if (this.marks[tenantId] === undefined) {
      this.marks[tenantId] = '{}';
      await this.save(true);
    }
  }

  /** Forgets the start saved for a subscription whose registration was not appended. */
  async abandon(tenantId: string, subscriptionId: string): Promise<void> {
    if (this.runners.has(`${tenantId}/${subscriptionId}`)) return;
    const positions = await this.d.directory.openDeliveryPositions(tenantId);
    await positions.remove(subscriptionId).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    this.unsubscribe?.();
    clearInterval(this.sweepTimer);
    for (const r of this.runners.values()) clearTimeout(r.retry);
    await this.save(true);
  }

  /** Whether the tenant is served now; when it is not, a look at it stands its subscriptions by or drops them. */
  private async served(tenantId: string): Promise<boolean> {
    const meta = await this.d.directory.getMeta(tenantId).catch(() => 'unknown' as const);
    // A store that cannot answer is not a reason to stop: the runner retries as for any failure.
    if (meta === 'unknown') return true;
    if (meta?.status === 'ready') return true;
    this.kick(tenantId);
    return false;
  }

  /**
   * The tenant is not served (suspended, scheduled for deletion, still being created or
   * restored): its runners stand by — no run, no retry timer — and its subscriptions are read
   * afresh when it is served again. Their positions stay in the tenant's store, so delivery
   * resumes exactly there (a cancelled deletion, a resumed tenant). It stays in the list of
   * tenants with subscriptions, so the slow sweep looks at its status again.
   */
  private standBy(tenantId: string, t: TenantEntry): void {
    for (const r of this.runners.values()) if (r.tenantId === tenantId) r.standBy();
    t.version = -1;
    t.subs = {};
    this.observers.tell({ tenantId, kind: 'standby' });
  }

  /**
   * The tenant is gone (shredded, or removed after a failed creation or a drill): its runners
   * are stopped for good (a delivery in flight is aborted), its entry and its place in the list
   * of tenants with subscriptions are dropped. Nothing is written: its store is gone.
   */
  private drop(tenantId: string): void {
    let had = false;
    for (const [key, r] of this.runners)
      if (r.tenantId === tenantId) {
        r.stop();
        this.runners.delete(key);
        had = true;
      }
    this.tenants.delete(tenantId);
    if (this.marks[tenantId] !== undefined) {
      delete this.marks[tenantId];
      this.scheduleSave();
      had = true;
    }
    if (had) this.d.log?.(`webhooks of tenant ${tenantId}: the tenant is gone; its subscriptions stopped`);
    this.observers.tell({ tenantId, kind: 'dropped' });
  }

  private async pass(tenantId: string, t: TenantEntry): Promise<void> {
    try {
      // Scratch tenants of restore drills are compared and removed, never delivered from.
      if (tenantId.startsWith(DRILL_PREFIX)) return this.drop(tenantId);
      // The status first (embedded: a small file; Cosmos: one point read), no store opened:
      // a tenant that is not served or gone costs nothing more and holds nothing here.
      const meta = await this.d.directory.getMeta(tenantId);
      if (!meta) return this.drop(tenantId);
      if (meta.status !== 'ready') return this.standBy(tenantId, t);
      for (const r of this.runners.values()) if (r.tenantId === tenantId) r.wake();
      // The stream's version through the directory (no tenant opened, no key used): most
      // tenants have no subscriptions, and after a start on Cosmos every tenant is looked at.
      const events = await this.d.directory.openEventStore(tenantId);
      const v = await events.streamVersion(WEBHOOKS_STREAM);
      if (v !== t.version) {
        const subs =
          v === 0
            ? {}
            : await this.d.stores.use(tenantId, async (s) => {
                const { state } = (await foldStream(s.events, WEBHOOKS_STREAM, webhooksDecider)) as { state: WebhooksState };
                return state.subscriptions;
              });
        t.version = v;
        t.subs = subs;
        await this.reconcile(tenantId, t);
      }
      for (const sub of Object.values(t.subs)) this.runner(tenantId, sub).kick();
      if (Object.keys(t.subs).length === 0) await this.d.afterLook?.(tenantId);
    } catch (e) {
      this.d.log?.(`webhooks of tenant ${tenantId}: ${(e as Error)?.message}`);
    }
  }

  /** Drops runners and positions of removed subscriptions and keeps the marks' tenant list in step. */
  private async reconcile(tenantId: string, t: TenantEntry): Promise<void> {
    for (const [key, r] of this.runners)
      if (key.startsWith(`${tenantId}/`) && !t.subs[r.id]) {
        r.stop();
        this.runners.delete(key);
        const positions = await this.d.directory.openDeliveryPositions(tenantId);
        await positions.remove(r.id).catch((e: unknown) => this.d.log?.(`webhook ${r.id}: position not removed: ${(e as Error)?.message}`));
      }
    for (const sub of Object.values(t.subs)) this.runner(tenantId, sub).sub = sub;
    const has = Object.keys(t.subs).length > 0;
    if (has !== (this.marks[tenantId] !== undefined)) {
      if (has) this.marks[tenantId] = '{}';
      else delete this.marks[tenantId];
      this.scheduleSave();
    }
  }

  private runner(tenantId: string, sub: Subscription): SubscriptionRunner {
    const key = `${tenantId}/${sub.id}`;
    let r = this.runners.get(key);
    if (!r) {
      r = new SubscriptionRunner(this.ctx, tenantId, sub);
      this.runners.set(key, r);
    }
    return r;
  }

  private scheduleSave(): void {
    if (this.saveTimer || this.closed) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.save(false);
    }, 1000);
    this.saveTimer.unref();
  }

  private async save(force: boolean): Promise<void> {
    if (force && this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    await this.d.directory
      .saveMarks?.(PURPOSE, { ...this.marks })
      .catch((e: unknown) => this.d.log?.(`webhook tenant list not saved: ${(e as Error)?.message}`));
  }
}

interface TenantEntry {
  running: boolean;
  dirty: boolean;
  /** Version of the webhooks stream the subscriptions were read at. */
  version: number;
  subs: Record<string, Subscription>;
}
