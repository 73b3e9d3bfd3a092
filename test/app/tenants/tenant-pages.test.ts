/**
 * GET /api/tenants's use case: pages in id order, continuation tokens, no tenant database
 * opened, no listing of the tenants folder (the directory's index: tenant-index.ts); tenants
 * created and removed between pages; the index repaired from the folders after a restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { TenantService } from '../../../shared/app/service';
import { allTenantIds, listTenantPage } from '../../../shared/app/tenants/tenant-pages';
import type { TenantDirectory } from '../../../shared/ports/tenant-directory';
import { FakeClock } from '../../projections/support';
import { metaFor } from '../../support/cosmos-server';

describe('listTenantPage', () => {
  let dir: string;
  let directory: EmbeddedTenantDirectory;
  let svc: TenantService;
  let keys: LocalKeyProvider;
  const ids = ['zeta', 'acme', 'globex', 'initech', 'umbrella', 'hooli', 'soylent'];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tenant-pages-'));
    const clock = new FakeClock();
    keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
    for (const id of ids)
      await svc.createTenant(
        { id: 'op' },
        { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } },
        { correlationId: 'c' },
      );
    await svc.setSuspended('hooli', true, { id: 'op' }, { correlationId: 'c' });
    for (const id of ids) await directory.closeTenant(id);
  }, 60_000);
  afterAll(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const deps = () => ({ directory, health: svc.health });

  it('walks every tenant once, in id order, page by page, without opening any tenant database or listing the tenants folder', async () => {
    const listing = vi.spyOn(directory, 'listTenantIds');
    const metaReads = vi.spyOn(directory, 'getMeta');
    const seen: string[] = [];
    const pages: number[] = [];
    let continuation: string | undefined;
    do {
      const page = await listTenantPage(deps(), { limit: 3, ...(continuation ? { continuation } : {}) });
      pages.push(page.items.length);
      seen.push(...page.items.map((t) => `${t.id}:${t.status}`));
      continuation = page.continuation;
    } while (continuation);
    expect(pages).toEqual([3, 3, 1]);
    expect(seen).toEqual([...ids].sort().map((id) => `${id}:${id === 'hooli' ? 'suspended' : 'ready'}`));
    expect(directory.openTenantIds()).toEqual([]);
    // The folder was never listed; each tenant's meta was read once (its own page only).
    expect(listing).not.toHaveBeenCalled();
    expect(metaReads).toHaveBeenCalledTimes(ids.length);
    listing.mockRestore();
    metaReads.mockRestore();
  });

  it('a page reads the metas of its own tenants only, however many tenants there are', async () => {
    const metaReads = vi.spyOn(directory, 'getMeta');
    const first = await listTenantPage(deps(), { limit: 2 });
    expect(first.items.map((t) => t.id)).toEqual(['acme', 'globex']);
    expect(metaReads.mock.calls.map((c) => c[0])).toEqual(['acme', 'globex']);
    metaReads.mockClear();
    const second = await listTenantPage(deps(), { limit: 2, continuation: first.continuation! });
    expect(second.items.map((t) => t.id)).toEqual(['hooli', 'initech']);
    expect(metaReads.mock.calls.map((c) => c[0])).toEqual(['hooli', 'initech']);
    metaReads.mockRestore();
  });

  it('tenants created and removed between pages: later pages see them by id order, none twice, none that stayed missed', async () => {
    const keysOf = (m: ReturnType<typeof metaFor>) => keys.createKey(m.keyName);
    const first = await listTenantPage(deps(), { limit: 3 });
    expect(first.items.map((t) => t.id)).toEqual(['acme', 'globex', 'hooli']);
    // Created after the first page: one before the cursor (not seen by this walk), one after it (seen).
    const before = metaFor('aaa-early');
    const after = metaFor('kappa-late');
    await keysOf(before);
    await keysOf(after);
    await directory.create(before);
    await directory.create(after);
    // Removed after the first page: one already listed, one not yet listed (never seen).
    await directory.destroy('umbrella');
    const rest: string[] = [];
    let continuation = first.continuation;
    while (continuation) {
      const page = await listTenantPage(deps(), { limit: 3, continuation });
      rest.push(...page.items.map((t) => t.id));
      continuation = page.continuation;
    }
    expect(rest).toEqual(['initech', 'kappa-late', 'soylent', 'zeta']);
    // A new walk sees today's set, in order.
    const all = await listTenantPage(deps(), { limit: 100 });
    expect(all.items.map((t) => t.id)).toEqual(['aaa-early', 'acme', 'globex', 'hooli', 'initech', 'kappa-late', 'soylent', 'zeta']);
    expect(all.items.find((t) => t.id === 'aaa-early')?.status).toBe('creating');
    expect(directory.openTenantIds()).toEqual([]);
  });

  it('the status index gives the ready tenants (the timers) and the ones scheduled for deletion (the shredder) without reading every meta', async () => {
    const metaReads = vi.spyOn(directory, 'getMeta');
    const listing = vi.spyOn(directory, 'listTenantIds');
    const ready: string[] = [];
    for await (const id of allTenantIds(directory, { status: 'ready', pageSize: 2 })) ready.push(id);
    expect(ready).toEqual(['acme', 'globex', 'initech', 'soylent', 'zeta']);
    expect(await svc.servedTenantIds()).toEqual(['acme', 'globex', 'initech', 'soylent', 'zeta']);
    await directory.setStatus('soylent', 'deleting');
    metaReads.mockClear();
    const deleting: string[] = [];
    for await (const id of allTenantIds(directory, { status: 'deleting' })) deleting.push(id);
    expect(deleting).toEqual(['soylent']);
    expect(metaReads).not.toHaveBeenCalled();
    expect(listing).not.toHaveBeenCalled();
    await directory.setStatus('soylent', 'ready');
    metaReads.mockRestore();
    listing.mockRestore();
  });

  it('a status change cut off between the index and the meta is answered by the meta', async () => {
    // The index row says "deleting" (pending) but the meta write never happened.
    const write = vi
      .spyOn(await import('../../../shared/adapters/durable-files'), 'writeFileDurably')
      .mockRejectedValueOnce(new Error('disk gone'));
    await expect(directory.setStatus('zeta', 'deleting')).rejects.toThrow('disk gone');
    write.mockRestore();
    const deleting: string[] = [];
    for await (const id of allTenantIds(directory, { status: 'deleting' })) deleting.push(id);
    expect(deleting).toEqual([]);
    const ready: string[] = [];
    for await (const id of allTenantIds(directory, { status: 'ready' })) ready.push(id);
    expect(ready).toContain('zeta');
  });

  it('after a restart the index is repaired from the folders: a lost index file, a folder made behind its back, a row whose folder is gone', async () => {
    const clock = new FakeClock();
    const keys2 = new LocalKeyProvider({ dir: join(dir, 'keys2'), masterKey: randomBytes(32) });
    const data2 = join(dir, 'data2');
    const first = new EmbeddedTenantDirectory(data2, keys2, clock);
    for (const id of ['one', 'two', 'three']) {
      const m = metaFor(id);
      await keys2.createKey(m.keyName);
      await first.create(m);
    }
    await first.close();
    // The index file is lost: rebuilt from the folders at the next start.
    rmSync(join(data2, 'tenant-index.db'), { force: true });
    rmSync(join(data2, 'tenant-index.db-wal'), { force: true });
    rmSync(join(data2, 'tenant-index.db-shm'), { force: true });
    const second = new EmbeddedTenantDirectory(data2, keys2, clock);
    expect(await collect(second)).toEqual(['one', 'three', 'two']);
    await second.close();
    // A folder removed behind the index's back: its row goes at the next start.
    rmSync(join(data2, 'tenants', 'two'), { recursive: true, force: true });
    const third = new EmbeddedTenantDirectory(data2, keys2, clock);
    expect(await collect(third)).toEqual(['one', 'three']);
    await third.close();
  });

  it('has no continuation when the page holds the last tenant', async () => {
    const count = (await listTenantPage(deps(), { limit: 1000 })).items.length;
    const page = await listTenantPage(deps(), { limit: count });
    expect(page.items).toHaveLength(count);
    expect(page.continuation).toBeUndefined();
    expect((await listTenantPage(deps(), { limit: count - 1 })).continuation).toBeDefined();
  });

  it('refuses continuation tokens it did not make with a validation error', async () => {
    for (const bad of [
      'garbage',
      Buffer.from('{"after":"../x"}').toString('base64url'),
      Buffer.from('[1]').toString('base64url'),
      'x'.repeat(500),
    ])
      await expect(listTenantPage(deps(), { limit: 2, continuation: bad })).rejects.toMatchObject({ code: 'validation' });
  });
});

async function collect(d: TenantDirectory): Promise<string[]> {
  const out: string[] = [];
  for await (const id of allTenantIds(d)) out.push(id);
  return out;
}

describe('listTenantPage over a directory without an index (Cosmos: the catalog, listed and sorted)', () => {
  it('pages the catalog in id order with the same continuations', async () => {
    const metas = new Map(['c-3', 'a-1', 'b-2', 'd-4'].map((id) => [id, { ...metaFor(id), status: 'ready' as const }]));
    const directory = {
      listTenantIds: async () => [...metas.keys()],
      getMeta: async (id: string) => metas.get(id),
    } as unknown as TenantDirectory;
    const health = { recent: () => false } as unknown as TenantService['health'];
    const p1 = await listTenantPage({ directory, health }, { limit: 3 });
    expect(p1.items.map((t) => t.id)).toEqual(['a-1', 'b-2', 'c-3']);
    const p2 = await listTenantPage({ directory, health }, { limit: 3, continuation: p1.continuation! });
    expect(p2.items.map((t) => t.id)).toEqual(['d-4']);
    expect(p2.continuation).toBeUndefined();
  });
});
