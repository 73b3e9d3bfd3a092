import { app } from '@azure/functions';
import type { Role } from '../shared/domain/identity';
import { validation } from '../shared/domain/errors';
import { etag, handler, idempotency, ifMatch, json, param, readJson, principal } from './http';

app.http('createUser', {
  route: 't/{tenant}/users',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const body = await readJson<{ email: string; password: string; roles: Role[]; displayName?: string }>(ctx, 'CreateUser');
    // The password stays out of the key's request hash (it would be a fast hash of it in the log).
    const idem = idempotency(ctx.req, { ...body, password: undefined });
    const { user, replayed } = await ctx.services.tenants.createUserOnce(p, body, idem, ctx);
    return json(201, user, {
      etag: etag(user.version),
      location: `/api/t/${p.tenantId}/users/${user.userId}`,
      ...(replayed ? { 'idempotency-replayed': 'true' } : {}),
    });
  }),
});

app.http('findUser', {
  route: 't/{tenant}/users',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const email = ctx.req.query.get('email');
    if (!email || email.length > 254 || !email.includes('@')) {
      throw validation("Give the user's email: ?email=name@example.com.", [
        { path: 'email', message: 'is required and must be an email address' },
      ]);
    }
    const user = await ctx.services.tenants.findUserByEmail(p, email);
    return json(200, user, { etag: etag(user.version), 'content-location': `/api/t/${p.tenantId}/users/${user.userId}` });
  }),
});

app.http('getUser', {
  route: 't/{tenant}/users/{userId}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const user = await ctx.services.tenants.getUser(p, param(ctx.req, 'userId'));
    return json(200, user, { etag: etag(user.version) });
  }),
});

app.http('updateUser', {
  route: 't/{tenant}/users/{userId}',
  methods: ['PATCH'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    const expected = ifMatch(ctx.req);
    const body = await readJson<{ roles?: Role[]; disabled?: boolean; password?: string }>(ctx, 'PatchUser');
    const user = await ctx.services.tenants.updateUser(p, param(ctx.req, 'userId'), body, expected, ctx);
    return json(200, user, { etag: etag(user.version) });
  }),
});

app.http('getUserHistory', {
  route: 't/{tenant}/users/{userId}/history',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const p = await principal(ctx);
    return json(200, { items: await ctx.services.tenants.userHistory(p, param(ctx.req, 'userId')) });
  }),
});
