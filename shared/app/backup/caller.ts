/**
 * Who runs the backup use cases. Backups, restores and drills are operator and timer work,
 * never a tenant user's: the caller is an operator the OperatorAuthenticator let in (HTTP API,
 * CLI), or one of this service's own timers. The use cases read tenants through TenantStores,
 * not through the tenant users' roles, and no tenant principal is accepted here.
 */
import { forbidden } from '../../domain/errors';
import type { OperatorPrincipal } from '../../ports/operator-auth';

/** One of this service's own timers (e.g. the daily drill). */
export interface TimerCaller {
  kind: 'timer';
  /** The timer function's name. */
  timer: string;
}

export type BackupCaller = OperatorPrincipal | TimerCaller;

/**
 * The backup use cases' own authorisation: an operator or a timer, nothing else (a tenant
 * user's principal, carrying a tenant and roles, is refused). Returns the operator principal the
 * restored tenant's audit event names: the operator, or `system:<timer>` for a timer.
 */
export function authorizeBackupCaller(caller: BackupCaller): OperatorPrincipal {
  const c = caller as Partial<TimerCaller> & Partial<OperatorPrincipal> & { tenantId?: unknown; roles?: unknown };
  if (typeof c !== 'object' || c === null || c.tenantId !== undefined || c.roles !== undefined)
    throw forbidden('Backups, restores and drills are run by an operator or a timer of the service.');
  if (c.kind === 'timer' && typeof c.timer === 'string' && c.timer !== '') return { id: `system:${c.timer}` };
  if (c.kind === undefined && typeof c.id === 'string' && c.id !== '') return { id: c.id };
  throw forbidden('Backups, restores and drills are run by an operator or a timer of the service.');
}
