/**
 * Where a folder backup tier (shared/adapters/backup/folder-backup-target.ts) keeps its objects,
 * for tests that read or change a tier's files directly: each object is a file named by its
 * percent-encoded key, in a folder per tenant (`%gtenants/%g<id>/…`) or, for short keys and
 * objects of older versions, in the tier's root. These helpers find them in either place, so a
 * test does not depend on the layout.
 */
import { type Dirent, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { folderTierFile } from '../../shared/adapters/backup/folder-backup-target';
import { TEMP_PREFIX } from '../../shared/adapters/durable-files';

/** Every object of the tier under `prefix` (its key and file), in key order. */
export function tierObjects(root: string, prefix = ''): Array<{ key: string; file: string }> {
  const out: Array<{ key: string; file: string }> = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const f = join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.isFile() && !e.name.startsWith(TEMP_PREFIX)) {
        const key = decodeURIComponent(basename(f));
        if (key.startsWith(prefix)) out.push({ key, file: f });
      }
    }
  };
  walk(root);
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}

/** The keys of the tier under `prefix`, in key order. */
export function tierKeys(root: string, prefix = ''): string[] {
  return tierObjects(root, prefix).map((o) => o.key);
}

/** The file of the object `key`: where it is, or where the tier would write it. */
export function tierFile(root: string, key: string): string {
  return tierObjects(root, key).find((o) => o.key === key)?.file ?? folderTierFile(root, key);
}
