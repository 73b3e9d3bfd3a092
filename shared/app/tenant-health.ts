import { AppError, isAppError } from '../domain/errors';
import type { Clock } from '../ports/runtime';

/**
 * A tenant that cannot be served (its key is unavailable, its database is damaged, its
 * storage is full or unreachable) answers 503 problem+json with a clear detail — never a
 * misleading 401 or a bare 500 — and the operator's status shows it as degraded with the
 * reason. Other tenants are untouched: nothing here is shared between tenants except this
 * small per-instance record of recent faults.
 */
export type DegradedReason = 'key_unavailable' | 'store_corrupt' | 'disk_full' | 'store_unavailable';

const TEXT: Record<DegradedReason, string> = {
  key_unavailable: "This tenant's encryption key cannot be used right now (the key provider refused or did not answer)",
  store_corrupt: "This tenant's database is damaged and cannot be read",
  disk_full: "This tenant's storage is full; nothing was written",
  store_unavailable: "This tenant's database cannot be reached right now",
};

export function degradedDetail(reason: DegradedReason): string {
  return `${TEXT[reason]}. Other tenants are not affected; the operator's tenant status shows the cause. Try again later.`;
}

/** Seconds a client is told to wait before retrying a degraded tenant. */
const RETRY_AFTER_SECONDS = 30;

export function tenantUnavailable(reason: DegradedReason): AppError {
  return new AppError('unavailable', degradedDetail(reason), { retryAfterSeconds: RETRY_AFTER_SECONDS });
}

/**
 * Classifies an error from a tenant's store by its code (never by message): SQLite/libSQL
 * result codes, Node's errno codes and the Cosmos SDK's HTTP status. Undefined when it is
 * not a storage fault (a bug, a validation error…).
 */
export function storageFaultOf(e: unknown): DegradedReason | undefined {
  if (typeof e !== 'object' || e === null || isAppError(e)) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return 'store_corrupt';
    if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'disk_full';
    if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'EIO' || code === 'EROFS')
      return 'store_unavailable';
  }
  const status = (e as { statusCode?: unknown }).statusCode;
  if (status === 503 || status === 507) return status === 507 ? 'disk_full' : 'store_unavailable';
  return undefined;
}

export interface TenantFault {
  reason: DegradedReason;
  since: string;
  /** The error's kind and code (never its message, which could name paths or values). */
  cause: string;
}

/** Faults seen per tenant on this instance in the last few minutes (bounded). */
export class TenantHealth {
  private readonly faults = new Map<string, TenantFault & { at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly rememberMs = 5 * 60_000,
    private readonly maxTenants = 10_000,
  ) {}

  note(tenantId: string, reason: DegradedReason, cause: unknown): AppError {
    const now = this.clock.now();
    const prior = this.faults.get(tenantId);
    const since = prior && prior.reason === reason ? prior.since : now.toISOString();
    this.faults.delete(tenantId);
    this.faults.set(tenantId, { reason, since, cause: causeOf(cause), at: now.getTime() });
    while (this.faults.size > this.maxTenants) this.faults.delete(this.faults.keys().next().value as string);
    return tenantUnavailable(reason);
  }

  recent(tenantId: string): TenantFault | undefined {
    const f = this.faults.get(tenantId);
    if (!f) return undefined;
    if (this.clock.now().getTime() - f.at > this.rememberMs) {
      this.faults.delete(tenantId);
      return undefined;
    }
    return { reason: f.reason, since: f.since, cause: f.cause };
  }

  clear(tenantId: string): void {
    this.faults.delete(tenantId);
  }

  /** The tenants with a recent fault now (at most maxTenants). */
  faulted(): string[] {
    return [...this.faults.keys()].filter((id) => this.recent(id) !== undefined);
  }
}

function causeOf(e: unknown): string {
  if (typeof e !== 'object' || e === null) return typeof e;
  const { name, code, statusCode } = e as { name?: unknown; code?: unknown; statusCode?: unknown };
  return [name, code, statusCode].filter((x) => typeof x === 'string' || typeof x === 'number').join(' ') || 'Error';
}
