/**
 * "Noisy neighbour" phase of `npm run bench` (alone: `npm run bench -- noisy`).
 *
 * One local host runs in a child process (`node dist/host/start.js`, embedded defaults) with
 * an event-loop stall probe preloaded (bench/loop-probe.ts). A victim tenant reads one small
 * record every 20 ms (open loop: a read is sent on schedule even while earlier ones are
 * still out), first alone (idle), then while a noisy tenant runs each worst case in turn,
 * repeating it for a few seconds:
 *   - cold-read:   GET of a 100,000-commit record whose snapshots were just deleted,
 *   - asof-list:   GET ?asOf=<middle> over 2,000 records with a filter nothing matches (every
 *                  page followed to the end),
 *   - unique-items: POST of a record with an array of distinct one-element arrays checked by
 *                  `uniqueItems` (as many items as the type sandbox still accepts in `maxItems`),
 *   - big-schema:  PUT of a new ~64 KB type schema,
 *   - restore:     POST /api/tenants/{src}/restore of a 10,000-commit tenant into a new tenant,
 *   - login-burst: 16 concurrent correct logins (scrypt N=2^15, the default), back to back.
 * Per case: the victim's p50/p99/max against its idle p50/p99 and the child's longest
 * event-loop stall. Goal: victim p99 ≤ 3× idle p99 and no stall > 50 ms.
 *
 * The data sets are written before the child starts, in this process, straight through the
 * same classes the host wires (EmbeddedTenantDirectory + LocalKeyProvider with the master key
 * the child then gets in LOCAL_MASTER_KEY). Nothing here asserts anything about timings.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderBackupTarget } from '../shared/adapters/backup/folder-backup-target';
import { EmbeddedTenantDirectory } from '../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../shared/adapters/embedded/local-key-provider';
import type { SqliteEventStore } from '../shared/adapters/embedded/sqlite-event-store';
import { BackupService } from '../shared/app/backup';
import { runProjector } from '../shared/app/projector';
import { RecordService } from '../shared/app/records';
import { TenantService } from '../shared/app/service';
import type { EventStore } from '../shared/ports/event-store';
import { systemClock } from '../shared/ports/runtime';
import { startChildHost, stopChild, type Child } from './files';
import { call, expectStatus } from './http';
import { fmt, msSince, nowNs, percentile, type Metric } from './lib';
import { appendHistory, appendRoundRobin, TYPE, type BuiltSet, type BuiltStream } from './records';

export interface NoisyConfig {
  /** Victim alone, before the cases. */
  idleMs: number;
  /** Each case repeats its operation until this much time has passed (the last one finishes). */
  caseMs: number;
  victimEveryMs: number;
  historyCommits: number;
  listRecords: number;
  listCommitsPerRecord: number;
  restoreRecords: number;
  restoreCommitsPerRecord: number;
  uniqueItems: number;
  schemaBytes: number;
  loginBurst: number;
}

export const NOISY: NoisyConfig = {
  idleMs: 6_000,
  caseMs: 6_000,
  victimEveryMs: 20,
  historyCommits: 100_000,
  listRecords: 2_000,
  listCommitsPerRecord: 10,
  restoreRecords: 2_000,
  restoreCommitsPerRecord: 5,
  uniqueItems: 9_000,
  schemaBytes: 64_000,
  loginBurst: 16,
};

const GOAL = { p99Factor: 3, stallMs: 50 };

export interface VictimStats {
  reads: number;
  p50: number;
  p99: number;
  max: number;
  /** Reads that did not answer 200. */
  errors: number;
  firstError?: string;
}

export interface NoisyCase {
  name: string;
  what: string;
  /** Noisy operations completed in the window, and their mean duration. */
  ops: number;
  opMeanMs: number;
  /** Anything the case wants to say (statuses seen, limits the sandbox imposed). */
  note: string;
  victim: VictimStats;
  stallMs: number;
  /** The most CPU the host's loop thread used between two probe ticks (excludes time it sat descheduled). */
  cpuStallMs: number | null;
  stallsOver50: number;
  /** Timer runs in the host during the window that took 50 ms or more, e.g. "projectFeeds 2× (max 80 ms)". */
  timers: string;
  /** 1-minute load average at the end of the window (2 CPUs here: above 2 means CPU contention). */
  loadAvg: number;
  meetsGoal: boolean;
  /** The same goal with the on-CPU stall in place of the wall-clock one (what the host itself held). */
  meetsGoalOnCpu: boolean;
}

export interface NoisyResult {
  cfg: NoisyConfig;
  setupMs: number;
  idle: VictimStats;
  idleStallMs: number;
  idleCpuStallMs: number | null;
  idleLoadAvg: number;
  idleTimers: string;
  cases: NoisyCase[];
  totalMs: number;
}

const op = { id: 'operator-key:bench' };
const req = () => ({ correlationId: randomUUID() });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Tenant {
  id: string;
  email: string;
  password: string;
  token: string;
}

// ------------------------------------------------------------------ the child's stall probe

class Probe {
  private n = 0;
  constructor(private readonly child: Child) {}

  /** Ends the probe's current window and returns its longest stall (wall clock, and CPU the loop thread used in its longest stretch). */
  async read(): Promise<{ maxGapMs: number; maxCpuGapMs: number | null; over50: number }> {
    const want = ++this.n;
    const tag = `loop-probe ${want} `;
    this.child.proc.kill('SIGUSR2');
    const t0 = nowNs();
    for (;;) {
      const line = this.child.log.find((l) => l.startsWith(tag));
      if (line) return JSON.parse(line.slice(tag.length)) as { maxGapMs: number; maxCpuGapMs: number | null; over50: number };
      if (msSince(t0) > 30_000) throw new Error('the child host did not answer the loop probe within 30 s');
      await sleep(5);
    }
  }
}

// ------------------------------------------------------------------ the host's timer runs

/** Watches the child's structured log for timer runs (event "timer") of 50 ms or more. */
class TimerWatch {
  private runs = new Map<string, { n: number; max: number }>();
  constructor(child: Child) {
    let rest = '';
    child.proc.stdout?.on('data', (d: string | Buffer) => {
      rest += d.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.includes('"timer"')) continue;
        try {
          const o = JSON.parse(l) as { event?: string; fn?: string; ms?: number };
          if (o.event !== 'timer' || typeof o.ms !== 'number' || o.ms < 50) continue;
          const r = this.runs.get(o.fn ?? '?') ?? { n: 0, max: 0 };
          r.n++;
          r.max = Math.max(r.max, o.ms);
          this.runs.set(o.fn ?? '?', r);
        } catch {
          /* not a log line */
        }
      }
    });
  }
  /** The runs since the last call, and a new window. */
  take(): string {
    const out = [...this.runs.entries()].map(([fn, r]) => `${fn} ${r.n}× (max ${Math.round(r.max)} ms)`).join(', ');
    this.runs.clear();
    return out;
  }
}

// ------------------------------------------------------------------ the victim

class Victim {
  private samples: number[] = [];
  private errors = 0;
  private firstError = '';
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly base: string,
    private readonly path: string,
    private readonly token: string,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.samples = [];
    this.errors = 0;
    this.firstError = '';
    this.running = true;
    this.loop = (async () => {
      const t0 = performance.now();
      for (let k = 0; this.running; k++) {
        const due = t0 + k * this.everyMs;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        if (!this.running) break;
        const p = this.readOnce().finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
    })();
  }

  private async readOnce(): Promise<void> {
    const s = nowNs();
    try {
      const res = await fetch(this.base + this.path, { headers: { authorization: `Bearer ${this.token}` } });
      await res.arrayBuffer();
      if (res.status !== 200) {
        this.errors++;
        this.firstError ||= `HTTP ${res.status}`;
      }
    } catch (e) {
      this.errors++;
      this.firstError ||= `${(e as Error)?.message ?? e}${(e as { cause?: Error }).cause ? `: ${(e as { cause?: Error }).cause?.message}` : ''}`;
    }
    this.samples.push(msSince(s));
  }

  async stop(): Promise<VictimStats> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.inFlight]);
    const s = this.samples;
    return {
      reads: s.length,
      p50: percentile(s, 50),
      p99: percentile(s, 99),
      max: s.length ? Math.max(...s) : Number.NaN,
      errors: this.errors,
      ...(this.firstError ? { firstError: this.firstError } : {}),
    };
  }
}

// ------------------------------------------------------------------ data sets (before the child starts)

/**
 * Bench data only: an EventStore whose `append` inserts the same commit rows the embedded
 * store writes, many per transaction (one IMMEDIATE transaction per append made building
 * 130,000 commits take most of the phase's time on a busy machine). The loaders that use it
 * are the same as elsewhere in the bench (decideRecord + evolveRecord, versions in order).
 */
function batchedAppender(store: SqliteEventStore, perTransaction = 5_000): { events: EventStore; flush: () => void } {
  const db = store.database;
  const insert = db.prepare('INSERT INTO commits (stream_id, version, ts, author, correlation_id, events) VALUES (?, ?, ?, ?, ?, ?)');
  let open = 0;
  let lastTs = 0;
  const flush = () => {
    if (open > 0) db.exec('COMMIT');
    open = 0;
  };
  const events = {
    tenantId: store.tenantId,
    append: async (streamId: string, expectedVersion: number, evs: unknown[], meta: { author: unknown; correlationId: string }) => {
      if (open === 0) db.exec('BEGIN IMMEDIATE');
      // Timestamps never decrease (the store's rule within a stream; here across the whole load).
      lastTs = Math.max(Date.now(), lastTs);
      const ts = lastTs;
      insert.run(streamId, expectedVersion + 1, ts, JSON.stringify(meta.author), meta.correlationId, JSON.stringify(evs));
      if (++open >= perTransaction) flush();
      return { version: expectedVersion + 1, timestamp: new Date(ts).toISOString() };
    },
  } as unknown as EventStore;
  return { events, flush };
}

async function bulkHistory(store: SqliteEventStore, commits: number): Promise<BuiltStream> {
  const b = batchedAppender(store);
  const r = await appendHistory(b.events, commits);
  b.flush();
  const v = await store.streamVersion(r.streamId);
  if (v !== commits) throw new Error(`bulk history: the stream is at version ${v}, expected ${commits}`);
  return r;
}

async function bulkRoundRobin(store: SqliteEventStore, records: number, perRecord: number): Promise<BuiltSet> {
  const b = batchedAppender(store);
  const r = await appendRoundRobin(b.events, records, perRecord);
  b.flush();
  return r;
}

interface Prepared {
  dataDir: string;
  masterKeyHex: string;
  noisy: Tenant;
  victim: Tenant & { recordId: string };
  restoreSource: string;
  /** The last backed-up commit's instant: restores as of it are within the tier's coverage. */
  restoreAsOf: string;
  history: { id: string; streamId: string; commits: number };
  listAsOf: string;
  listRecords: number;
}

async function tenantWithAdmin(tenants: TenantService, id: string): Promise<Tenant> {
  const email = `admin@${id}.test`;
  const password = `bench-${randomBytes(12).toString('base64url')}`;
  await tenants.createTenant(op, { id, name: `Bench ${id}`, admin: { email, password } }, req());
  return { id, email, password, token: '' };
}

async function projectAll(events: EventStore, tenants: TenantService, id: string): Promise<void> {
  const { projections } = await tenants.stores(id);
  const gen = await projections.activeGeneration();
  for (;;) {
    const r = await runProjector(events, projections, gen, { clock: systemClock, maxPages: 1_000, batchSize: 5_000 });
    if (r.failed) throw new Error(`projecting ${id} failed`);
    if (r.applied === 0) return;
  }
}

async function prepare(cfg: NoisyConfig, say: (l: string) => void): Promise<Prepared> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-noisy-'));
  const masterKey = randomBytes(32);
  const keys = new LocalKeyProvider({ dir: join(dataDir, 'keys'), masterKey: Buffer.from(masterKey) });
  const directory = new EmbeddedTenantDirectory(dataDir, keys, systemClock);
  // The host's default cost (2^15), so the login burst costs what it costs in production.
  const tenants = new TenantService({ directory, keys, clock: systemClock, tokenTtlSeconds: 3600, passwordLogN: 15 });
  const records = new RecordService(tenants, systemClock);
  try {
    const noisy = await tenantWithAdmin(tenants, 'noisy');
    const victim = await tenantWithAdmin(tenants, 'victim');
    const source = await tenantWithAdmin(tenants, 'noisy-src');
    for (const t of [noisy, victim, source]) {
      const p = await tenants.authenticate(
        t.id,
        `Bearer ${(await tenants.login({ tenantId: t.id, email: t.email, password: t.password })).access_token}`,
      );
      await records.defineType(p, { type: TYPE, schema: { type: 'object' } }, req());
      if (t === victim) {
        const r = await records.createRecord(p, { type: TYPE, data: { title: 'the victim reads me', status: 'open', counter: 0 } }, req());
        (victim as Tenant & { recordId?: string }).recordId = r.record.id;
      }
    }
    let t0 = nowNs();
    const noisyEvents = await directory.openSqlite(noisy.id);
    const history = await bulkHistory(noisyEvents, cfg.historyCommits);
    const set = await bulkRoundRobin(noisyEvents, cfg.listRecords, cfg.listCommitsPerRecord);
    say(`      built ${fmt(cfg.historyCommits)} + ${fmt(set.commits)} commits in tenant noisy (${fmt(msSince(t0) / 1000)} s)`);
    t0 = nowNs();
    await projectAll(noisyEvents, tenants, noisy.id);
    say(`      projected tenant noisy (${fmt(msSince(t0) / 1000)} s)`);

    t0 = nowNs();
    const srcEvents = await directory.openSqlite(source.id);
    await bulkRoundRobin(srcEvents, cfg.restoreRecords, cfg.restoreCommitsPerRecord);
    await projectAll(srcEvents, tenants, source.id);
    const backups = new BackupService({ stores: tenants.tenantStores, tenants, directory, keys, clock: systemClock, records });
    const b = await backups.backupTenant(source.id, new FolderBackupTarget('own-cloud', join(dataDir, 'backups', 'own-cloud')));
    if (!b.ok) throw new Error(`backup of ${source.id} failed: ${b.error}`);
    say(
      `      built, projected and backed up tenant ${source.id}: ${fmt(b.commits)} commits to tier own-cloud (${fmt(msSince(t0) / 1000)} s)`,
    );
    return {
      dataDir,
      masterKeyHex: masterKey.toString('hex'),
      noisy,
      victim: victim as Tenant & { recordId: string },
      restoreSource: source.id,
      restoreAsOf: b.lastTimestamp ?? new Date().toISOString(),
      history: { id: history.id, streamId: history.streamId, commits: history.commits },
      listAsOf: set.midTimestamp,
      listRecords: set.records,
    };
  } finally {
    masterKey.fill(0);
    await tenants.close();
  }
}

// ------------------------------------------------------------------ the cases

interface CaseDef {
  name: string;
  what: string;
  /** Once before the window (untimed): whatever the case needs in the host. */
  setup?: () => Promise<unknown>;
  /** One noisy operation. */
  run: (i: number) => Promise<void>;
  note?: () => string;
}

function buildCases(base: string, p: Prepared, operatorKey: string, cfg: NoisyConfig, snapshots: SqliteEventStore): CaseDef[] {
  const n = p.noisy;
  const statuses = new Map<string, number>();
  const count = (what: string, status: number) => statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1);
  const seen = (prefix: string) =>
    [...statuses.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => `${v}× ${k}`)
      .join(', ');

  let pages = 0;
  let uniqueAllowed = 0;
  let uniqueNote = '';
  const uniqueType = 'uniq';
  const itemsBody = () => ({ xs: Array.from({ length: uniqueAllowed }, (_, i) => [i]) });

  return [
    {
      name: 'cold-read',
      what: `GET a ${fmt(p.history.commits)}-commit record, its snapshots deleted first`,
      run: async () => {
        snapshots.database.prepare('DELETE FROM snapshots WHERE stream_id = ?').run(p.history.streamId);
        const r = await call(base, 'GET', `/api/t/${n.id}/records/${TYPE}/${p.history.id}`, { token: n.token });
        expectStatus(r, 200, 'cold read');
        const v = (r.body as { version: number }).version;
        if (v !== p.history.commits) throw new Error(`cold read: version ${v}, expected ${p.history.commits}`);
      },
    },
    {
      name: 'asof-list',
      what: `GET ?asOf=<middle> over ${fmt(p.listRecords)} records, filter matching none, every page`,
      run: async () => {
        let continuation: string | undefined;
        do {
          const q = `asOf=${encodeURIComponent(p.listAsOf)}&status=nomatch&limit=500${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`;
          const r = await call(base, 'GET', `/api/t/${n.id}/records/${TYPE}?${q}`, { token: n.token });
          expectStatus(r, 200, 'asOf list');
          const b = r.body as { items: unknown[]; continuation?: string };
          if (b.items.length !== 0) throw new Error(`asOf list: ${b.items.length} items matched a filter that matches none`);
          continuation = b.continuation;
          pages++;
        } while (continuation);
      },
      note: () => `${pages} pages`,
    },
    {
      name: 'unique-items',
      what: `POST a record with ${fmt(cfg.uniqueItems)} distinct [i] items under uniqueItems (or the most maxItems the sandbox accepts)`,
      setup: async () => {
        const tried: string[] = [];
        for (const max of [cfg.uniqueItems, 5_000, 2_000, 1_000, 500, 200, 100]) {
          const r = await call(base, 'PUT', `/api/t/${n.id}/types/${uniqueType}`, {
            token: n.token,
            body: { type: 'object', properties: { xs: { type: 'array', uniqueItems: true, maxItems: max } } },
          });
          if (r.status === 200 || r.status === 201) {
            uniqueAllowed = max;
            break;
          }
          tried.push(`maxItems ${max} → ${r.status}`);
        }
        if (!uniqueAllowed) throw new Error(`unique-items: the type sandbox refused every uniqueItems schema (${tried.join(', ')})`);
        uniqueNote = `${fmt(uniqueAllowed)} items${tried.length ? ` (refused: ${tried.join(', ')})` : ''}`;
      },
      run: async () => {
        const r = await call(base, 'POST', `/api/t/${n.id}/records/${uniqueType}`, { token: n.token, body: itemsBody() });
        count('POST', r.status);
        if (r.status !== 201 && r.status !== 413 && r.status !== 422) expectStatus(r, 201, 'unique-items record');
      },
      note: () => `${uniqueNote}; ${seen('POST')}`,
    },
    {
      name: 'big-schema',
      what: `PUT a new type with a ~${fmt(cfg.schemaBytes / 1000)} KB schema (distinct property names each time)`,
      run: async (i) => {
        const props: Record<string, unknown> = {};
        let size = 40;
        for (let k = 0; size < cfg.schemaBytes - 64; k++) {
          const name = `p${i}_${k}`;
          props[name] = { type: 'string', maxLength: 10 };
          size += name.length + 36;
        }
        const r = await call(base, 'PUT', `/api/t/${n.id}/types/wide${i}`, { token: n.token, body: { type: 'object', properties: props } });
        count('PUT', r.status);
        if (r.status !== 201 && r.status !== 413 && r.status !== 422) expectStatus(r, 201, 'big schema');
      },
      note: () => seen('PUT'),
    },
    {
      name: 'restore',
      what: `POST /api/tenants/${p.restoreSource}/restore (${fmt(cfg.restoreRecords * cfg.restoreCommitsPerRecord)} record commits) into a new tenant`,
      run: async (i) => {
        const r = await call(base, 'POST', `/api/tenants/${p.restoreSource}/restore`, {
          token: operatorKey,
          body: { tier: 'own-cloud', asOf: p.restoreAsOf, into: `restored-${i}` },
        });
        expectStatus(r, 201, 'restore');
      },
    },
    {
      name: 'login-burst',
      what: `${cfg.loginBurst} concurrent correct logins of the noisy admin (scrypt N=2^15)`,
      run: async () => {
        const rs = await Promise.all(
          Array.from({ length: cfg.loginBurst }, () =>
            call(base, 'POST', `/api/t/${n.id}/auth/token`, { body: { email: n.email, password: n.password } }),
          ),
        );
        for (const r of rs) count('login', r.status);
      },
      note: () => seen('login'),
    },
  ];
}

// ------------------------------------------------------------------ the phase

export async function benchNoisy(appRoot: string, cfg: NoisyConfig, say: (l: string) => void): Promise<NoisyResult> {
  const t0 = nowNs();
  const p = await prepare(cfg, say);
  const operatorKey = randomBytes(32).toString('base64url');
  let child: Child | undefined;
  // Snapshot deletions for the cold reads go straight to the noisy tenant's file (WAL: the child reads on).
  const keys = new LocalKeyProvider({ dir: join(p.dataDir, 'keys'), masterKey: Buffer.from(p.masterKeyHex, 'hex') });
  const directory = new EmbeddedTenantDirectory(p.dataDir, keys, systemClock);
  try {
    const events = await directory.openSqlite(p.noisy.id);
    child = await startChildHost(appRoot, p.dataDir, operatorKey, 60_000, {
      LOCAL_MASTER_KEY: p.masterKeyHex,
      PASSWORD_SCRYPT_LOG_N: '15',
      LOCAL_BLOB: 'off',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${join(__dirname, 'loop-probe.js')}`.trim(),
    });
    const base = child.base;
    for (const t of [p.noisy, p.victim]) {
      const r = await call(base, 'POST', `/api/t/${t.id}/auth/token`, { body: { email: t.email, password: t.password } });
      expectStatus(r, 200, `login ${t.id}`);
      t.token = (r.body as { access_token: string }).access_token;
    }
    const probe = new Probe(child);
    const timers = new TimerWatch(child);
    const victim = new Victim(base, `/api/t/${p.victim.id}/records/${TYPE}/${p.victim.recordId}`, p.victim.token, cfg.victimEveryMs);
    // Warm-up: code paths loaded, connections open.
    for (let i = 0; i < 20; i++)
      expectStatus(
        await call(base, 'GET', `/api/t/${p.victim.id}/records/${TYPE}/${p.victim.recordId}`, { token: p.victim.token }),
        200,
        'victim warm-up',
      );
    const setupMs = msSince(t0);

    say(`      idle: the victim alone for ${fmt(cfg.idleMs / 1000)} s…`);
    await probe.read();
    timers.take();
    victim.start();
    await sleep(cfg.idleMs);
    const idle = await victim.stop();
    const idleStall = await probe.read();
    const idleTimers = timers.take();
    const idleLoadAvg = loadavg()[0]!;

    const cases: NoisyCase[] = [];
    for (const c of buildCases(base, p, operatorKey, cfg, events)) {
      say(`      ${c.name}: ${c.what}…`);
      await c.setup?.();
      await probe.read();
      timers.take();
      victim.start();
      const started = performance.now();
      let ops = 0;
      let opMs = 0;
      while (performance.now() - started < cfg.caseMs) {
        const s = nowNs();
        await c.run(ops);
        opMs += msSince(s);
        ops++;
      }
      const v = await victim.stop();
      const stall = await probe.read();
      const meetsGoal = v.p99 <= GOAL.p99Factor * idle.p99 && stall.maxGapMs <= GOAL.stallMs && v.errors === 0;
      cases.push({
        name: c.name,
        what: c.what,
        ops,
        opMeanMs: opMs / ops,
        note: c.note?.() ?? '',
        victim: v,
        stallMs: stall.maxGapMs,
        cpuStallMs: stall.maxCpuGapMs,
        stallsOver50: stall.over50,
        timers: timers.take(),
        loadAvg: loadavg()[0]!,
        meetsGoal,
        meetsGoalOnCpu:
          v.p99 <= GOAL.p99Factor * idle.p99 && (stall.maxCpuGapMs ?? Number.POSITIVE_INFINITY) <= GOAL.stallMs && v.errors === 0,
      });
      // Let the projector timer and anything the case left behind settle before the next case.
      await sleep(500);
    }
    return {
      cfg,
      setupMs,
      idle,
      idleStallMs: idleStall.maxGapMs,
      idleCpuStallMs: idleStall.maxCpuGapMs,
      idleLoadAvg,
      idleTimers,
      cases,
      totalMs: msSince(t0),
    };
  } catch (e) {
    if (child) say(`Child host output (last 60 lines):\n${child.log.slice(-60).join('\n')}`);
    throw e;
  } finally {
    if (child) await stopChild(child);
    await directory.close();
    rmSync(p.dataDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ report

export function noisyRows(r: NoisyResult): string[][] {
  const i = r.idle;
  const cpu = (ms: number | null) => (ms === null ? 'n/a' : fmt(ms));
  const extra = (timers: string, load: number) => `; load ${load.toFixed(1)}${timers ? `; slow timers: ${timers}` : ''}`;
  const rows: string[][] = [
    [
      'idle (victim alone)',
      '—',
      fmt(i.p50),
      fmt(i.p99),
      fmt(i.max),
      '1.00x',
      fmt(r.idleStallMs),
      cpu(r.idleCpuStallMs),
      '',
      '',
      `${i.reads} reads, ${i.errors} errors${extra(r.idleTimers, r.idleLoadAvg)}`,
    ],
  ];
  for (const c of r.cases) {
    const v = c.victim;
    rows.push([
      c.name,
      `${c.ops} × ${fmt(c.opMeanMs)} ms`,
      fmt(v.p50),
      fmt(v.p99),
      fmt(v.max),
      `${fmt(v.p99 / i.p99)}x`,
      fmt(c.stallMs),
      cpu(c.cpuStallMs),
      c.meetsGoal ? 'yes' : 'NO',
      c.meetsGoalOnCpu ? 'yes' : 'NO',
      `${v.reads} reads${v.errors ? `, ${v.errors} errors (${v.firstError ?? '?'})` : ''}${c.note ? `; ${c.note}` : ''}${extra(c.timers, c.loadAvg)}`,
    ]);
  }
  return rows;
}

export const NOISY_HEADER = [
  'noisy neighbour case',
  'noisy ops',
  'victim p50 ms',
  'p99 ms',
  'max ms',
  'p99/idle',
  'stall ms',
  'on-CPU ms',
  'goal',
  'on-CPU goal',
  'detail',
];

export function noisyMetrics(r: NoisyResult): Metric[] {
  return [
    { name: 'noisy_idle_victim_p50_latency', value: r.idle.p50, unit: 'ms' },
    { name: 'noisy_idle_victim_p99_latency', value: r.idle.p99, unit: 'ms' },
    { name: 'noisy_idle_victim_max_latency', value: r.idle.max, unit: 'ms' },
    { name: 'noisy_idle_event_loop_stall', value: r.idleStallMs, unit: 'ms' },
    ...(r.idleCpuStallMs !== null ? [{ name: 'noisy_idle_event_loop_stall_on_cpu', value: r.idleCpuStallMs, unit: 'ms' }] : []),
    { name: 'noisy_idle_load_average', value: r.idleLoadAvg, unit: 'load' },
    ...r.cases.flatMap((c) => {
      const k = c.name.replace(/-/g, '_');
      return [
        { name: `noisy_${k}_victim_p50_latency`, value: c.victim.p50, unit: 'ms' },
        { name: `noisy_${k}_victim_p99_latency`, value: c.victim.p99, unit: 'ms' },
        { name: `noisy_${k}_victim_max_latency`, value: c.victim.max, unit: 'ms' },
        { name: `ratio_noisy_${k}_victim_p99_over_idle_p99`, value: c.victim.p99 / r.idle.p99, unit: 'x' },
        { name: `noisy_${k}_event_loop_stall`, value: c.stallMs, unit: 'ms' },
        ...(c.cpuStallMs !== null ? [{ name: `noisy_${k}_event_loop_stall_on_cpu`, value: c.cpuStallMs, unit: 'ms' }] : []),
        { name: `noisy_${k}_load_average`, value: c.loadAvg, unit: 'load' },
        { name: `noisy_${k}_ops`, value: c.ops, unit: 'ops' },
        { name: `noisy_${k}_op_mean_duration`, value: c.opMeanMs, unit: 'ms' },
        { name: `noisy_${k}_meets_goal`, value: c.meetsGoal ? 1 : 0, unit: 'bool' },
        { name: `noisy_${k}_meets_goal_on_cpu`, value: c.meetsGoalOnCpu ? 1 : 0, unit: 'bool' },
      ];
    }),
    { name: 'noisy_phase_duration', value: r.totalMs, unit: 'ms' },
  ];
}

export function printNoisy(
  r: NoisyResult,
  say: (l: string) => void,
  table: (h: readonly string[], rows: readonly (readonly string[])[]) => string,
): void {
  say('');
  say(table(NOISY_HEADER, noisyRows(r)));
  say('');
  const met = r.cases.filter((c) => c.meetsGoal).length;
  const metCpu = r.cases.filter((c) => c.meetsGoalOnCpu).length;
  say(
    `Noisy neighbour: ${met} of ${r.cases.length} cases meet the goal (victim p99 ≤ ${GOAL.p99Factor}× idle p99 = ${fmt(GOAL.p99Factor * r.idle.p99)} ms, no event-loop stall > ${GOAL.stallMs} ms, no failed victim read);`,
  );
  say(
    `  ${metCpu} of ${r.cases.length} with the on-CPU stall in place of the wall-clock one. 1-minute load average ${r.idleLoadAvg.toFixed(1)} at the end of the idle window, ${cpus().length} CPU(s).`,
  );
  say(
    `  Victim: GET of one small record of tenant victim every ${r.cfg.victimEveryMs} ms (open loop), latency from send to last byte; the host is a child process,`,
  );
  say('  "stall" is the longest gap between ticks of a 1 ms timer inside it (bench/loop-probe.ts); "on-CPU" is the most CPU the');
  say('  loop thread used between two ticks (/proc/thread-self/schedstat), i.e. the stall without the time the thread sat');
  say('  descheduled: on a machine whose load is above its CPU count the two differ, and only "on-CPU" is the host\'s own doing.');
  say("  The goal is judged on the wall-clock figures. The host's timers (feed projector every 2 s, backups every 15 min) run");
  say(
    `  throughout, as in production; runs of 50 ms or more are listed. Setup ${fmt(r.setupMs / 1000)} s, phase ${fmt(r.totalMs / 1000)} s.`,
  );
}
