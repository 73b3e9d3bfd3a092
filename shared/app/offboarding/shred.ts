/**
 * Crypto-shredding of tenants whose deletion grace period has ended (the shredTenants timer).
 *
 * Per tenant, in this order, each step idempotent and recorded in the receipt (which is the
 * journal) before the next one starts, so a run killed anywhere continues where it stopped:
 *
 *   0. `StartShredding` in the tenant's log (from then on the deletion cannot be cancelled),
 *      then the receipt is written (status `shredding`) with the key name and what the tiers
 *      and file store hold (counts and hashes), before anything is destroyed.
 *   1. key: every version of the tenant's key-encryption key is destroyed (local: key file
 *      overwritten, unlinked, folder fsynced; Key Vault: deleted and purged where allowed).
 *      Then the tenant's escrow-key objects are deleted from every tier (kept only where the
 *      tier allows deletion). From here on everything encrypted under the key — database,
 *      files, backup segments and sealed key escrow on every tier, old copies of write-once
 *      tiers — is unreadable, whether or not the later steps can remove it.
 *   2. store: the tenant's database file (embedded) or Cosmos container is removed.
 *   3. files: the tenant's file container is removed.
 *   4. tiers: every object under `tenants/<id>/` on every backup tier is deleted (segments,
 *      manifests, file copies, key escrow); a write-once tier's refusals are recorded as
 *      retained (unreadable without the key) with the newest retained object's date.
 *   5. the receipt is marked `complete` and copied to every tier under `receipts/<id>/`.
 */
import { createHash } from 'node:crypto';
import { isAppError } from '../../domain/errors';
import { TENANT_STREAM, tenantDecider } from '../../domain/tenant';
import type { BackupTarget } from '../../ports/backup-target';
import { type DeletionReceipt, RECEIPT_FORMAT, type TierOutcome } from '../../ports/receipt-store';
import { foldStream, handleCommand } from '../command-handling/handle-command';
import type { RequestInfo } from '../request';
import { escrowKeyPrefix, opensWithRecoveryKey } from '../recovery/key-escrow';
import type { OffboardingDeps } from './deps';
import { allTenantIds } from '../tenants/tenant-pages';

export interface ShredResult {
  tenant: string;
  deletionId: string;
  status: DeletionReceipt['status'];
  /** Tiers that kept objects (write-once) or could not be reached. */
  retainedTiers: string[];
  failedTiers: string[];
}

/** Finishes receipts a crash left `shredding`, then shreds every tenant whose grace period has ended. */
export async function shredDueTenants(d: OffboardingDeps, req: RequestInfo, onResult?: (r: ShredResult) => void): Promise<ShredResult[]> {
  const out: ShredResult[] = [];
  const done = (r: ShredResult) => {
    out.push(r);
    onResult?.(r);
  };
  const started = new Set<string>();
  for (const receipt of await d.receipts.list()) {
    started.add(`${receipt.tenant}/${receipt.deletionId}`);
    // A receipt with a tier that could not be reached stays open too: the next run retries it.
    if (receipt.status === 'shredding') done(await continueShredding(d, receipt));
  }
  // Only tenants scheduled for deletion (the directory's status index where it keeps one: the
  // due-list; otherwise its catalog), not every tenant's meta every hour.
  for await (const id of allTenantIds(d.directory, { status: 'deleting' })) {
    const meta = await d.directory.getMeta(id).catch(() => undefined);
    if (meta?.status !== 'deleting') continue;
    const events = await d.directory.openEventStore(id);
    const { state } = await foldStream(events, TENANT_STREAM, tenantDecider);
    const deletion = state?.deletion;
    if (!deletion || d.clock.now().getTime() < Date.parse(deletion.purgeAfter)) continue;
    if (started.has(`${id}/${deletion.deletionId}`)) continue;
    await handleCommand(
      events,
      TENANT_STREAM,
      tenantDecider,
      { type: 'StartShredding', id, now: d.clock.now().toISOString() },
      { meta: { author: { kind: 'system', id: 'tenant-shredder' }, correlationId: req.correlationId }, retries: 3 },
    );
    // Who scheduled it and when, from the audited event (the receipt keeps them after the log is gone).
    const commits = await events.readStream(TENANT_STREAM);
    const scheduled = commits.find((c) =>
      c.events.some((e) => e.type === 'TenantDeletionScheduled' && (e.data as { deletionId?: unknown }).deletionId === deletion.deletionId),
    );
    const receipt: DeletionReceipt = {
      format: RECEIPT_FORMAT,
      tenant: id,
      deletionId: deletion.deletionId,
      status: 'shredding',
      scheduledAt: scheduled?.timestamp ?? '',
      scheduledBy: scheduled ? authorId(scheduled.author) : '',
      purgeAfter: deletion.purgeAfter,
      startedAt: d.clock.now().toISOString(),
      keyName: meta.keyName,
      steps: { tiers: {} },
    };
    await d.receipts.put(receipt);
    done(await continueShredding(d, receipt));
  }
  return out;
}

const authorId = (a: { kind: string; id?: string; userId?: string }) => `${a.kind}:${a.id ?? a.userId ?? ''}`;

/** Runs every step the receipt does not record as done; records each before the next. */
export async function continueShredding(d: OffboardingDeps, receipt: DeletionReceipt): Promise<ShredResult> {
  const r = receipt;
  const now = () => d.clock.now().toISOString();
  const save = () => d.receipts.put(r);
  const id = r.tenant;
  if (!r.steps.key) {
    d.stores.forget(id);
    const k = await d.keys.destroyKey(r.keyName);
    // With the key gone the provider cannot make its escrow key again; the copies of it (kept
    // only on tiers that allow deletion) go at once, so from here the sealed key versions on
    // every tier, write-once ones included, open for nobody. A tier that fails here is
    // cleared by the tiers step below (which retries until it answers).
    for (const t of d.targets) await deleteEscrowKeys(t, id);
    r.steps.key = { ...k, at: now() };
    await save();
  }
  if (!r.steps.store) {
    d.stores.forget(id);
    await d.directory.destroy(id);
    r.steps.store = { outcome: 'removed', at: now(), detail: 'The tenant database (embedded file or Cosmos container) was removed.' };
    await save();
  }
  if (!r.steps.files) {
    const listing = await listFiles(d, id);
    await d.blobs.deleteTenant(id);
    r.steps.files = {
      outcome: 'removed',
      objects: listing.count,
      sha256: listing.sha256,
      at: now(),
      detail: `The tenant's file container was removed (${listing.count} stored object(s) left before removal).`,
    };
    await save();
  }
  for (const t of d.targets) {
    const prev = r.steps.tiers[t.name];
    if (prev && prev.outcome !== 'failed') continue;
    r.steps.tiers[t.name] = await deleteOnTier(t, id, now);
    await save();
  }
  const failedTiers = Object.entries(r.steps.tiers)
    .filter(([, o]) => o.outcome === 'failed')
    .map(([n]) => n);
  if (failedTiers.length === 0) {
    r.status = 'complete';
    r.completedAt = now();
    r.copies = {};
    const body = Buffer.from(`${JSON.stringify({ ...r, copies: undefined }, null, 2)}\n`);
    for (const t of d.targets) {
      try {
        await t.put(`receipts/${id}/${r.deletionId}.json`, body);
        r.copies[t.name] = 'written';
      } catch (e) {
        r.copies[t.name] = isAppError(e) && e.code === 'conflict' ? 'written' : 'failed';
      }
    }
    await save();
  }
  return {
    tenant: id,
    deletionId: r.deletionId,
    status: r.status,
    retainedTiers: Object.entries(r.steps.tiers)
      .filter(([, o]) => o.outcome === 'retained')
      .map(([n]) => n),
    failedTiers,
  };
}

/** What the tenant's file container holds (count and a hash of names and sizes), or nothing. */
async function listFiles(d: OffboardingDeps, id: string): Promise<{ count: number; sha256: string }> {
  const lines: string[] = [];
  try {
    const store = await d.blobs.forTenant(id);
    for await (const b of store.list()) lines.push(`${b.name} ${b.size}`);
  } catch {
    // Already removed (a re-run): nothing to count.
  }
  return { count: lines.length, sha256: digest(lines) };
}

/** Deletes the tenant's escrow-key objects on one tier, best effort (the tiers step deletes and counts whatever is left). */
async function deleteEscrowKeys(t: BackupTarget, id: string): Promise<void> {
  try {
    for await (const o of t.list(escrowKeyPrefix(id))) await t.delete(o.key).catch(() => undefined);
  } catch {
    // Unreachable now: the tiers step retries it.
  }
}

/** Deletes every object under `tenants/<id>/` on one tier; refusals (write-once) are kept as retained. */
async function deleteOnTier(t: BackupTarget, id: string, now: () => string): Promise<TierOutcome> {
  const lines: string[] = [];
  let deleted = 0;
  let retained = 0;
  let retainedNewest: Date | undefined;
  let escrowRetained = 0;
  try {
    for await (const o of t.list(`tenants/${id}/`)) {
      lines.push(`${o.key} ${o.size}`);
      try {
        await t.delete(o.key);
        deleted++;
      } catch {
        retained++;
        // Escrow keys and legacy /1 versions open with the recovery key alone; sealed versions do not.
        if (opensWithRecoveryKey(id, o.key)) escrowRetained++;
        if (!retainedNewest || o.lastModified > retainedNewest) retainedNewest = o.lastModified;
      }
    }
  } catch (e) {
    return {
      outcome: 'failed',
      objects: lines.length,
      deleted,
      retained,
      sha256: digest(lines),
      at: now(),
      detail: `The tier could not be listed or reached (${(e as Error)?.name ?? 'Error'}); the next run retries it. Its objects are unreadable without the destroyed key.`,
    };
  }
  return {
    outcome: retained ? 'retained' : 'deleted',
    objects: lines.length,
    deleted,
    retained,
    sha256: digest(lines),
    ...(retainedNewest ? { retainedNewest: retainedNewest.toISOString() } : {}),
    ...(escrowRetained ? { escrowRetained } : {}),
    at: now(),
    detail: retained
      ? `${deleted} object(s) deleted; ${retained} refused by the tier's write-once policy: retained until its immutability period after ${retainedNewest?.toISOString()} ends, unreadable without the destroyed key (sealed key escrow included)${escrowRetained ? ` — except ${escrowRetained} key-escrow object(s) that the offline recovery private key opens alone (written by an earlier version, or an escrow key on a tier that became write-once), until then` : ''}.`
      : `${deleted} object(s) deleted; nothing of the tenant is left on this tier.`,
  };
}

function digest(lines: string[]): string {
  const h = createHash('sha256');
  for (const l of [...lines].sort()) h.update(`${l}\n`);
  return h.digest('hex');
}
