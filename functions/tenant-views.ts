import { app } from '@azure/functions';
import { asOfParam, handler, instant, json, limitParam, streamBody, principal } from './http';

app.http('getAudit', {
  route: 't/{tenant}/audit',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const q = ctx.req.query;
    const from = q.get('from');
    const to = q.get('to');
    const page = await ctx.services.records.audit(p, {
      ...(from ? { from: instant(from, 'from') } : {}),
      ...(to ? { to: instant(to, 'to') } : {}),
      ...(q.get('author') ? { author: q.get('author')! } : {}),
      ...(q.get('type') ? { type: q.get('type')! } : {}),
      limit: limitParam(ctx.req, 50, 500),
      ...(q.get('continuation') ? { continuation: q.get('continuation')! } : {}),
    });
    return json(200, page);
  }),
});

app.http('exportTenant', {
  route: 't/{tenant}/export',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const asOf = asOfParam(ctx.req);
    const lines = ctx.services.records.exportRecords(p, asOf);
    // Pull the first line before answering, so authorization and store errors become proper problems.
    const first = await lines.next();
    async function* all() {
      if (!first.done) yield first.value;
      yield* lines;
    }
    return { status: 200, headers: { 'content-type': 'application/x-ndjson' }, body: streamBody(all()) };
  }),
});

app.http('getTenantProjectionStatus', {
  route: 't/{tenant}/status',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const status = (await ctx.services.records.status(p)) as Record<string, unknown>;
    const files = ctx.services.fileCheck.report(p.tenantId) ?? { checkedAt: null, attached: null, missing: null, missingFiles: [] };
    return json(200, { ...status, files });
  }),
});
