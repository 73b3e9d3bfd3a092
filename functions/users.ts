import { validation } from '../shared/domain/errors';
import { etag, idempotency, ifMatch, limitParam, param } from './http';
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
  const q = ctx.req.query;
  const email = q.get('email');
  if (email === null) {
    // No email: one page of the tenant's users.
    const continuation = q.get('continuation');
    const page = await ctx.services.tenants.listUsers(p, {
      limit: limitParam(ctx.req, 50, 200),
      ...(continuation ? { continuation } : {}),
    });
    return { status: 200, body: page };
  }
  if (q.has('limit') || q.has('continuation'))
    throw validation('email finds one user: it cannot be combined with limit or continuation.', [
      { path: 'email', message: 'is not combinable with limit or continuation' },
    ]);
  if (email.length > 254 || !email.includes('@')) {
    throw validation("Give the user's email: ?email=name@example.com.", [{ path: 'email', message: 'must be an email address' }]);
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
  const user = await ctx.services.tenants.updateUser(
    ctx.principal,
    { userId: param(ctx.req, 'userId'), patch: body, ifMatch: expected },
    { correlationId: ctx.correlationId },
  );
  return { status: 200, body: user, headers: { etag: etag(user.version) } };
}
http('updateUser', updateUser);

export async function getUserHistory(ctx: OperationCtx<'getUserHistory'>): Promise<Answer<'getUserHistory'>> {
  return { status: 200, body: { items: await ctx.services.tenants.userHistory(ctx.principal, param(ctx.req, 'userId')) } };
}
http('getUserHistory', getUserHistory);
