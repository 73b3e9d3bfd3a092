/**
 * The subject keys an embedded tenant's log holds (issue 14: a new subject's key is a row of
 * its log's `subject_keys` table, written with the commit), read from a data folder the way a
 * second process would: the folder's master key opens the tenant's key, which opens its
 * database. Usable while a host runs on the folder (SQLite in WAL mode, shared).
 */
import { join } from 'node:path';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider, loadOrCreateMasterKey } from '../../shared/adapters/embedded/local-key-provider';
import type { SubjectKeyRow } from '../../shared/ports/event-store';
import { systemClock } from '../../shared/ports/runtime';

export interface SubjectKeyReader {
  rows(): Promise<SubjectKeyRow[]>;
  get(subjectRef: string): Promise<SubjectKeyRow | undefined>;
  close(): Promise<void>;
}

export async function openSubjectKeys(dataDir: string, tenant: string): Promise<SubjectKeyReader> {
  const keys = new LocalKeyProvider({ dir: join(dataDir, 'keys'), masterKey: await loadOrCreateMasterKey(dataDir) });
  const directory = new EmbeddedTenantDirectory(dataDir, keys, systemClock);
  const table = async () => {
    const t = (await directory.openSqlite(tenant)).subjectKeys;
    if (!t) throw new Error('the embedded store has no subject-key table');
    return t;
  };
  return {
    rows: async () => (await table()).list({ limit: 1_000_000 }),
    get: async (ref) => (await table()).get(ref),
    close: () => directory.close(),
  };
}
