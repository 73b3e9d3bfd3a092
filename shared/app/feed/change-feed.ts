import type { Author } from '../../domain/events';
import { rolesAllow } from '../../domain/identity';
import type { Change } from '../../domain/json';
import type { OperationOptions } from '../../ports/options';
import type { Clock } from '../../ports/runtime';
import type { OneTenantStores, TenantStores } from '../../ports/tenant-stores';
import { requirePermission, type UserPrincipal } from '../auth/principal';
import type { ChangeSignal } from '../changes/change-signal';
import { auditEntriesOfCommit, isRecordsEntry } from '../audit-view';
import { type FeedPosition, openPosition, PrefixHash, START, sealPosition } from './position';
import { TenantWatch } from './tenant-watch';

/** One commit as the change feed shows it: what the audit log shows of it, plus its position. */
export interface ChangeCommit {
  /** Resume after this commit (opaque; see position.ts). */
  position: string;
  streamId: string;
  version: number;
  timestamp: string;
  author: Author;
  correlationId: string;
  recordType?: string;
  recordId?: string;
  events: Array<{ type: string; changes: Change[] }>;
}

export interface ChangePage {
  items: ChangeCommit[];
  /** Resume after everything this page covered (also after commits it did not show). */
  position: string;
  /** True when more commits follow right away (read again without waiting). */
  more: boolean;
}

export interface ChangesQuery extends OperationOptions {
  /** A position from an earlier page or commit; absent = from the beginning of the log. */
  after?: string;
  /** Most commits read for this page (a page shows fewer when some are not for the caller). */
  limit: number;
  /** Wait up to this long for a change when nothing is new (capped at maxWaitMs). */
  waitMs?: number;
}

export interface ChangeFeedDeps {
  stores: TenantStores;
  signal: ChangeSignal;
  clock: Clock;
  /** Longest wait a request may ask for. */
  maxWaitMs: number;
  /**
   * While waiting, the log is read again at least this often: the in-process signal only hears
   * appends made by this process, and on Cosmos other instances write to the same log.
   */
  recheckMs: number;
}

/** Raw page of one read: the commits shown, where it ends, and whether more follow. */
export interface ReadResult {
  items: Array<Omit<ChangeCommit, 'position'> & { at: FeedPosition }>;
  end: FeedPosition;
  more: boolean;
}

/**
 * The tenant's change feed for its apps: commits in log order, each with its events and their
 * field-level changes, paged by opaque positions, with an optional long poll on the
 * in-process change signal. At least once, in order per record stream; exact on the embedded
 * store (see position.ts for Cosmos). Identity events are shown to administrators only, by the
 * rule the audit log uses (isRecordsEntry).
 */
export class ChangeFeed {
  private readonly closing = new AbortController();
  private waits = 0;

  constructor(private readonly deps: ChangeFeedDeps) {}

  async read(p: UserPrincipal, q: ChangesQuery): Promise<ChangePage> {
    requirePermission(p, 'read');
    const admin = rolesAllow(p.roles, 'manage');
    const { clock, stores } = this.deps;
    const waitMs = Math.min(Math.max(0, q.waitMs ?? 0), this.deps.maxWaitMs);
    const deadline = clock.now().getTime() + waitMs;
    const abortSignal = q.abortSignal ? AbortSignal.any([q.abortSignal, this.closing.signal]) : this.closing.signal;
    // Watch before the first read, so an append between a read and the wait is not missed.
    const watch = waitMs > 0 ? new TenantWatch(this.deps.signal, p.tenantId) : undefined;
    try {
      return await stores.use(p.tenantId, async (s) => {
        let from = q.after === undefined ? START : await openPosition(s.continuations, q.after);
        let result = await readOnce(s, from, q.limit, admin, { abortSignal });
        // Long poll: nothing to show yet, caught up, and time left → wait for a change.
        while (watch && result.items.length === 0 && !result.more && !abortSignal.aborted) {
          const left = deadline - clock.now().getTime();
          if (left <= 0) break;
          this.waits++;
          try {
            if ((await watch.wait(Math.min(left, this.deps.recheckMs), abortSignal)) === 'aborted') break;
          } finally {
            this.waits--;
          }
          from = result.end;
          result = await readOnce(s, from, q.limit, admin, { abortSignal });
        }
        return seal(s, result);
      });
    } finally {
      watch?.stop();
    }
  }

  /** Requests waiting for a change right now. */
  get waiting(): number {
    return this.waits;
  }

  /** Ends every wait at once (service shutdown): waiting requests answer with what they have. */
  close(): void {
    this.closing.abort();
  }
}

export async function seal(s: OneTenantStores, r: ReadResult): Promise<ChangePage> {
  const items: ChangeCommit[] = [];
  for (const { at, ...c } of r.items) items.push({ position: await sealPosition(s.continuations, at), ...c });
  return { items, position: await sealPosition(s.continuations, r.end), more: r.more };
}

/** One read of the log after `from`: at most `limit` commits, filtered for the caller's role (webhooks use it too). */
export async function readOnce(
  s: OneTenantStores,
  from: FeedPosition,
  limit: number,
  admin: boolean,
  o: OperationOptions,
): Promise<ReadResult> {
  // From a store checkpoint ask for `limit`; from within an earlier read ask for what that read
  // asked for, so the store pages the same way and hands out the same sequence again.
  const asked = from.n > 0 ? from.b : limit;
  const { commits, checkpoint } = await s.events.readFeed(from.c, { maxCount: asked, ...o });
  // Drop what the position already handed out, if the log after its checkpoint still starts
  // with exactly those commits; otherwise hand them out again (at least once, never lost).
  let skip = 0;
  const running = new PrefixHash();
  if (from.n > 0 && commits.length > from.n) {
    for (const c of commits.slice(0, from.n)) running.add(c);
    if (running.value() === from.h) skip = from.n;
  }
  const handed = new PrefixHash();
  for (const c of commits.slice(0, skip)) handed.add(c);
  const end = Math.min(commits.length, skip + limit);
  const items: ReadResult['items'] = [];
  const positionAfter = (j: number): FeedPosition =>
    j === commits.length - 1 ? { c: checkpoint, n: 0, h: '', b: 0 } : { c: from.c, n: j + 1, h: handed.value(), b: asked };
  for (let j = skip; j < end; j++) {
    const c = commits[j]!;
    handed.add(c);
    const entries = auditEntriesOfCommit(c).filter((e) => admin || isRecordsEntry(e));
    if (entries.length === 0) continue;
    const first = entries[0]!;
    items.push({
      at: positionAfter(j),
      streamId: c.streamId,
      version: c.version,
      timestamp: c.timestamp,
      author: c.author,
      correlationId: c.correlationId,
      ...(first.recordType !== undefined ? { recordType: first.recordType } : {}),
      ...(first.recordId !== undefined ? { recordId: first.recordId } : {}),
      events: entries.map((e) => ({ type: e.eventType, changes: e.changes })),
    });
  }
  const endPosition = end === 0 ? { c: checkpoint, n: 0, h: '', b: 0 } : positionAfter(end - 1);
  // The store gave all it was asked for (more may follow), or this page stopped short of it.
  const more = commits.length >= asked || end < commits.length;
  return { items, end: endPosition, more };
}
