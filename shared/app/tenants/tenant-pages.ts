import { validation } from '../../domain/errors';
import { TENANT_ID_PATTERN } from '../../domain/tenant';
import type { TenantDirectory, TenantIdPageOptions, TenantStatus } from '../../ports/tenant-directory';
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
 * Tenant ids in id order after `after`: from the directory's index when it keeps one (O(page):
 * TenantDirectory.listTenantIdPage), otherwise from its catalog, listed and sorted (a catalog
 * spread over several accounts need not list in order). With `status`, the index's status; the
 * catalog fallback knows no status and returns every id (callers check the meta anyway).
 */
export async function tenantIdPage(directory: TenantDirectory, options: TenantIdPageOptions): Promise<string[]> {
  if (directory.listTenantIdPage) return directory.listTenantIdPage(options);
  const ids = (await directory.listTenantIds(options.abortSignal ? { abortSignal: options.abortSignal } : {})).slice().sort();
  let start = 0;
  if (options.after !== undefined) {
    const after = options.after;
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  return ids.slice(start, options.limit === undefined ? undefined : start + options.limit);
}

/** Every id `tenantIdPage` gives, read `pageSize` at a time (for background work going through all tenants). */
export async function* allTenantIds(
  directory: TenantDirectory,
  options: Omit<TenantIdPageOptions, 'after' | 'limit'> & { pageSize?: number } = {},
): AsyncIterable<string> {
  const { pageSize = 500, ...rest } = options;
  // Without an index: the catalog once (not once per page).
  if (!directory.listTenantIdPage) {
    yield* await tenantIdPage(directory, rest);
    return;
  }
  let after: string | undefined;
  for (;;) {
    const ids = await tenantIdPage(directory, { ...rest, after, limit: pageSize });
    yield* ids;
    if (ids.length < pageSize) return;
    after = ids.at(-1);
  }
}

/**
 * One page of the operator's tenant list, in id order: ids from the directory's index
 * (tenantIdPage: one range read of `limit + 1` ids, no folder listing; or the catalog where the
 * directory keeps no index), then the meta of the page's tenants only. No tenant database is
 * opened, and with an index the cost of a page does not grow with the number of tenants or the
 * page number. The continuation is the last id looked at (operators see ids anyway); a token
 * that is not one is refused with 400. Tenants created or removed between pages are seen or
 * not by the pages still to come; none is listed twice, none that exists throughout is missed.
 */
export async function listTenantPage(
  d: { directory: TenantDirectory; health: TenantHealth },
  options: { limit: number; continuation?: string; abortSignal?: AbortSignal },
): Promise<TenantPage> {
  let cursor = options.continuation === undefined ? undefined : decodeContinuation(options.continuation);
  const items: TenantListItem[] = [];
  let more = true;
  // Tenants whose meta vanished meanwhile (or is not written yet) are left out; the page is filled from the ids after them.
  while (items.length < options.limit) {
    options.abortSignal?.throwIfAborted();
    const want = options.limit - items.length;
    // One more than wanted: whether more tenants follow, without another read.
    const ids = await tenantIdPage(d.directory, { after: cursor, limit: want + 1 });
    const page = ids.slice(0, want);
    for (let i = 0; i < page.length; i += META_READS_AT_ONCE) {
      const metas = await Promise.all(page.slice(i, i + META_READS_AT_ONCE).map((id) => d.directory.getMeta(id).catch(() => undefined)));
      for (const meta of metas) {
        if (!meta) continue;
        items.push({
          id: meta.id,
          status: meta.status === 'ready' && d.health.recent(meta.id) ? 'degraded' : meta.status,
          createdAt: meta.createdAt,
        });
      }
    }
    cursor = page.at(-1) ?? cursor;
    if (ids.length <= want) {
      more = false;
      break;
    }
  }
  return more && cursor !== undefined && items.length > 0 ? { items, continuation: encodeContinuation(cursor) } : { items };
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
