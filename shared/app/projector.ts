import type { Commit } from '../domain/events';
import { parseRecordStreamId, type RecordState } from '../domain/records';
import type { EventStore } from '../ports/event-store';
import type { AuditEntry, ProjectionStore, RecordView } from '../ports/projection-store';
import type { Clock } from '../ports/runtime';
import type { TenantDirectory } from '../ports/tenant-directory';
import { auditEntriesOfCommit } from './audit-view';
import { readFeedInSlices } from './projector-feed';
import { dropInlineNotes, splitProjectedInline } from './projector-inline-notes';
import { loadRecord } from './record-reader';
import { foldBatch, leaveSnapshot, StateCarry } from './state-carry';
import { TimeSlice, yieldToEventLoop } from './yield';
import { errorMessage } from '../redact';

export { StateCarry } from './state-carry';

/**
 * The one projection handler: turns commits into the list view (record_views) and the
 * audit view. Idempotent and order-tolerant:
 *  - audit rows are keyed by (stream, version, index), so a redelivered commit is a no-op;
 *  - a record view is rebuilt from the log at the newest version seen in the batch, and the
 *    store only accepts a newer version, so duplicates, gaps and reordering converge to the
 *    log's state.
 */
export async function projectCommits(
  events: EventStore,
  store: ProjectionStore,
  generation: number,
  commits: Commit[],
  options: {
    /**
     * Record states the caller already holds (the command path: the state right after its own
     * commit), by stream id: used instead of reading the record back when at the version projected.
     */
    states?: ReadonlyMap<string, RecordState>;
    /**
     * Record states carried from one page to the next within one projector run (see
     * {@link StateCarry}): read and updated here.
     */
    carry?: StateCarry;
    /**
     * Leave a snapshot of a record state folded here from the batch's commits at the last multiple
     * of SNAPSHOT_EVERY the fold passed (where the command path keeps them): for a log that came in
     * without snapshots (a restore's import, records appended in bulk), so that no read after a
     * restore or a rebuild replays a long stream from its start. States read back with
     * loadRecord leave their own snapshot.
     */
    snapshots?: boolean;
  } = {},
): Promise<void> {
  const audit: AuditEntry[] = [];
  /** Each record stream's commits in this batch, in feed order. */
  const byStream = new Map<string, Commit[]>();
  for (const c of commits) {
    const rec = parseRecordStreamId(c.streamId);
    audit.push(...auditEntriesOfCommit(c));
    if (!rec) continue;
    const list = byStream.get(c.streamId);
    if (list) list.push(c);
    else byStream.set(c.streamId, [c]);
  }
  const slice = new TimeSlice();
  const states: Array<[string, RecordState]> = [];
  for (const [streamId, list] of byStream) {
    const version = list.reduce((m, c) => Math.max(m, c.version), 0);
    // The view holds the latest state: the caller's state at this very version, else the
    // state folded from this batch's own commits when they continue a state already held (the
    // stream's first commit, or the state this run left at the version just before), else
    // rebuilt from the log (snapshot + tail). Only that last, costly case first asks the store
    // whether its view is already at this version or newer: a state in hand is written
    // anyway, and the store keeps the newer view (upserts are guarded by version), so a
    // catch-up into a fresh generation reads no view version at all.
    const known = options.states?.get(streamId);
    let state: RecordState | undefined;
    if (known?.version === version) state = known;
    else {
      const folded = foldBatch(options.carry?.get(streamId), list);
      if (folded) {
        state = folded.state;
        if (folded.snapshot && options.snapshots) await leaveSnapshot(events, streamId, folded.snapshot.state, folded.snapshot.timestamp);
      } else {
        const { type, id } = parseRecordStreamId(streamId)!;
        if ((await store.getRecordVersion(generation, type, id)) >= version) continue;
        state = await loadRecord(events, streamId, undefined, { slice });
      }
    }
    if (state) states.push([streamId, state]);
    await slice.maybeYield();
  }
  // A batch that fits in one chunk (a command's inline projection, a short catch-up page): its
  // views and audit rows in one write where the store can.
  if (store.project && states.length <= WRITE_CHUNK && audit.length <= WRITE_CHUNK) {
    await store.project(
      generation,
      states.map(([, s]) => toView(s)),
      audit,
    );
    for (const [streamId, s] of states) options.carry?.set(streamId, s);
    return;
  }
  // The views in chunks, each in one write where the store can (every view is guarded by its
  // version, so a chunk is as idempotent and order-tolerant as single upserts).
  for (let i = 0; i < states.length; i += WRITE_CHUNK) {
    const chunk = states.slice(i, i + WRITE_CHUNK);
    if (store.upsertRecords && chunk.length > 1)
      await store.upsertRecords(
        generation,
        chunk.map(([, s]) => toView(s)),
      );
    else for (const [, s] of chunk) await store.upsertRecord(generation, toView(s));
    for (const [streamId, s] of chunk) options.carry?.set(streamId, s);
    await slice.maybeYield();
  }
  // Audit rows are keyed, so writing them in several transactions is as idempotent as one.
  for (let i = 0; i < audit.length; i += WRITE_CHUNK) {
    await store.putAudit(generation, audit.slice(i, i + WRITE_CHUNK));
    await slice.maybeYield();
  }
}

/**
 * Views or audit rows written per store call (a `project` call: at most this many of each):
 * one transaction each on the embedded store (about 5–15 ms of synchronous work here, twice that
 * for a full `project`), so a long catch-up still yields to other requests between them.
 */
const WRITE_CHUNK = 250;

export function toView(s: RecordState): RecordView {
  return {
    type: s.type,
    id: s.id,
    version: s.version,
    data: s.deleted ? null : s.data,
    deleted: s.deleted,
    createdAt: s.createdAt,
    createdBy: s.createdBy,
    updatedAt: s.updatedAt,
    updatedBy: s.updatedBy,
  };
}

export interface ProjectorOptions {
  clock: Clock;
  /** Commits per feed page. */
  batchSize?: number;
  /** Attempts on one batch before its failing commits are parked. */
  maxAttempts?: number;
  /** Stop after this many pages per tenant in one run (the next run continues). */
  maxPages?: number;
  log?: (message: string) => void;
  /**
   * The record states to carry from page to page (see {@link StateCarry}); a caller that runs
   * the projector page by page (rebuild, restore) passes one for all its runs. Default: one per run.
   */
  carry?: StateCarry;
  /** See projectCommits' `snapshots`: set by a rebuild and a restore. */
  snapshots?: boolean;
}

export interface ProjectionRunResult {
  applied: number;
  parked: number;
  failed: boolean;
  /** Set when the run stopped after maxPages with more of the log left (the next run continues). */
  more?: true;
}

/**
 * Feeds one tenant's projections from its log: reads the feed after the generation's
 * checkpoint, applies each page with `projectCommits`, then advances the checkpoint. A page
 * that fails is retried on the next run (checkpoint not moved); after `maxAttempts` the page
 * is applied commit by commit and the commits that still fail are parked (visible in the
 * tenant status) so one poisoned commit cannot stall the projection.
 */
export async function runProjector(
  events: EventStore,
  store: ProjectionStore,
  generation: number,
  o: ProjectorOptions,
): Promise<ProjectionRunResult> {
  const batchSize = o.batchSize ?? 500;
  const maxAttempts = o.maxAttempts ?? 5;
  let applied = 0;
  let parked = 0;
  let caughtUp = false;
  const carry = o.carry ?? new StateCarry();
  for (let page = 0; page < (o.maxPages ?? 50); page++) {
    const cp = (await store.getCheckpoint(generation)) ?? {
      checkpoint: undefined,
      lastTimestamp: null,
      applied: 0,
      updatedAt: o.clock.now().toISOString(),
      failures: 0,
    };
    const { commits, checkpoint } = await readFeedInSlices(events, cp.checkpoint, batchSize);
    // Nothing new: do not write the checkpoint. (In Cosmos the checkpoint document shares the
    // container, so writing it would itself appear in the change feed and churn forever.)
    if (commits.length === 0) {
      caughtUp = true;
      break;
    }
    // Commits already projected inline into this generation are skipped (projector-inline-notes.ts).
    const { done, todo } = splitProjectedInline(store, generation, commits);
    try {
      if (todo.length) await projectCommits(events, store, generation, todo, { carry, ...(o.snapshots ? { snapshots: true } : {}) });
    } catch (e) {
      const failures = cp.failures + 1;
      const message = errorMessage(e);
      o.log?.(`projection of tenant ${events.tenantId} failed (attempt ${failures}/${maxAttempts}): ${message}`);
      if (failures < maxAttempts) {
        await store.setCheckpoint(generation, { ...cp, failures, lastError: message, updatedAt: o.clock.now().toISOString() });
        return { applied, parked, failed: true };
      }
      for (const c of todo) {
        try {
          await projectCommits(events, store, generation, [c]);
        } catch (e2) {
          parked++;
          await store.park(generation, {
            streamId: c.streamId,
            version: c.version,
            checkpoint: cp.checkpoint,
            error: errorMessage(e2),
            attempts: failures,
            parkedAt: o.clock.now().toISOString(),
          });
          o.log?.(`parked commit ${c.streamId}@${c.version} of tenant ${events.tenantId}: ${errorMessage(e2)}`);
        }
      }
    }
    applied += commits.length;
    await store.setCheckpoint(generation, {
      checkpoint,
      // biome-ignore lint/complexity/useMathMinMax: ISO timestamps are strings; Math.max would turn them into NaN
      lastTimestamp: commits.reduce((m, c) => (c.timestamp > m ? c.timestamp : m), cp.lastTimestamp ?? ''),
      applied: cp.applied + commits.length,
      updatedAt: o.clock.now().toISOString(),
      failures: 0,
      ...(cp.erasures !== undefined ? { erasures: cp.erasures } : {}),
    });
    dropInlineNotes(store, generation, done);
    if (commits.length < batchSize) {
      caughtUp = true;
      break;
    }
    await yieldToEventLoop();
  }
  return { applied, parked, failed: false, ...(caughtUp ? {} : { more: true as const }) };
}

/** Runs the projector for every tenant whose store exists (the timer function's body). */
export async function runAllProjectors(directory: TenantDirectory, o: ProjectorOptions): Promise<Record<string, ProjectionRunResult>> {
  const out: Record<string, ProjectionRunResult> = {};
  for (const id of await directory.listTenantIds()) {
    try {
      const meta = await directory.getMeta(id);
      if (meta?.status !== 'ready') continue;
      const events = await directory.openEventStore(id);
      const store = await directory.openProjectionStore(id);
      out[id] = await runProjector(events, store, await store.activeGeneration(), o);
    } catch (e) {
      o.log?.(`projector for tenant ${id} could not run: ${errorMessage(e)}`);
      out[id] = { applied: 0, parked: 0, failed: true };
    }
  }
  return out;
}

/**
 * Records in `generation`'s checkpoint that its rows reflect the tenant's erasures up to stream
 * version `erasures` (a generation built from the log after they were appended).
 */
export async function markErasuresApplied(
  projections: ProjectionStore,
  generation: number,
  erasures: number,
  clock: { now(): Date },
): Promise<void> {
  const cp = (await projections.getCheckpoint(generation)) ?? {
    checkpoint: undefined,
    lastTimestamp: null,
    applied: 0,
    updatedAt: clock.now().toISOString(),
    failures: 0,
  };
  await projections.setCheckpoint(generation, { ...cp, erasures });
}
