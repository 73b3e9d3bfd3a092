import { app } from '@azure/functions';
import { assertNotReserved } from '../shared/app/service';
import { handler, instant, json, operatorTenant, readJson } from './http';
import { withProgress } from './progress';
import { errorMessage, redact } from './log';
import { timer } from './timer';

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
    const target = ctx.services.backups.target(body.tier);
    return withProgress(ctx, async (report) => {
      const r = await ctx.services.backups.restore(tenant, target, asOf, body.into, operator, ctx, report);
      return { status: 201, body: { ...r, source: tenant, tier: body.tier, asOf: asOf.toISOString() }, headers: { location: `/api/tenants/${r.id}` } };
    });
  }),
});

/** Incremental backups of every tenant to every tier (at least once; resumable). */
app.timer('backupIncremental', {
  schedule: '0 */15 * * * *',
  runOnStartup: false,
  useMonitor: true,
  handler: timer(async ({ services: s, log }) => {
    const n = { tenants: 0, backups: 0, failed: 0, commits: 0 };
    for (const tenant of await s.tenants.servedTenantIds()) {
      n.tenants++;
      for (const r of await s.backups.backupAllTiers(tenant)) {
        if (!r.ok) {
          n.failed++;
          log.error('backup', { tenant, tier: r.tier, outcome: 'failed', error: redact(r.error ?? 'unknown error'), note: 'the next run continues from the last manifest' });
        } else if (r.commits) {
          n.backups++;
          n.commits += r.commits;
          log.info('backup', { tenant, tier: r.tier, outcome: 'ok', commits: r.commits, segments: r.segments });
        }
      }
    }
    return n;
  }),
});

/**
 * Daily full run: starts a new chain (a consolidated base) on every tier, then applies the
 * retention policy. Every chain is a complete history, so dropping old ones breaks nothing.
 */
app.timer('backupFull', {
  schedule: '0 0 2 * * *',
  runOnStartup: false,
  useMonitor: true,
  handler: timer(async ({ services: s, log }) => {
    const n = { tenants: 0, backups: 0, failed: 0, chainsDeleted: 0 };
    for (const tenant of await s.tenants.servedTenantIds()) {
      n.tenants++;
      for (const t of s.backups.targets) {
        const r = await s.backups.backupTenant(tenant, t, { full: true });
        if (!r.ok) {
          n.failed++;
          log.error('backup.full', { tenant, tier: t.name, outcome: 'failed', error: redact(r.error ?? 'unknown error'), note: 'the previous chain stays in use' });
          continue;
        }
        const kept = await s.backups.applyRetention(tenant, t, s.config.backupRetention);
        n.backups++;
        n.chainsDeleted += kept.deleted.length;
        log.info('backup.full', {
          tenant,
          tier: t.name,
          outcome: 'ok',
          chain: r.chain,
          commits: r.commits,
          chainsKept: kept.kept.length,
          chainsDeleted: kept.deleted.length,
          ...(kept.refused ? { immutableObjects: kept.refused } : {}),
        });
      }
    }
    return n;
  }),
});

/** Daily restore drill of every tenant on every tier; a failure is logged as an error. */
app.timer('backupDrill', {
  schedule: '0 30 3 * * *',
  runOnStartup: false,
  useMonitor: true,
  handler: timer(async (run) => {
    const { services: s, log } = run;
    const n = { tenants: 0, drills: 0, failed: 0 };
    for (const tenant of await s.tenants.servedTenantIds()) {
      n.tenants++;
      for (const t of s.backups.targets) {
        // The run's correlation id is the one stored on what the drill's restore appends. A
        // tier that cannot even record the drill (down) is reported and the others still run.
        const r = await s.backups.drill(tenant, t, { id: 'system:backup-drill' }, run).catch((e: unknown) => ({ ok: false as const, error: errorMessage(e), commits: undefined, restoredHash: undefined }));
        if (r.ok) {
          n.drills++;
          log.info('backup.drill', { tenant, tier: t.name, outcome: 'ok', commits: r.commits, hash: r.restoredHash?.slice(0, 12) });
        } else {
          n.failed++;
          log.error('backup.drill', { tenant, tier: t.name, outcome: 'failed', error: redact(r.error ?? 'state hash differs from the source'), note: 'RESTORE DRILL FAILED' });
        }
      }
    }
    return n;
  }),
});
