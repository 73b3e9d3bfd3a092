import { asOfParam, instant, limitParam } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** Tenant-wide views: the change log, an export as of an instant, and the projections' status. */

export async function getAudit(ctx: OperationCtx<'getAudit'>): Promise<Answer<'getAudit'>> {
  const q = ctx.req.query;
  const from = q.get('from');
  const to = q.get('to');
  const author = q.get('author');
  const type = q.get('type');
  const continuation = q.get('continuation');
  const page = await ctx.services.records.audit(ctx.principal, {
    ...(from ? { from: instant(from, 'from') } : {}),
    ...(to ? { to: instant(to, 'to') } : {}),
    ...(author ? { author } : {}),
    ...(type ? { type } : {}),
    limit: limitParam(ctx.req, 50, 500),
    ...(continuation ? { continuation } : {}),
  });
  return { status: 200, body: page };
}
http('getAudit', getAudit);

export async function exportTenant(ctx: OperationCtx<'exportTenant'>): Promise<Answer<'exportTenant'>> {
  const lines = ctx.services.records.exportRecords(ctx.principal, { asOf: asOfParam(ctx.req) });
  // Pull the first line before answering, so authorization and store errors become proper problems.
  const first = await lines.next();
  async function* all() {
    if (!first.done) yield first.value;
    yield* lines;
  }
  return { status: 200, body: all() };
}
http('exportTenant', exportTenant);

export async function getTenantProjectionStatus(
  ctx: OperationCtx<'getTenantProjectionStatus'>,
): Promise<Answer<'getTenantProjectionStatus'>> {
  const p = ctx.principal;
  const status = await ctx.services.records.status(p);
  const files = ctx.services.fileCheck.report(p.tenantId) ?? { checkedAt: null, attached: null, missing: null, missingFiles: [] };
  return { status: 200, body: { ...status, files } };
}
http('getTenantProjectionStatus', getTenantProjectionStatus);
