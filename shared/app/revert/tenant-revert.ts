/**
 * Reverting every record of some types, or of the whole tenant, to its state at an instant
 * (POST /api/t/{tenant}/revert, admin).
 *
 * - `dryRun`: walks the records and answers with the plan (counts, a sample of diffs, the
 *   records the current schema would refuse) without writing anything.
 * - A run is journalled in the stream `revert-op:<operationId>` (revertOperationDecider): its
 *   start commit fixes the parameters and the instant it started; then each record that differs
 *   gets one RecordReverted commit carrying the operation id, through handleCommand with the
 *   version just read as the expected version; the finish commit stores the result.
 * - Resumable and idempotent: the operation id derives from the Idempotency-Key, so the same
 *   request after a crash finds the journal and walks again. A record whose last change is
 *   older than the start has not been touched by this run; a newer change is either this run's
 *   revert (found by operation id: counted, not reverted again) or someone else's: a conflict,
 *   left alone. A lost race on the append is looked at the same way. A finished operation
 *   answers its stored result again.
 *
 * This module is the run's outline (input checks, journal start, catch-up, walk, finish); its
 * parts: tenant-revert-operation.ts (operation ids, the retry note), tenant-revert-walk.ts (the
 * scan and each record's plan), tenant-revert-apply.ts (a scan batch's appends and projection),
 * tenant-revert-run.ts (what they share: the counts and lists, this run's own reverts).
 */
import { createHash } from 'node:crypto';
import { validation } from '../../domain/errors';
import { REVERT_REASON_MAX, revertOperationDecider, revertOperationStreamId, type RevertParameters } from '../../domain/revert';
import type { OneTenantStores } from '../../ports/tenant-stores';
import { requirePermission, type UserPrincipal } from '../auth/principal';
import { handleCommand } from '../command-handling/handle-command';
import type { ProgressSink } from '../progress';
import { author, projectInline } from '../records/context';
import type { CommandOptions } from '../request';
import { TimeSlice } from '../yield';
import { assertPast, type RevertDeps } from './context';
import { retryNote, revertOperationId, unkeyedRevertOperationId } from './tenant-revert-operation';
import { type RevertRun, type RevertTallies, RevertTally } from './tenant-revert-run';
import { catchUp, walk } from './tenant-revert-walk';

export { revertOperationId } from './tenant-revert-operation';
export { TENANT_REVERT_BATCH } from './tenant-revert-walk';

export interface TenantRevertInput {
  /** The instant to go back to (in the past). */
  asOf: Date;
  /** The types to revert (absent: every type of the tenant). */
  types?: readonly string[] | undefined;
  reason?: string | undefined;
  /** Only plan: write nothing. */
  dryRun?: boolean | undefined;
}

export interface TenantRevertResult {
  operationId?: string;
  dryRun: boolean;
  asOf: string;
  types: string[] | null;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  counts: RevertTallies['counts'];
  samples: RevertTallies['samples'];
  conflicts: RevertTallies['conflicts'];
  invalid: RevertTallies['invalid'];
  /** True when a finished run with the same Idempotency-Key is the answer. */
  replayed: boolean;
  /** What sending the same request again does (how an interrupted run is resumed). */
  retry: string;
}

/** What the journal's finish commit keeps (the commit's time is `finishedAt`). */
type StoredResult = Omit<TenantRevertResult, 'replayed' | 'finishedAt' | 'retry'>;

/** A checked tenant revert, ready to run (input and permission errors are raised before it exists). */
export interface PreparedTenantRevert {
  run(onProgress?: ProgressSink): Promise<TenantRevertResult>;
}

/** Checks the caller, the instant, the reason and the types; the walk starts with `run`. */
export async function prepareTenantRevert(
  d: RevertDeps,
  p: UserPrincipal,
  input: TenantRevertInput,
  options: CommandOptions,
): Promise<PreparedTenantRevert> {
  requirePermission(p, 'manage');
  assertPast(input.asOf, d.clock);
  if (input.reason !== undefined && (input.reason.length === 0 || input.reason.length > REVERT_REASON_MAX))
    throw validation(`The reason is 1-${REVERT_REASON_MAX} characters.`, [{ path: '/reason', message: 'has a wrong length' }]);
  const types = input.types ? [...new Set(input.types)].sort() : null;
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  await d.stores.use(
    p.tenantId,
    async (s) => {
      const catalog = await d.records.types.load(p.tenantId, s.events);
      for (const t of types ?? []) d.records.types.require(catalog, t, p.tenantId);
    },
    signal,
  );
  const parameters: RevertParameters = {
    asOf: input.asOf.toISOString(),
    types,
    ...(input.reason !== undefined ? { reason: input.reason } : {}),
  };
  return {
    run: (onProgress) =>
      d.stores.use(p.tenantId, (s) => runTenantRevert(d, p, s, parameters, input.dryRun === true, options, onProgress), signal),
  };
}

/**
 * One run (or dry run) on a leased tenant: the journal's start commit (a finished operation
 * answers its stored result), catch-up of the list view, the walk, the finish commit.
 */
async function runTenantRevert(
  d: RevertDeps,
  p: UserPrincipal,
  s: OneTenantStores,
  parameters: RevertParameters,
  dryRun: boolean,
  options: CommandOptions,
  onProgress: ProgressSink = () => undefined,
): Promise<TenantRevertResult> {
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const meta = { author: author(p), correlationId: options.correlationId };
  const events = s.events;
  const projections = await s.projections(signal);
  const run: RevertRun = {
    d,
    p,
    events,
    parameters,
    asOf: new Date(parameters.asOf),
    meta,
    options,
    signal,
    slice: new TimeSlice(),
    tally: new RevertTally(),
  };
  const base = {
    dryRun,
    asOf: parameters.asOf,
    types: parameters.types,
    ...(parameters.reason !== undefined ? { reason: parameters.reason } : {}),
  };
  if (dryRun) {
    await walk(run, projections, onProgress);
    return { ...base, ...run.tally.tallies(), replayed: false, retry: retryNote(true, false) };
  }
  const idem = options.idempotency;
  const retry = retryNote(false, idem !== undefined);
  const requestHash = idem?.requestHash ?? createHash('sha256').update(JSON.stringify(parameters)).digest('base64url');
  const operationId = idem ? revertOperationId(p.tenantId, idem.key) : await unkeyedRevertOperationId(events, p.tenantId, requestHash);
  const journal = revertOperationStreamId(operationId);
  const started = await handleCommand(
    events,
    journal,
    revertOperationDecider,
    { kind: 'start', operationId, parameters, requestHash },
    { meta, retries: 1, ...signal },
  );
  if (started.commit) await projectInline(d.records, events, projections, started.commit);
  const op = started.state;
  if (!op) throw new Error('revert operation state missing after its start');
  if (op.finished) return { ...(op.finished.result as StoredResult), finishedAt: op.finished.at, replayed: true, retry };
  run.operation = { id: operationId, startedAtMs: Date.parse(op.startedAt) };
  // Every record written before the start must be in the list view the walk reads.
  onProgress({ phase: 'catch-up', done: 0 });
  await catchUp(run, projections);
  await walk(run, projections, onProgress);
  const tallies = run.tally.tallies();
  const result: StoredResult = { operationId, ...base, startedAt: op.startedAt, ...tallies };
  const finished = await handleCommand(
    events,
    journal,
    revertOperationDecider,
    { kind: 'finish', operationId, counts: tallies.counts, result },
    { meta, retries: 1, ...signal },
  );
  if (finished.commit) await projectInline(d.records, events, projections, finished.commit);
  const stored = finished.state?.finished;
  if (!stored) throw new Error('revert operation not finished after its finish');
  // A concurrent retry of the same request may have finished first: its result is the answer.
  if (!finished.commit) return { ...(stored.result as StoredResult), finishedAt: stored.at, replayed: true, retry };
  return { ...result, finishedAt: stored.at, replayed: false, retry };
}
