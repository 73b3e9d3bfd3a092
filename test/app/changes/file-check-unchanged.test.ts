/** The start-up stored-files check skips tenants whose log has not moved since a clean check (also after a restart). */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { FolderBlobStoreFactory } from '../../../shared/adapters/embedded/folder-blob-store';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { StoredFileCheck } from '../../../shared/app/file-check';
import { TenantService } from '../../../shared/app/service';
import { FakeClock } from '../../projections/support';

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

it('reads a log again only after it moved, and keeps the clean result across a restart', async () => {
  for (const id of ['acme', 'globex'])
    await svc.createTenant(
      { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } },
      { id: 'op' },
      { correlationId: 'c' },
    );
  await svc.setSuspended('globex', true, { id: 'op' }, { correlationId: 'c' });
  const blobs = new FolderBlobStoreFactory(join(dir, 'files'));
  const check = new StoredFileCheck({ tenants: svc, blobs, clock });

  const first = await check.checkIfChanged('acme');
  expect(first?.skipped).toBe(false);
  expect(await check.checkIfChanged('globex')).toBeUndefined(); // not served
  clock.advance(60_000);
  const second = await check.checkIfChanged('acme');
  expect(second).toEqual({ skipped: true, report: { ...first!.report } });
  await check.flushMarks();

  // A restarted process keeps the result without reading the log.
  const restarted = new StoredFileCheck({ tenants: svc, blobs, clock });
  expect((await restarted.checkIfChanged('acme'))?.skipped).toBe(true);
  expect(restarted.summary('acme').checkedAt).toBe(first!.report.checkedAt);

  // The log moves: read again.
  const events = await directory.openEventStore('acme');
  await events.append('rec:thing:t1', 0, [{ type: 'RecordCreated', data: { type: 'thing', id: 't1', data: {} } }], {
    author: { kind: 'operator', id: 'test' },
    correlationId: 'c',
  });
  const third = await restarted.checkIfChanged('acme');
  expect(third?.skipped).toBe(false);
  expect(third?.report.checkedAt).not.toBe(first!.report.checkedAt);
});
