/**
 * [cosmos] The Azure data path beside the embedded store, in one run: two local hosts in child
 * processes (node dist/host/start.js), one on the embedded store and one on STORE=cosmos-standin
 * (the Cosmos adapters against the in-process change-feed stand-in, host/cosmos-standin.ts).
 *
 * - Command path: POST /api/t/{tenant}/records/bench, sequential, one client, rounds alternating
 *   between the two hosts; p50 and commands/s per side, and the Cosmos requests per command by
 *   kind (the stand-in counts them: GET /_standin/stats on its port).
 * - Projection catch-up: POST /api/tenants/{tenant}/projections/rebuild over the same commits on
 *   both sides (the whole log read through the feed, every view and audit row written again).
 * - Daily timers' work for one tenant: a full backup (backupFull) and a restore drill
 *   (backupDrill) on every configured tier, Cosmos requests per commit of the tenant's log.
 * - Idle: the Cosmos requests the host makes for an idle tenant while its timers run.
 *
 * The stand-in is an in-memory server in the host's process, not Azure: the latencies say what
 * the adapter and its request pattern cost on this machine, the request counts are what the
 * service would send to Cosmos DB (infra/README.md turns them into request units).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StandinStats } from '../host/cosmos-standin';
import { freePort, startChildHost, stopChild, type Child } from './files';
import { call, expectStatus } from './http';
import { measure, msSince, nowNs, summarize, type Metric, type Series, type Summary } from './lib';
import { createBenchTenant, defineBenchType, TYPE, type TenantCtx } from './records';

export const COSMOS_BENCH = { warmup: 20, rounds: 6, opsPerRound: 50, idleSeconds: 20 };

interface Side {
  name: 'embedded' | 'cosmos';
  child: Child;
  tenant: TenantCtx;
  rounds: Series[];
}

export interface CosmosBenchResult {
  embedded: Summary;
  cosmos: Summary;
  /** Cosmos requests per command (POST record), by kind. */
  perCommand: StandinStats;
  commands: number;
  rebuild: { embeddedMs: number; cosmosMs: number; commits: number; perCommit: StandinStats };
  /** One full backup and one drill of the Cosmos tenant (every tier), per commit of its log. */
  daily: { commits: number; tiers: number; fullPerCommit: StandinStats; drillPerCommit: StandinStats } | { error: string };
  idle: { seconds: number; perTenantPerDay: StandinStats; tenants: number };
}

const KINDS: (keyof StandinStats)[] = [
  'requests',
  'writes',
  'writeBytes',
  'pointReads',
  'queries',
  'queryPlans',
  'feedRequests',
  'feedPages',
  'feedDocs',
  'metadata',
];

function delta(a: StandinStats, b: StandinStats, per: number): StandinStats {
  const out = {} as StandinStats;
  for (const k of KINDS) out[k] = (b[k] - a[k]) / per;
  return out;
}

async function post(s: Side, i: number): Promise<void> {
  const r = await call(s.child.base, 'POST', `/api/t/${s.tenant.id}/records/${TYPE}`, {
    token: s.tenant.token,
    body: { title: `cosmos bench ${i}`, status: 'open', counter: i, owner: { name: 'Bench Owner' }, tags: ['bench', `b-${i % 10}`] },
  });
  expectStatus(r, 201, `create record (${s.name})`);
}

async function rebuild(s: Side, operatorKey: string): Promise<{ ms: number; applied: number }> {
  const t0 = nowNs();
  const r = await call(s.child.base, 'POST', `/api/tenants/${s.tenant.id}/projections/rebuild`, { token: operatorKey });
  expectStatus(r, 200, `rebuild (${s.name})`);
  return { ms: msSince(t0), applied: (r.body as { applied: number }).applied };
}

export async function benchCosmosPath(appRoot: string, cfg = COSMOS_BENCH): Promise<CosmosBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-cosmos-'));
  const operatorKey = randomBytes(32).toString('base64url');
  const standinPort = await freePort();
  const stats = async (): Promise<StandinStats> => {
    const res = await fetch(`http://127.0.0.1:${standinPort}/_standin/stats`);
    return (await res.json()) as StandinStats;
  };
  const sides: Side[] = [];
  try {
    for (const name of ['embedded', 'cosmos'] as const) {
      const env = {
        LOCAL_BLOB: 'off',
        ...(name === 'cosmos' ? { STORE: 'cosmos-standin', COSMOS_STANDIN_PORT: String(standinPort) } : {}),
      };
      const child = await startChildHost(appRoot, join(dir, name), operatorKey, 60_000, env);
      const tenant = await createBenchTenant(child.base, operatorKey, `bench-${name}`);
      await defineBenchType(child.base, tenant);
      sides.push({ name, child, tenant, rounds: [] });
    }
    const [embedded, cosmos] = sides as [Side, Side];
    for (const s of sides) await measure(cfg.warmup, (i) => post(s, -1 - i));
    let n = 0;
    let cmdStats = { before: await stats(), spent: {} as StandinStats };
    const totals = Object.fromEntries(KINDS.map((k) => [k, 0])) as unknown as StandinStats;
    for (let round = 0; round < cfg.rounds; round++) {
      for (const s of round % 2 === 0 ? sides : [...sides].reverse()) {
        const before = s === cosmos ? await stats() : undefined;
        s.rounds.push(await measure(cfg.opsPerRound, (i) => post(s, n + i)));
        if (before) {
          const d = delta(before, await stats(), 1);
          for (const k of KINDS) totals[k] += d[k];
        }
      }
      n += cfg.opsPerRound;
    }
    const commands = cfg.rounds * cfg.opsPerRound;
    cmdStats = {
      before: cmdStats.before,
      spent: delta(Object.fromEntries(KINDS.map((k) => [k, 0])) as unknown as StandinStats, totals, commands),
    };

    // Projection catch-up over the same log on both sides (alternating order is not needed: one run each).
    const rb0 = await stats();
    const rc = await rebuild(cosmos, operatorKey);
    const perCommit = delta(rb0, await stats(), Math.max(1, rc.applied));
    const re = await rebuild(embedded, operatorKey);

    // What the daily timers do for this tenant: a full backup and a drill on every tier. A drill
    // of every tier can outlast fetch's 300 s header timeout on a busy machine: then the phase
    // reports it as not measured and goes on.
    const commits = rc.applied;
    let daily: CosmosBenchResult['daily'];
    try {
      const f0 = await stats();
      const full = await call(cosmos.child.base, 'POST', `/api/tenants/${cosmos.tenant.id}/backups?full=true`, { token: operatorKey });
      expectStatus(full, 200, 'full backup (cosmos)');
      const f1 = await stats();
      const drill = await call(cosmos.child.base, 'POST', `/api/tenants/${cosmos.tenant.id}/backups/drill`, { token: operatorKey });
      expectStatus(drill, 200, 'drill (cosmos)');
      const d1 = await stats();
      const tiers = ((full.body as { tiers?: unknown[] }).tiers ?? []).length;
      daily = { commits, tiers, fullPerCommit: delta(f0, f1, Math.max(1, commits)), drillPerCommit: delta(f1, d1, Math.max(1, commits)) };
    } catch (e) {
      daily = { error: (e as Error).message };
    }

    // Idle: nothing is sent to either tenant; the host's timers keep running.
    const i0 = await stats();
    await new Promise((r) => setTimeout(r, cfg.idleSeconds * 1000));
    const i1 = await stats();
    const perSecond = delta(i0, i1, cfg.idleSeconds);
    const perTenantPerDay = delta(Object.fromEntries(KINDS.map((k) => [k, 0])) as unknown as StandinStats, perSecond, 1 / 86_400);

    const merge = (s: Side): Series => ({
      samplesMs: s.rounds.flatMap((r) => r.samplesMs),
      totalMs: s.rounds.reduce((a, r) => a + r.totalMs, 0),
    });
    return {
      embedded: summarize(merge(embedded)),
      cosmos: summarize(merge(cosmos)),
      perCommand: cmdStats.spent,
      commands,
      rebuild: { embeddedMs: re.ms, cosmosMs: rc.ms, commits: rc.applied, perCommit },
      daily,
      idle: { seconds: cfg.idleSeconds, perTenantPerDay, tenants: 1 },
    };
  } finally {
    for (const s of sides) await stopChild(s.child);
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

export function cosmosMetrics(r: CosmosBenchResult): Metric[] {
  const m: Metric[] = [
    { name: 'cosmos_path_embedded_command_p50', value: r.embedded.p50, unit: 'ms' },
    { name: 'cosmos_path_cosmos_command_p50', value: r.cosmos.p50, unit: 'ms' },
    { name: 'cosmos_path_embedded_commands_per_s', value: r.embedded.opsPerSec, unit: 'ops/s' },
    { name: 'cosmos_path_cosmos_commands_per_s', value: r.cosmos.opsPerSec, unit: 'ops/s' },
    { name: 'cosmos_path_ratio_cosmos_p50_over_embedded_p50', value: r.cosmos.p50 / r.embedded.p50, unit: 'x' },
    { name: 'cosmos_path_rebuild_embedded_ms', value: r.rebuild.embeddedMs, unit: 'ms' },
    { name: 'cosmos_path_rebuild_cosmos_ms', value: r.rebuild.cosmosMs, unit: 'ms' },
    { name: 'cosmos_path_rebuild_commits', value: r.rebuild.commits, unit: 'commits' },
    { name: 'cosmos_path_ratio_rebuild_cosmos_over_embedded', value: r.rebuild.cosmosMs / r.rebuild.embeddedMs, unit: 'x' },
  ];
  for (const k of KINDS) {
    m.push({ name: `cosmos_path_per_command_${k}`, value: r.perCommand[k], unit: k === 'writeBytes' ? 'bytes' : 'requests' });
    m.push({ name: `cosmos_path_rebuild_per_commit_${k}`, value: r.rebuild.perCommit[k], unit: k === 'writeBytes' ? 'bytes' : 'requests' });
    if ('fullPerCommit' in r.daily) {
      const unit = k === 'writeBytes' ? 'bytes' : 'requests';
      m.push({ name: `cosmos_path_full_backup_per_commit_${k}`, value: r.daily.fullPerCommit[k], unit });
      m.push({ name: `cosmos_path_drill_per_commit_${k}`, value: r.daily.drillPerCommit[k], unit });
    }
    m.push({
      name: `cosmos_path_idle_per_tenant_day_${k}`,
      value: r.idle.perTenantPerDay[k],
      unit: k === 'writeBytes' ? 'bytes' : 'requests',
    });
  }
  return m;
}

export function printCosmos(
  r: CosmosBenchResult,
  say: (l: string) => void,
  table: (h: string[], rows: string[][]) => string,
  fmt: (n: number) => string,
): void {
  say(
    table(
      ['POST record, sequential', 'p50 ms', 'p99 ms', 'commands/s'],
      [
        ['embedded (libSQL)', fmt(r.embedded.p50), fmt(r.embedded.p99), fmt(r.embedded.opsPerSec)],
        ['cosmos adapter on the stand-in', fmt(r.cosmos.p50), fmt(r.cosmos.p99), fmt(r.cosmos.opsPerSec)],
        ['ratio cosmos / embedded (p50)', `${fmt(r.cosmos.p50 / r.embedded.p50)}x`, '', ''],
      ],
    ),
  );
  say(
    table(
      ['projection rebuild (catch-up)', 'ms', 'commits', 'commits/s'],
      [
        ['embedded', fmt(r.rebuild.embeddedMs), String(r.rebuild.commits), fmt((r.rebuild.commits / r.rebuild.embeddedMs) * 1000)],
        [
          'cosmos adapter on the stand-in',
          fmt(r.rebuild.cosmosMs),
          String(r.rebuild.commits),
          fmt((r.rebuild.commits / r.rebuild.cosmosMs) * 1000),
        ],
      ],
    ),
  );
  say(
    table(
      ['Cosmos requests', ...KINDS],
      [
        [`per command (${r.commands} POST record)`, ...KINDS.map((k) => fmt(r.perCommand[k]))],
        [`rebuild, per commit (${r.rebuild.commits})`, ...KINDS.map((k) => fmt(r.rebuild.perCommit[k]))],
        ...(() => {
          const d = r.daily;
          if (!('fullPerCommit' in d)) return [[`full backup and drill: not measured (${d.error.slice(0, 60)})`, ...KINDS.map(() => '')]];
          return [
            [`full backup, ${d.tiers} tiers, per commit`, ...KINDS.map((k) => fmt(d.fullPerCommit[k]))],
            [`drill, ${d.tiers} tiers, per commit`, ...KINDS.map((k) => fmt(d.drillPerCommit[k]))],
          ];
        })(),
        [`idle tenant, per day (${r.idle.seconds} s measured)`, ...KINDS.map((k) => fmt(r.idle.perTenantPerDay[k]))],
      ],
    ),
  );
}
