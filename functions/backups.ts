import { app } from '@azure/functions';
import { assertNotReserved } from '../shared/app/service';
import { getServices } from '../shared/config/services';
import { handler, instant, json, operatorTenant, readJson } from './http';

app.http('runBackup', {
  route: 'tenants/{tenant}/backups',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const { tenant } = await operatorTenant(ctx);
    const results = await ctx.services.backups.backupAllTiers(tenant);
    return json(results.every((r) => r.ok) ? 200 : 502, { tenant, tiers: results });
  }),
});

app.http('getBackups', {
  route: 'tenants/{tenant}/backups',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const { tenant } = await operatorTenant(ctx);
    return json(200, { tenant, tiers: await ctx.services.backups.status(tenant) });
  }),
});

app.http('runRestoreDrill', {
  route: 'tenants/{tenant}/backups/drill',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const { tenant, operator } = await operatorTenant(ctx);
    const results = [];
    for (const t of ctx.services.backups.targets) results.push(await ctx.services.backups.drill(tenant, t, operator, ctx));
    return json(results.every((r) => r.ok) ? 200 : 502, { tenant, drills: results });
  }),
});

app.http('restoreTenant', {
  route: 'tenants/{tenant}/restore',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: handler(async (ctx) => {
    const { tenant, operator } = await operatorTenant(ctx);
    const body = await readJson<{ tier: string; asOf: string; into: string }>(ctx, 'Restore');
    const asOf = instant(body.asOf, 'asOf');
    assertNotReserved(body.into);
    const r = await ctx.services.backups.restore(tenant, ctx.services.backups.target(body.tier), asOf, body.into, operator, ctx, (n) =>
      ctx.context.log(`restore of ${tenant} into ${body.into}: ${n} commits imported`),
    );
    return json(201, { ...r, source: tenant, tier: body.tier, asOf: asOf.toISOString() }, { location: `/api/tenants/${r.id}` });
  }),
});

/** Incremental backups of every tenant to every tier (at least once; resumable). */
app.timer('backupIncremental', {
  schedule: '0 */15 * * * *',
  runOnStartup: false,
  useMonitor: true,
  handler: async (_t, context) => {
    const s = await getServices();
    for (const tenant of await s.tenants.servedTenantIds()) {
      for (const r of await s.backups.backupAllTiers(tenant)) {
        if (!r.ok) context.error(`backup of ${tenant} to ${r.tier} failed (the next run continues from the last manifest): ${r.error}`);
        else if (r.commits) context.log(`backup of ${tenant} to ${r.tier}: ${r.commits} commits in ${r.segments} segments`);
      }
    }
  },
});

/**
 * Daily full run: starts a new chain (a consolidated base) on every tier, then applies the
 * retention policy. Every chain is a complete history, so dropping old ones breaks nothing.
 */
app.timer('backupFull', {
  schedule: '0 0 2 * * *',
  runOnStartup: false,
  useMonitor: true,
  handler: async (_t, context) => {
    const s = await getServices();
    for (const tenant of await s.tenants.servedTenantIds()) {
      for (const t of s.backups.targets) {
        const r = await s.backups.backupTenant(tenant, t, { full: true });
        if (!r.ok) {
          context.error(`full backup of ${tenant} to ${t.name} failed (the previous chain stays in use): ${r.error}`);
          continue;
        }
        const kept = await s.backups.applyRetention(tenant, t, s.config.backupRetention);
        context.log(`full backup of ${tenant} to ${t.name}: chain ${r.chain}, ${r.commits} commits; retention kept ${kept.kept.length}, deleted ${kept.deleted.length}${kept.refused ? `, ${kept.refused} objects still immutable` : ''}`);
      }
    }
  },
});

/** Daily restore drill of every tenant on every tier; a failure is logged as an error. */
app.timer('backupDrill', {
  schedule: '0 30 3 * * *',
  runOnStartup: false,
  useMonitor: true,
  handler: async (_t, context) => {
    const s = await getServices();
    for (const tenant of await s.tenants.servedTenantIds()) {
      for (const t of s.backups.targets) {
        const r = await s.backups.drill(tenant, t, { id: 'system:backup-drill' }, { correlationId: `drill-${Date.now()}` });
        if (r.ok) context.log(`restore drill of ${tenant} on ${t.name}: ok (${r.commits} commits, hash ${r.restoredHash?.slice(0, 12)})`);
        else context.error(`RESTORE DRILL FAILED: tenant ${tenant} on ${t.name}: ${r.error ?? 'state hash differs'}`);
      }
    }
  },
});
