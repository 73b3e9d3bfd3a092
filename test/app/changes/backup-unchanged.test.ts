/**
 * Incremental backups skip tenants whose log has not moved since their last backup on the tier:
 * no listing, no read, no write there, however old its coverage (no per-tenant renewal: a run
 * over the tenants writes one run coverage marker per tier); the daily full run never skips.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import { useBackupWorld } from '../../support/backup-world';
import { notingTier } from '../../support/noting-tier';

const w = useBackupWorld('bk-unchanged-');

it('skips an unchanged tenant without touching the tier, backs it up again once its log moves, never renews per tenant', async () => {
  const calls: string[] = [];
  const t = notingTier(new FolderBackupTarget('own-cloud', join(w.dir, 'tier')), calls);
  const backups = w.service([t]);
  await w.create('acme', 'globex');

  const first = await backups.backupTenants(['acme', 'globex']);
  expect(first.map((r) => [r.tenant, r.result.ok, r.result.commits, r.result.unchanged])).toEqual([
    ['acme', true, 3, undefined],
    ['globex', true, 3, undefined],
  ]);

  calls.length = 0;
  w.clock.advance(15 * 60_000);
  const idle = await backups.backupTenants(['acme', 'globex']);
  expect(idle.map((r) => [r.tenant, r.result.ok, r.result.unchanged])).toEqual([
    ['acme', true, true],
    ['globex', true, true],
  ]);
  expect(calls).toEqual([]);

  // acme's log moves (an append from anywhere): only acme is backed up.
  await w.append('acme', 't1');
  w.clock.advance(15 * 60_000);
  const moved = await backups.backupTenants(['acme', 'globex']);
  expect(moved.map((r) => [r.tenant, r.result.commits, r.result.unchanged])).toEqual([
    ['acme', 1, undefined],
    ['globex', 0, true],
  ]);
  expect(calls.some((c) => c.includes('globex'))).toBe(false);

  // Hours after its last coverage an idle tenant still costs nothing on the tier (no renewal put);
  // a run over the tenants writes one run coverage marker for the tier, whatever their number.
  calls.length = 0;
  w.clock.advance(3 * 60 * 60_000);
  await backups.backupTenants(['globex']);
  expect(calls).toEqual([]);
  await backups.backupTenants(['acme', 'globex'], { runCoverage: {} });
  expect(calls).toEqual([expect.stringMatching(/^put runs\/covered\/[^/]+\.json$/), 'list runs/covered/']);

  // A restarted process (new service, marks from disk) still skips.
  calls.length = 0;
  const again = w.service([t]);
  expect((await again.backupTenants(['globex']))[0]?.result.unchanged).toBe(true);
  expect(calls).toEqual([]);

  // The full run never skips.
  const full = await again.backupTenants(['globex'], { full: true });
  expect(full[0]?.result.unchanged).toBeUndefined();
  expect(full[0]?.result.ok).toBe(true);
});
