/**
 * `npm run bench`: measures, side by side in one run,
 *   1. raw appends to the embedded store (SqliteEventStore on an encrypted temp file),
 *   2. raw appends through the Cosmos adapter (CosmosEventStore) on the in-process
 *      @vercel/cosmosdb-server (a local emulator over loopback, NOT Azure),
 *   3. the full HTTP command path (local host in-process, PATCH /api/t/{tenant}/users/{id})
 * and prints a table plus ratios; writes bench/results.json as [{ name, value, unit }].
 * Nothing here asserts anything about timings.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { createHttpServer } from '@vercel/cosmosdb-server';
import { startLocalHost, type LocalHost } from '../host/local-host';
import { CosmosEventStore } from '../shared/adapters/cosmos/cosmos-event-store';
import { SqliteEventStore } from '../shared/adapters/embedded/sqlite-event-store';
import { closeServices } from '../shared/config/services';
import type { AppendMeta, NewEvent } from '../shared/domain/events';
import type { EventStore } from '../shared/ports/event-store';
import { systemClock } from '../shared/ports/runtime';
import { fmt, measure, summarize, table, type Metric, type Series, type Summary } from './lib';

const APP_ROOT = resolve(__dirname, '..', '..');

const EMBEDDED = { warmup: 200, ops: 2000, streams: 100 };
const COSMOS = { warmup: 50, ops: 500, streams: 100 };
const HTTP = { warmup: 20, ops: 300 };

/** The documented public key of the Cosmos DB emulator; the local server accepts any key. */
const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];

const say = (line = '') => process.stdout.write(line + '\n');

// ------------------------------------------------------------------ raw appends

/** A commit shaped like what the role PATCH appends (one UserRolesChanged event). */
function rolesEvent(i: number): NewEvent[] {
  const [from, to] = i % 2 === 0 ? (['viewer', 'editor'] as const) : (['editor', 'viewer'] as const);
  return [{ type: 'UserRolesChanged', data: { userId: `u_bench${String(i).padStart(17, '0')}`, old: [from], new: [to] } }];
}

const benchAuthor: AppendMeta['author'] = { kind: 'user', userId: 'u_benchAuthor0000000000000', email: 'bench@bench.test' };

/** Appends `warmup` then `ops` single-event commits, round-robin over `streams` streams. */
async function rawAppends(store: EventStore, cfg: { warmup: number; ops: number; streams: number }): Promise<Series> {
  const versions = new Array<number>(cfg.streams).fill(0);
  const appendOne = async (i: number) => {
    const s = i % cfg.streams;
    const expected = versions[s]!;
    const r = await store.append(`bench-${s}`, expected, rolesEvent(i), { author: benchAuthor, correlationId: randomUUID() });
    versions[s] = r.version;
  };
  for (let i = 0; i < cfg.warmup; i++) await appendOne(i);
  return measure(cfg.ops, (i) => appendOne(cfg.warmup + i));
}

async function benchEmbedded(tmp: string): Promise<Series> {
  const dir = join(tmp, 'embedded');
  mkdirSync(dir, { recursive: true });
  const store = new SqliteEventStore('bench', join(dir, 'events.db'), randomBytes(32).toString('hex'), systemClock);
  try {
    return await rawAppends(store, EMBEDDED);
  } finally {
    store.close();
  }
}

async function benchCosmos(): Promise<Series> {
  const server = createHttpServer();
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', rej);
      res();
    });
  });
  const { port } = server.address() as AddressInfo;
  const client = new CosmosClient({
    endpoint: `http://127.0.0.1:${port}`,
    key: EMULATOR_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const close = async () => {
    client.dispose();
    server.closeAllConnections();
    await new Promise<void>((res) => server.close(() => res()));
  };
  try {
    const { database } = await client.databases.createIfNotExists({ id: 'tenants' });
    const { container } = await database.containers.createIfNotExists({ id: 'tenant-bench', partitionKey: { paths: ['/streamId'] } });
    const store = new CosmosEventStore('bench', container, systemClock);
    return await rawAppends(store, COSMOS);
  } finally {
    await close();
  }
}

// ------------------------------------------------------------------ HTTP command path

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

async function call(base: string, method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep the text */
  }
  return { status: res.status, headers: res.headers, body };
}

function expectStatus(r: Reply, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: expected HTTP ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
}

interface HttpResult {
  series: Series;
  finalVersion: number;
}

async function benchHttp(tmp: string): Promise<HttpResult> {
  // Configuration is read lazily by getServices() on the first request; set it all first.
  const operatorKey = randomBytes(32).toString('base64url'); // 43 characters
  Object.assign(process.env, {
    DATA_DIR: join(tmp, 'host-data'),
    LOCAL_BLOB: 'off',
    OPERATOR_KEY: operatorKey,
    PASSWORD_SCRYPT_LOG_N: '14',
    // The comparison is against the embedded store: do not pick up STORE=cosmos etc. from the shell.
    STORE: 'embedded',
    KEY_PROVIDER: 'local',
    OPERATOR_AUTH: 'key',
    PORT: '0',
  });

  const hostLog: string[] = [];
  const host: LocalHost = await startLocalHost({
    entries: [join(APP_ROOT, 'dist', 'functions', 'index.js')],
    port: 0,
    appRoot: APP_ROOT,
    log: (l) => hostLog.push(l),
  });
  cleanups.push(async () => {
    await host.close();
    await closeServices();
  });
  // The host listens on 127.0.0.1 but reports "localhost"; skip name resolution (::1 first).
  const base = host.url.replace('//localhost:', '//127.0.0.1:');

  try {
    const password = `bench-${randomBytes(12).toString('base64url')}`;
    const tenant = 'bench-co';
    expectStatus(
      await call(base, 'POST', '/api/tenants', {
        token: operatorKey,
        body: { id: tenant, name: 'Bench Co', admin: { email: `admin@${tenant}.test`, password } },
      }),
      201,
      'create tenant',
    );
    const login = await call(base, 'POST', `/api/t/${tenant}/auth/token`, { body: { email: `admin@${tenant}.test`, password } });
    expectStatus(login, 200, 'admin login');
    const token = (login.body as { access_token: string }).access_token;
    const created = await call(base, 'POST', `/api/t/${tenant}/users`, {
      token,
      body: { email: `user@${tenant}.test`, password, roles: ['viewer'] },
    });
    expectStatus(created, 201, 'create user');
    const user = created.body as { userId: string; version: number; roles: string[] };
    let etag = created.headers.get('etag') ?? `"${user.version}"`;
    let version = user.version;
    let roles = user.roles;

    const patch = async () => {
      const next = roles[0] === 'viewer' ? ['editor'] : ['viewer'];
      const r = await call(base, 'PATCH', `/api/t/${tenant}/users/${user.userId}`, { token, body: { roles: next }, headers: { 'if-match': etag } });
      expectStatus(r, 200, 'patch user roles');
      const v = r.body as { version: number; roles: string[] };
      // Each toggle must append exactly one commit.
      if (v.version !== version + 1) throw new Error(`patch user roles: version went from ${version} to ${v.version}`);
      version = v.version;
      roles = v.roles;
      etag = r.headers.get('etag') ?? `"${v.version}"`;
    };
    for (let i = 0; i < HTTP.warmup; i++) await patch();
    const series = await measure(HTTP.ops, () => patch());
    return { series, finalVersion: version };
  } catch (e) {
    if (hostLog.length) say(`Local host output:\n${hostLog.join('\n')}`);
    throw e;
  }
}

// ------------------------------------------------------------------ report

function p50Of(samples: readonly number[]): number {
  return summarize({ samplesMs: [...samples], totalMs: 1 }).p50;
}

function seriesMetrics(prefix: string, unit: string, s: Summary): Metric[] {
  return [
    { name: `${prefix}_throughput`, value: s.opsPerSec, unit },
    { name: `${prefix}_p50_latency`, value: s.p50, unit: 'ms' },
    { name: `${prefix}_p90_latency`, value: s.p90, unit: 'ms' },
    { name: `${prefix}_p99_latency`, value: s.p99, unit: 'ms' },
    { name: `${prefix}_max_latency`, value: s.max, unit: 'ms' },
    { name: `${prefix}_ops`, value: s.ops, unit: 'ops' },
  ];
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const tmp = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-'));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));

  say(`tenant-ledger bench — Node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} CPU(s): ${cpus()[0]?.model ?? '?'}`);
  say('');

  say(`[1/3] embedded store: ${EMBEDDED.warmup} warm-up + ${EMBEDDED.ops} single-event appends over ${EMBEDDED.streams} streams (encrypted libSQL file)…`);
  const embedded = summarize(await benchEmbedded(tmp));

  say(`[2/3] Cosmos adapter: ${COSMOS.warmup} warm-up + ${COSMOS.ops} single-event appends over ${COSMOS.streams} streams (in-process @vercel/cosmosdb-server)…`);
  const cosmos = summarize(await benchCosmos());

  say(`[3/3] HTTP command path: ${HTTP.warmup} warm-up + ${HTTP.ops} sequential PATCH /api/t/{tenant}/users/{userId} (local host in-process)…`);
  const http = await benchHttp(tmp);
  const httpSum = summarize(http.series);
  const tenth = Math.max(1, Math.floor(HTTP.ops / 10));
  const httpFirstP50 = p50Of(http.series.samplesMs.slice(0, tenth));
  const httpLastP50 = p50Of(http.series.samplesMs.slice(-tenth));

  const ratios = {
    httpP50OverRawP50: httpSum.p50 / embedded.p50,
    httpP99OverRawP99: httpSum.p99 / embedded.p99,
    rawThroughputOverHttp: embedded.opsPerSec / httpSum.opsPerSec,
    cosmosP50OverEmbeddedP50: cosmos.p50 / embedded.p50,
    embeddedThroughputOverCosmos: embedded.opsPerSec / cosmos.opsPerSec,
  };

  say('');
  const row = (name: string, unit: string, s: Summary) => [name, String(s.ops), `${fmt(s.opsPerSec)} ${unit}`, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)];
  say(
    table(
      ['series', 'ops', 'throughput', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      [
        row('embedded raw append (SqliteEventStore, encrypted)', 'appends/s', embedded),
        row('cosmos raw append (CosmosEventStore, local emulator)', 'appends/s', cosmos),
        row('HTTP command (PATCH user roles, embedded store)', 'commands/s', httpSum),
      ],
    ),
  );
  say('');
  say(
    table(
      ['ratio (measured in this run)', 'value'],
      [
        ['HTTP command p50 / raw embedded append p50', `${fmt(ratios.httpP50OverRawP50)}x`],
        ['HTTP command p99 / raw embedded append p99', `${fmt(ratios.httpP99OverRawP99)}x`],
        ['raw embedded appends/s / HTTP commands/s', `${fmt(ratios.rawThroughputOverHttp)}x`],
        ['cosmos (local emulator) append p50 / embedded append p50', `${fmt(ratios.cosmosP50OverEmbeddedP50)}x`],
        ['embedded appends/s / cosmos (local emulator) appends/s', `${fmt(ratios.embeddedThroughputOverCosmos)}x`],
      ],
    ),
  );
  say('');
  say('Notes:');
  say('  - Cosmos figures are from @vercel/cosmosdb-server, an in-memory emulator in this process, over');
  say('    loopback HTTP: they show adapter + SDK + HTTP overhead, not Azure Cosmos DB latency or RU cost.');
  say('    An append to an existing stream is two round trips (point read of the previous commit + create).');
  say('  - The HTTP path includes the fetch client in the same process (same event loop), JSON schema');
  say('    validation, token verification, replay of the caller\'s stream (authenticate) and of the target');
  say(`    user's stream before and after the append. That stream grows by one commit per command (it ended`);
  say(
    `    at version ${http.finalVersion}): p50 of the first ${tenth} timed commands ${fmt(httpFirstP50)} ms, of the last ${tenth} ${fmt(httpLastP50)} ms.`,
  );
  say('  - Raw appends are sequential single-event commits; no concurrency in any series.');

  const metrics: Metric[] = [
    ...seriesMetrics('embedded_append', 'appends/s', embedded),
    ...seriesMetrics('cosmos_local_emulator_append', 'appends/s', cosmos),
    ...seriesMetrics('http_command', 'commands/s', httpSum),
    { name: 'http_command_p50_latency_first_10pct', value: httpFirstP50, unit: 'ms' },
    { name: 'http_command_p50_latency_last_10pct', value: httpLastP50, unit: 'ms' },
    { name: 'http_command_target_stream_final_version', value: http.finalVersion, unit: 'commits' },
    { name: 'ratio_http_command_p50_over_raw_append_p50', value: ratios.httpP50OverRawP50, unit: 'x' },
    { name: 'ratio_http_command_p99_over_raw_append_p99', value: ratios.httpP99OverRawP99, unit: 'x' },
    { name: 'ratio_raw_append_throughput_over_http_command_throughput', value: ratios.rawThroughputOverHttp, unit: 'x' },
    { name: 'ratio_cosmos_local_p50_over_embedded_p50', value: ratios.cosmosP50OverEmbeddedP50, unit: 'x' },
    { name: 'ratio_embedded_throughput_over_cosmos_local_throughput', value: ratios.embeddedThroughputOverCosmos, unit: 'x' },
  ].map((m) => ({ ...m, value: Number(m.value.toPrecision(6)) }));
  const out = join(APP_ROOT, 'bench', 'results.json');
  writeFileSync(out, JSON.stringify(metrics, null, 2) + '\n');
  say('');
  say(`Wrote ${metrics.length} metrics to ${out} (total bench time ${fmt(Number(process.hrtime.bigint() - started) / 1e9)} s).`);
}

async function runCleanups(): Promise<void> {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (e) {
      process.stderr.write(`cleanup failed: ${(e as Error)?.message ?? e}\n`);
    }
  }
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
