/** GET /api/tenants's use case: pages in id order, continuation tokens, no tenant database opened. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { TenantService } from '../../../shared/app/service';
import { listTenantPage } from '../../../shared/app/tenants/tenant-pages';
import { FakeClock } from '../../projections/support';

describe('listTenantPage', () => {
  let dir: string;
  let directory: EmbeddedTenantDirectory;
  let svc: TenantService;
  const ids = ['zeta', 'acme', 'globex', 'initech', 'umbrella', 'hooli', 'soylent'];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tenant-pages-'));
    const clock = new FakeClock();
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
    svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
    for (const id of ids)
      await svc.createTenant(
        { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } },
        { id: 'op' },
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

  it('walks every tenant once, in id order, page by page, without opening any tenant database', async () => {
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
  });

  it('has no continuation when the page holds the last tenant', async () => {
    const page = await listTenantPage(deps(), { limit: ids.length });
    expect(page.items).toHaveLength(ids.length);
    expect(page.continuation).toBeUndefined();
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
