/** Record reads: one record now, as of an instant or at a version; its history; lists of a type. */
import { notFound, validation } from '../../domain/errors';
import type { Change } from '../../domain/json';
import { assertRecordId, gone, type RecordState, recordStreamId } from '../../domain/records';
import type { OperationOptions } from '../../ports/options';
import type { Page } from '../../ports/projection-store';
import { listRecordsAsOf } from '../list-as-of';
import { loadRecord, replayRecordTo, signalOf } from '../record-reader';
import { TenantService, type UserPrincipal } from '../service';
import type { RecordsContext } from './context';
import { type HistoryItem, type ListParams, type RecordDto, toDto, viewToDto } from './dto';
import type { GetRecordInput, HistoryInput, ListRecordsInput, RecordStateInput } from './inputs';
import { withStores } from '../tenants/with-stores';

export async function getRecord(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: GetRecordInput,
  options: OperationOptions = {},
): Promise<RecordDto> {
  const { type, id, asOf } = input;
  TenantService.require(p, 'read');
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events }) => {
      await ctx.types.requireType(p.tenantId, events, type);
      assertRecordId(id);
      const state = await loadRecord(events, recordStreamId(type, id), asOf, signalOf(options));
      if (!state) throw notFound(asOf ? `The record did not exist at ${asOf.toISOString()}.` : 'Record not found.');
      if (state.deleted) throw gone(state);
      return toDto(state);
    },
    options,
  );
}

/** A record's state now, as of an instant, or at a version (for file downloads). */
export async function recordState(
  ctx: RecordsContext,
  p: UserPrincipal,
  at: RecordStateInput,
  options: OperationOptions = {},
): Promise<RecordState> {
  const { type, id } = at;
  TenantService.require(p, 'read');
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events }) => {
      await ctx.types.requireType(p.tenantId, events, type);
      assertRecordId(id);
      const streamId = recordStreamId(type, id);
      let state: RecordState | undefined;
      if (at.version !== undefined) {
        state = await replayRecordTo(events, streamId, at.version, undefined, options);
        if (state && state.version !== at.version) state = undefined;
      } else {
        state = await loadRecord(events, streamId, at.asOf, signalOf(options));
      }
      if (!state) throw notFound(at.asOf ? `The record did not exist at ${at.asOf.toISOString()}.` : 'Record not found.');
      return state;
    },
    options,
  );
}

export async function history(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: HistoryInput,
  options: OperationOptions = {},
): Promise<Page<HistoryItem>> {
  const { type, id, limit, continuation } = input;
  TenantService.require(p, 'read');
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events, continuations }) => {
      await ctx.types.requireType(p.tenantId, events, type);
      assertRecordId(id);
      const scope = { type, id };
      const from = continuation ? decodeVersion(await continuations.open('history', scope, continuation)) : 1;
      const commits = await events.readStream(recordStreamId(type, id), {
        fromVersion: from,
        maxCount: limit + 1,
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      });
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
    },
    options,
  );
}

export async function list(
  ctx: RecordsContext,
  p: UserPrincipal,
  q: ListRecordsInput,
  options: OperationOptions = {},
): Promise<Page<RecordDto>> {
  const { type } = q;
  TenantService.require(p, 'read');
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events, projections, continuations }) => {
      await ctx.types.requireType(p.tenantId, events, type);
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
    },
    options,
  );
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
