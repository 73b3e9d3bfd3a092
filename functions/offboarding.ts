import { app } from '@azure/functions';
import { param } from './http';
import { type Answer, http, type OperationCtx } from './operation';
import { timer } from './timer';
import { timerEntry } from './timers';

/** Operator endpoints of tenant offboarding (crypto-shredding) and the timer that shreds. */

export async function deleteTenant(ctx: OperationCtx<'deleteTenant'>): Promise<Answer<'deleteTenant'>> {
  return { status: 202, body: await ctx.services.offboarding.scheduleDeletion(param(ctx.req, 'tenant'), ctx.operator, ctx) };
}
http('deleteTenant', deleteTenant);

export async function cancelTenantDeletion(ctx: OperationCtx<'cancelTenantDeletion'>): Promise<Answer<'cancelTenantDeletion'>> {
  return { status: 200, body: await ctx.services.offboarding.cancelDeletion(param(ctx.req, 'tenant'), ctx.operator, ctx) };
}
http('cancelTenantDeletion', cancelTenantDeletion);

export async function getDeletionReceipts(ctx: OperationCtx<'getDeletionReceipts'>): Promise<Answer<'getDeletionReceipts'>> {
  return { status: 200, body: { items: await ctx.services.offboarding.receipts(param(ctx.req, 'tenant')) } };
}
http('getDeletionReceipts', getDeletionReceipts);

/**
 * Shreds tenants whose deletion grace period has ended, and finishes shredding a crash or an
 * unreachable tier interrupted. Hourly, and at start (so a host killed mid-shred continues at
 * once); every step is idempotent.
 */
app.timer('shredTenants', {
  ...timerEntry('shredTenants'),
  handler: timer(
    async (run) => {
      const n = { shredded: 0, unfinished: 0 };
      await run.services.offboarding.shredDue(run, (r) => {
        if (r.status === 'complete') n.shredded++;
        else n.unfinished++;
        const line = {
          tenant: r.tenant,
          deletionId: r.deletionId,
          outcome: r.status,
          ...(r.retainedTiers.length ? { retainedTiers: r.retainedTiers.join(',') } : {}),
          ...(r.failedTiers.length ? { failedTiers: r.failedTiers.join(','), note: 'the next run retries the failed tiers' } : {}),
        };
        if (r.failedTiers.length) run.log.error('tenant.shred', line);
        else run.log.info('tenant.shred', line);
      });
      return n;
    },
    { quietWhenIdle: true },
  ),
});
