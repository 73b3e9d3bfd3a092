import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { TenantService } from '../../../shared/app/service';
import { TenantHealth } from '../../../shared/app/tenant-health';
import { TenantCache } from '../../../shared/app/tenants/tenant-cache';
import type { KeyProvider } from '../../../shared/ports/key-provider';

/**
 * A cold tenant's first request (issue 11): the cache opens the tenant's store while it unwraps
 * the signing key, instead of one after the other; a key that cannot be used is still judged
 * first (degraded "key_unavailable", never a store fault).
 */
describe('TenantCache: opening a cold tenant', () => {
  let dir: string;
  let keys: LocalKeyProvider;
  let directory: EmbeddedTenantDirectory;
  let svc: TenantService;
  const clock = { now: () => new Date() };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cold-open-'));
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    directory = new EmbeddedTenantDirectory(dir, keys, clock);
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
    await svc.createTenant(
      { id: 'operator-key:test' },
      { id: 'acme', name: 'acme', admin: { email: 'admin@acme.test', password: 'a long enough password' } },
      { correlationId: 'c' },
    );
    await directory.closeTenant('acme');
  });
  afterEach(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The cache's key provider with the signing key's unwrap (the first one the cache asks for) held until `release`. */
  function slowSigningKey(fail = false) {
    let released = false;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let openedWhileHeld = false;
    let first = true;
    const wrapped = Object.create(keys) as KeyProvider;
    wrapped.unwrapKey = async (name, key, options) => {
      if (first) {
        first = false;
        await held;
        if (fail) throw Object.assign(new Error('key gone'), { name: 'KeyUnwrapError' });
      }
      return keys.unwrapKey(name, key, options);
    };
    const watched = Object.create(directory) as EmbeddedTenantDirectory;
    watched.openEventStore = (id, options) => {
      if (!released) openedWhileHeld = true;
      return directory.openEventStore(id, options);
    };
    return {
      keys: wrapped,
      directory: watched,
      release: () => {
        released = true;
        release();
      },
      openedWhileHeld: () => openedWhileHeld,
    };
  }

  it('opens the store while the signing key is unwrapped (the first request waits for the longer, not the sum)', async () => {
    const slow = slowSigningKey();
    const health = new TenantHealth(clock);
    const cache = new TenantCache({ directory: slow.directory, keys: slow.keys, clock, health });
    const using = cache.use('acme', async (s) => (await s.events.readStream('tenant', { maxCount: 1 }))[0]?.events[0]?.type);
    // The store is being opened before the signing key is released.
    await expect.poll(() => slow.openedWhileHeld()).toBe(true);
    slow.release();
    expect(await using).toBe('TenantCreated');
  });

  it('a signing key that cannot be used is judged first: degraded "key_unavailable", whatever the store does', async () => {
    const slow = slowSigningKey(true);
    const health = new TenantHealth(clock);
    const cache = new TenantCache({ directory: slow.directory, keys: slow.keys, clock, health });
    const using = cache.use('acme', () => 'served');
    const settled = using.then(
      () => undefined,
      (e: unknown) => e,
    );
    slow.release();
    const e = (await settled) as { code?: string } | undefined;
    expect(e?.code).toBe('unavailable');
    expect(health.recent('acme')?.reason).toBe('key_unavailable');
  });
});
