/**
 * The readiness checks of the configured dependencies (shared/app/readiness): one cheap,
 * read-only question each, built here because only the composition root knows which adapter
 * and SDK answer for each dependency. SDK clients used only for a check are created on the
 * first check (the SDK is already loaded by its adapter in that configuration).
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TokenCredential } from '@azure/identity';
import type { DependencyCheck } from '../app/readiness/readiness';
import type { BackupTarget } from '../ports/backup-target';
import type { TenantDirectory } from '../ports/tenant-directory';
import type { Config } from './index';

/** What the checks read: an unknown tenant's meta, a backup key that is not there ("not found" is the answer). */
const PROBE_KEY = 'readiness-probe';

/** The folder, or the nearest existing parent it will be created in, is readable and writable. */
async function folderUsable(path: string): Promise<void> {
  for (let p = path; ; p = dirname(p)) {
    try {
      await access(p, constants.R_OK | constants.W_OK);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw e;
    }
  }
}

export interface ReadinessWiring {
  config: Config;
  directory: TenantDirectory;
  /** With STORE=cosmos: the tenants database of each account, in COSMOS_ENDPOINT order (a read proves the account answers and lets us in). */
  cosmosDatabases?: readonly import('@azure/cosmos').Database[];
  targets: readonly BackupTarget[];
  credential: () => Promise<TokenCredential>;
}

export function readinessChecks(w: ReadinessWiring): DependencyCheck[] {
  const { config } = w;
  const checks: DependencyCheck[] = [];

  const dbs = w.cosmosDatabases ?? [];
  if (dbs.length === 0) {
    checks.push({ name: 'tenant-store', kind: 'embedded', check: async () => void (await w.directory.getMeta(PROBE_KEY)) });
  } else {
    // Every account of the directory: a tenant placed in an account that does not answer
    // cannot be served, and new tenants may be placed in any of them. Named by position in
    // COSMOS_ENDPOINT (no endpoint in the answer).
    dbs.forEach((db, i) => {
      checks.push({
        name: dbs.length === 1 ? 'tenant-store' : `tenant-store:${i + 1}`,
        kind: 'cosmos',
        check: async (o) => void (await db.read({ abortSignal: o.abortSignal })),
      });
    });
  }

  const keys = config.keys;
  if (keys.kind === 'keyvault') {
    let client: Promise<import('@azure/keyvault-keys').KeyClient> | undefined;
    checks.push({
      name: 'keys',
      kind: 'keyvault',
      check: async (o) => {
        client ??= Promise.all([import('@azure/keyvault-keys'), w.credential()]).then(
          ([{ KeyClient }, cred]) => new KeyClient(keys.vaultUrl, cred),
        );
        // One page of at most one key's properties: needs the vault, the network and the role.
        await (await client).listPropertiesOfKeys({ abortSignal: o.abortSignal }).byPage({ maxPageSize: 1 }).next();
      },
    });
  } else {
    checks.push({ name: 'keys', kind: 'local', check: () => folderUsable(join(config.dataDir, 'keys')) });
  }

  const blob = config.files.blob;
  if (blob.kind === 'folder') {
    checks.push({ name: 'files', kind: 'folder', check: () => folderUsable(blob.path) });
  } else {
    let service: Promise<import('@azure/storage-blob').BlobServiceClient> | undefined;
    checks.push({
      name: 'files',
      kind: 'blob',
      check: async (o) => {
        service ??= import('@azure/storage-blob').then(async ({ BlobServiceClient }) =>
          blob.kind === 'connectionString'
            ? BlobServiceClient.fromConnectionString(blob.value)
            : new BlobServiceClient(blob.url, await w.credential()),
        );
        await (await service).listContainers({ abortSignal: o.abortSignal }).byPage({ maxPageSize: 1 }).next();
      },
    });
  }

  config.backups.forEach((tier, i) => {
    const target = w.targets[i];
    if (!target) return;
    const kind = tier.kind === 's3' ? 's3' : tier.kind === 'folder' ? 'folder' : 'blob';
    // A read of a key that is not there: the tier answers "not found" only when reachable and
    // readable with our credentials.
    checks.push({
      name: `backup:${tier.tier}`,
      kind,
      check: async (o) => void (await target.get(PROBE_KEY, { abortSignal: o.abortSignal })),
    });
  });
  return checks;
}
