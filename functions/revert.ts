import { etag, idempotency, ifMatch, instant, param } from './http';
import { type Answer, http, type OperationCtx, progressive, type Reply } from './operation';

/** Undo to an instant: revert one record (editor) or every record of the tenant (admin). */

export async function revertRecord(ctx: OperationCtx<'revertRecord'>): Promise<Answer<'revertRecord'>> {
  const expected = ifMatch(ctx.req);
  const body = await ctx.body();
  const r = await ctx.services.revert.revertRecord(
    ctx.principal,
    { type: param(ctx.req, 'type'), id: param(ctx.req, 'id'), asOf: instant(body.asOf, 'asOf'), reason: body.reason, ifMatch: expected },
    { correlationId: ctx.correlationId, idempotency: idempotency(ctx.req, body) },
  );
  const { replayed, ...answer } = r;
  return { status: 200, body: answer, headers: { etag: etag(r.version), ...(replayed ? { 'idempotency-replayed': 'true' } : {}) } };
}
http('revertRecord', revertRecord);

export async function revertTenant(ctx: OperationCtx<'revertTenant'>): Promise<Answer<'revertTenant'>> {
  const body = await ctx.body();
  // Input and permission errors answer with their own status, before any progress is streamed.
  const prepared = await ctx.services.revert.prepareTenantRevert(
    ctx.principal,
    { asOf: instant(body.asOf, 'asOf'), types: body.types, reason: body.reason, dryRun: body.dryRun },
    { correlationId: ctx.correlationId, idempotency: idempotency(ctx.req, body) },
  );
  return progressive<Reply<'revertTenant'>>(async (report) => {
    const { replayed, ...answer } = await prepared.run(report);
    const headers: Record<string, string> = replayed ? { 'idempotency-replayed': 'true' } : {};
    return { status: 200, body: answer, headers };
  });
}
http('revertTenant', revertTenant);
