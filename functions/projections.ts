import { app } from '@azure/functions';
import { runAllProjectors } from '../shared/app/projector';
import { handler, operatorTenant } from './http';
import { redact } from './log';
import { withProgress } from './progress';
import { timer } from './timer';

/**
 * Feeds every tenant's read projections from its log. A timer rather than one
 * `app.cosmosDB` trigger per tenant container: trigger bindings are fixed when the app is
 * indexed, so a tenant created after deployment would need a redeploy. This timer finds
 * tenants from the store's own catalog on every run, reads each tenant's feed (Cosmos change
 * feed / embedded log) from the checkpoint kept in that tenant's store, and runs the same
 * idempotent handler. It runs unchanged under `func start` and the local host.
 */
app.timer('projectFeeds', {
  schedule: '*/2 * * * * *',
  runOnStartup: false,
  useMonitor: false,
  // Every 2 s: a run that found nothing to project writes no line and exports no span.
  handler: timer(
    async ({ services: s, log }) => {
      const n = { tenants: 0, commits: 0, parked: 0, failed: 0 };
      const results = await runAllProjectors(s.directory, {
        clock: s.clock,
        log: (message) => log.warn('projection.warning', { message: redact(message) }),
      });
      for (const [tenant, r] of Object.entries(results)) {
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

app.http('rebuildProjections', {
  route: 'tenants/{tenant}/projections/rebuild',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const { tenant } = await operatorTenant(ctx);
    return withProgress(ctx, async (report) => {
      const started = Date.now();
      const r = await ctx.services.records.rebuild(tenant, report);
      return { status: 200, body: { ...r, durationMs: Date.now() - started, status: await ctx.services.records.projectionStatus(tenant) } };
    });
  }),
});
