/**
 * An incremental run over the tenants takes its places in the change journal (journal.ts):
 * once a run has looked at every tenant, the next run fingerprints only what the journal lists
 * (a write by another process, a tenant held open), a tenant whose backup did not succeed on a
 * tier is backed up there again by the next run whatever the journal says, a tenant written
 * while it was not asked about loses its marks, a restart keeps the place, and once a day a run
 * looks at every tenant again.
 */
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { EmbeddedTenantDirectory } from '../../../shared/adapters/embedded/embedded-tenant-directory';
import { FolderBackupTarget } from '../../../shared/adapters/backup/folder-backup-target';
import type { BackupService } from '../../../shared/app/backup';
import { JOURNAL_SWEEP_MS } from '../../../shared/app/changes/journal-run';
import type { BackupTarget } from '../../../shared/ports/backup-target';
import { closeAllTenants, fingerprintLooks } from '../../support/fingerprint-looks';
import { useBackupWorld } from '../../support/backup-world';
import { tierWith } from '../../support/noting-tier';

const MIN = 60_000;
const w = useBackupWorld('bk-journal-run-');
const countLooks = fingerprintLooks(() => w.directory);
const { create } = w;
afterEach(() => {
  vi.restoreAllMocks();
});

const folder = (name: string): BackupTarget => new FolderBackupTarget(name, join(w.dir, 'tiers', name));

/** A run as the timer makes it, 15 minutes after the last: per tier/tenant, "unchanged", the commits backed up, or "failed". */
async function timerRun(backups: BackupService, ids: string[]): Promise<Record<string, string | number>> {
  w.clock.advance(15 * MIN);
  const results = await backups.backupTenants(ids, { runCoverage: {} });
  return Object.fromEntries(
    results.map((r) => [`${r.tier}/${r.tenant}`, !r.result.ok ? 'failed' : r.result.unchanged ? 'unchanged' : r.result.commits]),
  );
}

/** One RecordCreated appended by another process on the same data folder (its own directory object), which then closes. */
async function appendElsewhere(id: string, recordId: string): Promise<void> {
  const other = new EmbeddedTenantDirectory(join(w.dir, 'data'), w.keys, w.clock);
  try {
    const events = await other.openEventStore(id);
    await events.append(`rec:thing:${recordId}`, 0, [{ type: 'RecordCreated', data: { type: 'thing', id: recordId, data: {} } }], {
      author: { kind: 'operator', id: 'elsewhere' },
      correlationId: 'c',
    });
  } finally {
    await other.close();
  }
}

/** A service whose runs have seen every tenant of `ids` (created now) and the journal's numbering of their closes. */
async function settled(ids: string[], tiers: BackupTarget[], more: Parameters<typeof w.service>[1] = {}): Promise<BackupService> {
  await create(...ids);
  const backups = w.service(tiers, more);
  await timerRun(backups, ids);
  await closeAllTenants(w.directory);
  await timerRun(backups, ids);
  return backups;
}

const pairs = (tiers: string[], ids: string[], v: string | number) =>
  Object.fromEntries(tiers.flatMap((t) => ids.map((id) => [`${t}/${id}`, v])));

it('after a run that looked at everyone, an idle run takes no fingerprint; a write by another process is looked at and backed up; a restart keeps the place', async () => {
  const ids = ['acme', 'globex', 'initech'];
  await create(...ids);
  const [a, b] = [folder('a'), folder('b')];
  const backups = w.service([a, b]);
  // The first run: the journal has no place for the tiers yet, so everyone is looked at.
  let looks = countLooks();
  expect(await timerRun(backups, ids)).toEqual(pairs(['a', 'b'], ids, 3));
  // One look for both tiers, then one by each tier's job.
  expect(Object.fromEntries(looks)).toEqual({ acme: 3, globex: 3, initech: 3 });
  await closeAllTenants(w.directory);

  // Idle: closing the tenants numbered them after the place, so they are looked at once more; then nothing.
  looks = countLooks();
  expect(await timerRun(backups, ids)).toEqual(pairs(['a', 'b'], ids, 'unchanged'));
  expect(Object.fromEntries(looks)).toEqual({ acme: 1, globex: 1, initech: 1 });
  looks = countLooks();
  expect(await timerRun(backups, ids)).toEqual(pairs(['a', 'b'], ids, 'unchanged'));
  expect(Object.fromEntries(looks)).toEqual({});

  // Another process writes globex: only globex is looked at, and backed up on both tiers.
  await appendElsewhere('globex', 'g1');
  looks = countLooks();
  expect(await timerRun(backups, ids)).toEqual({ ...pairs(['a', 'b'], ids, 'unchanged'), 'a/globex': 1, 'b/globex': 1 });
  expect([...looks.keys()]).toEqual(['globex']);
  await closeAllTenants(w.directory);
  await timerRun(backups, ids);

  // A tenant held open here is listed by every run (a write may come at any moment): looked at, unchanged.
  await w.directory.openEventStore('initech');
  looks = countLooks();
  expect(await timerRun(backups, ids)).toEqual(pairs(['a', 'b'], ids, 'unchanged'));
  expect(Object.fromEntries(looks)).toEqual({ initech: 1 });
  await closeAllTenants(w.directory);
  await timerRun(backups, ids);

  // A restart: the place was saved with the marks; nothing is looked at.
  const again = w.service([a, b]);
  looks = countLooks();
  expect(await timerRun(again, ids)).toEqual(pairs(['a', 'b'], ids, 'unchanged'));
  expect(Object.fromEntries(looks)).toEqual({});
});

it('a tenant whose backup failed on a tier is backed up there by the next run', async () => {
  const ids = ['acme', 'globex', 'initech'];
  await create(...ids);
  let down = false;
  const b = folder('b');
  const flaky = tierWith(b, {
    put: (k, body, o) => (down ? Promise.reject(new Error('b is down')) : b.put(k, body, o)),
    putStream: (k, c, n, o) => (down ? Promise.reject(new Error('b is down')) : b.putStream(k, c, n, o)),
  });
  const backups = w.service([folder('a'), flaky]);
  await timerRun(backups, ids);
  await closeAllTenants(w.directory);
  await timerRun(backups, ids);

  // A write that fails: acme's backup fails on b.
  await appendElsewhere('acme', 'a1');
  down = true;
  expect(await timerRun(backups, ids)).toEqual({ ...pairs(['a', 'b'], ids, 'unchanged'), 'a/acme': 1, 'b/acme': 'failed' });
  down = false;
  // acme's mark on b is gone (and acme is listed again: its backups opened it): b gets its commit.
  await closeAllTenants(w.directory);
  expect(await timerRun(backups, ids)).toEqual({ ...pairs(['a', 'b'], ids, 'unchanged'), 'b/acme': 1 });
  expect(await timerRun(backups, ids)).toEqual(pairs(['a', 'b'], ids, 'unchanged'));
});

it('a tenant skipped on a tier that timed out earlier in the run is backed up there by the next run, though the journal no longer lists it', async () => {
  const ids = ['acme', 'globex', 'initech'];
  await create(...ids);
  const b = folder('b');
  let hang = false;
  const hung: Array<() => void> = [];
  const slow = tierWith(b, {
    put: (k, body, o) => (hang ? new Promise<never>((_, reject) => hung.push(() => reject(new Error('b hung')))) : b.put(k, body, o)),
    putStream: (k, c, n, o) =>
      hang ? new Promise<never>((_, reject) => hung.push(() => reject(new Error('b hung')))) : b.putStream(k, c, n, o),
  });
  const backups = w.service([slow], { limits: { tierDeadlineMs: 300, concurrency: 1 } });
  await timerRun(backups, ids);
  await closeAllTenants(w.directory);
  await timerRun(backups, ids);

  // globex's backup hangs past the deadline; initech's is then skipped without being tried (nor opened).
  await appendElsewhere('globex', 'g1');
  await appendElsewhere('initech', 'i1');
  hang = true;
  expect(await timerRun(backups, ids)).toEqual({ 'b/acme': 'unchanged', 'b/globex': 'failed', 'b/initech': 'failed' });
  hang = false;
  for (const fail of hung.splice(0)) fail();
  await closeAllTenants(w.directory);
  expect(await timerRun(backups, ids)).toEqual({ 'b/acme': 'unchanged', 'b/globex': 1, 'b/initech': 1 });
  expect(await timerRun(backups, ids)).toEqual({ 'b/acme': 'unchanged', 'b/globex': 'unchanged', 'b/initech': 'unchanged' });
});

it('a tenant written while a run does not ask about it is backed up once it is asked about again', async () => {
  const ids = ['acme', 'globex'];
  const backups = await settled(ids, [folder('a')]);

  // globex is not served for a while (suspended): written then, and the run over the others passes over it.
  await appendElsewhere('globex', 'g1');
  expect(await timerRun(backups, ['acme'])).toEqual({ 'a/acme': 'unchanged' });
  expect(await timerRun(backups, ['acme'])).toEqual({ 'a/acme': 'unchanged' });
  expect(await timerRun(backups, ids)).toEqual({ 'a/acme': 'unchanged', 'a/globex': 1 });
});

it('once a day a run looks at every tenant again, whatever the journal says', async () => {
  const ids = ['acme', 'globex'];
  const backups = await settled(ids, [folder('a')]);
  let looks = countLooks();
  await timerRun(backups, ids);
  expect(Object.fromEntries(looks)).toEqual({});
  w.clock.advance(JOURNAL_SWEEP_MS);
  looks = countLooks();
  expect(await timerRun(backups, ids)).toEqual(pairs(['a'], ids, 'unchanged'));
  expect(Object.fromEntries(looks)).toEqual({ acme: 1, globex: 1 });
  looks = countLooks();
  await timerRun(backups, ids);
  expect(Object.fromEntries(looks)).toEqual({});
});
