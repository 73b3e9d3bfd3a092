import { app } from '@azure/functions';
import { validation } from '../shared/domain/errors';
import type { JsonPrimitive } from '../shared/ports/projection-store';
import { asOfParam, etag, handler, idempotency, ifMatch, json, limitParam, param, readJson, principal } from './http';

const RESERVED = new Set(['limit', 'continuation', 'sort', 'asOf']);
const replayHeader = (replayed: boolean): Record<string, string> => (replayed ? { 'idempotency-replayed': 'true' } : {});

app.http('createRecord', {
  route: 't/{tenant}/records/{type}',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const body = await readJson<Record<string, unknown>>(ctx, 'JsonObject');
    const r = await ctx.services.records.createRecord(p, param(ctx.req, 'type'), body, idempotency(ctx.req, body), ctx);
    return json(201, r.record, {
      etag: etag(r.record.version),
      location: `/api/t/${p.tenantId}/records/${r.record.type}/${r.record.id}`,
      ...replayHeader(r.replayed),
    });
  }),
});

app.http('patchRecord', {
  route: 't/{tenant}/records/{type}/{id}',
  methods: ['PATCH'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const expected = ifMatch(ctx.req);
    const body = await readJson<Record<string, unknown>>(ctx, 'JsonObject');
    const r = await ctx.services.records.patchRecord(
      p,
      param(ctx.req, 'type'),
      param(ctx.req, 'id'),
      body,
      expected,
      idempotency(ctx.req, body),
      ctx,
    );
    return json(200, r.record, { etag: etag(r.record.version), ...replayHeader(r.replayed) });
  }),
});

app.http('deleteRecord', {
  route: 't/{tenant}/records/{type}/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const r = await ctx.services.records.deleteRecord(
      p,
      param(ctx.req, 'type'),
      param(ctx.req, 'id'),
      ifMatch(ctx.req),
      idempotency(ctx.req, null),
      ctx,
    );
    return { status: 204, headers: { etag: etag(r.record.version), ...replayHeader(r.replayed) } };
  }),
});

app.http('getRecord', {
  route: 't/{tenant}/records/{type}/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const r = await ctx.services.records.getRecord(p, param(ctx.req, 'type'), param(ctx.req, 'id'), asOfParam(ctx.req));
    return json(200, r, { etag: etag(r.version) });
  }),
});

app.http('getRecordHistory', {
  route: 't/{tenant}/records/{type}/{id}/history',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const page = await ctx.services.records.history(
      p,
      param(ctx.req, 'type'),
      param(ctx.req, 'id'),
      limitParam(ctx.req, 100, 1000),
      ctx.req.query.get('continuation') ?? undefined,
    );
    return json(200, page);
  }),
});

app.http('listRecords', {
  route: 't/{tenant}/records/{type}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const filters: Array<{ path: string[]; value: JsonPrimitive }> = [];
    for (const [k, v] of ctx.req.query.entries()) if (!RESERVED.has(k)) filters.push({ path: fieldPath(k), value: primitive(v) });
    const sortParam = ctx.req.query.get('sort');
    const sort = sortParam ? { path: fieldPath(sortParam.replace(/^-/, '')), descending: sortParam.startsWith('-') } : undefined;
    const asOf = asOfParam(ctx.req);
    const continuation = ctx.req.query.get('continuation');
    const page = await ctx.services.records.list(p, param(ctx.req, 'type'), {
      filters,
      ...(sort ? { sort } : {}),
      limit: limitParam(ctx.req, 50, 500),
      ...(continuation ? { continuation } : {}),
      ...(asOf ? { asOf } : {}),
    });
    return json(200, page);
  }),
});

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
