/**
 * Record phases of `npm run bench`, all through the in-process local host:
 *   - the records command path (POST / PATCH with If-Match),
 *   - current-state and `asOf` reads of records with long histories,
 *   - projection rebuild (catch-up) throughput,
 *   - export throughput.
 * Data sets are appended straight to a tenant's event store (the same commits the command
 * path writes: decideRecord + evolveRecord + EventStore.append), then read through HTTP.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SqliteEventStore } from '../shared/adapters/embedded/sqlite-event-store';
import type { Author } from '../shared/domain/events';
import { decideRecord, evolveRecord, recordStreamId, type RecordCommand, type RecordState } from '../shared/domain/records';
import type { EventStore } from '../shared/ports/event-store';
import type { RecordService } from '../shared/app/records';
import { SNAPSHOT_EVERY } from '../shared/app/record-reader';
import { call, countNdjson, expectStatus, type NdjsonCount } from './http';
import { measure, msSince, nowNs, withLoopStall, type Series } from './lib';

export const TYPE = 'bench';

export interface TenantCtx {
  id: string;
  /** An admin's access token (admin ⊇ editor ⊇ viewer). */
  token: string;
}

/** Creates a tenant through the operator endpoint and logs its admin in. */
export async function createBenchTenant(base: string, operatorKey: string, id: string): Promise<TenantCtx> {
  const password = `bench-${randomBytes(12).toString('base64url')}`;
  const email = `admin@${id}.test`;
  expectStatus(
    await call(base, 'POST', '/api/tenants', { token: operatorKey, body: { id, name: `Bench ${id}`, admin: { email, password } } }),
    201,
    `create tenant ${id}`,
  );
  const login = await call(base, 'POST', `/api/t/${id}/auth/token`, { body: { email, password } });
  expectStatus(login, 200, `admin login (${id})`);
  return { id, token: (login.body as { access_token: string }).access_token };
}

/** `PUT /api/t/{tenant}/types/bench` with the schema `{ type: 'object' }`. */
export async function defineBenchType(base: string, t: TenantCtx): Promise<void> {
  expectStatus(
    await call(base, 'PUT', `/api/t/${t.id}/types/${TYPE}`, { token: t.token, body: { type: 'object' } }),
    201,
    `define type ${TYPE} (${t.id})`,
  );
}

const newRecordId = () => `r_${randomBytes(16).toString('base64url').slice(0, 22)}`;

const initialData = (i: number): Record<string, unknown> => ({
  title: `bench record ${i}`,
  status: 'open',
  counter: 0,
  owner: { name: 'Bench Owner', email: 'owner@bench.test' },
  tags: ['bench', `batch-${i % 10}`],
});

const patchFor = (n: number): Record<string, unknown> => ({ counter: n, status: n % 2 === 0 ? 'open' : 'closed' });

// ------------------------------------------------------------------ 1. command path

interface Created {
  id: string;
  etag: string;
}

export interface RecordCommandResult {
  post: Series;
  /** One PATCH per record created by the timed POSTs (each stream goes from version 1 to 2). */
  patch: Series;
  /** PATCHes chained on one record (its stream grows by one commit per PATCH). */
  patchSame: Series;
  sameFinalVersion: number;
}

export async function benchRecordCommands(base: string, t: TenantCtx, cfg: { warmup: number; ops: number }): Promise<RecordCommandResult> {
  const path = `/api/t/${t.id}/records/${TYPE}`;
  const post = async (i: number): Promise<Created> => {
    const r = await call(base, 'POST', path, { token: t.token, body: initialData(i) });
    expectStatus(r, 201, 'create record');
    const b = r.body as { id: string; version: number };
    if (b.version !== 1) throw new Error(`create record: version ${b.version}, expected 1`);
    return { id: b.id, etag: r.headers.get('etag') ?? `"${b.version}"` };
  };
  const patch = async (rec: Created, n: number, expectVersion: number): Promise<Created> => {
    const r = await call(base, 'PATCH', `${path}/${rec.id}`, { token: t.token, body: patchFor(n), headers: { 'if-match': rec.etag } });
    expectStatus(r, 200, 'patch record');
    const b = r.body as { version: number };
    if (b.version !== expectVersion) throw new Error(`patch record: version ${b.version}, expected ${expectVersion}`);
    return { id: rec.id, etag: r.headers.get('etag') ?? `"${b.version}"` };
  };

  // Warm-up: creates, one patch each, and the start of the chained record.
  const warm: Created[] = [];
  for (let i = 0; i < cfg.warmup; i++) warm.push(await post(-1 - i));
  for (const [i, w] of warm.entries()) await patch(w, i + 1, 2);
  let same = await post(-1_000_000);
  let sameVersion = 1;
  for (let i = 0; i < cfg.warmup; i++) {
    same = await patch(same, sameVersion + 1, sameVersion + 1);
    sameVersion++;
  }

  const created: Created[] = new Array<Created>(cfg.ops);
  const postSeries = await measure(cfg.ops, async (i) => {
    created[i] = await post(i);
  });
  const patchSeries = await measure(cfg.ops, (i) => patch(created[i]!, i + 1, 2));
  const patchSameSeries = await measure(cfg.ops, async () => {
    same = await patch(same, sameVersion + 1, sameVersion + 1);
    sameVersion++;
  });
  return { post: postSeries, patch: patchSeries, patchSame: patchSameSeries, sameFinalVersion: sameVersion };
}

// ------------------------------------------------------------------ building data sets

export const loaderAuthor: Author = { kind: 'system', id: 'bench-loader' };

export interface BuiltStream {
  id: string;
  streamId: string;
  commits: number;
  /** The commit in the middle of the history; its timestamp is the `asOf` instant used. */
  midVersion: number;
  midTimestamp: string;
  buildMs: number;
}

function nextCommand(state: RecordState | undefined, id: string, i: number): RecordCommand {
  // Written straight to the log, with no type schema to check.
  return state
    ? { kind: 'patch', patch: patchFor(state.version + 1), expectedVersion: state.version, schemaCheck: { outcome: 'valid' } }
    : { kind: 'create', type: TYPE, id, data: initialData(i), schemaCheck: { outcome: 'valid' } };
}

/** One record with `commits` commits (RecordCreated, then RecordUpdated), appended in a row. */
export async function appendHistory(events: EventStore, commits: number): Promise<BuiltStream> {
  const id = newRecordId();
  const streamId = recordStreamId(TYPE, id);
  const midVersion = Math.ceil(commits / 2);
  let midTimestamp = '';
  let state: RecordState | undefined;
  const t0 = nowNs();
  for (let v = 1; v <= commits; v++) {
    const out = decideRecord(state, nextCommand(state, id, 0));
    const r = await events.append(streamId, v - 1, out, { author: loaderAuthor, correlationId: randomUUID() });
    state = evolveRecord(state, { version: r.version, timestamp: r.timestamp, author: loaderAuthor, events: out });
    if (v === midVersion) midTimestamp = r.timestamp;
  }
  return { id, streamId, commits, midVersion, midTimestamp, buildMs: msSince(t0) };
}

export interface BuiltSet {
  records: number;
  commits: number;
  /** Timestamp of the last commit of the middle round: every record exists then, at about half its history. */
  midTimestamp: string;
  buildMs: number;
}

/**
 * `records` records with `perRecord` commits each, appended round-robin (all creates, then
 * one update of every record per round), like activity spread over time.
 */
export async function appendRoundRobin(events: EventStore, records: number, perRecord: number): Promise<BuiltSet> {
  const ids = Array.from({ length: records }, newRecordId);
  const states = new Array<RecordState | undefined>(records);
  let midTimestamp = '';
  const t0 = nowNs();
  for (let round = 1; round <= perRecord; round++) {
    for (let i = 0; i < records; i++) {
      const id = ids[i]!;
      const state = states[i];
      const out = decideRecord(state, nextCommand(state, id, i));
      const r = await events.append(recordStreamId(TYPE, id), round - 1, out, { author: loaderAuthor, correlationId: randomUUID() });
      states[i] = evolveRecord(state, { version: r.version, timestamp: r.timestamp, author: loaderAuthor, events: out });
      if (round === Math.ceil(perRecord / 2)) midTimestamp = r.timestamp;
    }
  }
  return { records, commits: records * perRecord, midTimestamp, buildMs: msSince(t0) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits until the feed projector (the 2-second timer in the host) has applied every commit
 * of these tenants, so it does not compete with the measurements that follow.
 */
export async function waitForProjector(records: RecordService, tenants: string[], timeoutMs: number): Promise<number> {
  const t0 = nowNs();
  for (;;) {
    let behind = 0;
    for (const t of tenants) {
      const s = (await records.projectionStatus(t)) as { projections: Array<{ behindCommits: number | null; failures: number }> };
      const p = s.projections[0];
      behind += p?.behindCommits ?? 1;
    }
    if (behind === 0) return msSince(t0);
    if (msSince(t0) > timeoutMs) throw new Error(`the feed projector is still ${behind} commits behind after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Deletes a stream's snapshots (bench data only), so the next read is a true cold read.
 * Only the embedded store is supported: the bench forces STORE=embedded.
 */
function snapshots(events: EventStore, streamId: string, action: 'count' | 'delete'): number {
  if (!(events instanceof SqliteEventStore)) throw new Error('the read bench needs the embedded event store');
  if (action === 'delete') return events.database.prepare('DELETE FROM snapshots WHERE stream_id = ?').run(streamId).changes;
  return (events.database.prepare('SELECT COUNT(*) AS n FROM snapshots WHERE stream_id = ?').get(streamId) as { n: number }).n;
}

// ------------------------------------------------------------------ 2. reads

export interface ReadResult {
  stream: BuiltStream;
  /** Snapshots the feed projector had left before the cold reads (deleted first). */
  snapshotsDeleted: number;
  /** stallMs: longest event-loop block during the request (the host served nothing else meanwhile). */
  firstCurrent: { ms: number; version: number; stallMs: number };
  firstAsOf: { ms: number; version: number; stallMs: number };
  /** Snapshots of the stream after the two cold reads. */
  snapshotsAfterFirstReads: number;
  steadyCurrent: Series;
  steadyAsOf: Series;
  /**
   * The store-level part of a steady asOf read, without HTTP: readSnapshot(until) plus
   * readStream(after the snapshot, until), which returns no commits.
   */
  storeAsOfTail: Series;
}

export async function benchRecordReads(
  base: string,
  t: TenantCtx,
  events: EventStore,
  s: BuiltStream,
  cfg: { warmup: number; ops: number },
): Promise<ReadResult> {
  const path = `/api/t/${t.id}/records/${TYPE}/${s.id}`;
  const asOfPath = `${path}?asOf=${encodeURIComponent(s.midTimestamp)}`;
  const get = async (p: string, check: (version: number) => boolean): Promise<number> => {
    const r = await call(base, 'GET', p, { token: t.token });
    expectStatus(r, 200, `GET ${p}`);
    const v = (r.body as { version: number }).version;
    if (!check(v)) throw new Error(`GET ${p}: unexpected version ${v} (history of ${s.commits}, middle at ${s.midVersion})`);
    return v;
  };
  const isCurrent = (v: number) => v === s.commits;
  // Commits share millisecond timestamps: asOf the middle commit's instant includes its whole millisecond.
  const isMid = (v: number) => v >= s.midVersion && v < s.commits;

  const snapshotsDeleted = snapshots(events, s.streamId, 'delete');
  const cold = async (p: string, check: (version: number) => boolean) => {
    let ms = 0;
    const { result: version, maxStallMs } = await withLoopStall(async () => {
      const t0 = nowNs();
      const v = await get(p, check);
      ms = msSince(t0);
      return v;
    });
    return { ms, version, stallMs: maxStallMs };
  };
  const firstCurrent = await cold(path, isCurrent);
  const firstAsOf = await cold(asOfPath, isMid);
  const snapshotsAfterFirstReads = snapshots(events, s.streamId, 'count');

  for (let i = 0; i < cfg.warmup; i++) {
    await get(path, isCurrent);
    await get(asOfPath, isMid);
  }
  const steadyCurrent = await measure(cfg.ops, () => get(path, isCurrent));
  const steadyAsOf = await measure(cfg.ops, () => get(asOfPath, isMid));
  const until = new Date(s.midTimestamp);
  const storeAsOfTail = await measure(Math.min(cfg.ops, 50), async () => {
    const snap = await events.readSnapshot(s.streamId, { until });
    const tail = await events.readStream(s.streamId, { fromVersion: (snap?.version ?? 0) + 1, until });
    // Long replays leave snapshots on the way (every SNAPSHOT_DURING_REPLAY commits) and at their
    // end only when SNAPSHOT_EVERY or more commits were replayed since the last one: the tail after
    // the snapshot is short, not always empty.
    if (!snap || tail.length >= SNAPSHOT_EVERY)
      throw new Error(
        `asOf tail: expected a snapshot fewer than ${SNAPSHOT_EVERY} commits before the instant, got ${snap?.version}/${tail.length}`,
      );
  });
  return { stream: s, snapshotsDeleted, firstCurrent, firstAsOf, snapshotsAfterFirstReads, steadyCurrent, steadyAsOf, storeAsOfTail };
}

// ------------------------------------------------------------------ 3. rebuild

export interface RebuildResult {
  generation: number;
  /** Commits applied, as reported by the endpoint. */
  applied: number;
  /** Events in the tenant's feed (counted before the rebuild; the feed does not change meanwhile). */
  events: number;
  /** Server-side duration reported by the endpoint. */
  durationMs: number;
  /** Client-side wall time of the request. */
  wallMs: number;
  /** Longest event-loop block during the request. */
  stallMs: number;
}

async function feedTotals(events: EventStore): Promise<{ commits: number; events: number }> {
  let checkpoint: string | undefined;
  let commits = 0;
  let n = 0;
  for (;;) {
    const page = await events.readFeed(checkpoint, { maxCount: 1000 });
    if (page.commits.length === 0) return { commits, events: n };
    commits += page.commits.length;
    for (const c of page.commits) n += c.events.length;
    checkpoint = page.checkpoint;
  }
}

export async function benchRebuild(base: string, operatorKey: string, tenant: string, events: EventStore): Promise<RebuildResult> {
  const totals = await feedTotals(events);
  let wallMs = 0;
  const { result: r, maxStallMs } = await withLoopStall(async () => {
    const t0 = nowNs();
    const reply = await call(base, 'POST', `/api/tenants/${tenant}/projections/rebuild`, { token: operatorKey });
    wallMs = msSince(t0);
    return reply;
  });
  expectStatus(r, 200, 'rebuild projections');
  const b = r.body as { generation: number; applied: number; durationMs: number };
  if (b.applied !== totals.commits) throw new Error(`rebuild applied ${b.applied} commits; the feed has ${totals.commits}`);
  return { generation: b.generation, applied: b.applied, events: totals.events, durationMs: b.durationMs, wallMs, stallMs: maxStallMs };
}

// ------------------------------------------------------------------ 4. export

export type ExportRun = NdjsonCount & { stallMs: number };

export async function benchExport(base: string, t: TenantCtx, runs: number, asOf?: string): Promise<ExportRun[]> {
  const path = `/api/t/${t.id}/export${asOf ? `?asOf=${encodeURIComponent(asOf)}` : ''}`;
  const out: ExportRun[] = [];
  for (let i = 0; i < runs; i++) {
    const { result, maxStallMs } = await withLoopStall(() => countNdjson(base, path, t.token));
    out.push({ ...result, stallMs: maxStallMs });
  }
  return out;
}
