/**
 * Tenant offboarding by crypto-shredding (issue 14, part 1): schedule and cancel a deletion
 * (schedule.ts), shred tenants whose grace period ended (shred.ts), read receipts.
 */
import { AppError } from '../../domain/errors';
import { assertTenantId } from '../../domain/tenant';
import type { OperatorPrincipal } from '../../ports/operator-auth';
import type { BackupTarget } from '../../ports/backup-target';
import { type DeletionReceipt, RECEIPT_FORMAT } from '../../ports/receipt-store';
import type { RequestInfo } from '../request';
import type { OffboardingDeps } from './deps';
import { cancelDeletion, missingTenant, scheduleDeletion, type TenantDeletionView } from './schedule';
import { type ShredResult, shredDueTenants } from './shred';

export type { OffboardingDeps } from './deps';
export type { TenantDeletionView } from './schedule';
export type { ShredResult } from './shred';

/** The receipt copies of `id` on the first tier that has any (each tier holds the same finished receipts). */
export async function receiptsOnTiers(targets: readonly BackupTarget[], id: string): Promise<DeletionReceipt[]> {
  for (const t of targets) {
    const found: DeletionReceipt[] = [];
    try {
      for await (const o of t.list(`receipts/${id}/`)) {
        const bytes = await t.get(o.key);
        if (!bytes) continue;
        const r = JSON.parse(Buffer.from(bytes).toString('utf8')) as DeletionReceipt;
        if (r?.format === RECEIPT_FORMAT && r.tenant === id) found.push(r);
      }
    } catch {
      continue; // unreachable or unreadable: the next tier
    }
    if (found.length) return found.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }
  return [];
}

export class TenantOffboarding {
  constructor(readonly deps: OffboardingDeps) {}

  scheduleDeletion(id: string, operator: OperatorPrincipal, req: RequestInfo): Promise<TenantDeletionView> {
    return scheduleDeletion(this.deps, id, operator, req);
  }

  cancelDeletion(id: string, operator: OperatorPrincipal, req: RequestInfo): Promise<TenantDeletionView> {
    return cancelDeletion(this.deps, id, operator, req);
  }

  /** The shredTenants timer's work. */
  shredDue(req: RequestInfo, onResult?: (r: ShredResult) => void): Promise<ShredResult[]> {
    return shredDueTenants(this.deps, req, onResult);
  }

  /**
   * The tenant's receipts: from the receipts folder, or — when that folder does not have them
   * (another instance's disk, a lost folder) — the copies on the backup tiers.
   */
  async receipts(id: string): Promise<DeletionReceipt[]> {
    assertTenantId(id);
    const local = await this.deps.receipts.list(id);
    return local.length ? local : receiptsOnTiers(this.deps.targets, id);
  }

  /**
   * Refuses to restore (or otherwise bring back) a tenant that was shredded (410, naming the
   * receipt) or is scheduled for deletion (409): a restore would copy its data into a tenant
   * that outlives the deletion.
   */
  async assertRestorable(id: string): Promise<void> {
    assertTenantId(id);
    const meta = await this.deps.directory.getMeta(id);
    if (meta?.status === 'deleting')
      throw new AppError(
        'conflict',
        `Tenant "${id}" is scheduled for deletion: its backups are not restored. Cancel the deletion first if it was a mistake.`,
      );
    if (!meta) {
      const e = await missingTenant({ receipts: { list: (t: string) => this.receipts(t) } }, id);
      if (e.code === 'gone') throw e;
    }
  }
}
