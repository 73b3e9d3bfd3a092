import { idempotency, param } from './http';
import { type Answer, http, type OperationCtx } from './operation';

/** Webhook subscriptions of a tenant (admin): register, list, read, change/pause/resume, replay, remove. */

const opts = (ctx: { correlationId: string; req: Parameters<typeof idempotency>[0] }, body?: unknown) => ({
  correlationId: ctx.correlationId,
  idempotency: idempotency(ctx.req, body ?? null),
});

export async function createSubscription(ctx: OperationCtx<'createSubscription'>): Promise<Answer<'createSubscription'>> {
  const body = await ctx.body();
  // No Idempotency-Key: a retried registration could not show the secret again.
  const r = await ctx.services.webhooks.register(ctx.principal, body, { correlationId: ctx.correlationId });
  return { status: 201, body: r };
}
http('createSubscription', createSubscription);

export async function listSubscriptions(ctx: OperationCtx<'listSubscriptions'>): Promise<Answer<'listSubscriptions'>> {
  return { status: 200, body: { items: await ctx.services.webhooks.list(ctx.principal) } };
}
http('listSubscriptions', listSubscriptions);

export async function getSubscription(ctx: OperationCtx<'getSubscription'>): Promise<Answer<'getSubscription'>> {
  return { status: 200, body: await ctx.services.webhooks.get(ctx.principal, param(ctx.req, 'subscriptionId')) };
}
http('getSubscription', getSubscription);

export async function updateSubscription(ctx: OperationCtx<'updateSubscription'>): Promise<Answer<'updateSubscription'>> {
  const body = await ctx.body();
  return { status: 200, body: await ctx.services.webhooks.update(ctx.principal, param(ctx.req, 'subscriptionId'), body, opts(ctx, body)) };
}
http('updateSubscription', updateSubscription);

export async function replaySubscription(ctx: OperationCtx<'replaySubscription'>): Promise<Answer<'replaySubscription'>> {
  const body = await ctx.body();
  return {
    status: 200,
    body: await ctx.services.webhooks.replay(ctx.principal, param(ctx.req, 'subscriptionId'), body.from, opts(ctx, body)),
  };
}
http('replaySubscription', replaySubscription);

export async function deleteSubscription(ctx: OperationCtx<'deleteSubscription'>): Promise<Answer<'deleteSubscription'>> {
  await ctx.services.webhooks.remove(ctx.principal, param(ctx.req, 'subscriptionId'), opts(ctx));
  return { status: 204 };
}
http('deleteSubscription', deleteSubscription);
