import type { Commit } from '../domain/events';
import type { Change } from '../domain/json';
import { parseRecordStreamId, type RecordState } from '../domain/records';
import { TYPES_STREAM } from '../domain/type-set';
import type { EventStore } from '../ports/event-store';
import type { AuditEntry, ProjectionStore, RecordView } from '../ports/projection-store';
import type { Clock } from '../ports/runtime';
import type { TenantDirectory } from '../ports/tenant-directory';
import { loadRecord } from './record-reader';
import { TimeSlice, yieldToEventLoop } from './yield';

/**
 * The one projection handler: turns commits into the list view (record_views) and the
 * audit view. Idempotent and order-tolerant:
 *  - audit rows are keyed by (stream, version, index), so a redelivered commit is a no-op;
 *  - a record view is rebuilt from the log at the newest version seen in the batch, and the
 *    store only accepts a newer version, so duplicates, gaps and reordering converge to the
 *    log's state.
 */
export async function projectCommits(events: EventStore, store: ProjectionStore, generation: number, commits: Commit[]): Promise<void> {
  const audit: AuditEntry[] = [];
  const newest = new Map<string, number>();
  for (const c of commits) {
    const rec = parseRecordStreamId(c.streamId);
    c.events.forEach((e, index) => {
      const data = (e.data ?? {}) as { changes?: Change[]; type?: string; userId?: string; old?: unknown; new?: unknown };
      audit.push({
        streamId: c.streamId,
        version: c.version,
        index,
        timestamp: c.timestamp,
        eventType: e.type,
        author: c.author,
        correlationId: c.correlationId,
        ...(rec ? { recordType: rec.type, recordId: rec.id } : c.streamId === TYPES_STREAM && data.type ? { recordType: data.type } : {}),
        changes: auditChanges(e.type, data),
      });
    });
    if (rec) newest.set(c.streamId, Math.max(newest.get(c.streamId) ?? 0, c.version));
  }
  const slice = new TimeSlice();
  for (const [streamId, version] of newest) {
    const { type, id } = parseRecordStreamId(streamId)!;
    if ((await store.getRecordVersion(generation, type, id)) >= version) continue;
    // The view holds the latest state; rebuild it from the log (snapshot + tail).
    const state = await loadRecord(events, streamId, undefined, { slice });
    if (state) await store.upsertRecord(generation, toView(state));
    await slice.maybeYield();
  }
  // Audit rows are keyed, so writing them in several transactions is as idempotent as one.
  for (let i = 0; i < audit.length; i += AUDIT_CHUNK) {
    await store.putAudit(generation, audit.slice(i, i + AUDIT_CHUNK));
    await slice.maybeYield();
  }
}

/** Audit rows written per store call (the embedded store writes them synchronously). */
const AUDIT_CHUNK = 100;

/** Changes shown in the audit log; never secrets (password hashes are reduced to a marker). */
function auditChanges(type: string, data: { changes?: Change[]; old?: unknown; new?: unknown }): Change[] {
  if (Array.isArray(data.changes)) return data.changes;
  if (type === 'UserRolesChanged') return [{ path: '/roles', old: data.old, new: data.new }];
  if (type === 'UserDisabled') return [{ path: '/disabled', old: false, new: true }];
  if (type === 'UserEnabled') return [{ path: '/disabled', old: true, new: false }];
  if (type === 'UserPasswordChanged') return [{ path: '/password', new: '(changed)' }];
  if (type === 'TenantAdminsChanged') return [{ path: '/admins', new: (data as { admins?: unknown }).admins }];
  if (type === 'UserCreated') {
    const d = data as { email?: string; roles?: unknown };
    return [
      { path: '/email', new: d.email },
      { path: '/roles', new: d.roles },
    ];
  }
  return [];
}

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
  for (let page = 0; page < (o.maxPages ?? 50); page++) {
    const cp = (await store.getCheckpoint(generation)) ?? {
      checkpoint: undefined,
      lastTimestamp: null,
      applied: 0,
      updatedAt: o.clock.now().toISOString(),
      failures: 0,
    };
    const { commits, checkpoint } = await events.readFeed(cp.checkpoint, { maxCount: batchSize });
    // Nothing new: do not write the checkpoint. (In Cosmos the checkpoint document shares the
    // container, so writing it would itself appear in the change feed and churn forever.)
    if (commits.length === 0) {
      caughtUp = true;
      break;
    }
    try {
      await projectCommits(events, store, generation, commits);
    } catch (e) {
      const failures = cp.failures + 1;
      const message = errorMessage(e);
      o.log?.(`projection of tenant ${events.tenantId} failed (attempt ${failures}/${maxAttempts}): ${message}`);
      if (failures < maxAttempts) {
        await store.setCheckpoint(generation, { ...cp, failures, lastError: message, updatedAt: o.clock.now().toISOString() });
        return { applied, parked, failed: true };
      }
      for (const c of commits) {
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
    });
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

function errorMessage(e: unknown): string {
  return `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`.slice(0, 500);
}
