import type { ProgressSink } from './progress';
import { createHash, randomBytes } from 'node:crypto';
import { AppError, conflict, isWrongExpectedVersion, notFound, unprocessable, validation } from '../domain/errors';
import type { Author, Commit, Idempotency, NewEvent } from '../domain/events';
import { rolesAllow } from '../domain/identity';
import type { Change } from '../domain/json';
import {
  assertRecordId,
  assertTypeName,
  decideRecord,
  decideTypeSchema,
  evolveRecord,
  evolveTypes,
  gone,
  recordStreamId,
  TYPES_STREAM,
  type FileEntry,
  type RecordCommand,
  type RecordState,
  type TypeDefinition,
} from '../domain/records';
import type { EventStore } from '../ports/event-store';
import type { AuditEntry, JsonPrimitive, Page, ProjectionStore } from '../ports/projection-store';
import type { Clock } from '../ports/runtime';
import { projectCommits, runProjector } from './projector';
import { listRecordsAsOf } from './list-as-of';
import { loadRecord, readStreamPages, replayRecordTo } from './record-reader';
import { TimeSlice, yieldToEventLoop } from './yield';
import { TenantService, type RequestInfo, type UserPrincipal } from './service';
import { sharedSandbox, type SchemaHandle, type TypeSchemaSandbox } from './type-schemas';

export interface FileDto {
  fileId: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Record version that attached this file version. */
  version: number;
  attachedAt: string;
  attachedBy: Author;
}

export interface RecordDto {
  id: string;
  type: string;
  version: number;
  data: Record<string, unknown>;
  createdAt: string;
  createdBy: Author;
  updatedAt: string;
  updatedBy: Author;
  /** Files attached at this version (single-record reads; lists leave it out). */
  files?: FileDto[];
}

export const toFileDto = (f: FileEntry): FileDto => ({
  fileId: f.fileId,
  name: f.name,
  contentType: f.contentType,
  size: f.size,
  sha256: f.sha256,
  version: f.version,
  attachedAt: f.attachedAt,
  attachedBy: f.attachedBy,
});

export interface CommandOutcome {
  status: 200 | 201 | 204;
  record: RecordDto;
  /** True when an earlier response was replayed for the same Idempotency-Key. */
  replayed: boolean;
}

export interface ListParams {
  filters: Array<{ path: string[]; value: JsonPrimitive }>;
  sort?: { path: string[]; descending: boolean };
  limit: number;
  continuation?: string;
  asOf?: Date;
}

export interface HistoryItem {
  version: number;
  timestamp: string;
  author: Author;
  correlationId: string;
  events: Array<{ type: string; changes: Change[] }>;
}

interface TypesCache {
  version: number;
  types: Map<string, TypeDefinition>;
  validators: Map<string, SchemaHandle>;
}

const toDto = (s: RecordState): RecordDto => ({
  id: s.id,
  type: s.type,
  version: s.version,
  data: s.data,
  createdAt: s.createdAt,
  createdBy: s.createdBy,
  updatedAt: s.updatedAt,
  updatedBy: s.updatedBy,
  files: Object.values(s.files ?? {}).map(toFileDto),
});

/**
 * Entity types and records: commands (each accepted command = one commit), strongly
 * consistent current and point-in-time reads, history, list, audit and export.
 */
export class RecordService {
  private readonly types = new Map<string, TypesCache>();

  constructor(
    private readonly tenants: TenantService,
    private readonly clock: Clock,
    private readonly log: (message: string) => void = () => undefined,
    /** Compiles and runs tenant schemas off the event loop (see shared/app/type-schemas). */
    private readonly schemas: TypeSchemaSandbox = sharedSandbox(),
  ) {}

  /** Drops the cached types of a tenant (after a scratch tenant is removed). */
  forget(tenantId: string): void {
    this.types.delete(tenantId);
  }

  // ------------------------------------------------------------------ types

  async defineType(
    p: UserPrincipal,
    type: string,
    schema: unknown,
    req: RequestInfo,
  ): Promise<{ status: 200 | 201; definition: TypeDefinition }> {
    TenantService.require(p, 'manage');
    assertTypeName(type);
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
      throw unprocessable('A type schema is a JSON Schema object.');
    await this.schemas.checkDefinition(p.tenantId, type, schema);
    const { events, projections } = await this.tenants.stores(p.tenantId);
    const cache = await this.loadTypes(p.tenantId, events);
    const current = cache.types.get(type);
    const out = decideTypeSchema(current, type, schema as Record<string, unknown>);
    if (out.length === 0) return { status: 200, definition: current! };
    const meta = { author: author(p), correlationId: req.correlationId };
    let r;
    try {
      r = await events.append(TYPES_STREAM, cache.version, out, meta);
    } catch (e) {
      if (isWrongExpectedVersion(e)) throw conflict('Types were changed concurrently; retry.');
      throw e;
    }
    await this.projectInline(events, projections, {
      tenantId: p.tenantId,
      streamId: TYPES_STREAM,
      version: r.version,
      timestamp: r.timestamp,
      ...meta,
      events: out,
    });
    const updated = await this.loadTypes(p.tenantId, events);
    return { status: current ? 200 : 201, definition: updated.types.get(type)! };
  }

  async listTypes(p: UserPrincipal): Promise<TypeDefinition[]> {
    TenantService.require(p, 'read');
    const { events } = await this.tenants.stores(p.tenantId);
    return [...(await this.loadTypes(p.tenantId, events)).types.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  async getType(p: UserPrincipal, type: string): Promise<TypeDefinition> {
    TenantService.require(p, 'read');
    const { events } = await this.tenants.stores(p.tenantId);
    return this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId).def;
  }

  private requireType(cache: TypesCache, type: string, tenantId: string): { def: TypeDefinition; schema: SchemaHandle } {
    assertTypeName(type);
    const def = cache.types.get(type);
    if (!def) throw notFound(`Unknown type "${type}".`);
    let schema = cache.validators.get(type);
    if (!schema) {
      schema = this.schemas.handle(tenantId, type, def.schema);
      cache.validators.set(type, schema);
    }
    return { def, schema };
  }

  /** Types of a tenant, folded from the `types` stream; re-read only when it moved. */
  private async loadTypes(tenantId: string, events: EventStore): Promise<TypesCache> {
    const version = await events.streamVersion(TYPES_STREAM);
    let cache = this.types.get(tenantId);
    if (cache && cache.version === version) return cache;
    const from = cache && cache.version < version ? cache.version + 1 : 1;
    const types = from === 1 ? new Map<string, TypeDefinition>() : new Map(cache!.types);
    const validators = from === 1 ? new Map<string, SchemaHandle>() : new Map(cache!.validators);
    let last = version;
    for await (const page of readStreamPages(events, TYPES_STREAM, { fromVersion: from })) {
      for (const c of page) {
        evolveTypes(types, c);
        for (const e of c.events) validators.delete((e.data as { type: string }).type);
        last = c.version;
      }
    }
    cache = { version: last, types, validators };
    this.types.set(tenantId, cache);
    return cache;
  }

  // ------------------------------------------------------------------ commands

  async createRecord(
    p: UserPrincipal,
    type: string,
    data: unknown,
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<CommandOutcome> {
    TenantService.require(p, 'write');
    const { events, projections } = await this.tenants.stores(p.tenantId);
    const { schema } = this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId);
    const id = idem ? derivedId(p.tenantId, type, idem.key) : `r_${randomBytes(16).toString('base64url').slice(0, 22)}`;
    const streamId = recordStreamId(type, id);
    if (idem) {
      const replay = await this.replay(events, streamId, idem, 201);
      if (replay) return replay;
    }
    const out = decideRecord(undefined, { kind: 'create', type, id, data: data as Record<string, unknown> });
    await this.schemas.validate(p.tenantId, schema, data);
    return this.commit(p, events, projections, streamId, undefined, out, idem, req, 201);
  }

  async patchRecord(
    p: UserPrincipal,
    type: string,
    id: string,
    patch: unknown,
    ifMatch: number | undefined,
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<CommandOutcome> {
    return this.change(p, type, id, { kind: 'patch', patch: patch as Record<string, unknown> }, ifMatch, idem, req, 200);
  }

  async deleteRecord(
    p: UserPrincipal,
    type: string,
    id: string,
    ifMatch: number | undefined,
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<CommandOutcome> {
    return this.change(p, type, id, { kind: 'delete' }, ifMatch, idem, req, 204);
  }

  private async change(
    p: UserPrincipal,
    type: string,
    id: string,
    cmd: RecordCommand,
    ifMatch: number | undefined,
    idem: Idempotency | undefined,
    req: RequestInfo,
    status: 200 | 204,
  ): Promise<CommandOutcome> {
    TenantService.require(p, 'write');
    const { events, projections } = await this.tenants.stores(p.tenantId);
    const { schema } = this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId);
    assertRecordId(id);
    const streamId = recordStreamId(type, id);
    if (idem) {
      const replay = await this.replay(events, streamId, idem, status);
      if (replay) return replay;
    }
    if (ifMatch === undefined) throw new AppError('precondition_required', 'Send If-Match with the ETag of the version you are changing.');
    const state = await loadRecord(events, streamId);
    if (!state) throw notFound('Record not found.');
    if (state.deleted) throw gone(state);
    if (state.version !== ifMatch)
      throw new AppError('precondition_failed', `The record is at version ${state.version}; reload it and retry.`);
    const out = decideRecord(state, cmd);
    if (out.length === 0) return { status: 200, record: toDto(state), replayed: false };
    if (cmd.kind === 'patch') {
      const next = evolveRecord(state, { version: state.version + 1, timestamp: state.updatedAt, author: author(p), events: out })!;
      await this.schemas.validate(p.tenantId, schema, next.data);
    }
    return this.commit(p, events, projections, streamId, state, out, idem, req, status);
  }

  /**
   * Appends a file command (attach, replace, delete) to a record. With If-Match it is checked;
   * without, the command applies to whatever the current version is (files do not conflict
   * with data changes) and is retried if another writer got in first.
   */
  async fileCommand(
    p: UserPrincipal,
    type: string,
    id: string,
    cmd: RecordCommand,
    ifMatch: number | undefined,
    req: RequestInfo,
    idem?: Idempotency,
  ): Promise<{ record: RecordDto; state: RecordState; replayed: boolean }> {
    TenantService.require(p, 'write');
    const { events, projections } = await this.tenants.stores(p.tenantId);
    this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId);
    assertRecordId(id);
    const streamId = recordStreamId(type, id);
    for (let attempt = 0; ; attempt++) {
      const state = await loadRecord(events, streamId);
      // After loading: a retry that raced the first attempt either sees its commit here or
      // fails its append below and comes back here.
      if (idem) {
        const earlier = await this.replayState(events, streamId, idem);
        if (earlier) return { record: toDto(earlier), state: earlier, replayed: true };
      }
      if (!state) throw notFound('Record not found.');
      if (state.deleted) throw gone(state);
      if (ifMatch !== undefined && state.version !== ifMatch)
        throw new AppError('precondition_failed', `The record is at version ${state.version}; reload it and retry.`);
      const out = decideRecord(state, cmd);
      const meta = { author: author(p), correlationId: req.correlationId, ...(idem ? { idempotency: idem } : {}) };
      try {
        const r = await events.append(streamId, state.version, out, meta);
        const commit: Commit = { tenantId: p.tenantId, streamId, version: r.version, timestamp: r.timestamp, ...meta, events: out };
        const next = evolveRecord(state, commit)!;
        await this.projectInline(events, projections, commit);
        return { record: toDto(next), state: next, replayed: false };
      } catch (e) {
        if (isWrongExpectedVersion(e) && idem && attempt < 4) continue;
        if (!isWrongExpectedVersion(e) || ifMatch !== undefined || attempt >= 4) {
          if (isWrongExpectedVersion(e)) throw new AppError('precondition_failed', 'The record was changed concurrently; retry.');
          throw e;
        }
      }
    }
  }

  /** A record's state now, as of an instant, or at a version (for file downloads). */
  async recordState(p: UserPrincipal, type: string, id: string, at: { asOf?: Date; version?: number } = {}): Promise<RecordState> {
    TenantService.require(p, 'read');
    const { events } = await this.tenants.stores(p.tenantId);
    this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId);
    assertRecordId(id);
    const streamId = recordStreamId(type, id);
    let state: RecordState | undefined;
    if (at.version !== undefined) {
      state = await replayRecordTo(events, streamId, at.version);
      if (state && state.version !== at.version) state = undefined;
    } else {
      state = await loadRecord(events, streamId, at.asOf);
    }
    if (!state) throw notFound(at.asOf ? `The record did not exist at ${at.asOf.toISOString()}.` : 'Record not found.');
    return state;
  }

  private async commit(
    p: UserPrincipal,
    events: EventStore,
    projections: ProjectionStore,
    streamId: string,
    state: RecordState | undefined,
    out: NewEvent[],
    idem: Idempotency | undefined,
    req: RequestInfo,
    status: 200 | 201 | 204,
  ): Promise<CommandOutcome> {
    const meta = { author: author(p), correlationId: req.correlationId, ...(idem ? { idempotency: idem } : {}) };
    const expected = state?.version ?? 0;
    let r;
    try {
      r = await events.append(streamId, expected, out, meta);
    } catch (e) {
      if (isWrongExpectedVersion(e)) {
        if (idem) {
          const replay = await this.replay(events, streamId, idem, status);
          if (replay) return replay;
        }
        throw expected === 0
          ? conflict('This record already exists.')
          : new AppError('precondition_failed', 'The record was changed concurrently; reload it and retry.');
      }
      throw e;
    }
    const commit: Commit = { tenantId: p.tenantId, streamId, version: r.version, timestamp: r.timestamp, ...meta, events: out };
    const next = evolveRecord(state, commit)!;
    await this.projectInline(events, projections, commit);
    return { status, record: toDto(next), replayed: false };
  }

  /**
   * The record as the first file command with this Idempotency-Key left it, if there was one
   * (422 if the key came with another request). Lets an upload answer a retry before reading
   * its body.
   */
  async fileReplay(
    p: UserPrincipal,
    type: string,
    id: string,
    idem: Idempotency,
  ): Promise<{ record: RecordDto; state: RecordState } | undefined> {
    TenantService.require(p, 'write');
    const { events } = await this.tenants.stores(p.tenantId);
    assertRecordId(id);
    const state = await this.replayState(events, recordStreamId(type, id), idem);
    return state && { record: toDto(state), state };
  }

  /** The first response of a command with this Idempotency-Key, if it was accepted before. */
  private async replay(
    events: EventStore,
    streamId: string,
    idem: Idempotency,
    status: 200 | 201 | 204,
  ): Promise<CommandOutcome | undefined> {
    const state = await this.replayState(events, streamId, idem);
    return state && { status, record: toDto(state), replayed: true };
  }

  /** The stream's state right after the commit that carried this Idempotency-Key, if any. */
  private async replayState(events: EventStore, streamId: string, idem: Idempotency): Promise<RecordState | undefined> {
    const earlier = await events.findByIdempotencyKey(streamId, idem.key);
    if (!earlier) return undefined;
    if (earlier.idempotency?.requestHash !== idem.requestHash) {
      throw unprocessable('This Idempotency-Key was already used with a different request.');
    }
    return replayRecordTo(events, streamId, earlier.version);
  }

  /** Read-your-writes for lists: project the commit now; the feed projector retries if this fails. */
  private async projectInline(events: EventStore, projections: ProjectionStore, commit: Commit): Promise<void> {
    try {
      await projectCommits(events, projections, await projections.activeGeneration(), [commit]);
    } catch (e) {
      this.log(
        `inline projection of ${commit.streamId}@${commit.version} failed (the feed projector will retry): ${(e as Error)?.message}`,
      );
    }
  }

  // ------------------------------------------------------------------ queries

  async getRecord(p: UserPrincipal, type: string, id: string, asOf?: Date): Promise<RecordDto> {
    TenantService.require(p, 'read');
    const { events } = await this.tenants.stores(p.tenantId);
    this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId);
    assertRecordId(id);
    const state = await loadRecord(events, recordStreamId(type, id), asOf);
    if (!state) throw notFound(asOf ? `The record did not exist at ${asOf.toISOString()}.` : 'Record not found.');
    if (state.deleted) throw gone(state);
    return toDto(state);
  }

  async history(p: UserPrincipal, type: string, id: string, limit: number, continuation?: string): Promise<Page<HistoryItem>> {
    TenantService.require(p, 'read');
    const { events, continuations } = await this.tenants.stores(p.tenantId);
    this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId);
    assertRecordId(id);
    const scope = { type, id };
    const from = continuation ? decodeVersion(await continuations.open('history', scope, continuation)) : 1;
    const commits = await events.readStream(recordStreamId(type, id), { fromVersion: from, maxCount: limit + 1 });
    if (commits.length === 0 && from === 1) throw notFound('Record not found.');
    const page = commits.slice(0, limit);
    return {
      items: page.map((c) => ({
        version: c.version,
        timestamp: c.timestamp,
        author: c.author,
        correlationId: c.correlationId,
        events: c.events.map((e) => ({ type: e.type, changes: (e.data as { changes: Change[] }).changes })),
      })),
      ...(commits.length > limit
        ? { continuation: await continuations.seal('history', scope, encodeVersion(commits[limit]!.version)) }
        : {}),
    };
  }

  async list(p: UserPrincipal, type: string, q: ListParams): Promise<Page<RecordDto>> {
    TenantService.require(p, 'read');
    const { events, projections, continuations } = await this.tenants.stores(p.tenantId);
    this.requireType(await this.loadTypes(p.tenantId, events), type, p.tenantId);
    const gen = await projections.activeGeneration();
    if (!q.asOf) {
      // The store's position is sealed for the client: opaque, and valid only for this query of this tenant.
      const scope = { type, filters: q.filters, sort: q.sort ?? null };
      const position = q.continuation ? await continuations.open('records', scope, q.continuation) : undefined;
      const page = await projections.listRecords(gen, {
        type,
        filters: q.filters,
        ...(q.sort ? { sort: q.sort } : {}),
        limit: q.limit,
        ...(position ? { continuation: position } : {}),
      });
      return {
        items: page.items.map(viewToDto),
        ...(page.continuation ? { continuation: await continuations.seal('records', scope, page.continuation) } : {}),
      };
    }
    if (q.sort) throw validation('sort cannot be combined with asOf; records as of an instant are listed in id order.');
    // As of an instant: walk the type's records in id order and rebuild each at that instant,
    // a bounded number per request (a page may end early, even empty, with a continuation).
    const scope = { type, filters: q.filters, asOf: q.asOf.toISOString() };
    const after = q.continuation ? decodeId(await continuations.open('records-as-of', scope, q.continuation)) : undefined;
    const page = await listRecordsAsOf(
      events,
      projections,
      gen,
      { type, asOf: q.asOf, limit: q.limit, ...(after !== undefined ? { after } : {}) },
      (s) => matches(s.data, q.filters),
    );
    return {
      items: page.items.map(toDto),
      ...(page.after !== undefined ? { continuation: await continuations.seal('records-as-of', scope, encodeId(page.after)) } : {}),
    };
  }

  async audit(
    p: UserPrincipal,
    q: { from?: Date; to?: Date; author?: string; type?: string; limit: number; continuation?: string },
  ): Promise<Page<AuditEntry>> {
    TenantService.require(p, 'read');
    const { projections, continuations } = await this.tenants.stores(p.tenantId);
    // Identity changes (users, roles, the tenant itself) are for administrators only: the
    // store filters them out before paging, so neither a page nor its token depends on them.
    const recordsOnly = !rolesAllow(p.roles, 'manage');
    const scope = {
      from: q.from?.toISOString() ?? null,
      to: q.to?.toISOString() ?? null,
      author: q.author ?? null,
      type: q.type ?? null,
      recordsOnly,
    };
    const position = q.continuation ? await continuations.open('audit', scope, q.continuation) : undefined;
    const stored = await projections.listAudit(await projections.activeGeneration(), { ...q, continuation: position, recordsOnly });
    return { ...stored, ...(stored.continuation ? { continuation: await continuations.seal('audit', scope, stored.continuation) } : {}) };
  }

  /** Every record of the tenant as of an instant (or now), one JSON object per line, constant memory. */
  async *exportRecords(p: UserPrincipal, asOf?: Date): AsyncGenerator<string> {
    TenantService.require(p, 'read');
    const { events, projections } = await this.tenants.stores(p.tenantId);
    const gen = await projections.activeGeneration();
    let after: { type: string; id: string } | undefined;
    const slice = new TimeSlice();
    for (;;) {
      const batch = await projections.scanRecords(gen, { ...(after ? { after } : {}), limit: 200 });
      for (const v of batch) {
        after = { type: v.type, id: v.id };
        const s = await loadRecord(events, recordStreamId(v.type, v.id), asOf, { slice });
        if (s && !s.deleted) yield `${JSON.stringify(toDto(s))}\n`;
        await slice.maybeYield();
      }
      if (batch.length < 200) return;
      await yieldToEventLoop();
    }
  }

  // ------------------------------------------------------------------ projections

  async status(p: UserPrincipal): Promise<unknown> {
    TenantService.require(p, 'manage');
    return this.projectionStatus(p.tenantId);
  }

  async projectionStatus(tenantId: string): Promise<unknown> {
    const { events, projections } = await this.tenants.stores(tenantId);
    const gen = await projections.activeGeneration();
    const cp = await projections.getCheckpoint(gen);
    const lag = await events.feedLag(cp?.checkpoint);
    const parked = await projections.listParked(gen);
    const now = this.clock.now().getTime();
    return {
      tenant: tenantId,
      projections: [
        {
          name: 'records-and-audit',
          generation: gen,
          appliedCommits: cp?.applied ?? 0,
          lastAppliedTimestamp: cp?.lastTimestamp ?? null,
          behindCommits: lag.commits,
          newestCommitTimestamp: lag.newestTimestamp,
          lagMs:
            lag.newestTimestamp && cp?.lastTimestamp
              ? Math.max(0, Date.parse(lag.newestTimestamp) - Date.parse(cp.lastTimestamp))
              : lag.newestTimestamp
                ? now - Date.parse(lag.newestTimestamp)
                : 0,
          failures: cp?.failures ?? 0,
          ...(cp?.lastError ? { lastError: cp.lastError } : {}),
          parked,
        },
      ],
    };
  }

  /**
   * Rebuilds the tenant's projections from the log into a new generation while the current
   * one keeps serving (commands never stop), then switches to it.
   */
  async rebuild(tenantId: string, onProgress?: ProgressSink): Promise<{ generation: number; applied: number }> {
    const { events, projections } = await this.tenants.stores(tenantId);
    const next = (await projections.activeGeneration()) + 1;
    await projections.dropGeneration(next);
    // Commits in the log now: the rebuild applies these (and any that arrive meanwhile).
    const total = onProgress ? ((await events.feedLag(undefined)).commits ?? undefined) : undefined;
    let applied = 0;
    for (;;) {
      const r = await runProjector(events, projections, next, { clock: this.clock, maxPages: 1, log: this.log });
      if (r.failed)
        throw new AppError('unavailable', 'Rebuilding the projections failed; the current ones stay active. See the tenant status.');
      applied += r.applied;
      onProgress?.({ phase: 'project', done: applied, ...(total !== undefined ? { total: Math.max(total, applied) } : {}) });
      if (r.applied === 0) break;
      await yieldToEventLoop();
    }
    await projections.activateGeneration(next);
    return { generation: next, applied };
  }
}

function author(p: UserPrincipal): Author {
  return { kind: 'user', userId: p.userId, email: p.email };
}

/** A retried create with the same Idempotency-Key targets the same record id. */
function derivedId(tenantId: string, type: string, key: string): string {
  return `r_${createHash('sha256').update(`${tenantId}\u0000${type}\u0000${key}`).digest('base64url').slice(0, 22)}`;
}

function viewToDto(v: {
  type: string;
  id: string;
  version: number;
  data: Record<string, unknown> | null;
  createdAt: string;
  createdBy: Author;
  updatedAt: string;
  updatedBy: Author;
}): RecordDto {
  return {
    id: v.id,
    type: v.type,
    version: v.version,
    data: v.data ?? {},
    createdAt: v.createdAt,
    createdBy: v.createdBy,
    updatedAt: v.updatedAt,
    updatedBy: v.updatedBy,
  };
}

function matches(data: Record<string, unknown>, filters: ListParams['filters']): boolean {
  return filters.every((f) => {
    let v: unknown = data;
    for (const k of f.path) v = v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
    return v === f.value;
  });
}

const encodeVersion = (v: number) => Buffer.from(JSON.stringify({ v })).toString('base64url');
function decodeVersion(token: string): number {
  try {
    const v = (JSON.parse(Buffer.from(token, 'base64url').toString()) as { v: unknown }).v;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  } catch {
    /* fall through */
  }
  throw validation('The continuation token is not valid.');
}
const encodeId = (id: string) => Buffer.from(JSON.stringify({ id })).toString('base64url');
function decodeId(token: string): string {
  try {
    const id = (JSON.parse(Buffer.from(token, 'base64url').toString()) as { id: unknown }).id;
    if (typeof id === 'string') return id;
  } catch {
    /* fall through */
  }
  throw validation('The continuation token is not valid.');
}
