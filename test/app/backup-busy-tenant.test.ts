/**
 * A tenant that never stops writing does not keep its backup job reading: a job ships the log
 * as far as it was when a read came back short (EventStore.readFeed) and leaves the commits
 * made meanwhile to the next run. Before, it read until a read came back empty, so a tenant
 * writing during every segment's upload kept one job (and its tier's run marker) going until
 * the tier deadline.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FolderBackupTarget } from '../../shared/adapters/backup/folder-backup-target';
import { useBackupWorld } from '../support/backup-world';
import { tierWith } from '../support/noting-tier';

const w = useBackupWorld('bk-busy-');

it('a backup ships the log as far as a short read found it, not what the tenant writes while it uploads', async () => {
  await w.create('acme');
  const folder = new FolderBackupTarget('own-cloud', join(w.dir, 'tier'));
  // The tenant writes one record during every upload to the tier (at most 40: the old loop ends too).
  let written = 0;
  const tier = tierWith(folder, {
    put: async (key, bytes, o) => {
      if (written < 40) await w.append('acme', `busy-${written++}`);
      return folder.put(key, bytes, o);
    },
  });
  const backups = w.service([tier]);
  const before = await (await w.directory.openEventStore('acme')).feedLag(undefined);

  const first = await backups.backupTenant('acme', tier);
  expect(first).toMatchObject({ ok: true, segments: 1, commits: before.commits });
  expect(first.coveredUntil).toBeDefined();
  const during = written;
  expect(during).toBeGreaterThan(0);

  // The next run takes what was written meanwhile (and, with the tenant still writing, stops again).
  const second = await backups.backupTenant('acme', tier);
  expect(second).toMatchObject({ ok: true, segments: 1, commits: during });
}, 60_000);
