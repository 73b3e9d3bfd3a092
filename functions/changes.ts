import { validation } from '../shared/domain/errors';
import { limitParam } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** The tenant's change feed for its apps: paged by opaque positions, with an optional long poll. */

export async function getChanges(ctx: OperationCtx<'getChanges'>): Promise<Answer<'getChanges'>> {
  const q = ctx.req.query;
  const after = q.get('after');
  const wait = q.get('wait');
  const seconds = wait === null ? 0 : Number(wait);
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 120)
    throw validation('wait must be an integer number of seconds from 0 to 120.', [{ path: 'wait', message: 'is not 0 to 120' }]);
  const page = await ctx.services.changeFeed.read(ctx.principal, {
    ...(after !== null ? { after } : {}),
    limit: limitParam(ctx.req, 100, 500),
    waitMs: seconds * 1000,
    ...(ctx.abortSignal ? { abortSignal: ctx.abortSignal } : {}),
  });
  return { status: 200, body: page };
}
http('getChanges', getChanges);
