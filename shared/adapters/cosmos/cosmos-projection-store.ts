import { createHash } from 'node:crypto';
import { StatusCodes } from '@azure/cosmos';
import type { Container, ItemDefinition, SqlParameter, SqlQuerySpec } from '@azure/cosmos';
import { validation } from '../../domain/errors';
import type { Author } from '../../domain/events';
import type {
  AuditEntry,
  AuditQuery,
  JsonPrimitive,
  ListQuery,
  Page,
  ParkedCommit,
  ProjectionCheckpoint,
  ProjectionStore,
  RecordView,
  ScanRecordsOptions,
} from '../../ports/projection-store';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';
import { cosmosStatus } from './cosmos-event-store';

/*
 * Document layout (all in the tenant's one container, partition key path `/streamId`, so
 * every document carries its partition key value in `streamId`; every projection document
 * carries `gen`, which is what dropGeneration deletes by):
 *
 *   record view   partition `view:<type>:<id>` (type URI-encoded; one logical partition per record: no hot
 *                 partition, no 20 GB cap per type), id `g<gen>`, kind 'record-view'
 *   audit entry   partition `audit:<yyyy-mm-dd>` (UTC day of the event), id
 *                 `g<gen>:<streamId>:<version>:<index>`, kind 'audit' — the id makes a
 *                 repeated put an idempotent upsert of the same document
 *   control docs  partition `$projection`: `generation` (the active generation),
 *                 `generation-claim` (the highest
 *                 number claimed for a rebuild), `checkpoint-g<gen>`, `parked-g<gen>-<streamId>-<version>`
 *
 * Commits (kind 'commit'), snapshots and the tenant meta share the container; every query
 * here filters on `kind`, and the event store's queries do too.
 */

const CONTROL_PARTITION = '$projection';
const GENERATION_ID = 'generation';
/** The highest generation number handed out by claimGeneration (control partition). */
const CLAIM_ID = 'generation-claim';
const PROJECTION_KINDS = ['record-view', 'audit', 'projection-checkpoint', 'projection-parked'] as const;
/** Property names usable in list filters and sort paths (they come from user input). */
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Optimistic retries of one record upsert before giving up (each retry means someone else wrote). */
const MAX_UPSERT_ATTEMPTS = 10;

interface RecordViewDocument {
  id: string;
  streamId: string;
  kind: 'record-view';
  gen: number;
  type: string;
  recordId: string;
  /** type + U+0000 + id: (type, id) order as ONE sortable field (see scanRecords). */
  scanKey: string;
  version: number;
  data: Record<string, unknown> | null;
  deleted: boolean;
  createdAt: string;
  createdBy: Author;
  updatedAt: string;
  updatedBy: Author;
  _etag?: string;
}

interface AuditDocument {
  id: string;
  streamId: string;
  kind: 'audit';
  gen: number;
  /** Epoch milliseconds of `entry.timestamp` (what from/to filter on). */
  ts: number;
  /** Total order for "newest first" in one ORDER BY field (see auditKey()). */
  auditKey: string;
  entry: AuditEntry;
  /** Copies of entry fields the filters use, at fixed top-level paths. */
  author: Author;
  recordType?: string;
}

interface GenerationDocument {
  id: typeof GENERATION_ID;
  streamId: typeof CONTROL_PARTITION;
  kind: 'projection-generation';
  active: number;
}

interface ClaimDocument {
  id: typeof CLAIM_ID;
  streamId: typeof CONTROL_PARTITION;
  kind: 'projection-generation-claim';
  claimed: number;
}

interface CheckpointDocument {
  id: string;
  streamId: typeof CONTROL_PARTITION;
  kind: 'projection-checkpoint';
  gen: number;
  /** null for "from the beginning" (undefined would vanish from JSON). */
  checkpoint: string | null;
  lastTimestamp: string | null;
  applied: number;
  updatedAt: string;
  failures: number;
  lastError?: string;
  erasures?: number;
}

interface ParkedDocument {
  id: string;
  streamId: typeof CONTROL_PARTITION;
  kind: 'projection-parked';
  gen: number;
  parked: Omit<ParkedCommit, 'checkpoint'> & { checkpoint: string | null };
}

function assertGeneration(gen: number): void {
  if (!Number.isSafeInteger(gen) || gen < 1) throw validation('A projection generation is a positive integer.');
}

function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw validation('limit must be a positive integer.');
}

/**
 * A stream id as part of a document id. Cosmos ids may not contain / \ ? # and are at most
 * 255 characters; ids of the usual shape are kept readable, anything else becomes a hash
 * (prefixed with "~", which the readable form never contains, so the two cannot collide).
 */
function idPart(s: string): string {
  return /^[A-Za-z0-9_.:-]{1,160}$/.test(s) ? s : `~${createHash('sha256').update(s).digest('base64url')}`;
}

/**
 * `c.data["a"]["b"]` for a path of property names. The names come from the client's query
 * string, so they are checked against a strict pattern AND emitted as JSON string literals:
 * nothing in them can end the literal or add SQL.
 */
function dataPath(path: readonly string[], what: string): string {
  if (path.length === 0 || path.length > 8) throw validation(`A ${what} path needs 1 to 8 property names.`);
  for (const name of path) {
    if (!PROPERTY_NAME.test(name)) {
      throw validation(
        `"${name.slice(0, 64)}" cannot be used in a ${what}: property names are letters, digits and "_", not starting with a digit, at most 64 characters.`,
      );
    }
  }
  return `c.data${path.map((n) => `[${JSON.stringify(n)}]`).join('')}`;
}

function isJsonPrimitive(v: unknown): v is JsonPrimitive {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function utcDay(ts: number): string {
  return new Date(ts).toISOString().slice(0, 10);
}

/**
 * One string whose order is (timestamp, streamId, version, index): the local Cosmos server
 * cannot ORDER BY two fields, and even on Azure a single sortable field keeps the
 * cross-partition query simple. Numbers are zero-padded so string order = numeric order.
 */
function auditKey(ts: number, e: AuditEntry): string {
  // The SDK's continuation token carries the ORDER BY value of the last item: the stream id
  // is hashed so that a token never shows which stream (e.g. which user) the row was about.
  const stream = createHash('sha256').update(e.streamId).digest('base64url').slice(0, 22);
  return [String(ts).padStart(15, '0'), stream, String(e.version).padStart(12, '0'), String(e.index).padStart(6, '0')].join('\u0000');
}

function toRecordView(doc: RecordViewDocument): RecordView {
  return {
    type: doc.type,
    id: doc.recordId,
    version: doc.version,
    data: doc.data,
    deleted: doc.deleted,
    createdAt: doc.createdAt,
    createdBy: doc.createdBy,
    updatedAt: doc.updatedAt,
    updatedBy: doc.updatedBy,
  };
}

function toCheckpoint(doc: CheckpointDocument): ProjectionCheckpoint {
  return {
    checkpoint: doc.checkpoint ?? undefined,
    lastTimestamp: doc.lastTimestamp,
    applied: doc.applied,
    updatedAt: doc.updatedAt,
    failures: doc.failures,
    ...(doc.lastError !== undefined ? { lastError: doc.lastError } : {}),
    ...(doc.erasures !== undefined ? { erasures: doc.erasures } : {}),
  };
}

function toParked(doc: ParkedDocument): ParkedCommit {
  const p = doc.parked;
  return {
    streamId: p.streamId,
    version: p.version,
    checkpoint: p.checkpoint ?? undefined,
    error: p.error,
    attempts: p.attempts,
    parkedAt: p.parkedAt,
  };
}

/**
 * The continuation handed to clients: the SDK's continuation token, wrapped with a hash of
 * the query it belongs to. A token from another query (other filters, sort, generation) or a
 * mangled one is refused with a validation error instead of being fed to the SDK — the local
 * server would silently restart from the first item, Azure would answer 400 or 500.
 */
function encodeContinuation(spec: SqlQuerySpec, sdkToken: string): string {
  return Buffer.from(JSON.stringify({ q: querySignature(spec), t: sdkToken })).toString('base64url');
}

function decodeContinuation(spec: SqlQuerySpec, continuation: string | undefined): string | undefined {
  if (continuation === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(continuation, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const { q, t } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { q?: unknown; t?: unknown };
  if (typeof t !== 'string' || q !== querySignature(spec)) {
    throw validation('The continuation token is not valid for this query.');
  }
  return t;
}

function querySignature(spec: SqlQuerySpec): string {
  return createHash('sha256')
    .update(JSON.stringify([spec.query, spec.parameters ?? []]))
    .digest('base64url')
    .slice(0, 22);
}

/**
 * The read projections of one tenant in the tenant's own Cosmos DB container (the same one
 * as its event log). Reads that span records (list, scan, audit) are cross-partition
 * queries ordered on ONE field, with the SDK's continuation tokens for paging.
 *
 * `abortSignal` is refused before the first request, passed to every SDK call, and checked
 * between the pages of a query and the batches of a generation drop or an audit write.
 */
export class CosmosProjectionStore implements ProjectionStore {
  constructor(private readonly container: Container) {}

  // ------------------------------------------------------------------ generations

  async activeGeneration(options: OperationOptions = {}): Promise<number> {
    throwIfAborted(options.abortSignal);
    const doc = await this.pointRead<GenerationDocument>(GENERATION_ID, CONTROL_PARTITION, options.abortSignal);
    return doc?.active ?? 1;
  }

  /**
   * The next number above the active generation and above every one claimed before: a
   * conditional write (create, or replace on the `_etag` read) of the `generation-claim`
   * document, retried when another instance claimed in between. So two instances never get
   * the same number.
   */
  async claimGeneration(options: OperationOptions = {}): Promise<number> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    for (let attempt = 0; attempt < MAX_UPSERT_ATTEMPTS; attempt++) {
      const claim = await this.pointRead<ClaimDocument>(CLAIM_ID, CONTROL_PARTITION, abortSignal);
      const next = Math.max(claim?.claimed ?? 0, await this.activeGeneration(options)) + 1;
      const doc: ClaimDocument = { id: CLAIM_ID, streamId: CONTROL_PARTITION, kind: 'projection-generation-claim', claimed: next };
      if (await this.conditionalWrite(doc, claim, CONTROL_PARTITION, abortSignal)) return next;
    }
    throw new Error(`Claiming a projection generation: gave up after ${MAX_UPSERT_ATTEMPTS} concurrent claims.`);
  }

  /**
   * Records the switch first (reads move to `generation` at once), forward only: a conditional
   * write, so an activation that finishes after a newer one has switched changes nothing (false).
   * Then deletes every older generation's documents (never newer ones: another rebuild may be
   * filling one). If the deletion fails part-way, the leftovers are invisible to reads (every
   * query filters on gen) and the next activation deletes them.
   */
  async activateGeneration(generation: number, options: OperationOptions = {}): Promise<boolean> {
    assertGeneration(generation);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    for (let attempt = 0; ; attempt++) {
      const current = await this.pointRead<GenerationDocument>(GENERATION_ID, CONTROL_PARTITION, abortSignal);
      if ((current?.active ?? 1) > generation) return false;
      if (current?.active === generation) break;
      const doc: GenerationDocument = { id: GENERATION_ID, streamId: CONTROL_PARTITION, kind: 'projection-generation', active: generation };
      if (await this.conditionalWrite(doc, current, CONTROL_PARTITION, abortSignal)) break;
      if (attempt + 1 >= MAX_UPSERT_ATTEMPTS)
        throw new Error(`Activating projection generation ${generation}: gave up after ${MAX_UPSERT_ATTEMPTS} concurrent switches.`);
    }
    await this.deleteWhere('c.gen < @g', generation, abortSignal);
    return true;
  }

  /**
   * Creates `doc` when `read` found none, else replaces it if unchanged since (`_etag`); false
   * when someone wrote in between (409 created, 412 replaced, 404 deleted meanwhile).
   */
  private async conditionalWrite(
    doc: ItemDefinition,
    read: ItemDefinition | undefined,
    partition: string,
    abortSignal: AbortSignal | undefined,
  ): Promise<boolean> {
    try {
      throwIfAborted(abortSignal);
      if (!read) await this.container.items.create(doc, { abortSignal });
      else {
        if (!read._etag) throw new Error(`The document ${String(doc.id)} in ${partition} has no _etag.`);
        await this.container
          .item(String(doc.id), partition)
          .replace(doc, { accessCondition: { type: 'IfMatch', condition: read._etag }, abortSignal });
      }
      return true;
    } catch (e) {
      const status = cosmosStatus(e);
      // 409: created meanwhile; 412: replaced meanwhile; 404: deleted meanwhile.
      if (status === StatusCodes.Conflict || status === StatusCodes.PreconditionFailed || status === StatusCodes.NotFound) return false;
      throw e;
    }
  }

  /** Deletes one generation's documents, one by one (no bulk delete without stored procedures or TTL). */
  async dropGeneration(generation: number, options: OperationOptions = {}): Promise<void> {
    assertGeneration(generation);
    throwIfAborted(options.abortSignal);
    await this.deleteWhere('c.gen = @g', generation, options.abortSignal);
  }

  private async deleteWhere(genCondition: string, generation: number, abortSignal: AbortSignal | undefined): Promise<void> {
    const kinds = PROJECTION_KINDS.map((k) => `'${k}'`).join(', ');
    const spec: SqlQuerySpec = {
      query: `SELECT TOP 100 c.id, c.streamId FROM c WHERE c.kind IN (${kinds}) AND ${genCondition}`,
      parameters: [{ name: '@g', value: generation }],
    };
    // Query a batch, delete it, query again: no continuation token is held across deletes.
    for (;;) {
      throwIfAborted(abortSignal);
      const { resources } = await this.container.items.query<{ id: string; streamId: string }>(spec, { abortSignal }).fetchAll();
      if (resources.length === 0) return;
      for (let i = 0; i < resources.length; i += 20) {
        throwIfAborted(abortSignal);
        await Promise.all(
          resources.slice(i, i + 20).map(async ({ id, streamId }) => {
            try {
              await this.container.item(id, streamId).delete({ abortSignal });
            } catch (e) {
              if (cosmosStatus(e) !== StatusCodes.NotFound) throw e;
            }
          }),
        );
      }
    }
  }

  // ------------------------------------------------------------------ record views

  /**
   * Point read, then create (409 = someone created it meanwhile) or replace guarded by the
   * read's ETag (412 = someone replaced it meanwhile); on either, read again and decide
   * again. A view therefore only ever moves forward in version, whatever the interleaving.
   */
  async upsertRecord(generation: number, view: RecordView, options: OperationOptions = {}): Promise<boolean> {
    assertGeneration(generation);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    if (!Number.isSafeInteger(view.version) || view.version < 1) throw validation('A record view version must be a positive integer.');
    const id = `g${generation}`;
    const partition = viewPartition(view.type, view.id);
    const doc: RecordViewDocument = {
      id,
      streamId: partition,
      kind: 'record-view',
      gen: generation,
      type: view.type,
      recordId: view.id,
      scanKey: `${view.type}\u0000${view.id}`,
      version: view.version,
      data: view.data,
      deleted: view.deleted,
      createdAt: view.createdAt,
      createdBy: view.createdBy,
      updatedAt: view.updatedAt,
      updatedBy: view.updatedBy,
    };
    for (let attempt = 0; attempt < MAX_UPSERT_ATTEMPTS; attempt++) {
      const existing = await this.pointRead<RecordViewDocument>(id, partition, abortSignal);
      if (existing && existing.version >= view.version) return false;
      // Someone wrote in between (a 404: the generation was dropped meanwhile): read again.
      if (await this.conditionalWrite(doc, existing, partition, abortSignal)) return true;
    }
    throw new Error(`Record view ${view.type}/${view.id}: gave up after ${MAX_UPSERT_ATTEMPTS} concurrent updates.`);
  }

  async getRecordVersion(generation: number, type: string, id: string, options: OperationOptions = {}): Promise<number> {
    assertGeneration(generation);
    throwIfAborted(options.abortSignal);
    const doc = await this.pointRead<RecordViewDocument>(`g${generation}`, viewPartition(type, id), options.abortSignal);
    return doc?.version ?? 0;
  }

  /**
   * Records of one type that are not deleted, with equality filters on data fields, ordered by
   * one data field (or the record id). Records lacking the sort field: Azure returns them
   * (undefined sorts lowest), @vercel/cosmosdb-server leaves them out — sort on fields every
   * record has (e.g. required by the type's schema).
   */
  async listRecords(generation: number, query: ListQuery, options: OperationOptions = {}): Promise<Page<RecordView>> {
    assertGeneration(generation);
    assertLimit(query.limit);
    throwIfAborted(options.abortSignal);
    const parameters: SqlParameter[] = [
      { name: '@g', value: generation },
      { name: '@t', value: query.type },
    ];
    const where = ["c.kind = 'record-view'", 'c.gen = @g', 'c.type = @t', 'c.deleted = false'];
    query.filters.forEach((f, i) => {
      if (!isJsonPrimitive(f.value)) throw validation('A filter value is a string, number, boolean or null.');
      where.push(`${dataPath(f.path, 'filter')} = @f${i}`);
      parameters.push({ name: `@f${i}`, value: f.value });
    });
    const orderBy = query.sort ? `${dataPath(query.sort.path, 'sort')} ${query.sort.descending ? 'DESC' : 'ASC'}` : 'c.recordId ASC';
    const spec: SqlQuerySpec = { query: `SELECT * FROM c WHERE ${where.join(' AND ')} ORDER BY ${orderBy}`, parameters };
    const page = await this.queryPage<RecordViewDocument>(spec, query.limit, query.continuation, options.abortSignal);
    return { items: page.items.map(toRecordView), ...(page.continuation ? { continuation: page.continuation } : {}) };
  }

  /**
   * (type, id) order needs two ORDER BY fields, which @vercel/cosmosdb-server cannot do (and
   * Azure would need a composite index for): each view stores `scanKey` = type + U+0000 + id,
   * whose string order is (type, id) order because U+0000 sorts below every other character.
   */
  async scanRecords(generation: number, options: ScanRecordsOptions): Promise<RecordView[]> {
    assertGeneration(generation);
    assertLimit(options.limit);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const parameters: SqlParameter[] = [
      { name: '@g', value: generation },
      { name: '@n', value: options.limit },
    ];
    const where = ["c.kind = 'record-view'", 'c.gen = @g'];
    if (options.type !== undefined) {
      where.push('c.type = @t');
      parameters.push({ name: '@t', value: options.type });
    }
    if (options.after) {
      where.push('c.scanKey > @after');
      parameters.push({ name: '@after', value: `${options.after.type}\u0000${options.after.id}` });
    }
    const { resources } = await this.container.items
      .query<RecordViewDocument>(
        { query: `SELECT TOP @n * FROM c WHERE ${where.join(' AND ')} ORDER BY c.scanKey ASC`, parameters },
        { abortSignal },
      )
      .fetchAll();
    return resources.map(toRecordView);
  }

  /** One aggregate query (the SDK sums the partitions' counts). */
  async countRecords(generation: number, options: OperationOptions & { type?: string } = {}): Promise<number> {
    assertGeneration(generation);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const parameters: SqlParameter[] = [{ name: '@g', value: generation }];
    const where = ["c.kind = 'record-view'", 'c.gen = @g'];
    if (options.type !== undefined) {
      where.push('c.type = @t');
      parameters.push({ name: '@t', value: options.type });
    }
    const { resources } = await this.container.items
      .query<number>({ query: `SELECT VALUE COUNT(1) FROM c WHERE ${where.join(' AND ')}`, parameters }, { abortSignal })
      .fetchAll();
    return resources.reduce((a, b) => a + b, 0);
  }

  // ------------------------------------------------------------------ audit

  /** Upserts by (generation, stream, version, index): putting an entry again rewrites the same document. */
  async putAudit(generation: number, entries: AuditEntry[], options: OperationOptions = {}): Promise<void> {
    assertGeneration(generation);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const docs = entries.map((entry): AuditDocument => {
      const ts = Date.parse(entry.timestamp);
      if (Number.isNaN(ts)) throw validation('An audit entry needs a valid timestamp.');
      return {
        id: `g${generation}:${idPart(entry.streamId)}:${entry.version}:${entry.index}`,
        streamId: `audit:${utcDay(ts)}`,
        kind: 'audit',
        gen: generation,
        ts,
        auditKey: auditKey(ts, entry),
        entry,
        author: entry.author,
        ...(entry.recordType !== undefined ? { recordType: entry.recordType } : {}),
      };
    });
    for (let i = 0; i < docs.length; i += 20) {
      throwIfAborted(abortSignal);
      await Promise.all(docs.slice(i, i + 20).map((d) => this.container.items.upsert(d, { abortSignal })));
    }
  }

  /**
   * Newest first; `from` and `to` are inclusive. `author` matches a user's id or email, or an
   * operator's/system's id.
   */
  async listAudit(generation: number, query: AuditQuery, options: OperationOptions = {}): Promise<Page<AuditEntry>> {
    assertGeneration(generation);
    assertLimit(query.limit);
    throwIfAborted(options.abortSignal);
    const parameters: SqlParameter[] = [{ name: '@g', value: generation }];
    const where = ["c.kind = 'audit'", 'c.gen = @g'];
    const instant = (d: Date, what: string): number => {
      const ms = d.getTime();
      if (Number.isNaN(ms)) throw validation(`${what} must be a valid instant.`);
      return ms;
    };
    if (query.from !== undefined) {
      where.push('c.ts >= @from');
      parameters.push({ name: '@from', value: instant(query.from, 'from') });
    }
    if (query.to !== undefined) {
      where.push('c.ts <= @to');
      parameters.push({ name: '@to', value: instant(query.to, 'to') });
    }
    if (query.author !== undefined) {
      where.push('(c.author.userId = @a OR c.author.email = @a OR c.author.id = @a)');
      parameters.push({ name: '@a', value: query.author });
    }
    if (query.type !== undefined) {
      where.push('c.recordType = @rt');
      parameters.push({ name: '@rt', value: query.type });
    }
    if (query.recordsOnly) where.push('IS_DEFINED(c.recordType)');
    const spec: SqlQuerySpec = { query: `SELECT * FROM c WHERE ${where.join(' AND ')} ORDER BY c.auditKey DESC`, parameters };
    const page = await this.queryPage<AuditDocument>(spec, query.limit, query.continuation, options.abortSignal);
    return { items: page.items.map((d) => d.entry), ...(page.continuation ? { continuation: page.continuation } : {}) };
  }

  // ------------------------------------------------------------------ checkpoints, parked commits

  async getCheckpoint(generation: number, options: OperationOptions = {}): Promise<ProjectionCheckpoint | undefined> {
    assertGeneration(generation);
    throwIfAborted(options.abortSignal);
    const doc = await this.pointRead<CheckpointDocument>(`checkpoint-g${generation}`, CONTROL_PARTITION, options.abortSignal);
    return doc ? toCheckpoint(doc) : undefined;
  }

  async setCheckpoint(generation: number, checkpoint: ProjectionCheckpoint, options: OperationOptions = {}): Promise<void> {
    assertGeneration(generation);
    throwIfAborted(options.abortSignal);
    const doc: CheckpointDocument = {
      id: `checkpoint-g${generation}`,
      streamId: CONTROL_PARTITION,
      kind: 'projection-checkpoint',
      gen: generation,
      checkpoint: checkpoint.checkpoint ?? null,
      lastTimestamp: checkpoint.lastTimestamp,
      applied: checkpoint.applied,
      updatedAt: checkpoint.updatedAt,
      failures: checkpoint.failures,
      ...(checkpoint.lastError !== undefined ? { lastError: checkpoint.lastError } : {}),
      ...(checkpoint.erasures !== undefined ? { erasures: checkpoint.erasures } : {}),
    };
    await this.container.items.upsert(doc, { abortSignal: options.abortSignal });
  }

  /** Parking the same commit again replaces its entry (latest error and attempt count). */
  async park(generation: number, parked: ParkedCommit, options: OperationOptions = {}): Promise<void> {
    assertGeneration(generation);
    throwIfAborted(options.abortSignal);
    const doc: ParkedDocument = {
      id: `parked-g${generation}-${idPart(parked.streamId)}-${parked.version}`,
      streamId: CONTROL_PARTITION,
      kind: 'projection-parked',
      gen: generation,
      parked: { ...parked, checkpoint: parked.checkpoint ?? null },
    };
    await this.container.items.upsert(doc, { abortSignal: options.abortSignal });
  }

  /** Single-partition query, oldest parked first. */
  async listParked(generation: number, options: OperationOptions = {}): Promise<ParkedCommit[]> {
    assertGeneration(generation);
    throwIfAborted(options.abortSignal);
    const { resources } = await this.container.items
      .query<ParkedDocument>(
        {
          query: "SELECT * FROM c WHERE c.streamId = @p AND c.kind = 'projection-parked' AND c.gen = @g ORDER BY c.parked.parkedAt ASC",
          parameters: [
            { name: '@p', value: CONTROL_PARTITION },
            { name: '@g', value: generation },
          ],
        },
        { partitionKey: CONTROL_PARTITION, abortSignal: options.abortSignal },
      )
      .fetchAll();
    return resources.map(toParked);
  }

  // ------------------------------------------------------------------ helpers

  private async pointRead<T extends ItemDefinition>(
    id: string,
    partition: string,
    abortSignal: AbortSignal | undefined,
  ): Promise<T | undefined> {
    try {
      const { resource, statusCode } = await this.container.item(id, partition).read<T>({ abortSignal });
      if (statusCode === StatusCodes.NotFound || !resource) return undefined;
      return resource;
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.NotFound) return undefined;
      throw e;
    }
  }

  /**
   * Up to `limit` results of a cross-partition query from a continuation. A page of the SDK
   * may hold fewer than maxItemCount items while more follow (Azure returns short or even
   * empty pages across partitions), so it keeps fetching, asking each time only for what is
   * still missing, until the page is full or the query is exhausted.
   */
  private async queryPage<T>(
    spec: SqlQuerySpec,
    limit: number,
    continuation: string | undefined,
    abortSignal: AbortSignal | undefined,
  ): Promise<{ items: T[]; continuation?: string }> {
    let token = decodeContinuation(spec, continuation);
    const items: T[] = [];
    do {
      throwIfAborted(abortSignal);
      const response = await this.container.items
        .query<T>(spec, { maxItemCount: limit - items.length, abortSignal, ...(token !== undefined ? { continuationToken: token } : {}) })
        .fetchNext();
      items.push(...response.resources);
      token = response.hasMoreResults && response.continuationToken ? response.continuationToken : undefined;
    } while (token !== undefined && items.length < limit);
    return { items, ...(token !== undefined ? { continuation: encodeContinuation(spec, token) } : {}) };
  }
}

/**
 * One logical partition per record view, independent of how streams are named. The type is
 * URI-encoded so that a ":" in it cannot make two (type, id) pairs share a key.
 */
function viewPartition(type: string, id: string): string {
  return `view:${encodeURIComponent(type)}:${id}`;
}
