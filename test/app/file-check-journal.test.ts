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
import { FILE_CHECK_SWEEP_MS, StoredFileCheck } from '../../shared/app/file-check';
import { useBackupWorld } from '../support/backup-world';

// The embedded world the backup tests use: a directory, tenants, keys and a fake clock.
const w = useBackupWorld('file-check-journal-');
afterEach(() => {
  vi.restoreAllMocks();
});
const RID = 'r_AAAAAAAAAAAAAAAAAAAAAA';

let counted = new Map<string, number>();
/** Counts the log fingerprints taken from now on, per tenant. */
function countLooks(): Map<string, number> {
  counted = new Map<string, number>();
  if (!vi.isMockFunction(w.directory.logFingerprint)) {
    const look = w.directory.logFingerprint.bind(w.directory);
    vi.spyOn(w.directory, 'logFingerprint').mockImplementation(async (id, o) => {
      counted.set(id, (counted.get(id) ?? 0) + 1);
      return look(id, o);
    });
  }
  return counted;
}

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

async function closeAll(): Promise<void> {
  for (const id of w.directory.openTenantIds()) await w.directory.closeTenant(id);
}

/** Another process on the data folder attaches a file (whose object it never stored) to a record of `id`. */
async function attachElsewhere(id: string): Promise<void> {
  const other = new EmbeddedTenantDirectory(join(w.dir, 'data'), w.keys, w.clock);
  try {
    const events = await other.openEventStore(id);
    await events.append(
      `rec:doc:${RID}`,
      0,
      [
        { type: 'RecordCreated', data: { type: 'doc', id: RID, data: {} } },
        {
          type: 'FileAttached',
          data: {
            type: 'doc',
            id: RID,
            fileId: 'f1',
            blobName: 'rec/doc/r1/f1/1',
            name: 'a.txt',
            size: 8,
            contentType: 'text/plain',
            sha256: '',
            keyId: 'k',
            changes: [],
          },
        },
      ],
      { author: { kind: 'operator', id: 'elsewhere' }, correlationId: 'c' },
    );
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
  await closeAll();
  await timerRun(check, ids);
  looks = countLooks();
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '0/0', initech: '0/0' });
  expect(Object.fromEntries(looks)).toEqual({});

  // Another process attaches a file to globex, and its object is not there: found by the next run.
  await attachElsewhere('globex');
  looks = countLooks();
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '1/1', initech: '0/0' });
  expect([...looks.keys()]).toEqual(['globex']);
  await closeAll();
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
  w.clock.advance(FILE_CHECK_SWEEP_MS);
  looks = countLooks();
  await timerRun(check, ids);
  expect([...looks.keys()].sort()).toEqual(ids);
});

it('a check that failed is made again by the next run, though the journal no longer lists the tenant', async () => {
  const ids = ['acme', 'globex'];
  await w.create(...ids);
  const check = checker();
  await timerRun(check, ids);
  await closeAll();
  await timerRun(check, ids);

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
  await w.create(...ids);
  const check = checker();
  await timerRun(check, ids);
  await closeAll();
  await timerRun(check, ids);
  await attachElsewhere('globex');
  expect(await timerRun(check, ['acme'])).toEqual({ acme: '0/0' });
  expect(await timerRun(check, ['acme'])).toEqual({ acme: '0/0' });
  expect(await timerRun(check, ids)).toEqual({ acme: '0/0', globex: '1/1' });
});
