import { vi } from 'vitest';
import type { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';

/**
 * Counts the log fingerprints taken through the `current()` directory, per tenant: each call starts a new
 * count (the spy is installed once per test; vi.restoreAllMocks removes it). Tests of runs that
 * should look only at what the change journal lists.
 */
export function fingerprintLooks(current: () => EmbeddedTenantDirectory): () => Map<string, number> {
  let counted = new Map<string, number>();
  return () => {
    const directory = current();
    counted = new Map<string, number>();
    if (!vi.isMockFunction(directory.logFingerprint)) {
      const look = directory.logFingerprint.bind(directory);
      vi.spyOn(directory, 'logFingerprint').mockImplementation(async (id, o) => {
        counted.set(id, (counted.get(id) ?? 0) + 1);
        return look(id, o);
      });
    }
    return counted;
  };
}

/** Closes every tenant `directory` holds open (a host's cache evicts idle tenants the same way): the journal numbers them. */
export async function closeAllTenants(directory: EmbeddedTenantDirectory): Promise<void> {
  for (const id of directory.openTenantIds()) await directory.closeTenant(id);
}
