import { clientKeyFromForwardedFor } from '../shared/app/auth/client-address';
import { param } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** Sign-in: a bearer token valid for one tenant only. */
export async function issueToken(ctx: OperationCtx<'issueToken'>): Promise<Answer<'issueToken'>> {
  const body = await ctx.body();
  // The caller as the platform's front end saw it (see client-address.ts for what is trusted).
  const client = clientKeyFromForwardedFor(ctx.req.headers.get('x-forwarded-for'), ctx.services.config.clientAddressHops);
  const token = await ctx.services.tenants.login({
    tenantId: param(ctx.req, 'tenant'),
    email: body.email,
    password: body.password,
    client,
  });
  return { status: 200, body: token, headers: { 'cache-control': 'no-store' } };
}
http('issueToken', issueToken);
