import { AppError, isAppError, notFound } from '../../domain/errors';
import { assertTenantId, TENANT_STREAM } from '../../domain/tenant';
import type { BlobStore, BlobStoreFactory } from '../../ports/blob-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory, TenantMeta } from '../../ports/tenant-directory';
import type { CachedTenantInfo, OneTenantStores, TenantLease, TenantStores, UseTenantOptions } from '../../ports/tenant-stores';
import { ContinuationTokens } from '../continuation';
import { forgetCachedUsers } from '../users/user-cache';
import { storageFaultOf, type DegradedReason, type TenantHealth } from '../tenant-health';

/** How long an instance trusts a tenant's cached "ready" status. */
export const STATUS_TTL_MS = 15_000;

export interface TenantCacheDeps {
  directory: TenantDirectory;
  keys: KeyProvider;
  clock: Clock;
  /** Recent per-tenant faults on this instance (shared with the operator's status). */
  health: TenantHealth;
  /** The tenants' blob containers; without it `blobs()` refuses (services that store no files). */
  blobs?: BlobStoreFactory;
  /**
   * Close hook: runs when a forgotten or evicted entry's last lease has ended and no newer
   * entry for the tenant exists (e.g. to close its database files). Never runs under a lease.
   */
  onClose?: (tenantId: string) => Promise<void>;
  /** For an id with no tenant: the 410 to answer when it was shredded (offboarding), else undefined (404). */
  shredded?: (tenantId: string) => Promise<AppError | undefined>;
  /** Told when a tenant's entry has opened (the cache's size limit runs here: cache-limits.ts). */
  onOpened?: (tenantId: string) => void;
}

interface Entry extends OneTenantStores {
  readonly continuations: ContinuationTokens;
  /** When the tenant's status was last read (suspension reaches every instance within STATUS_TTL_MS). */
  checkedAt: number;
  lastUsedMs: number;
  leases: number;
  /** Opened by a transient lease and leased by nothing else since: closed when its last lease ends. */
  background: boolean;
  /** Whether any lease was ever taken on this entry. */
  leased: boolean;
  /** Forgotten or evicted: closes when `leases` reaches 0. */
  retired: boolean;
  closed: boolean;
}

/**
 * The TenantStores port over a TenantDirectory and KeyProvider: one entry per opened ready
 * tenant, counted leases, and a close hook for eviction (the LRU/idle policy is not here).
 */
export class TenantCache implements TenantStores {
  private readonly entries = new Map<string, Promise<Entry>>();
  /** Entries whose promise has settled, so `cached()` and `evict()` can look without awaiting. */
  private readonly settled = new Map<string, Entry>();

  constructor(private readonly deps: TenantCacheDeps) {}

  async use<T>(tenantId: string, work: (stores: OneTenantStores) => Promise<T> | T, options?: UseTenantOptions): Promise<T> {
    const lease = await this.acquire(tenantId, options);
    try {
      return await work(lease.stores);
    } finally {
      lease.release();
    }
  }

  async acquire(tenantId: string, options: UseTenantOptions = {}): Promise<TenantLease> {
    assertTenantId(tenantId);
    for (;;) {
      options.abortSignal?.throwIfAborted();
      const entry = await this.entry(tenantId);
      // Retired or closed while we waited: take the tenant's current entry instead.
      if (entry.retired || entry.closed) continue;
      // Background visits (UseTenantOptions.transient) close what they alone opened; one use by
      // anything else (a request) keeps the entry cached as usual.
      if (!options.transient) entry.background = false;
      else if (!entry.leased) entry.background = true;
      entry.leased = true;
      entry.leases++;
      entry.lastUsedMs = this.deps.clock.now().getTime();
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        entry.leases--;
        entry.lastUsedMs = this.deps.clock.now().getTime();
        if (entry.retired && entry.leases === 0) this.closeEntry(entry);
        else if (entry.background && entry.leases === 0 && this.settled.get(tenantId) === entry) this.evict(tenantId);
      };
      try {
        await this.recheck(entry);
      } catch (e) {
        release();
        throw e;
      }
      return { stores: entry, release };
    }
  }

  forget(tenantId: string): void {
    forgetCachedUsers(tenantId);
    const p = this.entries.get(tenantId);
    this.entries.delete(tenantId);
    const s = this.settled.get(tenantId);
    this.settled.delete(tenantId);
    if (s) this.retire(s);
    else void p?.then((e) => this.retire(e)).catch(() => undefined);
  }

  evict(tenantId: string): boolean {
    const s = this.settled.get(tenantId);
    if (!s || s.leases > 0 || this.entries.get(tenantId) === undefined) return false;
    this.forget(tenantId);
    return true;
  }

  cached(): CachedTenantInfo[] {
    return [...this.settled.values()].map((e) => ({ tenantId: e.tenantId, leases: e.leases, lastUsedMs: e.lastUsedMs }));
  }

  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    this.settled.clear();
    for (const p of all) await p.then((e) => zero(e)).catch(() => undefined);
    await this.deps.directory.close();
  }

  /** The tenant's entry, opening it (ready-check, key, log) when not cached. */
  private entry(id: string): Promise<Entry> {
    let p = this.entries.get(id);
    if (!p) {
      p = this.open(id);
      this.entries.set(id, p);
      const mine = p;
      p.then(
        (e) => {
          if (this.entries.get(id) !== mine) return;
          this.settled.set(id, e);
          this.deps.onOpened?.(id);
        },
        () => {
          if (this.entries.get(id) === mine) this.entries.delete(id);
        },
      );
    }
    return p;
  }

  /** A cached entry's status is re-read after STATUS_TTL_MS: suspension reaches every instance. */
  private async recheck(entry: Entry): Promise<void> {
    const id = entry.tenantId;
    if (this.deps.clock.now().getTime() - entry.checkedAt <= STATUS_TTL_MS) return;
    const meta = await storeStep(this.deps.health, id, () => this.deps.directory.getMeta(id));
    if (meta?.status !== 'ready') {
      if (this.settled.get(id) === entry) this.forget(id);
      throw notServed(id, meta?.status);
    }
    entry.checkedAt = this.deps.clock.now().getTime();
  }

  private async open(id: string): Promise<Entry> {
    const { directory, keys, clock, health } = this.deps;
    const meta = await storeStep(health, id, () => directory.getMeta(id));
    if (meta?.status !== 'ready') throw (!meta && (await this.deps.shredded?.(id).catch(() => undefined))) || notServed(id, meta?.status);
    // The signing key and the store (which fetches and unwraps its own database key) are
    // opened at once: a cold tenant's first request waits for the longer of the two, not
    // their sum. The key is still judged first: a tenant whose key cannot be used is
    // "degraded", never "wrong password" (and its sign-ins do not count towards any lockout).
    // The store's failure is judged (and noted) only once the key has opened.
    const opening = (async () => directory.openEventStore(id))();
    // A failure while the key's own failure is thrown is not left unhandled.
    opening.catch(() => undefined);
    let signingKey: Uint8Array;
    try {
      signingKey = await keys.unwrapKey(meta.keyName, meta.signingKey);
    } catch (e) {
      throw health.note(id, 'key_unavailable', e);
    }
    try {
      const events = await storeStep(health, id, () => opening, 'key_unavailable');
      const [created] = await storeStep(health, id, () => events.readStream(TENANT_STREAM, { maxCount: 1 }));
      const salt = (created?.events[0]?.data as { userIdSalt?: unknown } | undefined)?.userIdSalt;
      if (typeof salt !== 'string') throw health.note(id, 'store_corrupt', new Error('no TenantCreated event'));
      const continuations = ContinuationTokens.forTenant(id, signingKey);
      health.clear(id);
      const blobs = this.deps.blobs;
      let blobStore: Promise<BlobStore> | undefined;
      const now = clock.now().getTime();
      return {
        tenantId: id,
        meta,
        keyName: meta.keyName,
        events,
        projections: () => directory.openProjectionStore(id),
        blobs: () => {
          if (!blobs) return Promise.reject(new Error('No blob store is configured for this service.'));
          blobStore ??= blobs.forTenant(id);
          blobStore.catch(() => (blobStore = undefined));
          return blobStore;
        },
        continuations,
        signingKey,
        userIdSalt: salt,
        checkedAt: now,
        lastUsedMs: now,
        leases: 0,
        background: false,
        leased: false,
        retired: false,
        closed: false,
      };
    } catch (e) {
      signingKey.fill(0);
      throw e;
    }
  }

  private retire(entry: Entry): void {
    entry.retired = true;
    if (entry.leases === 0) this.closeEntry(entry);
  }

  private closeEntry(entry: Entry): void {
    if (entry.closed) return;
    zero(entry);
    const { onClose } = this.deps;
    // A newer entry for the tenant uses the same underlying stores: leave them open.
    if (onClose && !this.entries.has(entry.tenantId)) void onClose(entry.tenantId).catch(() => undefined);
  }
}

/** A tenant scheduled for deletion answers 410 (offboarding); any other tenant not served, 404. */
function notServed(id: string, status: TenantMeta['status'] | undefined): AppError {
  return status === 'deleting'
    ? new AppError(
        'gone',
        `Tenant "${id}" is scheduled for deletion and is no longer served. Until its grace period ends an operator can cancel the deletion.`,
      )
    : notFound(`Tenant "${id}" does not exist.`);
}

function zero(entry: Entry): void {
  entry.closed = true;
  entry.signingKey.fill(0);
  entry.continuations.dispose();
}

/**
 * Runs one step of opening a tenant's store; a storage fault (damaged file, full disk,
 * unreachable store) becomes 503 "degraded". `appErrorAs`: what an AppError from the
 * step means (opening the embedded store unwraps its key: not_found there = key gone).
 */
export async function storeStep<T>(health: TenantHealth, id: string, step: () => Promise<T>, appErrorAs?: DegradedReason): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (isAppError(e)) {
      if (appErrorAs && e.code !== 'unavailable') throw health.note(id, appErrorAs, e);
      throw e;
    }
    throw health.note(
      id,
      storageFaultOf(e) ?? (appErrorAs === 'key_unavailable' && isKeyError(e) ? 'key_unavailable' : 'store_unavailable'),
      e,
    );
  }
}

/** Errors a key provider raises for a key it cannot use (checked by name, never instanceof). */
function isKeyError(e: unknown): boolean {
  const name = typeof e === 'object' && e !== null ? (e as { name?: unknown }).name : undefined;
  return name === 'KeyUnwrapError' || name === 'KeyVaultError';
}
