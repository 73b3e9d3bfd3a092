/**
 * `npm run bench -- tenants` (issue 11): what 100 and 10,000 tenants cost one embedded host.
 * Tenants are created in-process (the service's own createTenant, 4 at a time; not over HTTP),
 * projected and backed up once; then measured:
 *  - in-process, with the service's own code: one idle projector pass (the projectFeeds timer's
 *    pass), one idle incremental backup run of all tenants on every tier;
 *  - on a real host process (`node dist/host/start.js`) over HTTP: RSS and open fds after
 *    start, idle CPU over 30 s, first request to a cold tenant and then to the warm one (a user
 *    read with a token minted beforehand, so no password hashing), a tenant listing page.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../shared/config';
import { createServices } from '../shared/config/services';
import { call, expectStatus } from './http';
import { msSince, nowNs, summarize, type Metric } from './lib';

export const TENANT_LEVELS = [100, 10_000];
const SAMPLE = 100;
const IDLE_SECONDS = 30;

export interface TenantLevelResult {
  tenants: number;
  createMs: number;
  createPerSec: number;
  rssMb: number;
  fds: number;
  idleCpuPct: number;
  projectorPassMs: number;
  backupRunMs: number;
  coldP50: number;
  coldP99: number;
  warmP50: number;
  warmP99: number;
  listP50: number;
  diskMb: number;
}

function env(dataDir: string): NodeJS.ProcessEnv {
  return { DATA_DIR: dataDir, PORT: '0', LOCAL_BLOB: 'off', PASSWORD_SCRYPT_LOG_N: '14', BACKUP_LOCAL_FALLBACK: 'on' };
}

function procStat(pid: number): { rssMb: number; fds: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

function du(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    try {
      total += statSync(join(e.parentPath, e.name)).size;
    } catch {
      /* gone */
    }
  }
  return total / 1024 / 1024;
}

async function level(n: number, say: (l: string) => void): Promise<TenantLevelResult> {
  const dataDir = mkdtempSync(join(tmpdir(), `bench-tenants-${n}-`));
  try {
    const s = await createServices(loadConfig(env(dataDir)));
    const op = { id: 'bench' };
    const ids = Array.from({ length: n }, (_, i) => `t${String(i).padStart(5, '0')}`);
    const t0 = nowNs();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          await s.tenants.createTenant({ id, name: id, admin: { email: `a@${id}.test`, password: 'bench password 1234' } }, op, {
            correlationId: 'bench',
          });
          if (next % 1000 === 0) say(`  ${next} tenants…`);
        }
      }),
    );
    const createMs = msSince(t0);
    // Tokens for a sample, minted now (sign-in hashes a password: not part of the measure).
    const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(n / SAMPLE)) === 0).slice(0, SAMPLE);
    const tokens: Array<{ id: string; token: string; userId: string }> = [];
    for (const id of sample) {
      const t = await s.tenants.login(id, `a@${id}.test`, 'bench password 1234');
      const p = await s.tenants.authenticate(id, `Bearer ${t.access_token}`);
      tokens.push({ id, token: t.access_token, userId: p.userId });
    }
    // Everything projected and backed up once (the steady state), then one idle pass / run.
    let swept = 0;
    while (swept < n) swept += (await s.projector.pass()).swept;
    await s.backups.backupTenants(ids);
    const p0 = nowNs();
    await s.projector.pass();
    const projectorPassMs = msSince(p0);
    const b0 = nowNs();
    const idle = await s.backups.backupTenants(ids);
    const backupRunMs = msSince(b0);
    const notSkipped = idle.filter((r) => !r.result.unchanged).length;
    if (notSkipped) say(`  warning: ${notSkipped} tenant/tier backups of the idle run were not skipped`);
    await s.close();

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
      // Start-up work (stored-files check) settles first.
      await new Promise((r) => setTimeout(r, 5000));
      const before = procStat(child.pid!);
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
      const after = procStat(child.pid!);
      const hz = 100;
      const idleCpuPct = ((after.cpuTicks - before.cpuTicks) / hz / IDLE_SECONDS) * 100;
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
        backupRunMs,
        coldP50: c.p50,
        coldP99: c.p99,
        warmP50: w.p50,
        warmP99: w.p99,
        listP50: sum(list).p50,
        diskMb: du(dataDir),
      };
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

export async function benchTenants(say: (l: string) => void, levels = TENANT_LEVELS): Promise<TenantLevelResult[]> {
  const out: TenantLevelResult[] = [];
  for (const n of levels) {
    const t0 = nowNs();
    say(`[tenants] ${n} tenants: creating, projecting and backing up once in-process, then measuring a host process…`);
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
  ['projectorPassMs', 'one idle projector pass', 'ms'],
  ['backupRunMs', 'one idle incremental backup run (all tenants, every tier)', 'ms'],
  ['coldP50', 'first request, cold tenant p50', 'ms'],
  ['coldP99', 'first request, cold tenant p99', 'ms'],
  ['warmP50', 'request, warm tenant p50', 'ms'],
  ['warmP99', 'request, warm tenant p99', 'ms'],
  ['listP50', 'GET /api/tenants?limit=100 p50', 'ms'],
  ['createPerSec', 'tenant creation (in-process, 4 at a time)', 'tenants/s'],
  ['diskMb', 'total disk (data folder)', 'MB'],
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
      ['figure', `${a.tenants}`, `${b.tenants}`, `ratio ${b.tenants}/${a.tenants}`, 'unit'],
      FIELDS.map(([k, label, unit]) => [label, fmt(a[k]), fmt(b[k]), fmt(b[k] / a[k]), unit]),
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
