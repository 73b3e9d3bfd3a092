import { app } from '@azure/functions';
import type { CreateTenantInput } from '../shared/app/service';
import { listTenantPage } from '../shared/app/tenants/tenant-pages';
import { handler, json, limitParam, param, readJson } from './http';

app.http('createTenant', {
  route: 'tenants',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const operator = await ctx.services.operatorAuth.authenticate(ctx.req.headers.get('authorization'));
    const input = await readJson<CreateTenantInput>(ctx, 'CreateTenant');
    const created = await ctx.services.tenants.createTenant(input, operator, ctx);
    return json(201, created, { location: `/api/tenants/${created.id}` });
  }),
});

app.http('getTenant', {
  route: 'tenants/{tenant}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    await ctx.services.operatorAuth.authenticate(ctx.req.headers.get('authorization'));
    const status = await ctx.services.tenants.describeTenant(param(ctx.req, 'tenant'));
    return json(200, { ...status, files: ctx.services.fileCheck.summary(status.id) });
  }),
});

app.http('listTenants', {
  route: 'tenants',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    await ctx.services.operatorAuth.authenticate(ctx.req.headers.get('authorization'));
    const continuation = ctx.req.query.get('continuation');
    const page = await listTenantPage(
      { directory: ctx.services.directory, health: ctx.services.tenants.health },
      { limit: limitParam(ctx.req, 100, 1000), ...(continuation ? { continuation } : {}) },
    );
    return json(200, page);
  }),
});

for (const [name, suspended] of [
  ['suspendTenant', true],
  ['resumeTenant', false],
] as const) {
  app.http(name, {
    route: `tenants/{tenant}/${suspended ? 'suspend' : 'resume'}`,
    methods: ['POST'],
    authLevel: 'anonymous',
    handler: handler(async (ctx) => {
      const operator = await ctx.services.operatorAuth.authenticate(ctx.req.headers.get('authorization'));
      return json(200, await ctx.services.tenants.setSuspended(param(ctx.req, 'tenant'), suspended, operator, ctx));
    }),
  });
}
