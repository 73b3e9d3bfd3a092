import { app } from '@azure/functions';
import { assertNotReserved } from '../shared/app/service';
import { validation } from '../shared/domain/errors';
import { getServices } from '../shared/config/services';
import { existingTenant, instant, param } from './http';
import { type Answer, http, type OperationCtx, progressive, type Reply } from './operation';
import { redact } from './log';
import { timer } from './timer';
import { timerEntry } from './timers';

/**
 * Restore and drill tenants that a crash left half-built are removed at start (in the
 * background: the host serves meanwhile; a restore asking for such an id removes it itself).
 */
app.hook.appStart(() => {
  void getServices()
    .then((s) => s.backups.leftovers.sweep())
    .then(
      (ids) => ids.length && console.error(`removed ${ids.length} tenant(s) that interrupted restores or drills left: ${ids.join(', ')}`),
    )
    .catch((e: unknown) => console.error(`could not sweep leftover restore tenants: ${(e as Error)?.message}`));
});

export async function runBackup(ctx: OperationCtx<'runBackup'>): Promise<Answer<'runBackup'>> {
  const tenant = await existingTenant(ctx);
  const full = ctx.req.query.get('full');
  if (full !== null && full !== 'true' && full !== 'false')
    throw validation('full must be true or false.', [{ path: '/full', message: 'must be true or false' }]);
  return progressive<Reply<'runBackup'>>(async (report) => {
    const results = await ctx.services.backups.backupAllTiers(tenant, { full: full === 'true', onProgress: report });
    return { status: results.every((r) => r.ok) ? 200 : 502, body: { tenant, tiers: results } };
  });
}
http('runBackup', runBackup);

export async function getBackups(ctx: OperationCtx<'getBackups'>): Promise<Answer<'getBackups'>> {
  const tenant = await existingTenant(ctx);
  return { status: 200, body: { tenant, tiers: await ctx.services.backups.status(tenant) } };
}
http('getBackups', getBackups);

export async function runRestoreDrill(ctx: OperationCtx<'runRestoreDrill'>): Promise<Answer<'runRestoreDrill'>> {
  const tenant = await existingTenant(ctx);
  return progressive<Reply<'runRestoreDrill'>>(async (report) => {
    const runs = await ctx.services.backups.drillTenants(
      ctx.operator,
      { tenants: [tenant] },
      { correlationId: ctx.correlationId, onProgress: report },
    );
    const results = runs.map((r) => r.result);
    return { status: results.every((r) => r.ok) ? 200 : 502, body: { tenant, drills: results } };
  });
}
http('runRestoreDrill', runRestoreDrill);

export async function restoreTenant(ctx: OperationCtx<'restoreTenant'>): Promise<Answer<'restoreTenant'>> {
  // A shredded tenant (410, naming its receipt) or one scheduled for deletion (409) is not restored.
  await ctx.services.offboarding.assertRestorable(param(ctx.req, 'tenant'));
  const tenant = await existingTenant(ctx);
  const body = await ctx.body();
  const asOf = instant(body.asOf, 'asOf');
  assertNotReserved(body.into);
  const target = ctx.services.backups.target(body.tier);
  return progressive<Reply<'restoreTenant'>>(async (report) => {
    const r = await ctx.services.backups.restore(
      ctx.operator,
      { tenant, target, asOf, into: body.into },
      { correlationId: ctx.correlationId, onProgress: report, acceptPartial: body.acceptPartial === true },
    );
    return {
      status: 201,
      body: { ...r, source: tenant, tier: body.tier, asOf: asOf.toISOString() },
      headers: { location: `/api/tenants/${r.id}` },
    };
  });
}
http('restoreTenant', restoreTenant);

/** Incremental backups of every tenant to every tier (at least once; resumable). */
app.timer('backupIncremental', {
  ...timerEntry('backupIncremental'),
  handler: timer(async ({ services: s, log }) => {
    const n = { tenants: 0, delta: 0, backups: 0, failed: 0, commits: 0 };
    // Tiers run independently, each tenant with the tier deadline; results are logged as they
    // come. A delta run looks only at the tenants the change journal lists (BackupService.incrementalRun).
    const run = await s.backups.incrementalRun(s.tenants.served(), {
      onResult: ({ tenant, result: r }) => {
        if (!r.ok) {
          n.failed++;
          log.error('backup', {
            tenant,
            tier: r.tier,
            outcome: 'failed',
            error: redact(r.error ?? 'unknown error'),
            ...(r.missingFiles ? { missingFiles: r.missingFiles.count } : {}),
            note: 'the next run continues from the last manifest',
          });
        } else if (r.commits) {
          n.backups++;
          n.commits += r.commits;
          log.info('backup', { tenant, tier: r.tier, outcome: 'ok', commits: r.commits, segments: r.segments });
        }
      },
      // One run coverage marker per tier for the tenants vouched for: their coverage advances.
      onCoverage: (c) => {
        if (c.ok) return;
        n.failed++;
        log.error('backup.coverage', {
          tier: c.tier,
          outcome: 'failed',
          error: redact(c.error ?? 'unknown error'),
          tenants: c.tenants,
          note: 'their coverage on this tier stays where it was until a run writes its marker',
        });
      },
    });
    // Tenants looked at; delta 1: only those the change journal listed (the others are idle).
    n.tenants = run.looked;
    n.delta = run.kind === 'delta' ? 1 : 0;
    return n;
  }),
});

/**
 * Daily full run: starts a new chain (a consolidated base) on every tier, then applies the
 * retention policy. Every chain is a complete history, so dropping old ones breaks nothing.
 * A tenant whose chain on a tier is still only the base of its unchanged log, younger than
 * BACKUP_FULL_REBASE_DAYS, is left as it is there (logged with outcome "unchanged").
 */
app.timer('backupFull', {
  ...timerEntry('backupFull'),
  handler: timer(async ({ services: s, log }) => {
    const tenants = await s.tenants.servedTenantIds();
    const n = { tenants: tenants.length, backups: 0, unchanged: 0, failed: 0, chainsDeleted: 0 };
    await s.backups.backupTenants(tenants, {
      full: true,
      rebaseAfterMs: s.config.backupFullRebaseMs,
      after: async (tenant, t, call) => ({ retention: await s.backups.applyRetention(tenant, t, s.config.backupRetention, call) }),
      onResult: ({ tenant, tier, result: r }) => {
        if (r.ok && r.unchanged) {
          n.unchanged++;
          log.info('backup.full', { tenant, tier, outcome: 'unchanged', chain: r.chain });
          return;
        }
        const kept = r.retention;
        if (!r.ok || !kept) {
          n.failed++;
          log.error('backup.full', {
            tenant,
            tier,
            outcome: 'failed',
            error: redact(r.error ?? 'unknown error'),
            ...(r.missingFiles ? { missingFiles: r.missingFiles.count } : {}),
            note: 'the previous chain stays in use',
          });
          return;
        }
        n.backups++;
        n.chainsDeleted += kept.deleted.length;
        log.info('backup.full', {
          tenant,
          tier,
          outcome: 'ok',
          chain: r.chain,
          commits: r.commits,
          chainsKept: kept.kept.length,
          chainsDeleted: kept.deleted.length,
          ...(kept.refused ? { immutableObjects: kept.refused } : {}),
        });
      },
    });
    return n;
  }),
});

/**
 * Restore drills, each served tenant on every tier once a day, spread over the day: every run
 * (every 15 minutes) drills the tenants whose place in the day came since the last run
 * (s.spread.drills, shared/app/changes/spread.ts); a failure is logged as an error. A tier's
 * latest backup that a drill proved within BACKUP_DRILL_REPROOF_DAYS and that has not changed
 * since is not restored again (logged with outcome "unchanged").
 */
app.timer('backupDrill', {
  ...timerEntry('backupDrill'),
  handler: timer(async (run) => {
    const { services: s, log } = run;
    const { due: tenants, untilMs } = await s.spread.drills.due(await s.tenants.servedTenantIds());
    const n = { tenants: tenants.length, drills: 0, unchanged: 0, failed: 0, degraded: 0 };
    // The run's correlation id is the one stored on what the drill's restore appends. A tier
    // that cannot even record the drill (down) is reported and the others still run.
    await s.backups.drillTenants(
      { kind: 'timer', timer: 'backup-drill' },
      { tenants, reproofAfterMs: s.config.backupDrillReproofMs },
      {
        ...run,
        onResult: ({ tenant, tier, result: r }) => {
          if (r.ok && r.provenAt) {
            n.unchanged++;
            log.info('backup.drill', { tenant, tier, outcome: 'unchanged', provenAt: r.provenAt, hash: r.restoredHash?.slice(0, 12) });
          } else if (r.ok) {
            n.drills++;
            log.info('backup.drill', { tenant, tier, outcome: 'ok', commits: r.commits, hash: r.restoredHash?.slice(0, 12) });
          } else if (r.outcome === 'degraded') {
            n.degraded++;
            log.error('backup.drill', {
              tenant,
              tier,
              outcome: 'degraded',
              missingFiles: r.missingFiles,
              error: redact(r.error ?? 'files missing'),
              note: 'RESTORE DRILL DEGRADED',
            });
          } else {
            n.failed++;
            log.error('backup.drill', {
              tenant,
              tier,
              outcome: 'failed',
              error: redact(r.error ?? 'state hash differs from the source'),
              note: 'RESTORE DRILL FAILED',
            });
          }
        },
      },
    );
    await s.spread.drills.finished(untilMs);
    return n;
  }),
});
