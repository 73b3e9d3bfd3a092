import { app } from '@azure/functions';
import { runAllProjectors } from '../shared/app/projector';
import { getServices } from '../shared/config/services';
import { handler, json, operatorTenant } from './http';

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
  handler: async (_timer, context) => {
    const s = await getServices();
    const results = await runAllProjectors(s.directory, { clock: s.clock, log: (m) => context.warn(m) });
    for (const [tenant, r] of Object.entries(results)) {
      if (r.applied || r.parked || r.failed) context.log(`projected tenant ${tenant}: ${r.applied} commits${r.parked ? `, ${r.parked} parked` : ''}${r.failed ? ', failed (will retry)' : ''}`);
    }
  },
});

app.http('rebuildProjections', {
  route: 'tenants/{tenant}/projections/rebuild',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const { tenant } = await operatorTenant(ctx);
    const started = Date.now();
    const r = await ctx.services.records.rebuild(tenant);
    return json(200, { ...r, durationMs: Date.now() - started, status: await ctx.services.records.projectionStatus(tenant) });
  }),
});
