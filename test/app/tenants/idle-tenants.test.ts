/**
 * Issue 11: an idle tenant costs no file handle. A tenant the cache evicted holds no file
 * descriptor; background work (transient leases: stored-files check, orphan sweep, backups)
 * closes what it alone opened and leaves tenants that requests use open; closing a database
 * (which checkpoints its WAL) does not make its log look changed to the background marks, also
 * after a restart; and the stored-files check answers a tenant without files from its mark
 * without opening it, until its log moves.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { FolderBlobStoreFactory } from '../../../shared/adapters/embedded/folder-blob-store';
import { releaseClosedDatabasesNow } from '../../../shared/adapters/embedded/libsql-release';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { StoredFileCheck } from '../../../shared/app/file-check';
import { TenantService } from '../../../shared/app/service';
import { TenantCacheLimits } from '../../../shared/app/tenants/cache-limits';
import { TenantCache } from '../../../shared/app/tenants/tenant-cache';
import { TenantHealth } from '../../../shared/app/tenant-health';
import type { TenantDirectory } from '../../../shared/ports/tenant-directory';
import { FakeClock } from '../../projections/support';

const IDS = ['acme', 'globex', 'initech'];
const IDLE_MS = 60_000;
const meta = { author: { kind: 'operator' as const, id: 't' }, correlationId: 'c' };
/**
 * Two turns of the event loop (the directory closes a database after the current turn), then
 * the files of closed databases are released at once instead of within seconds (libsql-release.ts).
 */
const settle = async () => {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  releaseClosedDatabasesNow();
  // The collected statements' finalizers run after the collection.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
};

describe('idle tenants hold no file handles', () => {
  let dir: string;
  let keys: LocalKeyProvider;
  let clock: FakeClock;
  const dataDir = () => join(dir, 'data');

  /** This process's open file descriptors inside the tenant's folder (its database, WAL, shm). */
  function fdsOf(id: string): number {
    const folder = join(dataDir(), 'tenants', id);
    let n = 0;
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${folder}/`)) n++;
      } catch {
        // closed meanwhile
      }
    }
    return n;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idle-tenants-'));
    clock = new FakeClock();
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    const directory = new EmbeddedTenantDirectory(dataDir(), keys, clock);
    const svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
    for (const id of IDS)
      await svc.createTenant({ id: 'op' }, { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } }, meta);
    await svc.close();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Counts the directory's opens of tenant logs (what a cold tenant costs). */
  function counting(directory: EmbeddedTenantDirectory): { directory: TenantDirectory; opens: string[] } {
    const opens: string[] = [];
    const wrapped = new Proxy(directory, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === 'openEventStore')
          return (id: string, o?: object) => {
            opens.push(id);
            return target.openEventStore(id, o);
          };
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    return { directory: wrapped, opens };
  }

  function setup() {
    const directory = new EmbeddedTenantDirectory(dataDir(), keys, clock);
    let limits: TenantCacheLimits | undefined;
    const cache = new TenantCache({
      directory,
      keys,
      clock,
      health: new TenantHealth(clock),
      onOpened: (id) => limits?.enforce(id),
      onClose: (id) => directory.closeTenant(id),
    });
    limits = new TenantCacheLimits(cache, clock, { max: 10, idleMs: IDLE_MS });
    return { directory, cache, limits };
  }

  it('a tenant evicted as idle holds no file descriptor; one with a lease keeps its files', async () => {
    const { directory, cache, limits } = setup();
    await cache.use('acme', (s) => s.events.streamVersion('tenant'));
    const lease = await cache.acquire('globex');
    await lease.stores.events.streamVersion('tenant');
    expect(fdsOf('acme')).toBeGreaterThan(0);
    expect(fdsOf('globex')).toBeGreaterThan(0);

    clock.advance(IDLE_MS + 1);
    expect(limits.enforce()).toEqual(['acme']);
    await settle();
    expect(fdsOf('acme')).toBe(0);
    expect(directory.openTenantIds()).toEqual(['globex']);
    // The leased tenant still answers; once released and idle it goes too.
    expect(await lease.stores.events.streamVersion('tenant')).toBeGreaterThan(0);
    lease.release();
    clock.advance(IDLE_MS + 1);
    expect(limits.enforce()).toEqual(['globex']);
    await settle();
    expect(fdsOf('globex')).toBe(0);
    expect(directory.openTenantIds()).toEqual([]);
    await cache.close();
  });

  it('a transient lease (background work) closes what it alone opened, never a tenant a request uses', async () => {
    const { directory, cache } = setup();
    // A background visit of a cold tenant: nothing stays open after it.
    await cache.use('initech', (s) => s.events.streamVersion('tenant'), { transient: true });
    await settle();
    expect(cache.cached().map((c) => c.tenantId)).toEqual([]);
    expect(fdsOf('initech')).toBe(0);

    // A tenant a request opened stays open after a background visit.
    await cache.use('acme', (s) => s.events.streamVersion('tenant'));
    await cache.use('acme', (s) => s.events.streamVersion('tenant'), { transient: true });
    await settle();
    expect(cache.cached().map((c) => c.tenantId)).toEqual(['acme']);
    expect(fdsOf('acme')).toBeGreaterThan(0);

    // A request arriving while a background visit holds a cold tenant: the tenant stays for it,
    // and is never closed under the request's lease.
    const visit = await cache.acquire('globex', { transient: true });
    const request = await cache.acquire('globex');
    visit.release();
    await settle();
    expect(await request.stores.events.streamVersion('tenant')).toBeGreaterThan(0);
    expect(request.stores.signingKey.some((b) => b !== 0)).toBe(true);
    request.release();
    await settle();
    expect(
      cache
        .cached()
        .map((c) => c.tenantId)
        .sort(),
    ).toEqual(['acme', 'globex']);

    // A request ending while the visit still runs: the visit's end does not close it either.
    const visit2 = await cache.acquire('initech', { transient: true });
    await cache.use('initech', (s) => s.events.streamVersion('tenant'));
    visit2.release();
    await settle();
    expect(cache.cached().map((c) => c.tenantId)).toContain('initech');
    await cache.close();
    expect(directory.openTenantIds()).toEqual([]);
  });

  it('closing a database leaves its log fingerprint as it was, also after a restart; a commit changes it', async () => {
    const directory = new EmbeddedTenantDirectory(dataDir(), keys, clock);
    const events = await directory.openEventStore('acme');
    await events.append(`counter-${randomBytes(3).toString('hex')}`, 0, [{ type: 'Counted', data: {} }], meta);
    const open = await directory.logFingerprint('acme');
    expect(open).toBeDefined();
    await directory.closeTenant('acme');
    await settle();
    expect(fdsOf('acme')).toBe(0);
    // The close checkpointed the WAL into the file: the files changed, the log did not.
    expect(await directory.logFingerprint('acme')).toBe(open);
    // The alias is written at the close: another process on the folder, or this one restarted
    // after a kill -9 (no close of the directory), sees it at once.
    const elsewhere = new EmbeddedTenantDirectory(dataDir(), keys, clock);
    expect(await elsewhere.logFingerprint('acme')).toBe(open);
    await elsewhere.close();
    await directory.close();

    const restarted = new EmbeddedTenantDirectory(dataDir(), keys, clock);
    expect(await restarted.logFingerprint('acme')).toBe(open);
    const again = await restarted.openEventStore('acme');
    expect(await restarted.logFingerprint('acme')).toBe(open); // opening writes nothing
    await again.append(`counter-${randomBytes(3).toString('hex')}`, 0, [{ type: 'Counted', data: {} }], meta);
    const moved = await restarted.logFingerprint('acme');
    expect(moved).not.toBe(open);
    await restarted.closeTenant('acme');
    await settle();
    expect(await restarted.logFingerprint('acme')).toBe(moved);
    await restarted.close();
  });

  it('the stored-files check answers a tenant without files from its mark, without opening it, until its log moves', async () => {
    const run = async (work: (check: StoredFileCheck, opens: string[], directory: EmbeddedTenantDirectory) => Promise<void>) => {
      const embedded = new EmbeddedTenantDirectory(dataDir(), keys, clock);
      const { directory, opens } = counting(embedded);
      // Wired as the services are: an evicted tenant's database is closed.
      const health = new TenantHealth(clock);
      const stores = new TenantCache({ directory, keys, clock, health, onClose: (id) => embedded.closeTenant(id) });
      const svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14, health, stores });
      const check = new StoredFileCheck({ tenants: svc, blobs: new FolderBlobStoreFactory(join(dir, 'files')), clock });
      await work(check, opens, embedded);
      await check.saveMarks();
      await svc.close();
    };
    await run(async (check, opens, directory) => {
      expect(await check.checkReady('globex')).toMatchObject({ attached: 0, missing: 0 });
      expect(opens).toEqual(['globex']);
      await settle();
      // Transient: the check's own open is closed again.
      expect(directory.openTenantIds()).toEqual([]);
      expect(fdsOf('globex')).toBe(0);
      // Checked again: from the mark.
      expect(await check.checkReady('globex')).toMatchObject({ attached: 0, missing: 0 });
      expect(opens).toEqual(['globex']);
    });
    // After a restart: still from the mark (saved beside the stores).
    await run(async (check, opens) => {
      expect(await check.checkReady('globex')).toMatchObject({ attached: 0, missing: 0 });
      expect(opens).toEqual([]);
    });
    // The log moves (a write by anyone): read in full again.
    const writer = new EmbeddedTenantDirectory(dataDir(), keys, clock);
    await (await writer.openEventStore('globex')).append(
      `counter-${randomBytes(3).toString('hex')}`,
      0,
      [{ type: 'Counted', data: {} }],
      meta,
    );
    await writer.close();
    await run(async (check, opens) => {
      expect(await check.checkReady('globex')).toMatchObject({ attached: 0, missing: 0 });
      expect(opens).toEqual(['globex']);
    });
  });
});
