import { app } from '@azure/functions';
import { clientKeyFromForwardedFor } from '../shared/app/auth/client-address';
import { handler, json, param, readJson } from './http';

app.http('issueToken', {
  route: 't/{tenant}/auth/token',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const body = await readJson<{ email: string; password: string }>(ctx, 'Login');
    // The caller as the platform's front end saw it (see client-address.ts for what is trusted).
    const client = clientKeyFromForwardedFor(ctx.req.headers.get('x-forwarded-for'), ctx.services.config.clientAddressHops);
    const token = await ctx.services.tenants.login(param(ctx.req, 'tenant'), body.email, body.password, client);
    return json(200, token, { 'cache-control': 'no-store' });
  }),
});
