import type { BackupTarget, TargetCallOptions } from '../../ports/backup-target';
import type { BlobStoreFactory } from '../../ports/blob-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory } from '../../ports/tenant-directory';
import type { TenantStores } from '../../ports/tenant-stores';
import type { PersonalDataVault } from '../erasure/vault';
import type { RecordService } from '../records';
import type { TenantService } from '../service';
import type { LeftoverTenants } from './leftovers';
import type { RunLimits } from './run';

/** What the backup use cases depend on (wired in shared/config/services.ts). */
export interface BackupDeps {
  /**
   * The tenants' stores behind the ready-check (leased): what backups read, and what drills
   * export. Restores build their new tenant through `tenants` and the directory (it is not
   * served until it is complete).
   */
  stores: TenantStores;
  /** Creates the restored tenant from its backed-up log. */
  tenants: Pick<TenantService, 'restoreTenant'>;
  directory: TenantDirectory;
  keys: KeyProvider;
  clock: Clock;
  /** The configured tiers (may be empty); the use cases also take a target directly. */
  targets?: BackupTarget[];
  /** Its cache is dropped for tenants a restore or drill removes. */
  records?: Pick<RecordService, 'forget'>;
  /** The tenants' file blobs: backed up as ciphertext next to the log when given. */
  blobs?: BlobStoreFactory;
  /** Escrows the tenant's key to a tier before its commits go there (recovery/key-escrow.ts). */
  escrow?: { escrowTenant(tenant: string, target: BackupTarget, options?: TargetCallOptions): Promise<number> };
  log?: (m: string) => void;
  /** Subject keyrings (issue 14): each run ships the keyring and erasures; restores bring back the keys not erased. */
  personal?: PersonalDataVault;
  /** Per-tier deadline and concurrency of runs; how long status waits for a tier. */
  limits?: Partial<RunLimits> & { statusTimeoutMs?: number };
  /**
   * True when this process is the only one using the tenant store (the embedded default):
   * a restore or drill tenant left "creating" and not running here was left by a crash.
   */
  exclusiveStore?: boolean;
}

/** The deps plus the restore and drill tenants this process is building (restore, drill). */
export interface BuildContext extends BackupDeps {
  leftovers: LeftoverTenants;
}
