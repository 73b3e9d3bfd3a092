import { app } from '@azure/functions';
import { etag, handler, json, param, readJson, principal } from './http';

app.http('putType', {
  route: 't/{tenant}/types/{type}',
  methods: ['PUT'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const schema = await readJson<Record<string, unknown>>(ctx, 'TypeSchema');
    const { status, definition } = await ctx.services.records.defineType(p, param(ctx.req, 'type'), schema, ctx);
    return json(status, definition, { etag: etag(definition.version), location: `/api/t/${p.tenantId}/types/${definition.type}` });
  }),
});

app.http('listTypes', {
  route: 't/{tenant}/types',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => json(200, { items: await ctx.services.records.listTypes(await principal(ctx)) })),
});

app.http('getType', {
  route: 't/{tenant}/types/{type}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const d = await ctx.services.records.getType(await principal(ctx), param(ctx.req, 'type'));
    return json(200, d, { etag: etag(d.version) });
  }),
});
