/**
 * Scheduling and cancelling a tenant's deletion (operator). Both are commands of the tenant
 * decider (shared/domain/tenant.ts), run by handleCommand and audited in the tenant's own log;
 * the directory status (`deleting`) is what stops the tenant being served, at once on this
 * instance and within the tenant cache's status TTL (15 s) on others.
 */
import { randomBytes } from 'node:crypto';
import { AppError, notFound } from '../../domain/errors';
import { assertTenantId, TENANT_STREAM, type TenantDeletion, tenantDecider } from '../../domain/tenant';
import type { OperatorPrincipal } from '../../ports/operator-auth';
import type { DeletionReceipt } from '../../ports/receipt-store';
import type { TenantStatus } from '../../ports/tenant-directory';
import { handleCommand } from '../command-handling/handle-command';
import type { RequestInfo } from '../request';
import type { OffboardingDeps } from './deps';

/** What schedule and cancel answer: the tenant's status and, while scheduled, its deletion. */
export interface TenantDeletionView {
  id: string;
  status: TenantStatus;
  createdAt: string;
  deletion?: { deletionId: string; purgeAfter: string };
}

const RETRIES = 3;

/**
 * Schedules the deletion: the tenant stops being served (its requests answer 410) and is
 * shredded once `purgeAfter` (now + grace period) has passed. Scheduling a tenant that is
 * already scheduled changes nothing and answers the first schedule (a retry after a crash
 * between the append and the status change completes it).
 */
export async function scheduleDeletion(
  d: OffboardingDeps,
  id: string,
  operator: OperatorPrincipal,
  req: RequestInfo,
): Promise<TenantDeletionView> {
  const purgeAfter = new Date(d.clock.now().getTime() + d.graceMs).toISOString();
  const { meta, r } = await onTenantLog(d, id, operator, req, {
    type: 'ScheduleDeletion',
    id,
    deletionId: randomBytes(12).toString('base64url'),
    purgeAfter,
  });
  const deletion = r.state?.deletion;
  if (!deletion) throw new Error(`Tenant ${id}: the deletion was not recorded.`);
  if (meta.status !== 'deleting') await d.directory.setStatus(id, 'deleting');
  d.stores.forget(id);
  return view(id, 'deleting', meta.createdAt, deletion);
}

/**
 * Cancels a scheduled deletion within the grace period: the tenant returns to the status it had
 * (ready, or suspended if it was suspended), with every record, file and backup as it was.
 * Refused once shredding has started (409), and for a tenant that was already shredded (410).
 */
export async function cancelDeletion(
  d: OffboardingDeps,
  id: string,
  operator: OperatorPrincipal,
  req: RequestInfo,
): Promise<TenantDeletionView> {
  const { meta, r } = await onTenantLog(d, id, operator, req, { type: 'CancelDeletion', id });
  const status: TenantStatus = r.state?.suspended ? 'suspended' : 'ready';
  await d.directory.setStatus(id, status);
  d.stores.forget(id);
  return view(id, status, meta.createdAt);
}

/**
 * An operator's command on a tenant's own stream, for a tenant that exists (404/410 otherwise).
 * The log is opened directly: a tenant that is not served is not reachable through the
 * ready-check.
 */
async function onTenantLog(
  d: OffboardingDeps,
  id: string,
  operator: OperatorPrincipal,
  req: RequestInfo,
  command: Parameters<typeof tenantDecider.decide>[0],
) {
  assertTenantId(id);
  const meta = await d.directory.getMeta(id);
  if (!meta || meta.status === 'creating') throw await missingTenant(d, id);
  const events = await d.directory.openEventStore(id);
  const r = await handleCommand(events, TENANT_STREAM, tenantDecider, command, {
    meta: { author: { kind: 'operator', id: operator.id }, correlationId: req.correlationId },
    retries: RETRIES,
  });
  return { meta, r };
}

function view(id: string, status: TenantStatus, createdAt: string, deletion?: TenantDeletion): TenantDeletionView {
  return { id, status, createdAt, ...(deletion ? { deletion: { deletionId: deletion.deletionId, purgeAfter: deletion.purgeAfter } } : {}) };
}

/** 410 with the receipt for a tenant that was shredded, 404 for one that never existed. */
export async function missingTenant(d: { receipts: { list(id: string): Promise<DeletionReceipt[]> } }, id: string): Promise<AppError> {
  const receipts = await d.receipts.list(id).catch((): DeletionReceipt[] => []);
  const last = receipts.at(-1);
  if (!last) return notFound(`Tenant "${id}" does not exist.`);
  return new AppError(
    'gone',
    last.status === 'complete'
      ? `Tenant "${id}" was deleted on ${last.completedAt} (deletion receipt ${last.deletionId}): its key was destroyed, so nothing of it, backups included, can be read or restored.`
      : `Tenant "${id}" is being shredded (deletion ${last.deletionId}, started ${last.startedAt}); its key is being destroyed and nothing of it can be read or restored.`,
  );
}

/**
 * The 410 a request for a tenant id that was shredded gets (undefined: no deletion receipt for
 * it in the receipts folder). Read from the local receipts folder only, never the tiers: it runs
 * for every request naming a missing tenant, and must stay cheap.
 */
export async function shreddedTenantError(
  receipts: { list(id: string): Promise<DeletionReceipt[]> },
  id: string,
): Promise<AppError | undefined> {
  const e = await missingTenant({ receipts }, id);
  return e.code === 'gone' ? e : undefined;
}

/** Why a shredded tenant's id is not given to a new tenant (creation or restore target). */
export function retiredIdError(id: string, gone: AppError): AppError {
  return new AppError(
    'conflict',
    `The id "${id}" cannot be used for a new tenant: ${gone.message} The ids of deleted tenants are not reused: write-once backup tiers may still hold the old tenant's (unreadable) objects under tenants/${id}/, and its deletion receipts and erasure lists are filed under that id. Choose another id.`,
  );
}
