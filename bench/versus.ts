/**
 * `npm run bench -- versus --against=<app root>`: this build's records command path against
 * another build of the app (e.g. a worktree of an older commit, built with `npm ci && npm run
 * build`), side by side in one run, the way the goals phase compares the host with its floor
 * server: both local hosts in child processes (bench/files.ts startChildHost, no Azurite), the
 * same tenant and type on each, then rounds alternating this / other / other / this. Each round
 * is the records command path of [4/13] (bench/records.ts benchRecordCommands): sequential POST
 * record, PATCH (If-Match) of each of those, PATCH of one record again and again.
 * Reports ops/s and percentiles per side and the ratio this / other. Asserts nothing about timings.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startChildHost, stopChild } from './files';
import { fmt, type Metric, type Series, type Summary, summarize } from './lib';
import { benchRecordCommands, createBenchTenant, defineBenchType } from './records';

export const VERSUS = { warmup: 30, rounds: 6, opsPerRound: 150 };

type Side = 'this' | 'other';
type Kind = 'post' | 'patch' | 'patchSame';
const KINDS: Kind[] = ['post', 'patch', 'patchSame'];

export interface VersusResult {
  other: string;
  rounds: number;
  opsPerRound: number;
  figures: Record<Kind, Record<Side, Summary>>;
}

const join2 = (s: Series[]): Series => ({ samplesMs: s.flatMap((x) => x.samplesMs), totalMs: s.reduce((a, x) => a + x.totalMs, 0) });

export async function benchVersus(appRoot: string, otherRoot: string, dir: string, say: (line?: string) => void): Promise<VersusResult> {
  const other = resolve(otherRoot);
  if (!existsSync(join(other, 'dist', 'host', 'start.js')))
    throw new Error(`--against=${otherRoot}: no dist/host/start.js there (run npm ci && npm run build in it first)`);
  const operatorKey = randomBytes(32).toString('base64url');
  const hosts: Partial<Record<Side, Awaited<ReturnType<typeof startChildHost>>>> = {};
  try {
    hosts.this = await startChildHost(appRoot, join(dir, 'this'), operatorKey, 60_000, { LOCAL_BLOB: 'off' });
    hosts.other = await startChildHost(other, join(dir, 'other'), operatorKey, 60_000, { LOCAL_BLOB: 'off' });
    const tenants = {
      this: await createBenchTenant(hosts.this.base, operatorKey, 'bench-versus'),
      other: await createBenchTenant(hosts.other.base, operatorKey, 'bench-versus'),
    };
    for (const side of ['this', 'other'] as const) await defineBenchType(hosts[side]!.base, tenants[side]);
    const series: Record<Kind, Record<Side, Series[]>> = {
      post: { this: [], other: [] },
      patch: { this: [], other: [] },
      patchSame: { this: [], other: [] },
    };
    for (let r = 0; r < VERSUS.rounds; r++) {
      const order: Side[] = r % 2 === 0 ? ['this', 'other'] : ['other', 'this'];
      for (const side of order) {
        const res = await benchRecordCommands(hosts[side]!.base, tenants[side], {
          warmup: r === 0 ? VERSUS.warmup : 0,
          ops: VERSUS.opsPerRound,
        });
        for (const k of KINDS) series[k][side].push(res[k]);
      }
      say(`      round ${r + 1}/${VERSUS.rounds} done (${order.join(' → ')})`);
    }
    const figures = Object.fromEntries(
      KINDS.map((k) => [k, { this: summarize(join2(series[k].this)), other: summarize(join2(series[k].other)) }]),
    ) as VersusResult['figures'];
    return { other, rounds: VERSUS.rounds, opsPerRound: VERSUS.opsPerRound, figures };
  } finally {
    for (const h of [hosts.this, hosts.other]) if (h) await stopChild(h);
  }
}

const LABEL: Record<Kind, string> = { post: 'POST record', patch: 'PATCH record (If-Match)', patchSame: 'PATCH one record again' };

export function printVersus(r: VersusResult, say: (line?: string) => void, table: (head: string[], rows: string[][]) => string): void {
  say(`[versus] this build vs ${r.other}: ${r.rounds} alternating rounds × ${r.opsPerRound} sequential requests per kind and side`);
  say(
    table(
      ['command', 'this /s', 'other /s', 'ratio this/other', 'this p50 ms', 'other p50 ms', 'this p99 ms', 'other p99 ms'],
      KINDS.map((k) => {
        const f = r.figures[k];
        return [
          LABEL[k],
          fmt(f.this.opsPerSec),
          fmt(f.other.opsPerSec),
          fmt(f.this.opsPerSec / f.other.opsPerSec),
          fmt(f.this.p50),
          fmt(f.other.p50),
          fmt(f.this.p99),
          fmt(f.other.p99),
        ];
      }),
    ),
  );
}

export function versusMetrics(r: VersusResult): Metric[] {
  return KINDS.flatMap((k) => {
    const f = r.figures[k];
    return [
      { name: `versus_${k}_this_per_s`, value: f.this.opsPerSec, unit: 'ops/s' },
      { name: `versus_${k}_other_per_s`, value: f.other.opsPerSec, unit: 'ops/s' },
      { name: `versus_${k}_this_p50_ms`, value: f.this.p50, unit: 'ms' },
      { name: `versus_${k}_other_p50_ms`, value: f.other.p50, unit: 'ms' },
      { name: `ratio_versus_${k}`, value: f.this.opsPerSec / f.other.opsPerSec, unit: 'x' },
    ];
  });
}
