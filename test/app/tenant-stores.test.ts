import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { TenantService } from '../../shared/app/service';
import { TenantHealth } from '../../shared/app/tenant-health';
import { STATUS_TTL_MS, TenantCache } from '../../shared/app/tenants/tenant-cache';
import type { OneTenantStores } from '../../shared/ports/tenant-stores';

const operator = { id: 'operator-key:test' };
const req = { correlationId: 'corr-1' };
const PW = 'a long enough password';

describe('TenantStores (TenantCache): leased stores behind the ready-check', () => {
  let dir: string;
  let directory: EmbeddedTenantDirectory;
  let keys: LocalKeyProvider;
  let svc: TenantService;
  let cache: TenantCache;
  let closed: string[];
  let nowMs: number;
  const clock = { now: () => new Date(nowMs) };

  beforeEach(async () => {
    nowMs = Date.parse('2026-12-06T10:00:00Z');
    closed = [];
    dir = mkdtempSync(join(tmpdir(), 'tenant-stores-'));
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    directory = new EmbeddedTenantDirectory(dir, keys, clock);
    cache = new TenantCache({
      directory,
      keys,
      clock,
      health: new TenantHealth(clock),
      blobs: new FolderBlobStoreFactory(join(dir, 'files')),
      onClose: async (id) => void closed.push(id),
    });
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14, stores: cache });
    for (const id of ['acme', 'globex'])
      await svc.createTenant(operator, { id, name: id, admin: { email: `admin@${id}.test`, password: PW } }, req);
  });
  afterEach(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const isZero = (k: Uint8Array) => k.every((b) => b === 0);

  it('hands out the stores of a ready tenant: its own log, projections, blob container, key name and salt', async () => {
    const seen = await cache.use('acme', async (s) => {
      const [created] = await s.events.readStream('tenant', { maxCount: 1 });
      const projections = await s.projections();
      const blobs = await s.blobs();
      return { created: created?.events[0]?.type, keyName: s.keyName, salt: s.userIdSalt, projections, blobs };
    });
    expect(seen.created).toBe('TenantCreated');
    expect(seen.keyName).toBe((await directory.getMeta('acme'))!.keyName);
    expect(seen.salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(seen.projections).toBe(await directory.openProjectionStore('acme'));
    const other = await cache.use('globex', async (s) => ({ keyName: s.keyName, salt: s.userIdSalt }));
    expect(other.keyName).not.toBe(seen.keyName);
    expect(other.salt).not.toBe(seen.salt);
  });

  it('unknown, malformed and suspended tenants are not found; nothing is leased for them', async () => {
    await expect(cache.use('nobody', async () => 1)).rejects.toMatchObject({ code: 'not_found' });
    await expect(cache.use('../x', async () => 1)).rejects.toMatchObject({ code: 'validation' });
    await svc.setSuspended('globex', true, operator, req);
    await expect(cache.use('globex', async () => 1)).rejects.toMatchObject({ code: 'not_found' });
    expect(cache.cached().map((c) => c.tenantId)).toEqual([]);
  });

  it('forget during a lease: the running work keeps a live key and open stores; they close when the lease ends', async () => {
    const lease = await cache.acquire('acme');
    const held: OneTenantStores = lease.stores;
    expect(cache.cached()).toEqual([expect.objectContaining({ tenantId: 'acme', leases: 1 })]);
    cache.forget('acme');
    // Still usable under the lease: the key is not zeroed, the continuation sealer works, the log reads.
    expect(isZero(held.signingKey)).toBe(false);
    const token = await held.continuations.seal('audit', { q: 1 }, 'pos-1');
    expect(await held.continuations.open('audit', { q: 1 }, token)).toBe('pos-1');
    expect((await held.events.readStream('tenant', { maxCount: 1 })).length).toBe(1);
    expect(closed).toEqual([]);
    lease.release();
    expect(isZero(held.signingKey)).toBe(true);
    await expect(held.continuations.seal('audit', { q: 1 }, 'pos-1')).rejects.toThrow();
    await Promise.resolve();
    expect(closed).toEqual(['acme']);
    // A later use opens the tenant afresh.
    expect(await cache.use('acme', async (s) => isZero(s.signingKey))).toBe(false);
  });

  it('evict refuses while a lease is held, and closes an idle entry', async () => {
    const lease = await cache.acquire('acme');
    expect(cache.evict('acme')).toBe(false);
    expect(isZero(lease.stores.signingKey)).toBe(false);
    lease.release();
    lease.release(); // a second release is ignored
    expect(cache.cached()).toEqual([expect.objectContaining({ tenantId: 'acme', leases: 0 })]);
    expect(cache.evict('acme')).toBe(true);
    expect(isZero(lease.stores.signingKey)).toBe(true);
    await Promise.resolve();
    expect(closed).toEqual(['acme']);
    expect(cache.evict('acme')).toBe(false);
    expect(cache.cached()).toEqual([]);
  });

  it('the close hook does not run for an old entry while a newer entry of the tenant is open', async () => {
    const old = await cache.acquire('acme');
    cache.forget('acme');
    const fresh = await cache.acquire('acme');
    expect(fresh.stores).not.toBe(old.stores);
    old.release();
    await Promise.resolve();
    expect(isZero(old.stores.signingKey)).toBe(true);
    expect(closed).toEqual([]);
    expect(isZero(fresh.stores.signingKey)).toBe(false);
    fresh.release();
  });

  it('work that throws still ends its lease', async () => {
    await expect(
      cache.use('acme', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(cache.cached()).toEqual([expect.objectContaining({ tenantId: 'acme', leases: 0 })]);
  });

  it('a cached tenant suspended by another instance is refused once the status TTL has passed', async () => {
    await cache.use('acme', async () => undefined);
    // Another instance suspends it: only the directory changes, this cache still holds the entry.
    await directory.setStatus('acme', 'suspended');
    expect(await cache.use('acme', async () => 'served')).toBe('served');
    nowMs += STATUS_TTL_MS + 1;
    await expect(cache.use('acme', async () => 'served')).rejects.toMatchObject({ code: 'not_found' });
    expect(cache.cached().map((c) => c.tenantId)).toEqual([]);
  });

  it('an aborted signal refuses to lease', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(cache.use('acme', async () => 1, { abortSignal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('TenantService.stores() (callers not yet on leases) after an eviction', () => {
  let dir: string;
  let svc: TenantService;
  let cache: TenantCache;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tenant-stores-compat-'));
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    const clock = { now: () => new Date() };
    const directory = new EmbeddedTenantDirectory(dir, keys, clock);
    cache = new TenantCache({ directory, keys, clock, health: new TenantHealth(clock) });
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14, stores: cache });
    await svc.createTenant(operator, { id: 'acme', name: 'acme', admin: { email: 'admin@acme.test', password: PW } }, req);
  });
  afterEach(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('its continuation sealer still seals and opens (and its log still reads) after the entry was evicted', async () => {
    const { events, continuations } = await svc.stores('acme');
    const before = await continuations.seal('audit', { q: 1 }, 'pos-1');
    expect(cache.evict('acme')).toBe(true);
    expect(await continuations.open('audit', { q: 1 }, before)).toBe('pos-1');
    const after = await continuations.seal('audit', { q: 1 }, 'pos-2');
    expect(await continuations.open('audit', { q: 1 }, after)).toBe('pos-2');
    await expect(continuations.open('audit', { q: 2 }, after)).rejects.toMatchObject({ code: 'validation' });
    expect((await events.readStream('tenant', { maxCount: 1 }))[0]?.events[0]?.type).toBe('TenantCreated');
  });
});
