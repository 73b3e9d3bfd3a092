import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { systemClock } from '../../shared/ports/runtime';
import { tenantDirectoryAbortContract } from '../contracts/tenant-directory.contract';
import { metaFor } from '../support/cosmos-server';

const dataDir = mkdtempSync(join(tmpdir(), 'tenant-dir-'));
const keys = new LocalKeyProvider({ dir: join(dataDir, 'keys'), masterKey: randomBytes(32) });
const dir = new EmbeddedTenantDirectory(dataDir, keys, systemClock);
afterAll(async () => {
  await dir.close();
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

tenantDirectoryAbortContract('embedded (a folder per tenant)', () => ({
  dir,
  newMeta: async () => {
    const meta = metaFor(`t-${randomBytes(5).toString('hex')}`);
    await keys.createKey(meta.keyName);
    return meta;
  },
}));
