/**
 * The stored-files check reads every ready tenant each run, even when its log has not moved:
 * an object lost while the log stood still is exactly what it is for (issue 10). A skip of
 * unchanged logs (tried for issue 11) would report such a tenant clean.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { StoredFileCheck } from '../../shared/app/file-check';
import { recordWithFile } from '../support/file-attached';
import { TenantService } from '../../shared/app/service';
import { FakeClock } from '../projections/support';

const RID = 'r_AAAAAAAAAAAAAAAAAAAAAA';
let dir: string;
let svc: TenantService;
let directory: EmbeddedTenantDirectory;
let clock: FakeClock;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'file-check-'));
  clock = new FakeClock();
  const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
  svc = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
});
afterEach(async () => {
  await svc.close();
  rmSync(dir, { recursive: true, force: true });
});

it('finds an object lost while the log stood still, and leaves tenants that are not ready out', async () => {
  for (const id of ['acme', 'globex'])
    await svc.createTenant(
      { id: 'op' },
      { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } },
      { correlationId: 'c' },
    );
  await svc.setSuspended('globex', true, { id: 'op' }, { correlationId: 'c' });
  const blobs = new FolderBlobStoreFactory(join(dir, 'files'));
  const store = await blobs.forTenant('acme');
  await store.upload(
    'rec/doc/r1/f1/1',
    (async function* () {
      yield Buffer.from('contract');
    })(),
    { metadata: {} },
  );
  const events = await directory.openEventStore('acme');
  await events.append(`rec:doc:${RID}`, 0, recordWithFile(RID, 'rec/doc/r1/f1/1'), {
    author: { kind: 'operator', id: 'test' },
    correlationId: 'c',
  });
  const check = new StoredFileCheck({ tenants: svc, blobs, clock });
  expect(await check.checkReady('globex')).toBeUndefined(); // suspended: not served, not checked
  const first = await check.checkReady('acme');
  expect(first).toMatchObject({ attached: 1, missing: 0 });

  // The object goes; the log does not move.
  let removed = 0;
  const objects = join(dir, 'files', 'acme', 'objects');
  for (const sub of readdirSync(objects)) {
    for (const f of readdirSync(join(objects, sub))) {
      if (f.endsWith('.json') && readFileSync(join(objects, sub, f), 'utf8').includes('rec/doc/r1/f1/1')) {
        unlinkSync(join(objects, sub, f));
        removed++;
      }
    }
  }
  expect(removed).toBe(1);
  clock.advance(60_000);
  const second = await check.checkReady('acme');
  expect(second).toMatchObject({ attached: 1, missing: 1, missingFiles: [expect.objectContaining({ id: RID, fileId: 'f1' })] });
});
