/**
 * Reverting records to a past instant: every rule, as pure deciders.
 *
 * - {@link revertDecider}: one record. The application reads the record's state at `asOf`
 *   from its log (`target`) and passes it in with the command; the decider compares it with
 *   the current state and emits one RecordReverted event, or nothing when the record already
 *   is as it was (see shared/domain/records.ts for the event and how it folds).
 * - {@link revertOperationDecider}: the journal of one tenant-wide revert (stream
 *   `revert-op:<operationId>`): it is started once with its parameters, then finished once
 *   with its result; a retry of the same request resumes it, another request under the same
 *   operation id is refused.
 *
 * Only records' data and existence are reverted. Attached files stay as they are (they have
 * their own commands, and older versions stay readable through history and asOf); type
 * schemas and users/roles are not reverted at all (see README, "Undo to an instant").
 */
import type { CommitOf, Decider } from './decider';
import { AppError, type FieldError, notFound, unprocessable, validation } from './errors';
import { assertNever, type NewEvent } from './events';
import { type Change, deepEqual, diff } from './json';
import { evolveRecord, type RecordEvent, type RecordRevertedData, type RecordState, type SchemaCheck } from './records';

/** At most this many characters of reason are stored with a revert. */
export const REVERT_REASON_MAX = 500;

export interface RevertCommand {
  kind: 'revert';
  /** The instant to go back to (ISO-8601, UTC). */
  asOf: string;
  reason?: string;
  /** The record's state at `asOf`, read from its log by the application (undefined: it did not exist yet). */
  target: RecordState | undefined;
  /** The client's If-Match (required), or the version the tenant-wide run loaded. */
  expectedVersion: number | undefined;
  /** The tenant-wide revert this belongs to. */
  operationId?: string;
  /** Outcome of validating the data to restore against the type's current schema ({@link revertDataToCheck}). */
  schemaCheck: SchemaCheck;
}

export type RevertOutcome = RecordRevertedData['outcome'];

/** What a revert would do, before its schema check. */
export type RevertPlan =
  | { refused: AppError }
  | { outcome: 'unchanged' }
  | { outcome: RevertOutcome; event: Extract<RecordEvent, { type: 'RecordReverted' }>; toCheck?: Record<string, unknown> };

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The plan of a revert. Order of the checks (the first failing one answers): If-Match missing
 * (428) → no such record (404) → If-Match stale (412) → asOf not a UTC instant (400) → the
 * record already is as it was at asOf (nothing) → the outcome: `deleted` when it did not exist
 * or was deleted at asOf, `restored` when it is deleted now, `changed` otherwise. Data that is
 * restored must pass the type's current schema (checked after planning, 422).
 */
export function planRevert(state: RecordState | undefined, cmd: RevertCommand): RevertPlan {
  if (cmd.expectedVersion === undefined)
    return { refused: new AppError('precondition_required', 'Send If-Match with the ETag of the version you are reverting.') };
  if (!state) return { refused: notFound('Record not found.') };
  if (state.version !== cmd.expectedVersion)
    return { refused: new AppError('precondition_failed', `The record is at version ${state.version}; reload it and retry.`) };
  if (!ISO_INSTANT.test(cmd.asOf)) return { refused: validation('asOf must be a UTC instant such as 2026-11-20T10:00:00.000Z.') };
  if (cmd.reason !== undefined && cmd.reason.length > REVERT_REASON_MAX)
    return { refused: validation(`The reason is at most ${REVERT_REASON_MAX} characters.`) };
  const before = state.deleted ? undefined : state.data;
  const after = cmd.target && !cmd.target.deleted ? cmd.target.data : undefined;
  if (before === undefined && after === undefined) return { outcome: 'unchanged' };
  if (before !== undefined && after !== undefined && deepEqual(before, after)) return { outcome: 'unchanged' };
  const outcome: RevertOutcome = after === undefined ? 'deleted' : before === undefined ? 'restored' : 'changed';
  const changes: Change[] = diff(before, after);
  const data: RecordRevertedData = {
    type: state.type,
    id: state.id,
    asOf: cmd.asOf,
    ...(cmd.reason !== undefined ? { reason: cmd.reason } : {}),
    ...(cmd.operationId !== undefined ? { operationId: cmd.operationId } : {}),
    outcome,
    ...(after !== undefined ? { data: after } : {}),
    changes,
  };
  return { outcome, event: { type: 'RecordReverted', data }, ...(after !== undefined ? { toCheck: after } : {}) };
}

/** The data the type's schema must accept for the revert to be decided, or undefined when nothing depends on it. */
export function revertDataToCheck(state: RecordState | undefined, cmd: RevertCommand): Record<string, unknown> | undefined {
  const plan = planRevert(state, cmd);
  return 'event' in plan ? plan.toCheck : undefined;
}

/** The error for a record whose old state the type's current schema refuses. */
export function revertSchemaRefusal(errors: FieldError[]): AppError {
  return unprocessable(
    "The record's state at asOf does not match the current schema of its type (schemas are not reverted); nothing was written.",
    errors,
  );
}

/** One record's revert: one RecordReverted event, or none when it already is as it was. */
export function decideRevert(state: RecordState | undefined, cmd: RevertCommand): RecordEvent[] {
  const plan = planRevert(state, cmd);
  if ('refused' in plan) throw plan.refused;
  if (!('event' in plan)) return [];
  if (plan.toCheck !== undefined) {
    const check = cmd.schemaCheck;
    switch (check.outcome) {
      case 'valid':
        break;
      case 'invalid':
        throw revertSchemaRefusal(check.errors);
      case 'unchecked':
        throw new Error('record revert decided without a schema check');
      default:
        return assertNever(check, 'schema check');
    }
  }
  return [plan.event];
}

/** A record's revert, run by handleCommand on the record's stream (its state folds like every record command's). */
export const revertDecider: Decider<RevertCommand, RecordEvent, RecordState | undefined> = {
  decide: (command, state) => decideRevert(state, command),
  evolve: evolveRecord,
  initialState: () => undefined,
};

// ------------------------------------------------------------------ the tenant-wide operation

export const revertOperationStreamId = (operationId: string) => `revert-op:${operationId}`;
export const OPERATION_ID = /^op_[A-Za-z0-9_-]{22}$/;

export interface RevertParameters {
  asOf: string;
  /** The types reverted; null: every type of the tenant. */
  types: string[] | null;
  reason?: string;
}

/** What a finished tenant-wide revert did (stored in its journal, answered again on a retry). */
export interface RevertCounts {
  /** Records looked at. */
  examined: number;
  changed: number;
  restored: number;
  deleted: number;
  /** Already as they were at asOf. */
  unchanged: number;
  /** Changed by someone else after the revert started: left alone. */
  conflicts: number;
  /** Their state at asOf does not match their type's current schema: left alone. */
  invalid: number;
}

/** The journal's events; `changes` is what the audit log shows of them (the parameters, then the counts). */
export type RevertOperationEvent =
  | NewEvent<'TenantRevertStarted', RevertParameters & { operationId: string; requestHash: string; changes: Change[] }>
  | NewEvent<'TenantRevertFinished', { operationId: string; counts: RevertCounts; result: unknown; changes: Change[] }>;

export type RevertOperationCommand =
  | { kind: 'start'; operationId: string; parameters: RevertParameters; requestHash: string }
  | { kind: 'finish'; operationId: string; counts: RevertCounts; result: unknown };

export interface RevertOperationState {
  operationId: string;
  parameters: RevertParameters;
  requestHash: string;
  /** Server time of the start commit: changes to records after it are someone else's (conflicts). */
  startedAt: string;
  finished?: { at: string; counts: RevertCounts; result: unknown };
}

/**
 * The journal's rules: started once (a retry with the same request resumes it: nothing new;
 * another request under the same operation id → 422); finished once (again: nothing new);
 * never finished before it started.
 */
export function decideRevertOperation(cmd: RevertOperationCommand, state: RevertOperationState | undefined): RevertOperationEvent[] {
  switch (cmd.kind) {
    case 'start':
      if (!OPERATION_ID.test(cmd.operationId)) throw validation('Not a revert operation id.');
      if (state) {
        if (state.requestHash !== cmd.requestHash)
          throw unprocessable('This Idempotency-Key was already used with a different revert request.');
        return [];
      }
      return [
        {
          type: 'TenantRevertStarted',
          data: {
            operationId: cmd.operationId,
            ...cmd.parameters,
            requestHash: cmd.requestHash,
            changes: [
              { path: '/asOf', new: cmd.parameters.asOf },
              { path: '/types', new: cmd.parameters.types },
              ...(cmd.parameters.reason !== undefined ? [{ path: '/reason', new: cmd.parameters.reason }] : []),
            ],
          },
        },
      ];
    case 'finish':
      if (!state) throw notFound('No such revert operation.');
      if (state.finished) return [];
      return [
        {
          type: 'TenantRevertFinished',
          data: { operationId: cmd.operationId, counts: cmd.counts, result: cmd.result, changes: [{ path: '/counts', new: cmd.counts }] },
        },
      ];
    default:
      return assertNever(cmd, 'revert operation command');
  }
}

export function evolveRevertOperation(
  state: RevertOperationState | undefined,
  commit: CommitOf<RevertOperationEvent>,
): RevertOperationState | undefined {
  let s = state;
  for (const e of commit.events) {
    switch (e.type) {
      case 'TenantRevertStarted': {
        const { operationId, requestHash, asOf, types, reason } = e.data;
        s = {
          operationId,
          requestHash,
          parameters: { asOf, types, ...(reason !== undefined ? { reason } : {}) },
          startedAt: commit.timestamp,
        };
        break;
      }
      case 'TenantRevertFinished':
        if (s) s = { ...s, finished: { at: commit.timestamp, counts: e.data.counts, result: e.data.result } };
        break;
      default:
        return assertNever(e, 'revert operation event');
    }
  }
  return s;
}

export const revertOperationDecider: Decider<RevertOperationCommand, RevertOperationEvent, RevertOperationState | undefined> = {
  decide: decideRevertOperation,
  evolve: evolveRevertOperation,
  initialState: () => undefined,
};
