/**
 * Telemetry phase of `npm run bench`: the cost of the OpenTelemetry export to Application
 * Insights on the HTTP command path, measured side by side in one run.
 *
 * Two local hosts run as child processes (`node dist/host/start.js`, embedded store, no
 * Azurite), each with its own data folder and tenant:
 *   - OFF: no APPLICATIONINSIGHTS_CONNECTION_STRING (no OpenTelemetry package is loaded);
 *   - ON: APPLICATIONINSIGHTS_CONNECTION_STRING pointing at a local HTTPS ingestion stand-in
 *     (bench/ingest-standin.ts, its own child process; self-signed certificate trusted through
 *     NODE_EXTRA_CA_CERTS, as in test/e2e/telemetry.test.ts), OTEL_TRACES_SAMPLER=always_on so
 *     every request becomes an exported span (the worst case), statsbeat off, and LiveEndpoint
 *     also pointed at the stand-in so that live-metrics pings stay on this machine.
 * The same command — POST /api/t/{tenant}/records/bench, sequential, one client — is timed in
 * rounds that alternate between the two hosts (OFF, ON, ON, OFF, …) to spread drift over both.
 * After every round the phase lets the host settle (the feed projector timer runs every 2 s), and
 * after an ON round it also waits until the stand-in has received a request envelope for every
 * HTTP request sent so far, so one host's leftovers do not run during the other's round.
 * Nothing here asserts anything about timings.
 */
import { type SelfSigned, selfSignedCertificate } from '../host/self-signed';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSnapshot, startChildHost, stopChild, type Child, type CpuSnapshot } from './files';
import { call, expectStatus } from './http';
import type { StandinCounts } from './ingest-standin';
import { measure, msSince, nowNs, summarize, type Metric, type Series, type Summary } from './lib';
import { createBenchTenant, defineBenchType, TYPE } from './records';

export interface TelemetryConfig {
  /** Untimed commands per host before the first round. */
  warmup: number;
  /** Rounds per host; the order alternates (OFF, ON, ON, OFF, …). */
  rounds: number;
  opsPerRound: number;
  /** Least pause after every round (the hosts' feed projector timer runs every 2 s); after an ON round it overlaps the export wait. */
  settleMs: number;
  /** Longest wait after an ON round for the stand-in to have every request envelope. */
  exportWaitMs: number;
}

export interface TelemetrySide {
  rounds: Series[];
  /** All rounds' samples, wall time summed. */
  all: Series;
  /** CPU of the host child (all threads, /proc; 10 ms ticks) during the timed rounds. */
  hostCpuMs?: number;
  /** HTTP requests sent to this host (setup, warm-up and timed). */
  requests: number;
  startupMs: number;
}

export type TelemetryResult =
  | {
      ok: true;
      cfg: TelemetryConfig;
      off: TelemetrySide;
      on: TelemetrySide;
      /** What the stand-in had received when the last round ended (before the ON host stopped). */
      countsAtEnd: StandinCounts;
      /** After the ON host stopped (its appTerminate flushes the exporter). */
      counts: StandinCounts;
      /** Per ON round: ms until the stand-in had a request envelope for every HTTP request sent (NaN: not within exportWaitMs). */
      exportCatchUpMs: number[];
    }
  | { ok: false; reason: string };

export interface Standin {
  proc: ChildProcess;
  port: number;
  counts(): Promise<StandinCounts>;
  stop(): Promise<void>;
}

export async function startStandin(appRoot: string, keyPath: string, certPath: string): Promise<Standin> {
  const proc = spawn(process.execPath, [join(appRoot, 'dist', 'bench', 'ingest-standin.js'), keyPath, certPath], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the ingestion stand-in did not start within 10 s')), 10_000);
    proc.on('message', function onMessage(m: { listening?: number }) {
      if (typeof m?.listening === 'number') {
        clearTimeout(timer);
        proc.off('message', onMessage);
        resolve(m.listening);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the ingestion stand-in exited (${signal ?? code}) before it listened`));
    });
  });
  return {
    proc,
    port,
    counts: () =>
      new Promise<StandinCounts>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the ingestion stand-in did not report its counts')), 5_000);
        proc.on('message', function onMessage(m: { counts?: StandinCounts }) {
          if (m?.counts) {
            clearTimeout(timer);
            proc.off('message', onMessage);
            resolve(m.counts);
          }
        });
        proc.send('counts');
      }),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.disconnect();
      const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000).unref())]);
      if (!stopped) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Removes every Application Insights / OpenTelemetry setting the shell may have, then sets `set`. */
function telemetryEnv(set: Record<string, string>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('APPLICATIONINSIGHTS_') || k.startsWith('OTEL_')) out[k] = undefined;
  return { ...out, LOCAL_BLOB: 'off', ...set };
}

interface Side {
  name: 'off' | 'on';
  child: Child;
  operatorKey: string;
  tenant: { id: string; token: string };
  requests: number;
  rounds: Series[];
  cpuMs: number | undefined;
  startupMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startSide(name: Side['name'], appRoot: string, dir: string, env: Record<string, string | undefined>): Promise<Side> {
  const operatorKey = randomBytes(32).toString('base64url'); // 43 characters
  const t0 = nowNs();
  const child = await startChildHost(appRoot, join(dir, `data-${name}`), operatorKey, 60_000, env);
  const startupMs = msSince(t0);
  return { name, child, operatorKey, tenant: { id: '', token: '' }, requests: 0, rounds: [], cpuMs: 0, startupMs };
}

async function postRecord(s: Side, i: number): Promise<void> {
  s.requests++;
  const r = await call(s.child.base, 'POST', `/api/t/${s.tenant.id}/records/${TYPE}`, {
    token: s.tenant.token,
    body: {
      title: `telemetry bench ${i}`,
      status: 'open',
      counter: i,
      owner: { name: 'Bench Owner', email: 'owner@bench.test' },
      tags: ['bench', `batch-${i % 10}`],
    },
  });
  expectStatus(r, 201, `create record (telemetry ${s.name})`);
}

function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): number | undefined {
  return a.totalMs !== undefined && b.totalMs !== undefined ? b.totalMs - a.totalMs : undefined;
}

function sideResult(s: Side): TelemetrySide {
  const all: Series = { samplesMs: s.rounds.flatMap((r) => r.samplesMs), totalMs: s.rounds.reduce((a, r) => a + r.totalMs, 0) };
  return { rounds: s.rounds, all, ...(s.cpuMs !== undefined ? { hostCpuMs: s.cpuMs } : {}), requests: s.requests, startupMs: s.startupMs };
}

export async function benchTelemetry(
  appRoot: string,
  cfg: TelemetryConfig,
  onLog: (what: string, lines: string[]) => void,
): Promise<TelemetryResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-telemetry-'));
  let standin: Standin | undefined;
  const sides: Side[] = [];
  try {
    let tls: SelfSigned;
    try {
      tls = selfSignedCertificate(dir);
    } catch (e) {
      return { ok: false, reason: `no self-signed certificate for the ingestion stand-in (openssl: ${(e as Error).message})` };
    }
    standin = await startStandin(appRoot, tls.keyPath, tls.certPath);
    const endpoint = `https://127.0.0.1:${standin.port}/`;

    const off = await startSide('off', appRoot, dir, telemetryEnv({}));
    sides.push(off);
    const on = await startSide('on', appRoot, dir, {
      ...telemetryEnv({
        APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=${endpoint};LiveEndpoint=${endpoint}`,
        NODE_EXTRA_CA_CERTS: tls.certPath,
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
        OTEL_TRACES_SAMPLER: 'always_on',
      }),
    });
    sides.push(on);

    for (const s of sides) {
      s.tenant = await createBenchTenant(s.child.base, s.operatorKey, `bench-telemetry-${s.name}`);
      await defineBenchType(s.child.base, s.tenant);
      s.requests += 3; // create tenant, log in, define type
      for (let i = 0; i < cfg.warmup; i++) await postRecord(s, -1 - i);
    }

    const exportCatchUpMs: number[] = [];
    const waitForExport = async () => {
      const t0 = nowNs();
      for (;;) {
        const c = await standin!.counts();
        if (c.httpRequests >= on.requests) return msSince(t0);
        if (msSince(t0) > cfg.exportWaitMs) return Number.NaN;
        await sleep(100);
      }
    };
    // Before the first round: the ON host's setup and warm-up are exported, both hosts idle.
    const settled = sleep(cfg.settleMs);
    await waitForExport();
    await settled;

    let n = 0;
    for (let r = 0; r < cfg.rounds; r++) {
      for (const s of r % 2 === 0 ? [off, on] : [on, off]) {
        const pid = s.child.proc.pid!;
        const a = cpuSnapshot(pid);
        const base = n;
        s.rounds.push(await measure(cfg.opsPerRound, (i) => postRecord(s, base + i)));
        const b = cpuSnapshot(pid);
        n += cfg.opsPerRound;
        const d = cpuDelta(a, b);
        s.cpuMs = s.cpuMs === undefined || d === undefined ? undefined : s.cpuMs + d;
        // Settle and wait for the export at the same time: both run in the ON host after its round.
        const settled = sleep(cfg.settleMs);
        if (s === on) exportCatchUpMs.push(await waitForExport());
        await settled;
      }
    }
    const countsAtEnd = await standin.counts();

    // Stopping the ON host runs appTerminate: the exporter flushes what it still holds.
    for (const s of sides) await stopChild(s.child);
    const counts = await standin.counts();
    if (counts.httpRequests === 0) throw new Error(`the ingestion stand-in received no request envelopes: ${JSON.stringify(counts)}`);

    return { ok: true, cfg, off: sideResult(off), on: sideResult(on), countsAtEnd, counts, exportCatchUpMs };
  } catch (e) {
    for (const s of sides) onLog(`telemetry ${s.name} host`, s.child.log.slice(-100));
    throw e;
  } finally {
    for (const s of sides) await stopChild(s.child);
    await standin?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ report

type Fmt = (n: number) => string;

export interface TelemetryFigures {
  off: Summary;
  on: Summary;
  /** Throughput ON / OFF. */
  throughputOnOverOff: number;
  p50OnOverOff: number;
  p99OnOverOff: number;
  /** Host CPU per command (ms), all threads. */
  offCpuPerCommand?: number;
  onCpuPerCommand?: number;
}

export function telemetryFigures(r: Extract<TelemetryResult, { ok: true }>): TelemetryFigures {
  const off = summarize(r.off.all);
  const on = summarize(r.on.all);
  const perCmd = (s: TelemetrySide) => (s.hostCpuMs === undefined ? undefined : s.hostCpuMs / s.all.samplesMs.length);
  const offCpu = perCmd(r.off);
  const onCpu = perCmd(r.on);
  return {
    off,
    on,
    throughputOnOverOff: on.opsPerSec / off.opsPerSec,
    p50OnOverOff: on.p50 / off.p50,
    p99OnOverOff: on.p99 / off.p99,
    ...(offCpu !== undefined ? { offCpuPerCommand: offCpu } : {}),
    ...(onCpu !== undefined ? { onCpuPerCommand: onCpu } : {}),
  };
}

const roundRates = (s: TelemetrySide, fmt: Fmt) => s.rounds.map((x) => fmt(x.samplesMs.length / (x.totalMs / 1000))).join(' / ');

export function telemetryRows(r: TelemetryResult, fmt: Fmt): string[][] {
  if (!r.ok) return [['telemetry OFF vs ON', 'skipped', r.reason]];
  const f = telemetryFigures(r);
  const cpu = (ms: number | undefined) => (ms === undefined ? '' : `; host CPU ${fmt(ms)} ms/command`);
  const types = Object.entries(r.counts.byType)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const other = Object.entries(r.counts.other)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    [
      'POST record, telemetry OFF',
      `${fmt(f.off.opsPerSec)} commands/s`,
      `p50 ${fmt(f.off.p50)} ms, p99 ${fmt(f.off.p99)} ms; rounds ${roundRates(r.off, fmt)} commands/s${cpu(f.offCpuPerCommand)}`,
    ],
    [
      'POST record, telemetry ON (always_on)',
      `${fmt(f.on.opsPerSec)} commands/s`,
      `p50 ${fmt(f.on.p50)} ms, p99 ${fmt(f.on.p99)} ms; rounds ${roundRates(r.on, fmt)} commands/s${cpu(f.onCpuPerCommand)}`,
    ],
    [
      'ingestion stand-in: envelopes received',
      String(r.counts.envelopes),
      `${r.counts.trackPosts} POSTs /v2.1/track (${types}); HTTP request envelopes ${r.counts.httpRequests} for ${r.on.requests} requests sent (${r.countsAtEnd.httpRequests} before the host stopped)${other ? `; other: ${other}` : ''}`,
    ],
    [
      'ON rounds: wait until every request was exported',
      r.exportCatchUpMs.map((ms) => (Number.isNaN(ms) ? 'timeout' : `${fmt(ms)} ms`)).join(' / '),
      'after the round ended (batches every 5 s or per 512 spans)',
    ],
  ];
}

export function telemetryRatioRows(r: TelemetryResult, fmt: Fmt): string[][] {
  if (!r.ok) return [];
  const f = telemetryFigures(r);
  return [
    ['POST record commands/s: telemetry ON (always_on) / OFF', `${fmt(f.throughputOnOverOff)}x`],
    ['POST record p50: telemetry ON / OFF', `${fmt(f.p50OnOverOff)}x`],
    ['POST record p99: telemetry ON / OFF', `${fmt(f.p99OnOverOff)}x`],
    ...(f.onCpuPerCommand !== undefined && f.offCpuPerCommand !== undefined
      ? [['POST record, host CPU per command: telemetry ON / OFF', `${fmt(f.onCpuPerCommand / f.offCpuPerCommand)}x`]]
      : []),
  ];
}

export function telemetryMetrics(r: TelemetryResult): Metric[] {
  if (!r.ok) return [];
  const f = telemetryFigures(r);
  const side = (name: 'off' | 'on', s: TelemetrySide, x: Summary, cpu: number | undefined): Metric[] => [
    { name: `http_command_telemetry_${name}_throughput`, value: x.opsPerSec, unit: 'commands/s' },
    ...s.rounds.map((rd, i) => ({
      name: `http_command_telemetry_${name}_throughput_round${i + 1}`,
      value: rd.samplesMs.length / (rd.totalMs / 1000),
      unit: 'commands/s',
    })),
    { name: `http_command_telemetry_${name}_p50_latency`, value: x.p50, unit: 'ms' },
    { name: `http_command_telemetry_${name}_p90_latency`, value: x.p90, unit: 'ms' },
    { name: `http_command_telemetry_${name}_p99_latency`, value: x.p99, unit: 'ms' },
    { name: `http_command_telemetry_${name}_max_latency`, value: x.max, unit: 'ms' },
    { name: `http_command_telemetry_${name}_ops`, value: x.ops, unit: 'ops' },
    ...(cpu !== undefined ? [{ name: `http_command_telemetry_${name}_host_cpu_per_command`, value: cpu, unit: 'ms' }] : []),
    { name: `http_command_telemetry_${name}_host_startup`, value: s.startupMs, unit: 'ms' },
  ];
  return [
    ...side('off', r.off, f.off, f.offCpuPerCommand),
    ...side('on', r.on, f.on, f.onCpuPerCommand),
    { name: 'telemetry_on_requests_sent', value: r.on.requests, unit: 'requests' },
    { name: 'telemetry_ingest_envelopes', value: r.counts.envelopes, unit: 'envelopes' },
    { name: 'telemetry_ingest_request_envelopes', value: r.counts.byType.RequestData ?? 0, unit: 'envelopes' },
    { name: 'telemetry_ingest_http_request_envelopes', value: r.counts.httpRequests, unit: 'envelopes' },
    { name: 'telemetry_ingest_message_envelopes', value: r.counts.byType.MessageData ?? 0, unit: 'envelopes' },
    { name: 'telemetry_ingest_track_posts', value: r.counts.trackPosts, unit: 'posts' },
    { name: 'ratio_http_command_telemetry_on_over_off', value: f.throughputOnOverOff, unit: 'x' },
    { name: 'ratio_http_command_p50_telemetry_on_over_off', value: f.p50OnOverOff, unit: 'x' },
    { name: 'ratio_http_command_p99_telemetry_on_over_off', value: f.p99OnOverOff, unit: 'x' },
    ...(f.onCpuPerCommand !== undefined && f.offCpuPerCommand !== undefined
      ? [{ name: 'ratio_http_command_host_cpu_telemetry_on_over_off', value: f.onCpuPerCommand / f.offCpuPerCommand, unit: 'x' }]
      : []),
  ];
}
