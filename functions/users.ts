import { validation } from '../shared/domain/errors';
import { etag, idempotency, ifMatch, param } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** Users of a tenant and their roles. */

export async function createUser(ctx: OperationCtx<'createUser'>): Promise<Answer<'createUser'>> {
  const p = ctx.principal;
  const body = await ctx.body();
  // The password stays out of the key's request hash (it would be a fast hash of it in the log).
  const idem = idempotency(ctx.req, { ...body, password: undefined });
  const { user, replayed } = await ctx.services.tenants.createUserOnce(p, body, idem, ctx);
  return {
    status: 201,
    body: user,
    headers: {
      etag: etag(user.version),
      location: `/api/t/${p.tenantId}/users/${user.userId}`,
      ...(replayed ? { 'idempotency-replayed': 'true' } : {}),
    },
  };
}
http('createUser', createUser);

export async function findUser(ctx: OperationCtx<'findUser'>): Promise<Answer<'findUser'>> {
  const p = ctx.principal;
  const email = ctx.req.query.get('email');
  if (!email || email.length > 254 || !email.includes('@')) {
    throw validation("Give the user's email: ?email=name@example.com.", [
      { path: 'email', message: 'is required and must be an email address' },
    ]);
  }
  const user = await ctx.services.tenants.findUserByEmail(p, email);
  return {
    status: 200,
    body: user,
    headers: { etag: etag(user.version), 'content-location': `/api/t/${p.tenantId}/users/${user.userId}` },
  };
}
http('findUser', findUser);

export async function getUser(ctx: OperationCtx<'getUser'>): Promise<Answer<'getUser'>> {
  const user = await ctx.services.tenants.getUser(ctx.principal, param(ctx.req, 'userId'));
  return { status: 200, body: user, headers: { etag: etag(user.version) } };
}
http('getUser', getUser);

export async function updateUser(ctx: OperationCtx<'updateUser'>): Promise<Answer<'updateUser'>> {
  const expected = ifMatch(ctx.req);
  const body = await ctx.body();
  const user = await ctx.services.tenants.updateUser(ctx.principal, param(ctx.req, 'userId'), body, expected, ctx);
  return { status: 200, body: user, headers: { etag: etag(user.version) } };
}
http('updateUser', updateUser);

export async function getUserHistory(ctx: OperationCtx<'getUserHistory'>): Promise<Answer<'getUserHistory'>> {
  return { status: 200, body: { items: await ctx.services.tenants.userHistory(ctx.principal, param(ctx.req, 'userId')) } };
}
http('getUserHistory', getUserHistory);
