/**
 * The appends of a tenant-wide revert: one scan batch's planned reverts, once their schema
 * checks are in, appended together where the store can, then projected together.
 */
import { isAppError } from '../../domain/errors';
import type { Commit } from '../../domain/events';
import type { RecordEvent, RecordRevertedData, RecordState, SchemaCheck } from '../../domain/records';
import { type RevertCommand, revertDecider } from '../../domain/revert';
import type { TypeDefinition } from '../../domain/type-set';
import type { ProjectionStore } from '../../ports/projection-store';
import { handleCommand } from '../command-handling/handle-command';
import { type BatchOutcome, handleCommands } from '../command-handling/handle-commands';
import { cachedMarks, sealingFor } from '../erasure/sealing';
import { projectCommits } from '../projector';
import { loadRecord } from '../record-reader';
import type { SchemaHandle } from '../type-schemas';
import { changedSinceStart, type RevertOperationRun, type RevertRun } from './tenant-revert-run';

export type TypeOf = { def: TypeDefinition; schema: SchemaHandle };

/** A record the walk found different from its state at asOf. */
export interface Planned {
  type: string;
  id: string;
  streamId: string;
  current: RecordState;
  cmd: RevertCommand;
  /** What its RecordReverted event will say. */
  reverted: RecordRevertedData;
  /** The schema check of the data it brings back, under way (settles, never rejects). */
  check: Promise<SchemaCheck | { failed: unknown }>;
  typeOf: () => TypeOf;
}

/** A revert appended: its commit and, when known in plain form, the record's state after it. */
interface Appended {
  commit: Commit;
  state?: RecordState;
}

type Ready = { p: Planned; schemaCheck: SchemaCheck };

/**
 * The planned reverts of one scan batch, once their schema checks are in: those the current
 * schema refuses are counted and left alone; a dry run counts the rest. A run appends them
 * through handleCommands: where the store can, in ONE transaction (`appendMany`, one fsync),
 * each commit still checked against the version its plan read; if any of them is stale the
 * store writes none and the batch goes record by record through handleCommand, which finds
 * the conflicts. Records of types with personal marks always go one by one (their values are sealed on
 * the way). A crash leaves a batch all appended or not at all; the retry tells this run's
 * reverts apart by operation id (see {@link changedSinceStart}). The batch's commits are then
 * projected together (the feed projector retries on failure).
 */
export async function applyBatch(run: RevertRun, projections: ProjectionStore, planned: Planned[]): Promise<void> {
  run.options.abortSignal?.throwIfAborted();
  const ready: Ready[] = [];
  for (const p of planned) {
    const check = await p.check;
    if ('failed' in check) throw check.failed;
    if (check.outcome === 'invalid') {
      run.tally.refused(p.type, p.id, check.errors);
      continue;
    }
    ready.push({ p, schemaCheck: check });
  }
  const op = run.operation;
  if (!op) {
    for (const { p } of ready) run.tally.reverted(p.type, p.id, p.reverted);
    return;
  }
  // Types with personal marks go one by one: their values are sealed on the way.
  const plain = ready.filter(({ p }) => !cachedMarks(p.typeOf().def.schema));
  const { outcomes } = await handleCommands(
    run.events,
    revertDecider,
    plain.map(({ p, schemaCheck }) => ({
      streamId: p.streamId,
      command: { ...p.cmd, schemaCheck },
      loaded: { state: p.current, version: p.current.version },
    })),
    { meta: run.meta, ...run.signal },
  );
  const outcomeOf = new Map(plain.map((r, i) => [r.p, outcomes[i]!]));
  const appended: Appended[] = [];
  for (const r of ready) {
    const outcome = outcomeOf.get(r.p);
    const a = outcome ? await counted(run, op, r.p, outcome) : await appendSealed(run, op, r.p, r.schemaCheck);
    if (a) appended.push(a);
  }
  if (appended.length > 0) await project(run, projections, appended);
}

/** A plain revert's outcome counted: reverted, or a lost race looked at like a change since the start. */
async function counted(
  run: RevertRun,
  op: RevertOperationRun,
  p: Planned,
  outcome: BatchOutcome<RecordState | undefined, RecordEvent>,
): Promise<Appended | undefined> {
  if (!outcome.ok) {
    await lostRace(run, op, p, outcome.error);
    return undefined;
  }
  run.tally.reverted(p.type, p.id, p.reverted);
  const { commit, state } = outcome.result;
  return commit ? { commit, ...(state ? { state } : {}) } : undefined;
}

/** Someone else (or a concurrent retry of this very run) appended first; any other error ends the run. */
async function lostRace(run: RevertRun, op: RevertOperationRun, p: Planned, e: unknown): Promise<void> {
  if (!isAppError(e) || e.code !== 'conflict') throw e;
  const now = await loadRecord(run.events, p.streamId);
  await changedSinceStart(run, op, p.streamId, now ?? p.current);
}

/** A revert of a type with personal marks: through handleCommand on the sealing store, with the version its plan read. */
async function appendSealed(run: RevertRun, op: RevertOperationRun, p: Planned, schemaCheck: SchemaCheck): Promise<Appended | undefined> {
  try {
    // The values brought back are sealed like any write's (issue 14).
    const sealing = sealingFor(run.d.records, run.events, p.typeOf().def.schema);
    sealing?.loaded(p.current);
    const r = await handleCommand(
      sealing?.events ?? run.events,
      p.streamId,
      revertDecider,
      { ...p.cmd, schemaCheck },
      { meta: run.meta, load: async () => ({ state: p.current, version: p.current.version }), ...run.signal },
    );
    run.tally.reverted(p.type, p.id, p.reverted);
    if (!r.commit) return undefined;
    // Sealed values: the state here is not what readers see; the projection reads the record back.
    return { commit: r.commit, ...(sealing || !r.state ? {} : { state: r.state }) };
  } catch (e) {
    await lostRace(run, op, p, e);
    return undefined;
  }
}

async function project(run: RevertRun, projections: ProjectionStore, appended: Appended[]): Promise<void> {
  const states = new Map<string, RecordState>();
  for (const a of appended) if (a.state) states.set(a.commit.streamId, a.state);
  try {
    await projectCommits(
      run.events,
      projections,
      await projections.activeGeneration(),
      appended.map((a) => a.commit),
      { states },
    );
  } catch (e) {
    run.d.records.log(
      `inline projection of ${appended.length} revert commits failed (the feed projector will retry): ${(e as Error)?.message}`,
    );
  }
}
