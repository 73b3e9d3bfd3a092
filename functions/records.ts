import { validation } from '../shared/domain/errors';
import type { JsonPrimitive } from '../shared/ports/projection-store';
import { asOfParam, etag, idempotency, ifMatch, limitParam, param } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** Records: create, change, delete, read now or as of an instant, history, list. */

const RESERVED = new Set(['limit', 'continuation', 'sort', 'asOf']);
const replayHeader = (replayed: boolean): Record<string, string> => (replayed ? { 'idempotency-replayed': 'true' } : {});

export async function createRecord(ctx: OperationCtx<'createRecord'>): Promise<Answer<'createRecord'>> {
  const p = ctx.principal;
  const body = await ctx.body();
  const r = await ctx.services.records.createRecord(
    p,
    { type: param(ctx.req, 'type'), data: body },
    { correlationId: ctx.correlationId, idempotency: idempotency(ctx.req, body) },
  );
  return {
    status: 201,
    body: r.record,
    headers: {
      etag: etag(r.record.version),
      location: `/api/t/${p.tenantId}/records/${r.record.type}/${r.record.id}`,
      ...replayHeader(r.replayed),
    },
  };
}
http('createRecord', createRecord);

export async function patchRecord(ctx: OperationCtx<'patchRecord'>): Promise<Answer<'patchRecord'>> {
  const expected = ifMatch(ctx.req);
  const body = await ctx.body();
  const r = await ctx.services.records.patchRecord(
    ctx.principal,
    { type: param(ctx.req, 'type'), id: param(ctx.req, 'id'), patch: body, ifMatch: expected },
    { correlationId: ctx.correlationId, idempotency: idempotency(ctx.req, body) },
  );
  return { status: 200, body: r.record, headers: { etag: etag(r.record.version), ...replayHeader(r.replayed) } };
}
http('patchRecord', patchRecord);

export async function deleteRecord(ctx: OperationCtx<'deleteRecord'>): Promise<Answer<'deleteRecord'>> {
  const r = await ctx.services.records.deleteRecord(
    ctx.principal,
    { type: param(ctx.req, 'type'), id: param(ctx.req, 'id'), ifMatch: ifMatch(ctx.req) },
    { correlationId: ctx.correlationId, idempotency: idempotency(ctx.req, null) },
  );
  return { status: 204, headers: { etag: etag(r.record.version), ...replayHeader(r.replayed) } };
}
http('deleteRecord', deleteRecord);

export async function getRecord(ctx: OperationCtx<'getRecord'>): Promise<Answer<'getRecord'>> {
  const r = await ctx.services.records.getRecord(ctx.principal, {
    type: param(ctx.req, 'type'),
    id: param(ctx.req, 'id'),
    asOf: asOfParam(ctx.req),
  });
  return { status: 200, body: r, headers: { etag: etag(r.version) } };
}
http('getRecord', getRecord);

export async function getRecordHistory(ctx: OperationCtx<'getRecordHistory'>): Promise<Answer<'getRecordHistory'>> {
  const page = await ctx.services.records.history(ctx.principal, {
    type: param(ctx.req, 'type'),
    id: param(ctx.req, 'id'),
    limit: limitParam(ctx.req, 100, 1000),
    continuation: ctx.req.query.get('continuation') ?? undefined,
  });
  return { status: 200, body: page };
}
http('getRecordHistory', getRecordHistory);

export async function listRecords(ctx: OperationCtx<'listRecords'>): Promise<Answer<'listRecords'>> {
  const filters: Array<{ path: string[]; value: JsonPrimitive }> = [];
  for (const [k, v] of ctx.req.query.entries()) if (!RESERVED.has(k)) filters.push({ path: fieldPath(k), value: primitive(v) });
  const sortParam = ctx.req.query.get('sort');
  const sort = sortParam ? { path: fieldPath(sortParam.replace(/^-/, '')), descending: sortParam.startsWith('-') } : undefined;
  const asOf = asOfParam(ctx.req);
  const continuation = ctx.req.query.get('continuation');
  const page = await ctx.services.records.list(ctx.principal, {
    type: param(ctx.req, 'type'),
    filters,
    ...(sort ? { sort } : {}),
    limit: limitParam(ctx.req, 50, 500),
    ...(continuation ? { continuation } : {}),
    ...(asOf ? { asOf } : {}),
  });
  return { status: 200, body: page };
}
http('listRecords', listRecords);

function fieldPath(s: string): string[] {
  const parts = s.split('.');
  if (!parts.every((x) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(x)) || parts.length > 8) {
    throw validation(`"${s.slice(0, 80)}" is not a field path (names of letters, digits and "_" joined by dots).`);
  }
  return parts;
}

/** Filter values: numbers, true/false/null as JSON; anything else (or "quoted") as a string. */
function primitive(v: string): JsonPrimitive {
  if (/^".*"$/.test(v)) return v.slice(1, -1);
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'null') return null;
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(v)) return Number(v);
  return v;
}
