import type { BackupTarget } from '../../ports/backup-target';
import type { BlobStoreFactory } from '../../ports/blob-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { ReceiptStore } from '../../ports/receipt-store';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory } from '../../ports/tenant-directory';
import type { TenantStores } from '../../ports/tenant-stores';

/** What tenant offboarding works with (shared/config/services.ts wires it). */
export interface OffboardingDeps {
  directory: TenantDirectory;
  keys: KeyProvider;
  clock: Clock;
  /** The tenant cache: a scheduled or shredded tenant is forgotten at once on this instance. */
  stores: TenantStores;
  /** The tenants' file containers. */
  blobs: BlobStoreFactory;
  /** Every backup tier: the tenant's objects are deleted where the tier allows it. */
  targets: readonly BackupTarget[];
  receipts: ReceiptStore;
  /** TENANT_DELETION_GRACE_DAYS in ms. */
  graceMs: number;
  log?: (message: string) => void;
}
