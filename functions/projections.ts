import { app } from '@azure/functions';
import { existingTenant } from './http';
import { type Answer, http, type OperationCtx, progressive, type Reply } from './operation';
import { timer } from './timer';
import { timerEntry } from './timers';

/**
 * Feeds tenants' read projections from their logs. A timer rather than one `app.cosmosDB`
 * trigger per tenant container: trigger bindings are fixed when the app is indexed, so a
 * tenant created after deployment would need a redeploy.
 *
 * The work follows change, not the tenant count (shared/app/changes/change-driven-projector.ts):
 * appends made by this process are projected within a fraction of a second by the process
 * itself; each run of this timer retries failed tenants and looks at the next slice of a slow
 * sweep (every tenant once per PROJECTOR_SWEEP_SECONDS) for writes made elsewhere. On the
 * embedded store an unchanged tenant costs two stats and is never opened. Runs never overlap
 * (the local host's croner `protect`; the projector also queues its own passes).
 */
app.timer('projectFeeds', {
  ...timerEntry('projectFeeds'),
  // Every 2 s (PROJECTOR_TICK_MS): a run that found nothing to project writes no line and exports no span.
  handler: timer(
    async ({ services: s, log }) => {
      const n = { tenants: 0, commits: 0, parked: 0, failed: 0 };
      const pass = await s.projector.pass();
      for (const [tenant, r] of Object.entries(pass.results)) {
        if (!r.applied && !r.parked && !r.failed) continue;
        n.tenants++;
        n.commits += r.applied;
        n.parked += r.parked;
        if (r.failed) n.failed++;
        const fields = {
          tenant,
          outcome: r.failed ? 'failed' : 'ok',
          commits: r.applied,
          ...(r.parked ? { parked: r.parked } : {}),
          ...(r.failed ? { note: 'will retry' } : {}),
        };
        if (r.failed || r.parked) log.warn('projection', fields);
        else log.info('projection', fields);
      }
      return n;
    },
    { quietWhenIdle: true },
  ),
});

export async function rebuildProjections(ctx: OperationCtx<'rebuildProjections'>): Promise<Answer<'rebuildProjections'>> {
  const tenant = await existingTenant(ctx);
  return progressive<Reply<'rebuildProjections'>>(async (report) => {
    const started = Date.now();
    const r = await ctx.services.records.rebuild(tenant, report);
    return { status: 200, body: { ...r, durationMs: Date.now() - started, status: await ctx.services.records.projectionStatus(tenant) } };
  });
}
http('rebuildProjections', rebuildProjections);
