/**
 * What a crash leaves of a restore or a drill never blocks an id: a restore target left
 * "creating" is removed when a restore asks for its id (or by a sweep), a drill's scratch
 * tenant by the next drill. On a shared store (several instances) only once it is old enough,
 * since another instance may still be building it; a tenant being created normally is never
 * touched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../shared/app/backup';
import { SHARED_STORE_LEFTOVER_AGE_MS } from '../../shared/app/backup/leftovers';
import { RecordService } from '../../shared/app/records';
import { TenantService } from '../../shared/app/service';
import type { TenantMeta } from '../../shared/ports/tenant-directory';

const PW = 'a long enough password';
const req = { correlationId: 'c' };
const op = { id: 'operator-key:test' };

let dir: string;
let clock: { t: number; now(): Date };
let keys: LocalKeyProvider;
let directory: EmbeddedTenantDirectory;
let tenants: TenantService;
let target: FolderBackupTarget;
let records: RecordService;

function service(exclusiveStore: boolean): BackupService {
  return new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock, records, targets: [target], exclusiveStore });
}

/** A tenant as a crash leaves it: meta written, status "creating", nothing else. */
async function leftover(id: string, extra: Partial<TenantMeta> = {}): Promise<void> {
  const keyName = `tenant-${id}-${randomBytes(4).toString('hex')}`;
  await keys.createKey(keyName);
  await directory.create({
    id,
    name: id,
    status: 'creating',
    createdAt: clock.now().toISOString(),
    keyName,
    signingKey: await keys.wrapKey(keyName, randomBytes(32)),
    ...extra,
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bk-left-'));
  clock = {
    t: Date.parse('2026-12-01T10:00:00Z'),
    now() {
      return new Date(this.t);
    },
  };
  keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  directory = new EmbeddedTenantDirectory(dir, keys, clock);
  tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 3600, passwordLogN: 14 });
  records = new RecordService(tenants, clock);
  target = new FolderBackupTarget('own-cloud', join(dir, 'tier'));
  await tenants.createTenant(op, { id: 'acme', name: 'acme', admin: { email: 'a@a.test', password: PW } }, req);
  const admin = await tenants.authenticate(
    'acme',
    `Bearer ${(await tenants.login({ tenantId: 'acme', email: 'a@a.test', password: PW })).access_token}`,
  );
  await records.defineType(admin, { type: 'doc', schema: { type: 'object' } }, req);
  await records.createRecord(admin, { type: 'doc', data: { n: 1 } }, req);
  expect((await service(true).backupAllTiers('acme'))[0]).toMatchObject({ ok: true });
});
afterEach(async () => {
  await tenants.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

it('a restore into the id of a crashed restore removes the leftover and restores (embedded: one process owns the store)', async () => {
  await leftover('acme-r', { restoring: { source: 'acme', tier: 'own-cloud', asOf: clock.now().toISOString() } });
  const r = await service(true).restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'acme-r' }, req);
  expect(r).toMatchObject({ id: 'acme-r', partial: false });
  expect(await tenants.getTenantStatus('acme-r')).toMatchObject({ status: 'ready' });
});

it('on a shared store a fresh leftover may still be in progress elsewhere (409); an old one is removed', async () => {
  await leftover('acme-r', { restoring: { source: 'acme', tier: 'own-cloud', asOf: clock.now().toISOString() } });
  const shared = service(false);
  await expect(shared.restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'acme-r' }, req)).rejects.toMatchObject({
    code: 'conflict',
  });
  const asOf = clock.now();
  clock.t += SHARED_STORE_LEFTOVER_AGE_MS;
  await expect(shared.restore(op, { tenant: 'acme', target, asOf, into: 'acme-r' }, req)).resolves.toMatchObject({ id: 'acme-r' });
});

it('a tenant being created normally (no restore mark) is never taken for a leftover', async () => {
  await leftover('newco');
  const s = service(true);
  expect(await s.leftovers.sweep()).toEqual([]);
  await expect(s.restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'newco' }, req)).rejects.toMatchObject({
    code: 'conflict',
  });
  expect(await directory.getMeta('newco')).toMatchObject({ status: 'creating' });
});

it('the next drill removes scratch tenants an interrupted drill left, and two restores into one id do not run at once', async () => {
  await leftover('drill-0123456789ab');
  await leftover('drill-ba9876543210');
  await directory.setStatus('drill-ba9876543210', 'ready');
  const s = service(true);
  const d = await s.drill(op, { tenant: 'acme', target }, req);
  expect(d).toMatchObject({ ok: true, outcome: 'ok' });
  expect((await tenants.listTenants()).map((t) => t.id)).toEqual(['acme']);

  const first = s.restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'acme-twice' }, req);
  await expect(s.restore(op, { tenant: 'acme', target, asOf: clock.now(), into: 'acme-twice' }, req)).rejects.toMatchObject({
    code: 'conflict',
    message: expect.stringContaining('already running'),
  });
  await expect(first).resolves.toMatchObject({ id: 'acme-twice' });
});

it('a sweep (at start and before every drill) reads the metas of scratch and "creating" tenants only, not of every tenant', async () => {
  // Ready tenants on both sides of the scratch range, and leftovers of both kinds.
  for (const id of ['drilla', 'drill0', 'dri11', 'zeta']) {
    await leftover(id);
    await directory.setStatus(id, 'ready');
  }
  await leftover('drill-0123456789ab');
  await leftover('acme-r', { restoring: { source: 'acme', tier: 'own-cloud', asOf: clock.now().toISOString() } });
  const reads = vi.spyOn(directory, 'getMeta');
  const listing = vi.spyOn(directory, 'listTenantIds');
  expect((await service(true).leftovers.sweep()).sort()).toEqual(['acme-r', 'drill-0123456789ab']);
  expect(new Set(reads.mock.calls.map((c) => c[0]))).toEqual(new Set(['acme-r', 'drill-0123456789ab']));
  expect(listing).not.toHaveBeenCalled();
  reads.mockRestore();
  listing.mockRestore();
  expect((await tenants.listTenants()).map((t) => t.id)).toEqual(['acme', 'dri11', 'drill0', 'drilla', 'zeta']);
});
