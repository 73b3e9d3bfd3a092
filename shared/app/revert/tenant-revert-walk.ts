/**
 * The walk of a tenant-wide revert: every record of the types (or of the tenant), in (type, id)
 * order, a scan batch at a time, read and planned; each batch's reverts are then appended
 * ({@link applyBatch}) and progress is reported.
 */
import { isAppError } from '../../domain/errors';
import { recordStreamId, SCHEMA_UNCHECKED, type SchemaCheck } from '../../domain/records';
import { planRevert, type RevertCommand } from '../../domain/revert';
import type { ProjectionStore } from '../../ports/projection-store';
import { ignoreErased } from '../erasure/sealing';
import type { ProgressSink } from '../progress';
import { runProjector } from '../projector';
import type { SchemaHandle } from '../type-schemas';
import { loadRecordNowAndAt } from './record-states';
import { applyBatch, type Planned, type TypeOf } from './tenant-revert-apply';
import { changedSinceStart, type RevertRun } from './tenant-revert-run';

/**
 * Records read from the list view per step; their reverts are appended together (one
 * transaction where the store can), projected together, and then progress is reported.
 */
export const TENANT_REVERT_BATCH = 100;

/** Brings the list view up to the log (bounded), so the walk sees every record written before the start. */
export async function catchUp(run: RevertRun, projections: ProjectionStore): Promise<void> {
  const gen = await projections.activeGeneration();
  for (let i = 0; i < 100; i++) {
    const r = await runProjector(run.events, projections, gen, { clock: run.d.clock, log: run.d.records.log });
    if (!r.more) return;
  }
}

/**
 * Every record of the types (or of the tenant), in (type, id) order, a scan batch at a time:
 * each record's states now and at asOf are read (one pass over its log) and planned, the
 * schema checks of the batch run in the sandbox meanwhile, then the batch's reverts are
 * appended ({@link applyBatch}), projected together, and progress is reported: what it counts
 * is durable by then.
 */
export async function walk(run: RevertRun, projections: ProjectionStore, onProgress: ProgressSink): Promise<void> {
  const phase = run.operation ? 'revert' : 'plan';
  const gen = await projections.activeGeneration();
  const total = await countAll(run, projections, gen);
  for (const type of run.parameters.types ?? [undefined]) {
    let after: { type: string; id: string } | undefined;
    for (;;) {
      const batch = await projections.scanRecords(gen, {
        ...(type !== undefined ? { type } : {}),
        ...(after ? { after } : {}),
        limit: TENANT_REVERT_BATCH,
        ...run.signal,
      });
      const catalog = await run.d.records.types.load(run.p.tenantId, run.events);
      const planned: Planned[] = [];
      for (const v of batch) {
        after = { type: v.type, id: v.id };
        const p = await plan(run, v.type, v.id, () => run.d.records.types.require(catalog, v.type, run.p.tenantId));
        if (p) planned.push(p);
        await run.slice.maybeYield();
      }
      await applyBatch(run, projections, planned);
      // Records created while the walk runs may add to what it finds: the total is never below done.
      const done = run.tally.examined;
      onProgress({ phase, done, ...(total !== undefined ? { total: Math.max(total, done) } : {}) });
      if (batch.length < TENANT_REVERT_BATCH) break;
    }
  }
}

/** How many records the walk will look at, where the store can count them (progress `total`). */
async function countAll(run: RevertRun, projections: ProjectionStore, gen: number): Promise<number | undefined> {
  if (!projections.countRecords) return undefined;
  let n = 0;
  for (const type of run.parameters.types ?? [undefined])
    n += await projections.countRecords(gen, { ...(type !== undefined ? { type } : {}), ...run.signal });
  return n;
}

/**
 * One record: counted; when it differs from its state at asOf, its plan, with the schema
 * check of the data it brings back started (awaited in {@link applyBatch}).
 */
async function plan(run: RevertRun, type: string, id: string, typeOf: () => TypeOf): Promise<Planned | undefined> {
  const streamId = recordStreamId(type, id);
  const { current, target } = await loadRecordNowAndAt(run.events, streamId, run.asOf, { slice: run.slice, ...run.signal });
  if (!current) return undefined;
  run.tally.examine();
  const op = run.operation;
  if (op && Date.parse(current.updatedAt) >= op.startedAtMs) {
    await changedSinceStart(run, op, streamId, current);
    return undefined;
  }
  const cmd: RevertCommand = {
    kind: 'revert',
    asOf: run.parameters.asOf,
    ...(run.parameters.reason !== undefined ? { reason: run.parameters.reason } : {}),
    target,
    expectedVersion: current.version,
    ...(op ? { operationId: op.id } : {}),
    schemaCheck: SCHEMA_UNCHECKED,
  };
  const planned = planRevert(current, cmd);
  if ('refused' in planned) throw planned.refused;
  if (!('event' in planned)) {
    run.tally.unchanged();
    return undefined;
  }
  const check = planned.toCheck === undefined ? Promise.resolve(SCHEMA_UNCHECKED) : checkSchema(run, typeOf().schema, planned.toCheck);
  return { type, id, streamId, current, cmd, reverted: planned.event.data, check, typeOf };
}

/** The schema check of data a revert brings back; never rejects (a failure that ends the run is carried to {@link applyBatch}). */
function checkSchema(run: RevertRun, schema: SchemaHandle, data: Record<string, unknown>): Promise<SchemaCheck | { failed: unknown }> {
  // Without the abort signal: a batch's checks are queued at once (a listener each), each has its own time budget,
  // and an aborted run stops before it appends ({@link applyBatch}).
  return run.d.records.schemas.check(run.p.tenantId, schema, data).then(
    // Erased personal values (markers) stay erased: the schema does not judge them.
    (check) => ignoreErased(check, data),
    // A schema that cannot run (409) or a validation that failed (422): this record is not written.
    (e: unknown): SchemaCheck | { failed: unknown } =>
      isAppError(e) && (e.code === 'conflict' || e.code === 'unprocessable')
        ? { outcome: 'invalid', errors: [{ path: '', message: e.message }] }
        : { failed: e },
  );
}
