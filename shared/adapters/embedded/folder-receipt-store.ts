/**
 * Receipts as files: `<dir>/<tenant>/<deletionId>.json` (mode 0600, folders 0700), each written
 * durably (temp file, fsync, rename, folder fsync). The folder is the operator's (default:
 * beside the local backup tiers), never a tenant's, so it outlives the tenants it describes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertTenantId } from '../../domain/tenant';
import type { OperationOptions } from '../../ports/options';
import { type DeletionReceipt, RECEIPT_FORMAT, type ReceiptStore } from '../../ports/receipt-store';
import { throwIfAborted } from '../abort';
import { mkdirDurably, writeFileDurably } from '../durable-files';

const DELETION_ID = /^[A-Za-z0-9_-]{8,64}$/;

export class FolderReceiptStore implements ReceiptStore {
  constructor(readonly dir: string) {}

  private file(tenant: string, deletionId: string): string {
    assertTenantId(tenant);
    if (!DELETION_ID.test(deletionId)) throw new Error('Invalid deletion id.');
    return join(this.dir, tenant, `${deletionId}.json`);
  }

  async put(receipt: DeletionReceipt, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    const file = this.file(receipt.tenant, receipt.deletionId);
    await mkdirDurably(this.dir);
    await mkdirDurably(join(this.dir, receipt.tenant));
    await writeFileDurably(file, `${JSON.stringify(receipt, null, 2)}\n`, { abortSignal: options.abortSignal });
  }

  async get(tenant: string, deletionId: string, options: OperationOptions = {}): Promise<DeletionReceipt | undefined> {
    throwIfAborted(options.abortSignal);
    if (!DELETION_ID.test(deletionId)) return undefined;
    return readReceipt(this.file(tenant, deletionId));
  }

  async list(tenant?: string, options: OperationOptions = {}): Promise<DeletionReceipt[]> {
    throwIfAborted(options.abortSignal);
    if (tenant !== undefined) assertTenantId(tenant);
    const tenants = tenant !== undefined ? [tenant] : await names(this.dir);
    const out: DeletionReceipt[] = [];
    for (const t of tenants) {
      for (const f of await names(join(this.dir, t))) {
        if (!f.endsWith('.json')) continue;
        const r = await readReceipt(join(this.dir, t, f));
        if (r && r.tenant === t) out.push(r);
      }
    }
    return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function readReceipt(file: string): Promise<DeletionReceipt | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const r = JSON.parse(text) as DeletionReceipt;
  if (r?.format !== RECEIPT_FORMAT) throw new Error(`${file} is not a ${RECEIPT_FORMAT} receipt.`);
  return r;
}
