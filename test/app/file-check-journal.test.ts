/**
 * The stored-files check's run over every ready tenant takes its place in the change journal:
 * a tenant the journal does not list since the run before is answered from its mark without a
 * fingerprint; a tenant another process writes is looked at; a check that failed is made
 * again by the next run; a restart keeps the place; a tenant with files is read every run.
 */
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import { JOURNAL_SWEEP_MS } from '../../shared/app/changes/journal-run';
import { StoredFileCheck } from '../../shared/app/file-check';
import { recordWithFile } from '../support/file-attached';
import { closeAllTenants, fingerprintLooks } from '../support/fingerprint-looks';
import { useBackupWorld } from '../support/backup-world';

// The embedded world the backup tests use: a directory, tenants, keys and a fake clock.
const w = useBackupWorld('file-check-journal-');
const countLooks = fingerprintLooks(() => w.directory);
afterEach(() => {
  vi.restoreAllMocks();
});
const RID = 'r_AAAAAAAAAAAAAAAAAAAAAA';

const checker = () => new StoredFileCheck({ tenants: w.tenants, blobs: new FolderBlobStoreFactory(join(w.dir, 'files')), clock: w.clock });

/** One run as the checkStoredFiles timer makes it: every tenant's attached and missing counts, or "failed". */
async function timerRun(check: StoredFileCheck, ids: string[]): Promise<Record<string, string>> {
  w.clock.advance(60_000);
  const out: Record<string, string> = {};
  await check.beginRun();
  for (const id of ids) {
    try {
      const r = await check.checkReady(id);
      out[id] = r ? `${r.attached}/${r.missing}` : 'not ready';
    } catch {
      out[id] = 'failed';
    }
  }
  await check.saveMarks();
  return out;
}

/** A check whose runs have seen every tenant of `ids` (created now) and the journal's numbering of their closes. */
async function settled(ids: string[]): Promise<StoredFileCheck> {
  await w.create(...ids);
  const check = checker();
  await timerRun(check, ids);
  await closeAllTenants(w.directory);
  await timerRun(check, ids);
  return check;
}

/** Another process on the data folder attaches a file (whose object it never stored) to a record of `id`. */
async function attachElsewhere(id: string): Promise<void> {
  const other = new EmbeddedTenantDirectory(join(w.dir, 'data'), w.keys, w.clock);
  try {
    const events = await other.openEventStore(id);
    await events.append(`rec:doc:${RID}`, 0, recordWithFile(RID, 'rec/doc/r1/f1/1'), {
      author: { kind: 'operator', id: 'elsewhere' },
      correlationId: 'c',
    });
  } finally {
    await other.close();
  }
}

it('looks only at what the journal lists: nothing while idle, a write by another process at once, nothing after a restart; a tenant with files every run', async () => {
  const ids = ['acme', 'globex', 'initech'];
  await w.create(...ids);
  const check = checker();
  let looks = countLooks();
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '0/0', initech: '0/0' });
  expect([...looks.keys()].sort()).toEqual(ids);
  await closeAllTenants(w.directory);
  await timerRun(check, ids);
  looks = countLooks();
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '0/0', initech: '0/0' });
  expect(Object.fromEntries(looks)).toEqual({});

  // Another process attaches a file to globex, and its object is not there: found by the next run.
  await attachElsewhere('globex');
  looks = countLooks();
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '1/1', initech: '0/0' });
  expect([...looks.keys()]).toEqual(['globex']);
  await closeAllTenants(w.directory);
  await timerRun(check, ids);
  // A tenant with files is read every run, listed or not (an object can go while the log stands still).
  looks = countLooks();
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '1/1', initech: '0/0' });
  expect([...looks.keys()]).toEqual(['globex']);

  // A restart: the place was saved after the marks.
  looks = countLooks();
  expect(await timerRun(checker(), ids)).toEqual({ acme: '0/0', globex: '1/1', initech: '0/0' });
  expect([...looks.keys()]).toEqual(['globex']);

  // A day after the last look at everyone, a run looks at everyone once.
  w.clock.advance(JOURNAL_SWEEP_MS);
  looks = countLooks();
  await timerRun(check, ids);
  expect([...looks.keys()].sort()).toEqual(ids);
});

it('a check that failed is made again by the next run, though the journal no longer lists the tenant', async () => {
  const ids = ['acme', 'globex'];
  const check = await settled(ids);

  await attachElsewhere('acme');
  const getMeta = w.directory.getMeta.bind(w.directory);
  vi.spyOn(w.directory, 'getMeta').mockImplementation(async (id, o) => {
    if (id === 'acme') throw new Error('meta unreadable');
    return getMeta(id, o);
  });
  expect(await timerRun(check, ids)).toEqual({ acme: 'failed', globex: '0/0' });
  vi.restoreAllMocks();
  const looks = countLooks();
  expect(await timerRun(check, ids)).toEqual({ acme: '1/1', globex: '0/0' });
  expect([...looks.keys()]).toEqual(['acme']);
});

it('a tenant written while the run does not ask about it (not ready) is checked in full once it is asked about again', async () => {
  const ids = ['acme', 'globex'];
  const check = await settled(ids);
  await attachElsewhere('globex');
  expect(await timerRun(check, ['acme'])).toEqual({ acme: '0/0' });
  expect(await timerRun(check, ['acme'])).toEqual({ acme: '0/0' });
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '1/1' });
});
