import { createHash, type Hash } from 'node:crypto';
import { isAppError, validation } from '../../domain/errors';
import type { Commit } from '../../domain/events';
import type { ContinuationSealer } from '../../ports/tenant-stores';

/**
 * A position in a tenant's change feed, as the store sees it: the store's feed checkpoint
 * `c` (undefined = the beginning) plus the `n` commits after it that were already handed out
 * and `h`, a hash of their (stream, version) list.
 *
 * Resuming re-reads from `c` and drops the first `n` commits when they hash to `h`. On the
 * embedded store the feed after a checkpoint is a fixed sequence (the log's global position),
 * so the hash always matches and every position resumes exactly. On Cosmos DB the feed is
 * ordered per partition-key range, and commits written later in a range that is read earlier
 * can shift the sequence: then the hash differs and the commits after `c` are handed out again
 * (at least once, never lost; still in order per record stream). A position whose `n` is 0 (the
 * end of what a read returned) is a store checkpoint: exact on both stores.
 *
 * Clients see positions sealed (shared/app/continuation.ts): opaque, tamper-evident and bound
 * to the tenant, so a position of another tenant or a changed one is refused with 400.
 */
export interface FeedPosition {
  c: string | undefined;
  n: number;
  h: string;
  /**
   * How many commits the read that handed them out asked the store for: a resume asks for as
   * many again, so the store pages the same way (Cosmos reads `maxItemCount` per range). `n`
   * may be larger: a Cosmos read returns whole iterator pages, up to almost twice what it asked.
   */
  b: number;
}

export const START: FeedPosition = { c: undefined, n: 0, h: '', b: 0 };

/** Most commits a position may skip after its checkpoint (far above any page; a guard only). */
export const MAX_SKIP = 100_000;

const KIND = 'changes';
// Positions are the same whoever reads (the role only filters what a page shows).
const QUERY = null;

export async function sealPosition(sealer: ContinuationSealer, p: FeedPosition): Promise<string> {
  return sealer.seal(KIND, QUERY, JSON.stringify(p.n === 0 ? { c: p.c ?? null } : { c: p.c ?? null, n: p.n, h: p.h, b: p.b }));
}

/** The position inside a token; 400 (problem+json at the edge) when it is not one of this tenant. */
export async function openPosition(sealer: ContinuationSealer, token: string, name = 'after'): Promise<FeedPosition> {
  const refuse = () =>
    validation(`${name} is not a position of this tenant's change feed: it was changed, or it belongs to another tenant.`, [
      { path: name, message: 'is not a change-feed position' },
    ]);
  let raw: string;
  try {
    raw = await sealer.open(KIND, QUERY, token);
  } catch (e) {
    if (isAppError(e)) throw refuse();
    throw e;
  }
  const doc = JSON.parse(raw) as { c?: unknown; n?: unknown; h?: unknown; b?: unknown };
  const c = doc.c === null ? undefined : doc.c;
  const n = doc.n ?? 0;
  const h = doc.h ?? '';
  const b = doc.b ?? 0;
  const count = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= MAX_SKIP;
  if ((c !== undefined && typeof c !== 'string') || !count(n) || !count(b) || (n > 0 && b === 0) || typeof h !== 'string') throw refuse();
  return { c, n, h, b };
}

/** Running hash of the (stream, version) list of commits handed out after a checkpoint. */
export class PrefixHash {
  private readonly hash: Hash = createHash('sha256');

  add(c: Commit): void {
    this.hash.update(`${c.streamId}\u0000${c.version}\n`);
  }

  /** The hash of what was added so far (the running hash goes on). */
  value(): string {
    return this.hash.copy().digest('base64url').slice(0, 22);
  }
}
