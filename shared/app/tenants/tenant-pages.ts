import { validation } from '../../domain/errors';
import { TENANT_ID_PATTERN } from '../../domain/tenant';
import type { TenantDirectory, TenantStatus } from '../../ports/tenant-directory';
import type { TenantHealth } from '../tenant-health';

export interface TenantListItem {
  id: string;
  status: TenantStatus | 'degraded';
  createdAt: string;
}

export interface TenantPage {
  items: TenantListItem[];
  /** Present when more tenants follow: pass it back as `continuation`. */
  continuation?: string;
}

/** Metas read at once for one page (embedded: small files; Cosmos: point reads). */
const META_READS_AT_ONCE = 16;

/**
 * One page of the operator's tenant list, in id order: ids from the store's own catalog
 * (a folder listing / the accounts' container lists), then the meta of the page's tenants only.
 * No tenant database is opened, and the cost of a page does not grow with the page number
 * beyond listing the ids. The continuation is the last id of the page (operators see ids
 * anyway); a token that is not one is refused with 400.
 */
export async function listTenantPage(
  d: { directory: TenantDirectory; health: TenantHealth },
  options: { limit: number; continuation?: string; abortSignal?: AbortSignal },
): Promise<TenantPage> {
  const after = options.continuation === undefined ? undefined : decodeContinuation(options.continuation);
  // Sorted here too: a catalog spread over several accounts need not list in order.
  const ids = (await d.directory.listTenantIds()).slice().sort();
  let start = 0;
  if (after !== undefined) {
    // Ids come sorted: the first id after the token's.
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const items: TenantListItem[] = [];
  let next = start;
  // Tenants whose meta vanished meanwhile are left out; the page is filled from the ids after them.
  while (items.length < options.limit && next < ids.length) {
    options.abortSignal?.throwIfAborted();
    const batch = ids.slice(next, next + Math.min(META_READS_AT_ONCE, options.limit - items.length));
    next += batch.length;
    const metas = await Promise.all(batch.map((id) => d.directory.getMeta(id).catch(() => undefined)));
    for (const meta of metas) {
      if (!meta) continue;
      items.push({
        id: meta.id,
        status: meta.status === 'ready' && d.health.recent(meta.id) ? 'degraded' : meta.status,
        createdAt: meta.createdAt,
      });
    }
  }
  const last = items.at(-1);
  return next < ids.length && last ? { items, continuation: encodeContinuation(ids[next - 1]!) } : { items };
}

function encodeContinuation(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

function decodeContinuation(token: string): string {
  let v: unknown;
  try {
    v = token.length <= 200 ? JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) : undefined;
  } catch {
    v = undefined;
  }
  const after = typeof v === 'object' && v !== null ? (v as { after?: unknown }).after : undefined;
  if (typeof after !== 'string' || !TENANT_ID_PATTERN.test(after))
    throw validation('The continuation token is not valid here.', [{ path: '/continuation', message: 'is not a token of this list' }]);
  return after;
}
