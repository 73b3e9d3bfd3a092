import { app } from '@azure/functions';
import { handler, json, param, readJson } from './http';

app.http('issueToken', {
  route: 't/{tenant}/auth/token',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const body = await readJson<{ email: string; password: string }>(ctx, 'Login');
    const token = await ctx.services.tenants.login(param(ctx.req, 'tenant'), body.email, body.password);
    return json(200, token, { 'cache-control': 'no-store' });
  }),
});
