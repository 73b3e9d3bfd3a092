/**
 * Deletion receipts of offboarded tenants (crypto-shredding, shared/app/offboarding/). A
 * receipt outlives its tenant and holds no tenant data: ids, instants, counts, outcomes and
 * SHA-256 hashes of what was destroyed (object names and sizes, never contents). While a
 * tenant is being shredded its receipt is also the journal of the steps done, so a run that
 * crashed continues where it stopped.
 */
import type { KeyDestruction } from './key-provider';
import type { OperationOptions } from './options';

export const RECEIPT_FORMAT = 'tenant-ledger-deletion-receipt/1';

/** One step's outcome, stamped when it finished. */
export type ReceiptStep = {
  at: string;
  detail: string;
};

// A type alias (not an interface), so receipts match the API schema's open `tiers` map.
export type TierOutcome = ReceiptStep & {
  /** `deleted`: nothing of the tenant is left there; `retained`: a write-once policy refused some deletions; `failed`: the tier could not be reached (retried by the next run). */
  outcome: 'deleted' | 'retained' | 'failed';
  /** Objects found under the tenant's prefix (segments, manifests, files, key escrow). */
  objects: number;
  deleted: number;
  retained: number;
  /** SHA-256 (hex) over the sorted "key size" lines of the objects found. */
  sha256: string;
  /** Newest modification time among the retained objects: they stay until the tier's immutability period after it ends. */
  retainedNewest?: string;
  /**
   * Retained key-escrow objects that the operator's offline recovery private key opens alone
   * (legacy `/1` objects written by an earlier version, or an escrow key on a tier that became
   * write-once after it was written): unlike everything else retained, these open until they
   * expire. Sealed key versions (`/2`) are not counted: without the escrow key they open for nobody.
   */
  escrowRetained?: number;
};

export interface DeletionReceipt {
  format: typeof RECEIPT_FORMAT;
  tenant: string;
  deletionId: string;
  /** `shredding`: under way (a crashed run continues it); `complete`: every step done (retained objects are listed per tier). */
  status: 'shredding' | 'complete';
  scheduledAt: string;
  /** Who scheduled it (operator principal id). */
  scheduledBy: string;
  purgeAfter: string;
  startedAt: string;
  completedAt?: string;
  /** The tenant's key-encryption key name (not secret: `tenant-<id>-<8 hex>`), needed to continue a crashed run. */
  keyName: string;
  steps: {
    key?: ReceiptStep & Omit<KeyDestruction, 'detail'>;
    store?: ReceiptStep & { outcome: 'removed' };
    files?: ReceiptStep & { outcome: 'removed'; objects: number; sha256: string };
    tiers: Record<string, TierOutcome>;
  };
  /** Where copies of the finished receipt were written (backup tiers, under receipts/<tenant>/). */
  copies?: Record<string, 'written' | 'failed'>;
}

export interface ReceiptStore {
  /** Writes (or replaces) the receipt durably: fsynced before this resolves. */
  put(receipt: DeletionReceipt, options?: OperationOptions): Promise<void>;
  get(tenant: string, deletionId: string, options?: OperationOptions): Promise<DeletionReceipt | undefined>;
  /** Receipts of one tenant (oldest first), or of every tenant. */
  list(tenant?: string, options?: OperationOptions): Promise<DeletionReceipt[]>;
}
