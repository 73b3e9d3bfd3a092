/**
 * Issue 11: an idle tenant holds no open database. Background work closes every tenant it alone
 * opened as soon as it is done with it, not after TENANT_CACHE_IDLE_SECONDS (left at its default
 * of 300 s here, so that only closing counts): the projector's sweep, the webhook look that a
 * change found by the sweep triggers, backups, the stored-files check and the erasure check.
 * Once every tenant is projected, the sweep finds nothing changed (the projector's own writes
 * to the tenant's database are not a change), and a write made by another process is still found.
 * Services in this process on the embedded store; open tenants through the directory
 * (`openTenantIds`) and this process's file descriptors (/proc/self/fd).
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { releaseClosedDatabasesNow } from '../../../shared/adapters/embedded/libsql-release';
import type { Services } from '../../../shared/config/services';
import { createTenants, embeddedServices } from '../../support/embedded-services';

const ids = ['acme', 'globex', 'initech', 'umbrella'];
let dir: string;
let s: Services;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idle-closed-'));
  s = await embeddedServices(dir);
  await createTenants(s, ids, 'idle-closed');
}, 60_000);

afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

const openTenants = () => s.directory.openTenantIds?.() ?? ['(no openTenantIds)'];
/** Tenant database files this process holds open (after closed databases' statements are collected). */
const openDatabaseFiles = () => {
  releaseClosedDatabasesNow();
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(join('/proc/self/fd', fd));
      } catch {
        return '';
      }
    })
    .filter((f) => f.startsWith(join(dir, 'tenants')));
};
/** No webhook look under way and no tenant database open. */
const settled = () => ({
  looking: ids.filter((id) => s.webhookWorker.holding(id).looking),
  open: openTenants(),
  files: openDatabaseFiles(),
});
const idle = { looking: [], open: [], files: [] };

it('background work leaves no tenant open, the sweep finds nothing changed once all is projected, and a write made elsewhere is still found and closed again', async () => {
  // The tenants the creation requests used leave the cache (as after the idle time).
  for (const c of s.tenantStores.cached()) s.tenantStores.evict(c.tenantId);
  // What a running host has done once for every tenant: projected, backed up, files and erasures checked.
  await s.projector.catchUp();
  await s.backups.backupTenants(ids);
  for (const id of ids) await s.fileCheck.checkReady(id);
  for (const id of ids) await s.erasure.finishInterrupted(id);
  await expect.poll(settled, { timeout: 15_000, interval: 100 }).toEqual(idle);

  // The sweep's next look: nothing changed (the projector's own writes are no change), nothing opened.
  const next = await s.projector.catchUp();
  expect(next).toMatchObject({ results: {}, swept: ids.length, unchanged: ids.length });
  await expect.poll(settled, { timeout: 15_000, interval: 100 }).toEqual(idle);

  // A look by the webhook worker (kicked by the sweep for every tenant it finds changed) reads
  // the tenant's log; a tenant without subscriptions is closed again as soon as it is done.
  for (const id of ids) s.webhookWorker.kick(id);
  expect(ids.filter((id) => s.webhookWorker.holding(id).looking)).toEqual(ids);
  await expect.poll(settled, { timeout: 15_000, interval: 100 }).toEqual(idle);

  // A write made by another process (no change signal here) is found by the sweep, projected, and
  // the webhook look it triggers closes the tenant again once done.
  const other = new EmbeddedTenantDirectory(dir, s.keys, s.clock);
  await (await other.openEventStore('globex')).append(
    'rec:thing:x1',
    0,
    [{ type: 'RecordCreated', data: { type: 'thing', id: 'x1', data: { n: 1 } } }],
    { author: { kind: 'operator', id: 'test' }, correlationId: 'elsewhere' },
  );
  await other.close();
  const found = await s.projector.catchUp();
  expect(Object.keys(found.results)).toEqual(['globex']);
  expect(found.results.globex?.applied).toBe(1);
  expect(s.webhookWorker.holding('globex').entry).toBe(true);
  await expect.poll(settled, { timeout: 15_000, interval: 100 }).toEqual(idle);

  // And then it is idle again: the run's own writes did not count as a change.
  expect(await s.projector.catchUp()).toMatchObject({ results: {}, unchanged: ids.length });
  expect((await s.backups.backupTenants(['acme'])).map((r) => r.result.unchanged)).toEqual(s.backups.targets.map(() => true));
}, 120_000);
