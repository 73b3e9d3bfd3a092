import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { BackupService } from '../../shared/app/backup';
import type { BackupDeps } from '../../shared/app/backup/deps';
import { TenantService } from '../../shared/app/service';
import type { BackupTarget } from '../../shared/ports/backup-target';
import { FakeClock } from '../projections/support';

/**
 * The embedded world of the backup run tests, made anew before each test and removed after it:
 * a temp folder, a fake clock, local keys, an embedded tenant directory and a TenantService
 * over them. The object stays the same; its fields are the current test's.
 */
export interface BackupWorld {
  dir: string;
  clock: FakeClock;
  keys: LocalKeyProvider;
  directory: EmbeddedTenantDirectory;
  tenants: TenantService;
  /** Creates tenants, each with its first admin. */
  create(...ids: string[]): Promise<void>;
  /** Appends one RecordCreated (`rec:thing:<recordId>`, as an operator) to a tenant's log. */
  append(id: string, recordId: string): Promise<void>;
  /** A BackupService over this world with `targets` (and any other of its settings). */
  service(targets: BackupTarget[], more?: Partial<Pick<BackupDeps, 'limits' | 'log'>>): BackupService;
}

/** Registers the world's beforeEach and afterEach; `prefix` names its temp folders. */
export function useBackupWorld(prefix: string): BackupWorld {
  const w = {
    async create(...ids: string[]) {
      for (const id of ids)
        await w.tenants.createTenant(
          { id: 'op' },
          { id, name: id, admin: { email: `a@${id}.test`, password: 'a long enough password' } },
          { correlationId: 'c' },
        );
    },
    async append(id: string, recordId: string) {
      const events = await w.directory.openEventStore(id);
      await events.append(`rec:thing:${recordId}`, 0, [{ type: 'RecordCreated', data: { type: 'thing', id: recordId, data: {} } }], {
        author: { kind: 'operator', id: 'test' },
        correlationId: 'c',
      });
    },
    service(targets: BackupTarget[], more: Partial<Pick<BackupDeps, 'limits' | 'log'>> = {}) {
      const { tenants, directory, keys, clock } = w;
      return new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock, targets, ...more });
    },
  } as BackupWorld;
  beforeEach(() => {
    w.dir = mkdtempSync(join(tmpdir(), prefix));
    w.clock = new FakeClock();
    w.keys = new LocalKeyProvider({ dir: join(w.dir, 'keys'), masterKey: randomBytes(32) });
    w.directory = new EmbeddedTenantDirectory(join(w.dir, 'data'), w.keys, w.clock);
    w.tenants = new TenantService({ directory: w.directory, keys: w.keys, clock: w.clock, tokenTtlSeconds: 600, passwordLogN: 14 });
  });
  afterEach(async () => {
    await w.tenants.close();
    rmSync(w.dir, { recursive: true, force: true });
  });
  return w;
}
