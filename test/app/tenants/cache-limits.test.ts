/**
 * The bounded tenant cache (TENANT_CACHE_MAX / TENANT_CACHE_IDLE_SECONDS) over the embedded
 * directory: LRU and idle eviction under concurrent requests, never closing a tenant under a
 * running command; the directory's own bound on open databases with lazy reopening.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { TenantService } from '../../../shared/app/service';
import { TenantCacheLimits } from '../../../shared/app/tenants/cache-limits';
import { TenantCache } from '../../../shared/app/tenants/tenant-cache';
import { TenantHealth } from '../../../shared/app/tenant-health';
import { FakeClock } from '../../projections/support';

const IDS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'soylent', 'stark', 'wayne'];
const MAX = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bounded tenant cache', () => {
  let dir: string;
  let keys: LocalKeyProvider;
  let clock: FakeClock;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cache-limits-'));
    clock = new FakeClock();
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    const directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
    const svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
    for (const id of IDS)
      await svc.createTenant(
        { id: 'op' },
        { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } },
        { correlationId: 'c' },
      );
    await svc.close();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function setup() {
    const directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock, { maxOpen: MAX });
    let limits: TenantCacheLimits | undefined;
    const closed: string[] = [];
    const cache = new TenantCache({
      directory,
      keys,
      clock,
      health: new TenantHealth(clock),
      onOpened: (id) => limits?.enforce(id),
      onClose: async (id) => {
        closed.push(id);
        await directory.closeTenant(id);
      },
    });
    limits = new TenantCacheLimits(cache, clock, { max: MAX, idleMs: 60_000 });
    return { directory, cache, limits, closed };
  }

  it('evicts the least recently used tenants under concurrent commands, never one whose command is running', async () => {
    const { directory, cache, limits, closed } = setup();
    let mostCached = 0;
    let zeroedUnderLease = 0;
    const stream = `counter-${randomBytes(4).toString('hex')}`;
    // 64 commands over 8 tenants, 5 at a time, each awaiting between its read and its append.
    const commands = Array.from({ length: 64 }, (_, i) => IDS[(i * 5) % IDS.length]!);
    let next = 0;
    const worker = async () => {
      while (next < commands.length) {
        const id = commands[next++]!;
        clock.advance(1);
        for (let attempt = 0; ; attempt++) {
          try {
            await cache.use(id, async (s) => {
              const version = await s.events.streamVersion(stream);
              await sleep(Math.floor(Math.random() * 6));
              // Wait a little (≤ ~50 ms) for the other workers' leases, so that more tenants than
              // MAX are in use at once and eviction has to work around leased ones (on a loaded
              // machine the commands could otherwise run nearly one after the other).
              for (let i = 0; i < 25 && cache.cached().length <= MAX; i++) await sleep(2);
              mostCached = Math.max(mostCached, cache.cached().length);
              // The lease holds: this tenant's secrets are intact and its log still answers.
              if (s.signingKey.every((b) => b === 0)) zeroedUnderLease++;
              await s.events.append(stream, version, [{ type: 'Counted', data: {} }], {
                author: { kind: 'operator', id: 't' },
                correlationId: 'c',
              });
              await sleep(Math.floor(Math.random() * 3));
              if (s.signingKey.every((b) => b === 0)) zeroedUnderLease++;
              expect(await s.events.streamVersion(stream)).toBeGreaterThan(version);
            });
            break;
          } catch (e) {
            // Two commands of one tenant raced: retry as a client would.
            if ((e as Error).name !== 'WrongExpectedVersionError' || attempt > 20) throw e;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 5 }, worker));

    expect(zeroedUnderLease).toBe(0);
    // Tenants were evicted (and their databases closed) while others ran…
    expect(closed.length).toBeGreaterThan(0);
    // …and every command's commit is there.
    for (const id of IDS) {
      const events = await directory.openEventStore(id);
      expect(await events.streamVersion(stream), id).toBe(commands.filter((c) => c === id).length);
    }
    // Above MAX only while commands held more tenants at once; back within it once they end.
    expect(mostCached).toBeGreaterThan(MAX);
    limits.enforce();
    expect(cache.cached().length).toBeLessThanOrEqual(MAX);
    await new Promise((r) => setImmediate(r));
    expect(directory.openTenantIds().length).toBeLessThanOrEqual(MAX);
    await cache.close();
  });

  it('evicts tenants idle for longer than the idle time, but not one with a lease', async () => {
    const { cache, limits, directory } = setup();
    await cache.use('acme', () => undefined);
    await cache.use('globex', () => undefined);
    const lease = await cache.acquire('initech');
    clock.advance(61_000);
    expect(limits.enforce().sort()).toEqual(['acme', 'globex']);
    expect(cache.cached().map((c) => c.tenantId)).toEqual(['initech']);
    lease.release();
    clock.advance(61_000);
    expect(limits.enforce()).toEqual(['initech']);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(directory.openTenantIds()).toEqual([]);
    await cache.close();
  });

  it('keeps at most maxOpen databases open in the directory; a closed store reopens on its next call', async () => {
    const directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock, { maxOpen: 2 });
    const stores = [];
    for (const id of IDS.slice(0, 5)) {
      stores.push(await directory.openEventStore(id));
      clock.advance(1);
    }
    await new Promise((r) => setImmediate(r));
    expect(directory.openTenantIds().length).toBeLessThanOrEqual(2);
    // The first store was closed by the limit; using it again opens it (and closes another).
    const [created] = await stores[0]!.readStream('tenant', { maxCount: 1 });
    expect(created?.events[0]?.type).toBe('TenantCreated');
    await new Promise((r) => setImmediate(r));
    expect(directory.openTenantIds()).toContain('acme');
    expect(directory.openTenantIds().length).toBeLessThanOrEqual(2);
    // Idle closing.
    clock.advance(10 * 60_000);
    directory.closeIdle();
    await new Promise((r) => setImmediate(r));
    expect(directory.openTenantIds()).toEqual([]);
    await directory.close();
  });
});
