/**
 * Incremental backups skip tenants whose log has not moved since their last backup on the tier:
 * no listing, no read, no write there, however old its coverage (no per-tenant renewal: a run
 * over the tenants writes one run coverage marker per tier); the daily full run never skips.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../../shared/app/backup';
import { TenantService } from '../../../shared/app/service';
import { FakeClock } from '../../projections/support';
import { notingTier } from '../../support/noting-tier';

let dir: string;
let tenants: TenantService;
let directory: EmbeddedTenantDirectory;
let clock: FakeClock;
let keys: LocalKeyProvider;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-unchanged-'));
  clock = new FakeClock();
  keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
  directory = new EmbeddedTenantDirectory(join(dir, 'data'), keys, clock);
  tenants = new TenantService({ directory, keys, clock, tokenTtlSeconds: 600, passwordLogN: 14 });
});
afterEach(async () => {
  await tenants.close();
  rmSync(dir, { recursive: true, force: true });
});

it('skips an unchanged tenant without touching the tier, backs it up again once its log moves, never renews per tenant', async () => {
  const calls: string[] = [];
  const t = notingTier(new FolderBackupTarget('own-cloud', join(dir, 'tier')), calls);
  const backups = new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock, targets: [t] });
  for (const id of ['acme', 'globex'])
    await tenants.createTenant(
      { id: 'op' },
      { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } },
      { correlationId: 'c' },
    );

  const first = await backups.backupTenants(['acme', 'globex']);
  expect(first.map((r) => [r.tenant, r.result.ok, r.result.commits, r.result.unchanged])).toEqual([
    ['acme', true, 3, undefined],
    ['globex', true, 3, undefined],
  ]);

  calls.length = 0;
  clock.advance(15 * 60_000);
  const idle = await backups.backupTenants(['acme', 'globex']);
  expect(idle.map((r) => [r.tenant, r.result.ok, r.result.unchanged])).toEqual([
    ['acme', true, true],
    ['globex', true, true],
  ]);
  expect(calls).toEqual([]);

  // acme's log moves (an append from anywhere): only acme is backed up.
  const events = await directory.openEventStore('acme');
  await events.append('rec:thing:t1', 0, [{ type: 'RecordCreated', data: { type: 'thing', id: 't1', data: {} } }], {
    author: { kind: 'operator', id: 'test' },
    correlationId: 'c',
  });
  clock.advance(15 * 60_000);
  const moved = await backups.backupTenants(['acme', 'globex']);
  expect(moved.map((r) => [r.tenant, r.result.commits, r.result.unchanged])).toEqual([
    ['acme', 1, undefined],
    ['globex', 0, true],
  ]);
  expect(calls.some((c) => c.includes('globex'))).toBe(false);

  // Hours after its last coverage an idle tenant still costs nothing on the tier (no renewal put);
  // a run over the tenants writes one run coverage marker for the tier, whatever their number.
  calls.length = 0;
  clock.advance(3 * 60 * 60_000);
  await backups.backupTenants(['globex']);
  expect(calls).toEqual([]);
  await backups.backupTenants(['acme', 'globex'], { runCoverage: {} });
  expect(calls).toEqual([expect.stringMatching(/^put runs\/covered\/[^/]+\.json$/), 'list runs/covered/']);

  // A restarted process (new service, marks from disk) still skips.
  calls.length = 0;
  const again = new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock, targets: [t] });
  expect((await again.backupTenants(['globex']))[0]?.result.unchanged).toBe(true);
  expect(calls).toEqual([]);

  // The full run never skips.
  const full = await again.backupTenants(['globex'], { full: true });
  expect(full[0]?.result.unchanged).toBeUndefined();
  expect(full[0]?.result.ok).toBe(true);
});
