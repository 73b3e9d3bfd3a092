import { ChangeFeedMode, ChangeFeedStartFrom, StatusCodes } from '@azure/cosmos';
import type { Container, SqlParameter } from '@azure/cosmos';
import type { AppendMeta, Author, Commit, Idempotency, NewEvent } from '../../domain/events';
import { validation, WrongExpectedVersionError } from '../../domain/errors';
import type {
  AppendResult,
  EventStore,
  FeedPage,
  ReadFeedOptions,
  ReadSnapshotOptions,
  ReadStreamOptions,
  Snapshot,
} from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import type { Clock } from '../../ports/runtime';
import { asAbortError, throwIfAborted } from '../abort';

/**
 * One commit as stored in the tenant's container (partition key `/streamId`). The id is the
 * commit's position in the stream, so two writers racing for the same position collide on
 * (partition, id) and the loser gets 409: optimistic concurrency without transactions.
 */
export interface CommitDocument {
  id: string;
  streamId: string;
  kind: 'commit';
  version: number;
  /** Server time in epoch milliseconds (what `until` filters on). */
  ts: number;
  /** The same instant as UTC ISO-8601 with milliseconds. */
  timestamp: string;
  tenantId: string;
  author: Author;
  correlationId: string;
  events: NewEvent[];
  /** Present only when the command carried an Idempotency-Key. */
  idempotency?: Idempotency;
}

/**
 * A snapshot of a stream's folded state, in the stream's own partition next to its commits.
 * Its id (`snap-<version>`) can never equal a commit id (a plain number), and every commit
 * read filters on `kind = 'commit'`, so snapshots are invisible to readStream/streamVersion.
 */
export interface SnapshotDocument {
  id: string;
  streamId: string;
  kind: 'snapshot';
  version: number;
  /** Epoch milliseconds of `timestamp` (what `until` filters on). */
  ts: number;
  timestamp: string;
  state: unknown;
}

/** Reads the HTTP status of an error from the Cosmos SDK by its fields, never by instanceof. */
export function cosmosStatus(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, statusCode } = e as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  if (typeof statusCode === 'number') return statusCode;
  return undefined;
}

function isNonNegativeInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Builds the port's Commit from a stored document, leaving out Cosmos system fields (_rid, _self, _etag, _attachments, _ts) and storage-only fields. */
export function toCommit(doc: CommitDocument): Commit {
  return {
    tenantId: doc.tenantId,
    streamId: doc.streamId,
    version: doc.version,
    timestamp: doc.timestamp,
    author: doc.author,
    correlationId: doc.correlationId,
    events: doc.events.map((e) => ({ type: e.type, data: e.data })),
    ...(doc.idempotency ? { idempotency: { key: doc.idempotency.key, requestHash: doc.idempotency.requestHash } } : {}),
  };
}

/**
 * The event log of one tenant in that tenant's own Cosmos DB container.
 *
 * Append is "point-read the previous commit, then create the next one":
 * - the point read of id `expectedVersion` proves the stream has reached that version (so
 *   nobody can append with a gap) and gives the previous timestamp, so timestamps never
 *   decrease within a stream even if clocks of different instances disagree;
 * - `items.create` of id `expectedVersion + 1` fails with 409 if anyone else got there first.
 *
 * Every method passes `options.abortSignal` to the SDK (an aborted signal is refused before
 * any request; an SDK abort becomes the port's AbortError). The change feed iterator takes no
 * signal, so readFeed checks it between pages.
 *
 * A commit is one document, so it is atomic on its own; no transactional batch is used.
 * (Besides not being needed, batch could not be tested locally: @vercel/cosmosdb-server does
 * not execute a batch atomically — a failed operation leaves the earlier ones written.)
 */
export class CosmosEventStore implements EventStore {
  constructor(
    readonly tenantId: string,
    private readonly container: Container,
    private readonly clock: Clock,
  ) {}

  async append(
    streamId: string,
    expectedVersion: number,
    events: NewEvent[],
    meta: AppendMeta,
    options: OperationOptions = {},
  ): Promise<AppendResult> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    if (!isNonNegativeInteger(expectedVersion)) throw validation('expectedVersion must be a non-negative integer.');
    if (events.length === 0) throw validation('A commit needs at least one event.');

    let ts = meta.originalTimestamp !== undefined ? Date.parse(meta.originalTimestamp) : this.clock.now().getTime();
    if (!Number.isFinite(ts)) throw validation('originalTimestamp must be an ISO instant.');
    if (expectedVersion > 0) {
      const previous = await this.readCommitDoc(streamId, expectedVersion, abortSignal);
      if (!previous) {
        throw new WrongExpectedVersionError(streamId, expectedVersion, await this.streamVersion(streamId, options));
      }
      if (typeof previous.ts === 'number' && previous.ts > ts) ts = previous.ts;
    }

    const version = expectedVersion + 1;
    const timestamp = new Date(ts).toISOString();
    const doc: CommitDocument = {
      id: String(version),
      streamId,
      kind: 'commit',
      version,
      ts,
      timestamp,
      tenantId: this.tenantId,
      author: meta.author,
      correlationId: meta.correlationId,
      events: events.map((e) => ({ type: e.type, data: e.data })),
      ...(meta.idempotency ? { idempotency: { key: meta.idempotency.key, requestHash: meta.idempotency.requestHash } } : {}),
    };
    try {
      throwIfAborted(abortSignal);
      await this.container.items.create(doc, { abortSignal });
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.Conflict) {
        // Someone else wrote this position first; the actual version is at least `version`.
        throw new WrongExpectedVersionError(streamId, expectedVersion, undefined);
      }
      throw asAbortError(e, abortSignal);
    }
    return { version, timestamp };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<Commit[]> {
    const { fromVersion, until, direction = 'forward', maxCount, abortSignal } = options;
    throwIfAborted(abortSignal);
    if (maxCount !== undefined) {
      if (!isNonNegativeInteger(maxCount)) throw validation('maxCount must be a non-negative integer.');
      if (maxCount === 0) return [];
    }
    const parameters: SqlParameter[] = [{ name: '@s', value: streamId }];
    const where = ['c.streamId = @s', "c.kind = 'commit'"];
    if (fromVersion !== undefined) {
      where.push(direction === 'forward' ? 'c.version >= @from' : 'c.version <= @from');
      parameters.push({ name: '@from', value: fromVersion });
    }
    if (until !== undefined) {
      const untilMs = until.getTime();
      if (Number.isNaN(untilMs)) throw validation('until must be a valid instant.');
      where.push('c.ts <= @until');
      parameters.push({ name: '@until', value: untilMs });
    }
    // maxCount is a checked safe integer, so inlining it in TOP cannot inject anything.
    const top = maxCount !== undefined ? `TOP ${maxCount} ` : '';
    const order = direction === 'forward' ? 'ASC' : 'DESC';
    const query = `SELECT ${top}* FROM c WHERE ${where.join(' AND ')} ORDER BY c.version ${order}`;
    const { resources } = await this.container.items
      .query<CommitDocument>({ query, parameters }, { partitionKey: streamId, abortSignal })
      .fetchAll()
      .catch((e: unknown) => {
        throw asAbortError(e, abortSignal);
      });
    return resources.map(toCommit);
  }

  async streamVersion(streamId: string, options: OperationOptions = {}): Promise<number> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const { resources } = await this.container.items
      .query<{ version: number }>(
        {
          query: "SELECT TOP 1 c.version FROM c WHERE c.streamId = @s AND c.kind = 'commit' ORDER BY c.version DESC",
          parameters: [{ name: '@s', value: streamId }],
        },
        { partitionKey: streamId, abortSignal },
      )
      .fetchAll()
      .catch((e: unknown) => {
        throw asAbortError(e, abortSignal);
      });
    return resources[0]?.version ?? 0;
  }

  /**
   * The tenant's commits from the Cosmos DB change feed (latest-version mode: commits are
   * never replaced, so each appears exactly once). The checkpoint is the SDK's continuation
   * token, which holds one position per partition key range.
   *
   * The SDK answers one range per page (200) and says 304 only after every range had nothing
   * new, so pages are read until a 304 or until `maxCount` commits (default 1000, as the
   * embedded store) are in hand: one call sees every range, not just the first with news. The
   * container also holds non-commit documents (tenant meta, projections, users…); they are
   * skipped but still move the continuation on. A page's continuation covers exactly what
   * that page delivered, so stopping between pages never skips or repeats a commit; a page
   * can bring up to `maxCount` commits, so one call may return up to 2×maxCount−1 commits
   * (every commit returned is covered by the checkpoint).
   *
   * Tested against the change-feed stand-in (host/cosmos-standin.ts, 3 ranges) and, with
   * COSMOS_ENDPOINT, against a real account.
   */
  async readFeed(checkpoint: string | undefined, options: ReadFeedOptions = {}): Promise<FeedPage> {
    const { maxCount = 1000, abortSignal } = options;
    throwIfAborted(abortSignal);
    if (!isNonNegativeInteger(maxCount) || maxCount === 0) {
      throw validation('maxCount must be a positive integer.');
    }
    const iterator = this.container.items.getChangeFeedIterator<Partial<CommitDocument>>({
      changeFeedStartFrom: checkpoint === undefined ? ChangeFeedStartFrom.Beginning() : ChangeFeedStartFrom.Continuation(checkpoint),
      changeFeedMode: ChangeFeedMode.LatestVersion,
      maxItemCount: maxCount,
    });
    let token = checkpoint;
    const commits: Commit[] = [];
    for (;;) {
      throwIfAborted(abortSignal);
      const page = await iterator.readNext();
      if (page.continuationToken) token = page.continuationToken;
      if (page.statusCode === StatusCodes.NotModified) break;
      for (const doc of page.result) {
        if (doc.kind === 'commit') commits.push(toCommit(doc as CommitDocument));
      }
      if (commits.length >= maxCount) break;
    }
    if (token === undefined) {
      // Only possible if the service answered without a continuation token at all.
      throw new Error('The change feed returned no continuation token.');
    }
    return { commits, checkpoint: token };
  }

  /**
   * `commits` is null for a checkpoint: a change-feed checkpoint is the SDK's continuation token,
   * an opaque per-partition-range position in the log of ALL writes to the container, and
   * Cosmos DB offers no way to count the documents after it (no "count since continuation").
   * An LSN difference would count operations, not commits — and this container also takes
   * the projections' writes (views, audit, checkpoints), so it would grossly overstate the
   * lag. Counting by time (`ts` after the checkpoint's last commit) is not exact either,
   * because the feed is ordered per partition, not by timestamp. So only the newest commit's
   * timestamp is reported (callers compare it with the projection's last applied timestamp).
   *
   * The newest commit is found with a cross-partition TOP 1 ORDER BY over the index. Without
   * a checkpoint (a rebuild's total, a tenant never projected) every commit is behind, and
   * that number is counted exactly with a COUNT query.
   */
  async feedLag(
    checkpoint: string | undefined,
    options: OperationOptions = {},
  ): Promise<{ commits: number | null; newestTimestamp: string | null }> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const query = <T>(sql: string) =>
      this.container.items
        .query<T>(sql, { abortSignal })
        .fetchAll()
        .catch((e: unknown) => {
          throw asAbortError(e, abortSignal);
        });
    const [{ resources }, total] = await Promise.all([
      query<{ timestamp: string }>("SELECT TOP 1 c.timestamp FROM c WHERE c.kind = 'commit' ORDER BY c.ts DESC"),
      // From the beginning, every commit is behind: that number can be counted (an index-only COUNT).
      checkpoint === undefined ? query<number>("SELECT VALUE COUNT(1) FROM c WHERE c.kind = 'commit'") : undefined,
    ]);
    return { commits: total ? (total.resources[0] ?? 0) : null, newestTimestamp: resources[0]?.timestamp ?? null };
  }

  /** Single-partition query: the stream's partition holds its commits (and snapshots). */
  async findByIdempotencyKey(streamId: string, key: string, options: OperationOptions = {}): Promise<Commit | undefined> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const { resources } = await this.container.items
      .query<CommitDocument>(
        {
          query: "SELECT TOP 1 * FROM c WHERE c.streamId = @s AND c.kind = 'commit' AND c.idempotency.key = @k ORDER BY c.version ASC",
          parameters: [
            { name: '@s', value: streamId },
            { name: '@k', value: key },
          ],
        },
        { partitionKey: streamId, abortSignal },
      )
      .fetchAll()
      .catch((e: unknown) => {
        throw asAbortError(e, abortSignal);
      });
    const doc = resources[0];
    return doc ? toCommit(doc) : undefined;
  }

  async readSnapshot(streamId: string, options: ReadSnapshotOptions = {}): Promise<Snapshot | undefined> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const parameters: SqlParameter[] = [{ name: '@s', value: streamId }];
    const where = ['c.streamId = @s', "c.kind = 'snapshot'"];
    if (options.until !== undefined) {
      const untilMs = options.until.getTime();
      if (Number.isNaN(untilMs)) throw validation('until must be a valid instant.');
      where.push('c.ts <= @until');
      parameters.push({ name: '@until', value: untilMs });
    }
    const { resources } = await this.container.items
      .query<SnapshotDocument>(
        { query: `SELECT TOP 1 * FROM c WHERE ${where.join(' AND ')} ORDER BY c.version DESC`, parameters },
        { partitionKey: streamId, abortSignal },
      )
      .fetchAll()
      .catch((e: unknown) => {
        throw asAbortError(e, abortSignal);
      });
    const doc = resources[0];
    return doc ? { version: doc.version, timestamp: doc.timestamp, state: doc.state } : undefined;
  }

  /**
   * Upsert of `snap-<version>`: writing the same version twice just rewrites it (last write
   * wins; both writers folded the same commits). Errors (e.g. a state over the 2 MB document
   * limit) are thrown; the caller treats snapshots as best effort.
   */
  async writeSnapshot(streamId: string, snapshot: Snapshot, options: OperationOptions = {}): Promise<void> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    if (!Number.isSafeInteger(snapshot.version) || snapshot.version < 1) {
      throw validation('A snapshot version must be a positive integer.');
    }
    const ts = Date.parse(snapshot.timestamp);
    if (Number.isNaN(ts)) throw validation('A snapshot timestamp must be a valid instant.');
    const doc: SnapshotDocument = {
      id: `snap-${snapshot.version}`,
      streamId,
      kind: 'snapshot',
      version: snapshot.version,
      ts,
      timestamp: snapshot.timestamp,
      state: snapshot.state,
    };
    await this.container.items.upsert(doc, { abortSignal }).catch((e: unknown) => {
      throw asAbortError(e, abortSignal);
    });
  }

  private async readCommitDoc(
    streamId: string,
    version: number,
    abortSignal: AbortSignal | undefined,
  ): Promise<CommitDocument | undefined> {
    try {
      const { resource, statusCode } = await this.container.item(String(version), streamId).read<CommitDocument>({ abortSignal });
      if (statusCode === StatusCodes.NotFound || !resource || resource.kind !== 'commit') return undefined;
      return resource;
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.NotFound) return undefined;
      throw asAbortError(e, abortSignal);
    }
  }
}
