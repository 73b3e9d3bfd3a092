import { etag, param } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** Entity types of a tenant, each with the JSON Schema its records must match. */

export async function putType(ctx: OperationCtx<'putType'>): Promise<Answer<'putType'>> {
  const p = ctx.principal;
  const schema = await ctx.body();
  const { status, definition } = await ctx.services.records.defineType(
    p,
    { type: param(ctx.req, 'type'), schema },
    { correlationId: ctx.correlationId },
  );
  return {
    status,
    body: definition,
    headers: { etag: etag(definition.version), location: `/api/t/${p.tenantId}/types/${definition.type}` },
  };
}
http('putType', putType);

export async function listTypes(ctx: OperationCtx<'listTypes'>): Promise<Answer<'listTypes'>> {
  return { status: 200, body: { items: await ctx.services.records.listTypes(ctx.principal) } };
}
http('listTypes', listTypes);

export async function getType(ctx: OperationCtx<'getType'>): Promise<Answer<'getType'>> {
  const d = await ctx.services.records.getType(ctx.principal, { type: param(ctx.req, 'type') });
  return { status: 200, body: d, headers: { etag: etag(d.version) } };
}
http('getType', getType);
