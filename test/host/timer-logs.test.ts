/**
 * Structured logs of the timer functions: the compiled app (dist/functions/index.js) is loaded
 * by the local host in this process, and the registered timer handlers are invoked the way the
 * host invokes them (timer input + InvocationContext), with real services: embedded store,
 * folder tiers, Azurite. Each run must write JSON lines that carry the function name and one
 * correlation id per run, per-tenant lines with the tenant, and an end line with the outcome,
 * duration and counts; a run that fails must say so, with the error's message.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLocalHost, type LocalHost } from '../../host/local-host';
import { folderTierFile } from '../../shared/adapters/backup/folder-backup-target';
import { errorMessage } from '../../functions/log';
import { TIMERS } from '../../functions/timers';
import { startAzurite, type AzuriteTestServer } from '../support/azurite';
import { tierObjects } from '../support/folder-tier';

const root = join(__dirname, '..', '..');
const requireFromRoot = createRequire(join(root, 'package.json'));

type Line = Record<string, string | number | boolean>;
interface Run {
  lines: Line[];
  /** Lines as the local host prints them: `[time] fn level: message`. */
  text: string[];
  error?: unknown;
}

let host: LocalHost;
let azurite: AzuriteTestServer;
let dataDir: string;
const saved = { ...process.env };

/** GET …/backups, as much of it as the tests read. */
interface Status {
  tiers: Array<{ tier: string; ok: boolean; lastBackup?: { coveredUntil?: string } | null }>;
}

/** The operator key the host generated into the data folder. */
const operatorKey = () => readFileSync(join(dataDir, 'operator.key'), 'utf8').trim();

/** Invokes a registered timer function as the host does and collects what it logged. */
async function runTimer(name: string): Promise<Run> {
  const funcs = requireFromRoot('@azure/functions') as typeof import('@azure/functions');
  const reg = host.registrations.find((r) => r.name === name);
  expect(reg?.trigger.type).toBe('timerTrigger');
  const run: Run = { lines: [], text: [] };
  const context = new funcs.InvocationContext({
    invocationId: randomUUID(),
    functionName: name,
    logHandler: (level, ...args) => {
      const message = args.map(String).join(' ');
      run.text.push(`[${new Date().toISOString()}] ${name} ${level}: ${message}`);
      run.lines.push({ level, ...(JSON.parse(message) as Line) });
    },
  });
  try {
    await reg!.handler({ isPastDue: false, schedule: { adjustForDST: false } }, context);
  } catch (e) {
    run.error = e;
  }
  return run;
}

/** The end line, the per-tenant lines, and checks shared by every run. */
function check(run: Run, fn: string): { end: Line; tenantLines: Line[] } {
  expect(run.lines.length, run.text.join('\n')).toBeGreaterThan(0);
  const ids = new Set(run.lines.map((l) => l.correlationId));
  expect(ids.size, run.text.join('\n')).toBe(1);
  const [id] = [...ids];
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  for (const l of run.lines) expect(l).toMatchObject({ fn, correlationId: id, event: expect.any(String) });
  const end = run.lines.at(-1)!;
  expect(end).toMatchObject({
    event: 'timer',
    fn,
    correlationId: id,
    outcome: expect.stringMatching(/^(ok|failed)$/),
    ms: expect.any(Number),
  });
  expect(run.lines.filter((l) => l.event === 'timer')).toHaveLength(1);
  return { end, tenantLines: run.lines.filter((l) => l.tenant !== undefined) };
}

beforeAll(async () => {
  azurite = await startAzurite();
  dataDir = mkdtempSync(join(tmpdir(), 'timer-logs-'));
  for (const k of Object.keys(process.env))
    if (k.startsWith('APPLICATIONINSIGHTS_') || k.startsWith('BACKUP_') || k.startsWith('COSMOS_')) delete process.env[k];
  Object.assign(process.env, {
    DATA_DIR: dataDir,
    PORT: '0',
    LOCAL_BLOB: 'azurite',
    AZURITE_BLOB_PORT: new URL(azurite.url).port,
    PASSWORD_SCRYPT_LOG_N: '14',
  });
  // The own-cloud tier is "down": a file stands where its folder should be.
  mkdirSync(join(dataDir, 'backups'), { recursive: true });
  writeFileSync(join(dataDir, 'backups', 'own-cloud'), 'not a folder');
  // The tests invoke each timer themselves: the host schedules none of them (a scheduled
  // projectFeeds pass every 2 s, or a start-up run, would take the work a test gives its own run).
  host = await startLocalHost({
    entries: [join(root, 'dist/functions/index.js')],
    port: 0,
    appRoot: root,
    log: () => undefined,
    disabledFunctions: Object.keys(TIMERS),
  });
  const { getServices } = requireFromRoot('./dist/shared/config/services.js') as typeof import('../../shared/config/services');
  const s = await getServices();
  await s.tenants.createTenant(
    { id: 'test' },
    { id: 'acme', name: 'Acme', admin: { email: 'admin@acme.test', password: 'correct horse battery' } },
    { correlationId: 'test-setup' },
  );
}, 120_000);

afterAll(async () => {
  await host?.close();
  const { closeServices } = requireFromRoot('./dist/shared/config/services.js') as typeof import('../../shared/config/services');
  await closeServices();
  await azurite?.close();
  process.env = saved;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe('the timers table (functions/timers.ts)', () => {
  it('is exactly what the host registers: every entry, with its schedule, start-up run and monitor, and nothing else', () => {
    const timers = host.registrations.filter((r) => r.trigger.type === 'timerTrigger');
    const registered = Object.fromEntries(
      timers.map((r) => [r.name, { schedule: r.trigger.schedule, runOnStartup: r.trigger.runOnStartup, useMonitor: r.trigger.useMonitor }]),
    );
    const table = Object.fromEntries(
      Object.entries(TIMERS).map(([name, t]) => [name, { schedule: t.schedule, runOnStartup: t.runOnStartup, useMonitor: t.useMonitor }]),
    );
    expect(Object.keys(table).length).toBeGreaterThan(5);
    expect(registered).toEqual(table);
  });
});

describe('timer functions write structured lines with one correlation id per run', () => {
  it('projectFeeds: a line per projected tenant and an end line; an idle run stays quiet', async () => {
    // Work for this run: an append just before it. The process projects its own appends in the
    // background 100 ms later (change signal, ChangeDrivenProjector.changed): under load that
    // background run came first and the timer's pass found nothing (the CI of session 8's
    // stop). So for this append the background run is held back (delay 0: signalled tenants
    // wait for the next pass), and the timer's pass is what projects it.
    const { getServices } = requireFromRoot('./dist/shared/config/services.js') as typeof import('../../shared/config/services');
    const s = await getServices();
    const projector = s.projector as unknown as { o: { delayMs?: number }; scheduled?: unknown };
    const delay = projector.o.delayMs;
    projector.o.delayMs = 0;
    try {
      const admin = await s.tenants.authenticate(
        'acme',
        `Bearer ${(await s.tenants.login({ tenantId: 'acme', email: 'admin@acme.test', password: 'correct horse battery' })).access_token}`,
      );
      // A background run scheduled before (by an earlier append) would take this append too.
      await expect.poll(() => projector.scheduled, { timeout: 10_000, interval: 20 }).toBeUndefined();
      await s.records.defineType(admin, { type: 'timer_doc', schema: { type: 'object' } }, { correlationId: 'test-setup' });
    } finally {
      projector.o.delayMs = delay;
    }
    const run = await runTimer('projectFeeds');
    expect(run.error).toBeUndefined();
    const { end, tenantLines } = check(run, 'projectFeeds');
    expect(tenantLines).toEqual([
      expect.objectContaining({ event: 'projection', tenant: 'acme', outcome: 'ok', commits: expect.any(Number) }),
    ]);
    expect(end).toMatchObject({ outcome: 'ok', tenants: 1, level: 'information' });
    const idle = await runTimer('projectFeeds');
    expect(idle.lines).toEqual([]);
  });

  it('backupIncremental: per tier and tenant; a tier that is down makes the run "failed" and is named', async () => {
    const run = await runTimer('backupIncremental');
    expect(run.error).toBeUndefined();
    const { end, tenantLines } = check(run, 'backupIncremental');
    expect(tenantLines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          event: 'backup',
          tenant: 'acme',
          tier: 'eu-cloud',
          outcome: 'ok',
          commits: expect.any(Number),
          level: 'information',
        }),
        expect.objectContaining({ event: 'backup', tenant: 'acme', tier: 'azure', outcome: 'ok', level: 'information' }),
        expect.objectContaining({
          event: 'backup',
          tenant: 'acme',
          tier: 'own-cloud',
          outcome: 'failed',
          error: expect.any(String),
          level: 'error',
        }),
      ]),
    );
    expect(end).toMatchObject({ outcome: 'failed', tenants: 1, backups: 2, failed: 1, level: 'error' });
    // Human-readable as printed by the host, one JSON object per line.
    expect(run.text.at(-1)).toMatch(
      /^\[[^\]]+\] backupIncremental error: \{"event":"timer","fn":"backupIncremental","correlationId":"[0-9a-f-]{36}","outcome":"failed","ms":\d+,/,
    );
  });

  it('backupIncremental, tenant idle: one run coverage marker per tier that holds its backup, and GET …/backups reports coveredUntil from it', async () => {
    const { getServices } = requireFromRoot('./dist/shared/config/services.js') as typeof import('../../shared/config/services');
    const s = await getServices();
    // Nothing appends between the two runs (no background projection pending either).
    await expect
      .poll(() => (s.projector as unknown as { scheduled?: unknown }).scheduled, { timeout: 10_000, interval: 20 })
      .toBeUndefined();
    const before = await fetch(`${host.url}/api/tenants/acme/backups`, { headers: { authorization: `Bearer ${operatorKey()}` } });
    const coveredBefore = ((await before.json()) as Status).tiers.find((t) => t.tier === 'eu-cloud')?.lastBackup?.coveredUntil;
    expect(coveredBefore).toMatch(/^\d{4}-/);
    const started = Date.now();
    // The run that backed acme up listed it too (its backup read the log after that run's instant).
    const earlier = tierObjects(join(dataDir, 'backups', 'eu-cloud'), 'runs/covered/').length;
    const run = await runTimer('backupIncremental');
    const { end } = check(run, 'backupIncremental');
    // acme was skipped on the tiers that hold its backup (own-cloud is still down: failed, not
    // listed; with no marker of its own to build on, the run looks at every tenant: delta 0).
    expect(end).toMatchObject({ outcome: 'failed', tenants: 1, delta: 0, backups: 0, failed: 1 });
    expect(run.lines.filter((l) => l.event === 'backup.coverage')).toEqual([]);
    const markers = tierObjects(join(dataDir, 'backups', 'eu-cloud'), 'runs/covered/');
    expect(markers).toHaveLength(earlier + 1);
    const marker = JSON.parse(readFileSync(markers.at(-1)!.file, 'utf8')) as {
      format: string;
      at: string;
      tenants: Record<string, unknown>;
    };
    expect(marker).toMatchObject({ format: 'tenant-ledger-run-coverage/1', tenants: { acme: { chain: 1, manifests: 1 } } });
    expect(Date.parse(marker.at)).toBeGreaterThanOrEqual(started - 1);
    expect(marker.at > coveredBefore!).toBe(true);
    const status = await fetch(`${host.url}/api/tenants/acme/backups`, { headers: { authorization: `Bearer ${operatorKey()}` } });
    expect(status.status).toBe(200);
    const tiers = ((await status.json()) as Status).tiers;
    expect(Object.fromEntries(tiers.map((t) => [t.tier, t.ok ? (t.lastBackup?.coveredUntil ?? null) : 'failed']))).toEqual({
      // No backup there at all (the tier's folder is a file).
      'own-cloud': null,
      'eu-cloud': marker.at,
      azure: marker.at,
    });
  });

  it('backupIncremental: a run coverage marker a tier cannot take is a "backup.coverage" error line naming the tier; the others advance', async () => {
    // eu-cloud takes the tenant's objects but not the run marker: a file stands where the
    // folder of its run markers should be.
    const runs = dirname(folderTierFile(join(dataDir, 'backups', 'eu-cloud'), 'runs/covered/x.json'));
    const aside = join(dataDir, 'eu-cloud-runs-aside');
    renameSync(runs, aside);
    writeFileSync(runs, 'not a folder');
    try {
      const status = async () => {
        const r = await fetch(`${host.url}/api/tenants/acme/backups`, { headers: { authorization: `Bearer ${operatorKey()}` } });
        return Object.fromEntries(((await r.json()) as Status).tiers.map((t) => [t.tier, t.lastBackup?.coveredUntil ?? null]));
      };
      const before = await status();
      const run = await runTimer('backupIncremental');
      const { end } = check(run, 'backupIncremental');
      expect(run.lines.filter((l) => l.event === 'backup.coverage')).toEqual([
        expect.objectContaining({ tier: 'eu-cloud', outcome: 'failed', tenants: 1, level: 'error', error: expect.any(String) }),
      ]);
      // own-cloud's tenant failure and eu-cloud's marker.
      expect(end).toMatchObject({ outcome: 'failed', tenants: 1, backups: 0, failed: 2, level: 'error' });
      const after = await status();
      expect(after['eu-cloud']).toBe(before['eu-cloud']);
      expect(after.azure! > before.azure!).toBe(true);
    } finally {
      rmSync(runs);
      renameSync(aside, runs);
    }
  });

  it('backupDrill and backupFull: a line per tenant and tier, same id as the end line', async () => {
    const drill = await runTimer('backupDrill');
    expect(drill.error).toBeUndefined();
    const d = check(drill, 'backupDrill');
    expect(
      d.tenantLines
        .filter((l) => l.outcome === 'ok')
        .map((l) => l.tier)
        .sort(),
    ).toEqual(['azure', 'eu-cloud']);
    expect(d.tenantLines.find((l) => l.tier === 'own-cloud')).toMatchObject({
      event: 'backup.drill',
      tenant: 'acme',
      outcome: 'failed',
      level: 'error',
    });
    expect(d.end).toMatchObject({ outcome: 'failed', tenants: 1, drills: 2, failed: 1 });

    const full = await runTimer('backupFull');
    const f = check(full, 'backupFull');
    expect(f.tenantLines.find((l) => l.tier === 'eu-cloud')).toMatchObject({
      event: 'backup.full',
      tenant: 'acme',
      outcome: 'ok',
      chain: expect.any(Number),
    });
    expect(f.end).toMatchObject({ tenants: 1, backups: 2, failed: 1 });
    expect(new Set([drill, full].map((r) => r.lines[0]!.correlationId)).size).toBe(2);
  }, 60_000);

  it('checkStoredFiles: runs at start, ok with counts of attached and missing files', async () => {
    const ok = await runTimer('checkStoredFiles');
    expect(ok.error).toBeUndefined();
    expect(check(ok, 'checkStoredFiles').end).toMatchObject({
      outcome: 'ok',
      tenants: 1,
      attached: expect.any(Number),
      missing: 0,
      failed: 0,
    });
  });

  it('checkStoredFiles: a tenant whose log attached no file and has not moved since is answered from its mark, no meta read', async () => {
    const { getServices } = requireFromRoot('./dist/shared/config/services.js') as typeof import('../../shared/config/services');
    const s = await getServices();
    const first = await runTimer('checkStoredFiles');
    expect(check(first, 'checkStoredFiles').end).toMatchObject({ tenants: 1, attached: 0 });
    const getMeta = vi.spyOn(s.directory, 'getMeta');
    try {
      const idle = await runTimer('checkStoredFiles');
      // Still counted and reported as checked, without its meta read.
      expect(check(idle, 'checkStoredFiles').end).toMatchObject({ outcome: 'ok', tenants: 1, attached: 0, missing: 0 });
      expect(getMeta.mock.calls.map(([id]) => id)).not.toContain('acme');
    } finally {
      getMeta.mockRestore();
    }
  });

  it('sweepOrphanFiles: ok with counts; a run that throws logs outcome "failed" with the message and still fails', async () => {
    const ok = await runTimer('sweepOrphanFiles');
    expect(ok.error).toBeUndefined();
    expect(check(ok, 'sweepOrphanFiles').end).toMatchObject({
      outcome: 'ok',
      tenants: 1,
      checked: expect.any(Number),
      deleted: 0,
      unfinished: 0,
      unfinishedBytes: 0,
    });

    // The tenant catalog becomes unreadable (a file where its folder is): the run cannot list tenants.
    const tenants = join(dataDir, 'tenants');
    renameSync(tenants, `${tenants}.moved`);
    writeFileSync(tenants, 'not a folder');
    let failed: Run;
    try {
      failed = await runTimer('sweepOrphanFiles');
    } finally {
      rmSync(tenants);
      renameSync(`${tenants}.moved`, tenants);
    }
    expect((failed.error as NodeJS.ErrnoException)?.code).toBe('ENOTDIR');
    const { end } = check(failed, 'sweepOrphanFiles');
    expect(end).toMatchObject({ outcome: 'failed', level: 'error', error: expect.stringContaining('ENOTDIR') });
  });

  it('finishErasures: once a run found nothing pending in a tenant, the next reads no meta of it while its log has not moved', async () => {
    const { getServices } = requireFromRoot('./dist/shared/config/services.js') as typeof import('../../shared/config/services');
    const s = await getServices();
    const first = await runTimer('finishErasures');
    expect(first.error).toBeUndefined();
    const getMeta = vi.spyOn(s.directory, 'getMeta');
    try {
      const idle = await runTimer('finishErasures');
      expect(idle.error).toBeUndefined();
      expect(getMeta.mock.calls.map(([id]) => id)).not.toContain('acme');
    } finally {
      getMeta.mockRestore();
    }
  });
});

it('without a connection string the app loads no OpenTelemetry SDK', () => {
  // (Azurite, running in this process, loads its own old Application Insights SDK with parts
  // of @opentelemetry/sdk-trace-base; the app's would be the Azure Monitor exporter, sdk-logs.)
  const loaded = Object.keys(requireFromRoot.cache).filter((k) =>
    /[\\/]node_modules[\\/](@azure[\\/](monitor-opentelemetry(-exporter)?|opentelemetry-instrumentation-azure-sdk)|@opentelemetry[\\/]sdk-(node|logs|metrics))[\\/]/.test(
      k,
    ),
  );
  expect(loaded).toEqual([]);
});

describe('error messages in log lines', () => {
  it('keep name and message but mask tokens, signatures, keys and URL passwords', () => {
    const m = errorMessage(
      Object.assign(
        new Error(
          'GET https://acct.blob.core.windows.net/c/b?sv=2024&sig=c2VjcmV0 failed; Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln; AccountKey=a2V5; https://user:hunter2@example.test/x',
        ),
        { name: 'RestError' },
      ),
    );
    expect(m).toMatch(/^RestError: GET https:\/\/acct\.blob\.core\.windows\.net\/c\/b\?sv=2024&sig=\[redacted\] failed/);
    for (const secret of ['c2VjcmV0', 'eyJhbGciOi', 'a2V5', 'hunter2']) expect(m).not.toContain(secret);
    expect(errorMessage('x'.repeat(1000)).length).toBeLessThanOrEqual(300);
  });
});
