import { ChangeFeedMode, ChangeFeedStartFrom, StatusCodes } from '@azure/cosmos';
import type { Container, SqlParameter, SqlQuerySpec } from '@azure/cosmos';
import type { AppendMeta, Author, Commit, Idempotency, NewEvent } from '../../domain/events';
import { validation, WrongExpectedVersionError } from '../../domain/errors';
import type {
  AppendResult,
  EventStore,
  FeedPage,
  ListStreamsOptions,
  ReadFeedOptions,
  ReadSnapshotOptions,
  ReadStreamOptions,
  Snapshot,
} from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import type { Clock } from '../../ports/runtime';
import { asAbortError, throwIfAborted } from '../abort';
import { streamPrefixRange } from '../stream-range';

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
/** Every method's preamble: the caller's signal, refused at once if it has already fired (before any request). */
function checkedSignal(options: OperationOptions): AbortSignal | undefined {
  throwIfAborted(options.abortSignal);
  return options.abortSignal;
}

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
    const abortSignal = checkedSignal(options);
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
    const { fromVersion, until, direction = 'forward', maxCount } = options;
    const abortSignal = checkedSignal(options);
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
    const resources = await this.query<CommitDocument>({ query, parameters }, abortSignal, streamId);
    return resources.map(toCommit);
  }

  async streamVersion(streamId: string, options: OperationOptions = {}): Promise<number> {
    const abortSignal = checkedSignal(options);
    const resources = await this.query<{ version: number }>(
      {
        query: "SELECT TOP 1 c.version FROM c WHERE c.streamId = @s AND c.kind = 'commit' ORDER BY c.version DESC",
        parameters: [{ name: '@s', value: streamId }],
      },
      abortSignal,
      streamId,
    );
    return resources[0]?.version ?? 0;
  }

  /**
   * Streams by id prefix: each stream's first commit (version 1), across partitions, in id
   * order, `limit` at most (validated an integer by streamPrefixRange; a range on the stream id
   * rather than STARTSWITH, so the index serves it).
   */
  async listStreams(prefix: string, options: ListStreamsOptions): Promise<string[]> {
    const abortSignal = checkedSignal(options);
    const r = streamPrefixRange(prefix, options);
    const resources = await this.query<{ streamId: string }>(
      {
        query: `SELECT TOP ${options.limit} c.streamId FROM c WHERE c.kind = 'commit' AND c.version = 1 AND c.streamId ${r.inclusive ? '>=' : '>'} @from AND c.streamId < @below ORDER BY c.streamId`,
        parameters: [
          { name: '@from', value: r.from },
          { name: '@below', value: r.below },
        ],
      },
      abortSignal,
    );
    return resources.map((x) => x.streamId);
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
    const { maxCount = 1000 } = options;
    const abortSignal = checkedSignal(options);
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
   * The change feed's continuation at its end now (ChangeFeedStartFrom.Now: one 304 per
   * partition key range, no document read): a read from it returns only later writes.
   */
  async endCheckpoint(options: OperationOptions = {}): Promise<string> {
    const abortSignal = checkedSignal(options);
    const iterator = this.container.items.getChangeFeedIterator<{ id?: string }>({
      changeFeedStartFrom: ChangeFeedStartFrom.Now(),
      changeFeedMode: ChangeFeedMode.LatestVersion,
      maxItemCount: 1,
    });
    let token: string | undefined;
    for (;;) {
      throwIfAborted(abortSignal);
      const page = await iterator.readNext();
      if (page.continuationToken) token = page.continuationToken;
      if (page.statusCode === StatusCodes.NotModified) break;
    }
    if (token === undefined) throw new Error('The change feed returned no continuation token.');
    return token;
  }

  /** Where `logFingerprint` last found the end of this container's change feed. */
  private feedEnd: string | undefined;
  /** Commit documents the fingerprint reads have passed over in this process. */
  private feedCommitsSeen = 0;
  /** `feedCommitsSeen` at each recent fingerprint (oldest first; for `commitsSince`). */
  private readonly feedCommitsAt = new Map<string, number>();

  /**
   * A fingerprint of the container: the change feed's continuation at its end now. The first
   * call starts from "now" (one 304 per partition key range, no document read); every later
   * call reads on from where the previous one ended, so each change is read once here (its
   * documents are skipped) and an unchanged container costs one 304 per range. The
   * continuation of a feed read to its end only moves when something was written, so the
   * fingerprint changes with every write (a commit, or a projection's own documents) and stays
   * the same while nothing is written (shared/app/changes/log-marks.ts).
   *
   * `commitsSince`: a fingerprint this store returned before (the projector's mark, taken
   * before its last run). The documents read past it are counted by kind: when none of them is
   * a commit (only that run's own projection documents were written), `commitsSince` itself is
   * returned, so the sweep's look finds the tenant unchanged instead of running it a second
   * time for its own writes; when a commit came since, or that fingerprint is not one of this
   * store's recent ones (another process's, or evicted), the fingerprint now is returned.
   * Counting is sound in latest-version mode, which shows a document updated several times
   * between two reads only once, because a commit document is created once and never
   * updated. Shown on the stand-in (host/cosmos-standin.ts) only; what it cannot show: a
   * partition split between the two reads (the SDK then hands out continuations of the new
   * ranges; an unknown token only costs one more run).
   */
  async feedFingerprint(options: OperationOptions & { commitsSince?: string } = {}): Promise<string> {
    const { commitsSince } = options;
    const abortSignal = checkedSignal(options);
    const iterator = this.container.items.getChangeFeedIterator<{ id?: string; kind?: string }>({
      changeFeedStartFrom: this.feedEnd === undefined ? ChangeFeedStartFrom.Now() : ChangeFeedStartFrom.Continuation(this.feedEnd),
      changeFeedMode: ChangeFeedMode.LatestVersion,
      maxItemCount: 1000,
    });
    let token = this.feedEnd;
    for (;;) {
      throwIfAborted(abortSignal);
      const page = await iterator.readNext();
      if (page.continuationToken) token = page.continuationToken;
      if (page.statusCode === StatusCodes.NotModified) break;
      for (const doc of page.result) if (doc.kind === 'commit') this.feedCommitsSeen++;
    }
    if (token === undefined) throw new Error('The change feed returned no continuation token.');
    this.feedEnd = token;
    this.feedCommitsAt.delete(token);
    this.feedCommitsAt.set(token, this.feedCommitsSeen);
    if (this.feedCommitsAt.size > 64) this.feedCommitsAt.delete(this.feedCommitsAt.keys().next().value as string);
    // No commit passed over since `commitsSince` (a token equal to the end has the count just
    // set: nothing at all was written since): the log is as it was then.
    if (commitsSince !== undefined && this.feedCommitsAt.get(commitsSince) === this.feedCommitsSeen) return commitsSince;
    return token;
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
    const abortSignal = checkedSignal(options);
    const query = <T>(sql: string) => this.query<T>(sql, abortSignal);
    const [newest, total] = await Promise.all([
      query<{ timestamp: string }>("SELECT TOP 1 c.timestamp FROM c WHERE c.kind = 'commit' ORDER BY c.ts DESC"),
      // From the beginning, every commit is behind: that number can be counted (an index-only COUNT).
      checkpoint === undefined ? query<number>("SELECT VALUE COUNT(1) FROM c WHERE c.kind = 'commit'") : undefined,
    ]);
    return { commits: total ? (total[0] ?? 0) : null, newestTimestamp: newest[0]?.timestamp ?? null };
  }

  /** Single-partition query: the stream's partition holds its commits (and snapshots). */
  async findByIdempotencyKey(streamId: string, key: string, options: OperationOptions = {}): Promise<Commit | undefined> {
    const abortSignal = checkedSignal(options);
    const resources = await this.query<CommitDocument>(
      {
        query: "SELECT TOP 1 * FROM c WHERE c.streamId = @s AND c.kind = 'commit' AND c.idempotency.key = @k ORDER BY c.version ASC",
        parameters: [
          { name: '@s', value: streamId },
          { name: '@k', value: key },
        ],
      },
      abortSignal,
      streamId,
    );
    const doc = resources[0];
    return doc ? toCommit(doc) : undefined;
  }

  async readSnapshot(streamId: string, options: ReadSnapshotOptions = {}): Promise<Snapshot | undefined> {
    const abortSignal = checkedSignal(options);
    const parameters: SqlParameter[] = [{ name: '@s', value: streamId }];
    const where = ['c.streamId = @s', "c.kind = 'snapshot'"];
    if (options.until !== undefined) {
      const untilMs = options.until.getTime();
      if (Number.isNaN(untilMs)) throw validation('until must be a valid instant.');
      where.push('c.ts <= @until');
      parameters.push({ name: '@until', value: untilMs });
    }
    const resources = await this.query<SnapshotDocument>(
      { query: `SELECT TOP 1 * FROM c WHERE ${where.join(' AND ')} ORDER BY c.version DESC`, parameters },
      abortSignal,
      streamId,
    );
    const doc = resources[0];
    return doc ? { version: doc.version, timestamp: doc.timestamp, state: doc.state } : undefined;
  }

  /**
   * Upsert of `snap-<version>`: writing the same version twice just rewrites it (last write
   * wins; both writers folded the same commits). Errors (e.g. a state over the 2 MB document
   * limit) are thrown; the caller treats snapshots as best effort.
   */
  async writeSnapshot(streamId: string, snapshot: Snapshot, options: OperationOptions = {}): Promise<void> {
    const abortSignal = checkedSignal(options);
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

  /**
   * A query's results, read to the end: in the stream's partition when `partitionKey` is given,
   * else across partitions. An SDK error of a call the caller aborted becomes the port's AbortError.
   */
  private async query<T>(spec: SqlQuerySpec | string, abortSignal: AbortSignal | undefined, partitionKey?: string): Promise<T[]> {
    const { resources } = await this.container.items
      .query<T>(spec, { ...(partitionKey !== undefined ? { partitionKey } : {}), abortSignal })
      .fetchAll()
      .catch((e: unknown) => {
        throw asAbortError(e, abortSignal);
      });
    return resources;
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
