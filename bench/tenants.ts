/**
 * `npm run bench -- tenants` (issue 11): what 100 and 10,000 tenants cost one embedded host.
 * Setup (not measured): tenants are created in-process by the service's own TenantLifecycle
 * (same directory, keys, log and durability as over HTTP) with one password hash computed once
 * for all first admins (scrypt would otherwise bound the setup at a few tenants per second),
 * 8 at a time; then projected, backed up once (16 tenants at a time per tier:
 * BENCH_SETUP_BACKUP_CONCURRENCY; the folder tiers keep a folder per tenant, so a first backup
 * no longer lists every tenant's objects) and their stored files checked once, and the spread
 * timers' marks set as a running host leaves them (drills and orphan sweep done up to now, the
 * erasure check run once): the steady state. The setup is not measured; its duration and the
 * load average are printed (at 1,000 tenants on a loaded 2-CPU VM: 395 s, of which creation 90 s,
 * projection 70 s, first backups 177 s). With BENCH_TENANTS_KEEP_DIR=<dir> each level's data
 * folder is kept (<dir>/tenants-<n>) and a later run measures it again without a new setup.
 * Then measured:
 *  - in-process, with the service's own code and the host's configuration (a fresh start on the
 *    data folder): one idle projector pass (the projectFeeds timer's pass), one idle
 *    incremental backup run of all tenants on every tier;
 *  - on a real host process (`node dist/host/start.js`) over HTTP: RSS and open fds after
 *    start, idle CPU over 30 s, first request to a cold tenant and then to the warm one (a user
 *    read with a token minted beforehand, so no password hashing), a tenant listing page, and
 *    tenant creation over HTTP (POST /api/tenants, with the real password hash) for a sample.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Dirent, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../shared/config';
import { TenantLifecycle } from '../shared/app/tenants/lifecycle';
import { PasswordHasher } from '../shared/app/passwords';
import { PROJECTOR_TICK_MS } from '../shared/app/changes/change-driven-projector';
import { createServices, type Services } from '../shared/config/services';
import { call, expectStatus } from './http';
import { msSince, nowNs, summarize, type Metric } from './lib';

export const TENANT_LEVELS = [100, 10_000];
const SAMPLE = 100;
const IDLE_SECONDS = 30;
/** Tenants created over HTTP at each level (the measured creation rate). */
const HTTP_CREATIONS = 20;
const PASSWORD = 'bench password 1234';
/** Idle projector passes measured after the first, a timer tick apart. */
const STEADY_PASSES = 5;

export interface TenantLevelResult {
  tenants: number;
  createMs: number;
  createPerSec: number;
  rssMb: number;
  fds: number;
  idleCpuPct: number;
  projectorPassMs: number;
  /**
   * Median of the next passes, each a timer tick (PROJECTOR_TICK_MS) after the one before, as
   * the projectFeeds timer runs them: the steady idle cost. The first pass after a start also
   * lists the catalog and loads the marks (once per sweep round).
   */
  projectorSteadyMs: number;
  backupRunMs: number;
  backupRunSteadyMs: number;
  coldP50: number;
  coldP99: number;
  /** The fresh host's very first request (a cold tenant's, one of the cold samples): one-time costs show here. */
  coldFirstMs: number;
  warmP50: number;
  warmP99: number;
  listP50: number;
  listP99: number;
  /** Tenant creation over HTTP (POST /api/tenants), tenants/s, one at a time. */
  httpCreatePerSec: number;
  diskMb: number;
  /** From "Host started" to the end of the start-up stored-files check (every tenant, in the background). */
  startupWorkMs: number;
  /** The whole setup (create, project, first backup, file check), not a measured figure. */
  setupS: number;
}

function env(dataDir: string): NodeJS.ProcessEnv {
  return { DATA_DIR: dataDir, PORT: '0', LOCAL_BLOB: 'off', PASSWORD_SCRYPT_LOG_N: '14', BACKUP_LOCAL_FALLBACK: 'on' };
}

/**
 * The setup's services: the host's configuration with more tenants backed up at once per tier
 * (BACKUP_CONCURRENCY, default 4): the first backup of every tenant is the setup's longest step
 * and waits mostly on fsyncs. It changes how fast the setup gets there, not what it leaves.
 */
function setupEnv(dataDir: string): NodeJS.ProcessEnv {
  return { ...env(dataDir), BACKUP_CONCURRENCY: process.env.BENCH_SETUP_BACKUP_CONCURRENCY ?? '16' };
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

function procStat(pid: number): { rssMb: number; fds: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

function du(dir: string): number {
  // Walked by hand: a folder the host removes meanwhile (a drill's leftover) is skipped, not an error.
  let total = 0;
  const walk = (d: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // gone
    }
    for (const e of entries) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile())
        try {
          total += statSync(path).size;
        } catch {
          /* gone */
        }
    }
  };
  walk(dir);
  return total / 1024 / 1024;
}

/**
 * The data folder of one level: a fresh temporary one, or with BENCH_TENANTS_KEEP_DIR set,
 * `<dir>/tenants-<n>`, kept afterwards; a kept folder whose setup finished is measured again
 * without a new setup (so a long setup can run under load and the measures on a quiet
 * machine, or before and after a change). Its setup figures are the ones saved then.
 */
function levelDir(n: number): { dataDir: string; kept: boolean } {
  const keep = process.env.BENCH_TENANTS_KEEP_DIR;
  if (!keep) return { dataDir: mkdtempSync(join(tmpdir(), `bench-tenants-${n}-`)), kept: false };
  const dataDir = join(keep, `tenants-${n}`);
  mkdirSync(dataDir, { recursive: true });
  return { dataDir, kept: true };
}

interface SetupFigures {
  tenants: number;
  createMs: number;
  setupMs: number;
}

const SETUP_FILE = 'bench-setup.json';

function savedSetup(dataDir: string, n: number): SetupFigures | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dataDir, SETUP_FILE), 'utf8')) as SetupFigures;
    return v.tenants === n ? v : undefined;
  } catch {
    return undefined;
  }
}

const tenantIds = (n: number) => Array.from({ length: n }, (_, i) => `t${String(i).padStart(5, '0')}`);
const sampleOf = (ids: string[]) => ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / SAMPLE)) === 0).slice(0, SAMPLE);

/**
 * Everything projected, backed up and checked once: the steady state a running host keeps.
 * `ids` were written; `every` is every tenant, backed up as the incremental timer runs
 * (a run over every tenant, with its run markers and its place in the change journal).
 */
async function settle(s: Services, ids: string[], every: string[], say: (l: string) => void): Promise<void> {
  let s0 = nowNs();
  await s.projector.catchUp();
  say(`  setup: projected in ${(msSince(s0) / 1000).toFixed(1)} s`);
  s0 = nowNs();
  // As the checkStoredFiles timer runs it: every tenant, with its place in the change journal.
  await s.fileCheck.beginRun();
  for (const id of every) await s.fileCheck.checkReady(id);
  await s.fileCheck.saveMarks();
  say(`  setup: stored files checked in ${(msSince(s0) / 1000).toFixed(1)} s`);
  // The erasure check (finishErasures, at start and hourly) has looked at every tenant once.
  s0 = nowNs();
  // As the finishErasures timer runs it: every tenant, with its place in the change journal.
  await s.erasure.beginRun();
  for (const id of every) await s.erasure.finishInterrupted(id);
  await s.erasure.saveMarks();
  say(`  setup: erasures checked in ${(msSince(s0) / 1000).toFixed(1)} s`);
  s0 = nowNs();
  // As the incremental timer runs it: a run over every tenant the first time, then delta runs.
  // What a run backed up (opened) is listed by the next once closed, as a host's cache closes
  // it: runs until one looks at nobody, so the measured runs start from a quiet host's state.
  for (let i = 0; i < 4; i++) {
    for (const id of s.directory.openTenantIds?.() ?? []) await s.directory.closeTenant?.(id);
    if ((await s.backups.incrementalRun(s.tenants.served())).looked === 0) break;
  }
  say(`  setup: backed up on every tier in ${(msSince(s0) / 1000).toFixed(1)} s`);
}

async function setUp(dataDir: string, ids: string[], say: (l: string) => void): Promise<{ createMs: number; setupMs: number }> {
  const n = ids.length;
  const setup0 = nowNs();
  const s = await createServices(loadConfig(setupEnv(dataDir)));
  const op = { id: 'bench' };
  // Setup's fast path: the real creation use case with one precomputed hash for every first admin.
  const hashed = await new PasswordHasher(14).hash(PASSWORD);
  const lifecycle = new TenantLifecycle({
    directory: s.directory,
    keys: s.keys,
    clock: s.clock,
    stores: s.tenantStores,
    health: s.tenants.health,
    passwords: { hash: async () => hashed } as unknown as PasswordHasher,
  });
  const t0 = nowNs();
  let next = 0;
  let lastSay = nowNs();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ids.length) {
        const i = next++;
        const id = ids[i]!;
        await lifecycle.createTenant(
          op,
          { id, name: id, admin: { email: `a@${id}.test`, password: PASSWORD } },
          { correlationId: 'bench' },
        );
        if ((i + 1) % 1000 === 0 || msSince(lastSay) > 60_000) {
          lastSay = nowNs();
          say(`  ${i + 1} tenants created (${((i + 1) / (msSince(t0) / 1000)).toFixed(0)}/s)…`);
        }
      }
    }),
  );
  const createMs = msSince(t0);
  say(`  setup: ${n} tenants created in ${(createMs / 1000).toFixed(1)} s`);
  await settle(s, ids, ids, say);
  // A host that has been running has drilled and swept up to now: its spread timers take the
  // tenants due since then (a few per run), not every tenant as a first run without marks does.
  await s.spread.drills.finished(Date.now());
  await s.spread.orphanSweep.finished(Date.now());
  await s.close();
  const setupMs = msSince(setup0);
  say(`  setup done in ${(setupMs / 1000).toFixed(1)} s (load average ${load()})`);
  return { createMs, setupMs };
}

async function level(n: number, say: (l: string) => void): Promise<TenantLevelResult> {
  const { dataDir, kept } = levelDir(n);
  try {
    const ids = tenantIds(n);
    const saved = kept ? savedSetup(dataDir, n) : undefined;
    if (saved) say(`  setup: reusing ${dataDir} (its setup took ${(saved.setupMs / 1000).toFixed(1)} s)`);
    const { createMs, setupMs } = saved ?? (await setUp(dataDir, ids, say));
    if (kept && !saved) writeFileSync(join(dataDir, SETUP_FILE), JSON.stringify({ tenants: n, createMs, setupMs } satisfies SetupFigures));
    // Tokens for a sample, minted now (sign-in hashes a password: not part of the measure).
    const tokens: Array<{ id: string; token: string; userId: string }> = [];
    const s = await createServices(loadConfig(env(dataDir)));
    try {
      for (const id of sampleOf(ids)) {
        const t = await s.tenants.login({ tenantId: id, email: `a@${id}.test`, password: PASSWORD });
        const p = await s.tenants.authenticate(id, `Bearer ${t.access_token}`);
        tokens.push({ id, token: t.access_token, userId: p.userId });
      }
      // Sign-ins write to the sample's logs: settled again, as a running host would.
      await settle(
        s,
        tokens.map((t) => t.id),
        ids,
        () => {},
      );
      // A running host has drilled and swept up to now (as after the setup): a kept folder's
      // spread timers otherwise find every tenant due since its last bench run.
      await s.spread.drills.finished(Date.now());
      await s.spread.orphanSweep.finished(Date.now());
    } finally {
      await s.close();
    }
    // Measured with the host's own configuration (a fresh start on the data folder, as the host does).
    const m = await createServices(loadConfig(env(dataDir)));
    const p0 = nowNs();
    await m.projector.pass();
    const projectorPassMs = msSince(p0);
    const steady: number[] = [];
    for (let i = 0; i < STEADY_PASSES; i++) {
      await new Promise((r) => setTimeout(r, PROJECTOR_TICK_MS));
      const t = nowNs();
      await m.projector.pass();
      steady.push(msSince(t));
    }
    const projectorSteadyMs = steady.sort((a, b) => a - b)[Math.floor(steady.length / 2)]!;
    const b0 = nowNs();
    // As the incremental timer runs it: ending with one run coverage marker per tier.
    const idle = await m.backups.incrementalRun(m.tenants.served());
    const backupRunMs = msSince(b0);
    // The next run of the same process (the timer's next quarter hour): the marks are loaded.
    const b1 = nowNs();
    const next = await m.backups.incrementalRun(m.tenants.served());
    const backupRunSteadyMs = msSince(b1);
    say(`  idle backup runs: ${idle.kind} (${idle.looked} tenants looked at), then ${next.kind} (${next.looked})`);
    const notSkipped = idle.results.filter((r) => !r.result.unchanged).length;
    if (notSkipped) say(`  warning: ${notSkipped} tenant/tier backups of the idle run were not skipped`);
    // Background work closes what it alone opened: after the pass and the run no tenant is open.
    await new Promise((r) => setTimeout(r, 100));
    const openAfterIdleWork = m.directory.openTenantIds?.().length ?? 0;
    say(`  tenants open after the idle projector pass and backup run: ${openAfterIdleWork}`);
    await m.close();

    // The host.
    const child = spawn(process.execPath, [join(__dirname, '..', 'host', 'start.js')], {
      env: { PATH: process.env.PATH ?? '', ...env(dataDir) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await new Promise<string>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`host did not start:\n${out}`)), 120_000);
        child.stdout.on('data', () => {
          const m = /Host started on (http:\/\/localhost:\d+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            res(m[1]!);
          }
        });
        child.once('exit', (code) => rej(new Error(`host exited with ${code}:\n${out}`)));
      });
      const operatorKey = readFileSync(join(dataDir, 'operator.key'), 'utf8').trim();
      // Start-up work settles first: the stored-files check runs over every tenant at start (in
      // the background; its end line says so), and the first projector pass. Idle means after it.
      const s0 = nowNs();
      const startupDone = () => /"event":"timer","fn":"checkStoredFiles"/.test(out);
      while (!startupDone() && msSince(s0) < 300_000) await new Promise((r) => setTimeout(r, 200));
      const startupWorkMs = msSince(s0);
      say(`  host start-up work (stored-files check of every tenant) ended ${(startupWorkMs / 1000).toFixed(1)} s after "started"`);
      await new Promise((r) => setTimeout(r, 5000));
      const before = procStat(child.pid!);
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
      const after = procStat(child.pid!);
      say(`  host after ${IDLE_SECONDS} s idle: ${after.fds} fds (${openFiles(child.pid!)}); load average ${load()}`);
      const hz = 100;
      const idleCpuPct = ((after.cpuTicks - before.cpuTicks) / hz / IDLE_SECONDS) * 100;
      // The bench's own client warmed up first (fetch sets itself up on its first call, tens of
      // ms), against a throwaway server: the host and its tenants stay untouched.
      await warmUpClient();
      const cold: number[] = [];
      const warm: number[] = [];
      for (const t of tokens) {
        const c0 = nowNs();
        expectStatus(await call(url, 'GET', `/api/t/${t.id}/users/${t.userId}`, { token: t.token }), 200, 'cold read');
        cold.push(msSince(c0));
        const w0 = nowNs();
        expectStatus(await call(url, 'GET', `/api/t/${t.id}/users/${t.userId}`, { token: t.token }), 200, 'warm read');
        warm.push(msSince(w0));
      }
      const list: number[] = [];
      let continuation: string | undefined;
      for (let i = 0; i < 20; i++) {
        const l0 = nowNs();
        const r = await call(url, 'GET', `/api/tenants?limit=100${continuation ? `&continuation=${continuation}` : ''}`, {
          token: operatorKey,
        });
        expectStatus(r, 200, 'list');
        list.push(msSince(l0));
        continuation = (r.body as { continuation?: string }).continuation;
      }
      // Creation as a client sees it: POST /api/tenants one at a time, with the real password hash.
      const h0 = nowNs();
      // Fresh ids on every run (a kept data folder is measured again).
      const runStamp = Date.now().toString(36);
      for (let i = 0; i < HTTP_CREATIONS; i++) {
        const id = `h${runStamp}-${String(i).padStart(2, '0')}`;
        const body = { id, name: id, admin: { email: `a@${id}.test`, password: PASSWORD } };
        expectStatus(await call(url, 'POST', '/api/tenants', { token: operatorKey, body }), 201, 'create tenant');
      }
      const httpCreatePerSec = HTTP_CREATIONS / (msSince(h0) / 1000);
      const sum = (xs: number[]) => summarize({ samplesMs: xs, totalMs: xs.reduce((a, b) => a + b, 0) });
      const c = sum(cold);
      const w = sum(warm);
      return {
        tenants: n,
        createMs,
        createPerSec: n / (createMs / 1000),
        rssMb: after.rssMb,
        fds: after.fds,
        idleCpuPct,
        projectorPassMs,
        projectorSteadyMs,
        backupRunMs,
        backupRunSteadyMs,
        coldP50: c.p50,
        coldP99: c.p99,
        coldFirstMs: cold[0] ?? Number.NaN,
        warmP50: w.p50,
        warmP99: w.p99,
        listP50: sum(list).p50,
        listP99: sum(list).p99,
        httpCreatePerSec,
        diskMb: du(dataDir),
        startupWorkMs,
        setupS: setupMs / 1000,
      };
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    if (!kept) rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

/** One fetch to a throwaway local server: the client's one-time set-up is not counted as the host's. */
async function warmUpClient(): Promise<void> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    await (await fetch(`http://127.0.0.1:${port}/`)).text();
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

/** What the host holds open, by kind: e.g. "events.db 12, events.db-wal 12, socket 3". */
function openFiles(pid: number): string {
  const kinds = new Map<string, number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const kind = target.startsWith('/') ? (target.split('/').at(-1) ?? target).replace(/^[^.]*\./, '*.') : target.replace(/:\[\d+\]$/, '');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

export async function benchTenants(say: (l: string) => void, levels = TENANT_LEVELS): Promise<TenantLevelResult[]> {
  const out: TenantLevelResult[] = [];
  for (const n of levels) {
    const t0 = nowNs();
    say(
      `[tenants] ${n} tenants: creating, projecting and backing up once in-process, then measuring a host process (load average ${load()})…`,
    );
    const r = await level(n, say);
    out.push(r);
    // Each level's figures as soon as they are measured (the 10,000 level takes long).
    say(
      `  level done in ${Math.round(msSince(t0) / 1000)} s: ${FIELDS.map(([k, label, unit]) => `${label} ${r[k].toFixed(1)} ${unit}`).join('; ')}`,
    );
  }
  return out;
}

const FIELDS: Array<[keyof TenantLevelResult, string, string]> = [
  ['rssMb', 'host RSS', 'MB'],
  ['fds', 'open fds', 'fds'],
  ['idleCpuPct', `idle CPU over ${IDLE_SECONDS} s`, '% of one core'],
  [
    'projectorPassMs',
    'one idle projector pass (the first after a start: what the change journal lists since the saved place, with the marks loaded for it)',
    'ms',
  ],
  ['projectorSteadyMs', `one idle projector pass, steady (median of ${STEADY_PASSES}, a timer tick apart)`, 'ms'],
  ['backupRunMs', 'one idle incremental backup run (all tenants, every tier, as the timer runs it; the first after a start)', 'ms'],
  ['backupRunSteadyMs', 'one idle incremental backup run, the next in the same process', 'ms'],
  ['coldP50', 'first request, cold tenant p50', 'ms'],
  ['coldP99', 'first request, cold tenant p99', 'ms'],
  ['coldFirstMs', "the host's very first request (a cold tenant, one of the samples above)", 'ms'],
  ['warmP50', 'request, warm tenant p50', 'ms'],
  ['warmP99', 'request, warm tenant p99', 'ms'],
  ['listP50', 'GET /api/tenants?limit=100 p50', 'ms'],
  ['listP99', 'GET /api/tenants?limit=100 p99', 'ms'],
  ['httpCreatePerSec', `tenant creation over HTTP (POST /api/tenants, ${HTTP_CREATIONS} one at a time)`, 'tenants/s'],
  ['createPerSec', 'setup: tenant creation in-process (hash computed once, 8 at a time)', 'tenants/s'],
  ['startupWorkMs', "host start-up work (the stored-files check's run over every tenant)", 'ms'],
  ['diskMb', 'total disk (data folder)', 'MB'],
  ['setupS', 'setup (create, project, first backups, file check; not measured)', 's'],
];

export function printTenants(
  r: TenantLevelResult[],
  say: (l: string) => void,
  table: (h: string[], rows: string[][]) => string,
  fmt: (n: number) => string,
): void {
  const [a, b] = [r[0]!, r.at(-1)!];
  say(
    table(
      ['figure', ...r.map((x) => `${x.tenants}`), `ratio ${b.tenants}/${a.tenants}`, 'unit'],
      FIELDS.map(([k, label, unit]) => [label, ...r.map((x) => fmt(x[k])), fmt(b[k] / a[k]), unit]),
    ),
  );
}

export function tenantMetrics(r: TenantLevelResult[]): Metric[] {
  const [a, b] = [r[0]!, r.at(-1)!];
  const out: Metric[] = [];
  for (const x of r) for (const [k, , unit] of FIELDS) out.push({ name: `tenants_${x.tenants}_${k}`, value: x[k], unit });
  for (const [k] of FIELDS) out.push({ name: `ratio_tenants_${k}`, value: b[k] / a[k], unit: 'x' });
  return out;
}
