import { listTenantPage } from '../shared/app/tenants/tenant-pages';
import { limitParam } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** Operator endpoints about tenants: lifecycle and status, never tenant data. */

export async function createTenant(ctx: OperationCtx<'createTenant'>): Promise<Answer<'createTenant'>> {
  const input = await ctx.body();
  const created = await ctx.services.tenants.createTenant(ctx.operator, input, ctx);
  return { status: 201, body: created, headers: { location: `/api/tenants/${created.id}` } };
}
http('createTenant', createTenant);

export async function getTenant(ctx: OperationCtx<'getTenant'>): Promise<Answer<'getTenant'>> {
  const status = await ctx.services.tenants.describeTenant(ctx.req.params.tenant ?? '');
  return { status: 200, body: { ...status, files: ctx.services.fileCheck.summary(status.id) } };
}
http('getTenant', getTenant);

export async function listTenants(ctx: OperationCtx<'listTenants'>): Promise<Answer<'listTenants'>> {
  const continuation = ctx.req.query.get('continuation');
  const page = await listTenantPage(
    { directory: ctx.services.directory, health: ctx.services.tenants.health },
    { limit: limitParam(ctx.req, 100, 1000), ...(continuation ? { continuation } : {}) },
  );
  return { status: 200, body: page };
}
http('listTenants', listTenants);

export async function suspendTenant(ctx: OperationCtx<'suspendTenant'>): Promise<Answer<'suspendTenant'>> {
  return { status: 200, body: await ctx.services.tenants.setSuspended(ctx.req.params.tenant ?? '', true, ctx.operator, ctx) };
}
http('suspendTenant', suspendTenant);

export async function resumeTenant(ctx: OperationCtx<'resumeTenant'>): Promise<Answer<'resumeTenant'>> {
  return { status: 200, body: await ctx.services.tenants.setSuspended(ctx.req.params.tenant ?? '', false, ctx.operator, ctx) };
}
http('resumeTenant', resumeTenant);
