/** Given/when/then specification of the revert deciders (shared/domain/revert.ts): every rule, in its order. */
import { describe, expect, it } from 'vitest';
import type { FieldError } from '../../shared/domain/errors';
import { type RecordEvent, recordDecider, type RecordState, SCHEMA_UNCHECKED } from '../../shared/domain/records';
import {
  type RevertCommand,
  type RevertOperationCommand,
  type RevertOperationEvent,
  revertDataToCheck,
  revertDecider,
  revertOperationDecider,
} from '../../shared/domain/revert';
import { DeciderSpecification, GIVEN_TIME } from '../support/decider-specification';

const given = DeciderSpecification.for(revertDecider);
const TYPE = 'price';
const ID = 'r_0000000000000000000001';
const AS_OF = '2026-01-02T03:00:00.000Z';
const VALID = { outcome: 'valid' } as const;
const ERRORS: FieldError[] = [{ path: '/amount', message: 'must be number' }];

const created: RecordEvent = { type: 'RecordCreated', data: { type: TYPE, id: ID, data: { amount: 10, note: 'a' }, changes: [] } };
const updated: RecordEvent = {
  type: 'RecordUpdated',
  data: { type: TYPE, id: ID, patch: { amount: 99, note: null, extra: true }, changes: [] },
};
const deleted: RecordEvent = { type: 'RecordDeleted', data: { type: TYPE, id: ID, changes: [] } };

/** The record's state after these events, as the application reads it at asOf. */
const stateAfter = (events: RecordEvent[]): RecordState | undefined =>
  events.length ? DeciderSpecification.for(recordDecider)(events).state() : undefined;

const revert = (
  target: RecordState | undefined,
  expectedVersion: number | undefined,
  extra: Partial<RevertCommand> = {},
): RevertCommand => ({
  kind: 'revert',
  asOf: AS_OF,
  target,
  expectedVersion,
  schemaCheck: VALID,
  ...extra,
});

describe('record revert decider', () => {
  it('changed fields get their old values back; changes list every old and new value', () =>
    given([created, updated])
      .when(revert(stateAfter([created]), 2, { reason: 'wrong price list' }))
      .thenEmits([
        {
          type: 'RecordReverted',
          data: {
            type: TYPE,
            id: ID,
            asOf: AS_OF,
            reason: 'wrong price list',
            outcome: 'changed',
            data: { amount: 10, note: 'a' },
            changes: [
              { path: '/amount', old: 99, new: 10 },
              { path: '/extra', old: true },
              { path: '/note', new: 'a' },
            ],
          },
        },
      ]));

  it('a record deleted after asOf comes back', () =>
    given([created, deleted])
      .when(revert(stateAfter([created]), 2))
      .thenEmits([
        {
          type: 'RecordReverted',
          data: {
            type: TYPE,
            id: ID,
            asOf: AS_OF,
            outcome: 'restored',
            data: { amount: 10, note: 'a' },
            changes: [
              { path: '/amount', new: 10 },
              { path: '/note', new: 'a' },
            ],
          },
        },
      ]));

  it('a record created after asOf is deleted; so is one that was deleted at asOf', () => {
    const expected: RecordEvent = {
      type: 'RecordReverted',
      data: {
        type: TYPE,
        id: ID,
        asOf: AS_OF,
        operationId: 'op_0000000000000000000001',
        outcome: 'deleted',
        changes: [
          { path: '/amount', old: 10 },
          { path: '/note', old: 'a' },
        ],
      },
    };
    given([created])
      .when(revert(undefined, 1, { operationId: 'op_0000000000000000000001' }))
      .thenEmits([expected]);
    given([created, deleted, { type: 'RecordReverted', data: { ...expected.data, outcome: 'restored', data: { amount: 10, note: 'a' } } }])
      .when(revert(stateAfter([created, deleted]), 3, { operationId: 'op_0000000000000000000001' }))
      .thenEmits([expected]);
  });

  it('reverting to the current state appends nothing, whatever the schema check says', () => {
    given([created])
      .when(revert(stateAfter([created]), 1, { schemaCheck: SCHEMA_UNCHECKED }))
      .thenNothing();
    given([created, deleted]).when(revert(undefined, 2)).thenNothing();
    given([created, deleted])
      .when(revert(stateAfter([created, deleted]), 2))
      .thenNothing();
    expect(revertDataToCheck(given([created]).state(), revert(stateAfter([created]), 1))).toBeUndefined();
  });

  it('If-Match missing (428) comes first, then no record (404), then a stale If-Match (412)', () => {
    given([]).when(revert(undefined, undefined)).thenThrows({ code: 'precondition_required', message: 'If-Match' });
    given([]).when(revert(undefined, 1)).thenThrows({ code: 'not_found' });
    given([created, updated])
      .when(revert(stateAfter([created]), 1))
      .thenThrows({ code: 'precondition_failed', message: 'at version 2' });
  });

  it('refuses an asOf that is not a UTC instant, and a reason over 500 characters (400)', () => {
    given([created, updated])
      .when(revert(stateAfter([created]), 2, { asOf: 'yesterday' }))
      .thenThrows({ code: 'validation', message: 'asOf' });
    given([created, updated])
      .when(revert(stateAfter([created]), 2, { reason: 'x'.repeat(501) }))
      .thenThrows({ code: 'validation', message: 'reason' });
  });

  it("old data the type's current schema refuses is 422 with its errors; restored data is what gets checked", () => {
    const cmd = revert(stateAfter([created]), 2, { schemaCheck: { outcome: 'invalid', errors: ERRORS } });
    given([created, deleted])
      .when(cmd)
      .thenThrows(
        (e) =>
          (e as { code?: string }).code === 'unprocessable' &&
          /current schema/.test((e as Error).message) &&
          JSON.stringify((e as { details: { errors: FieldError[] } }).details.errors) === JSON.stringify(ERRORS),
      );
    expect(revertDataToCheck(given([created, deleted]).state(), cmd)).toEqual({ amount: 10, note: 'a' });
    // A revert that deletes restores no data: nothing to check.
    given([created])
      .when(revert(undefined, 1, { schemaCheck: SCHEMA_UNCHECKED }))
      .thenEmits([expect.anything() as RecordEvent]);
  });

  it('never decides restored data without a schema check (a caller bug, not an AppError)', () =>
    given([created, updated])
      .when(revert(stateAfter([created]), 2, { schemaCheck: SCHEMA_UNCHECKED }))
      .thenThrows((e) => e instanceof Error && /without a schema check/.test(e.message)));

  it('folds: a restored record is live with its old data; a deleted one keeps its data, and patches then get 410', () => {
    const restoredEvent = {
      type: 'RecordReverted',
      data: { type: TYPE, id: ID, asOf: AS_OF, outcome: 'restored', data: { amount: 10 }, changes: [] },
    } as const satisfies RecordEvent;
    const restored = given([created, deleted, restoredEvent]).state();
    expect(restored).toMatchObject({ version: 3, deleted: false, data: { amount: 10 }, updatedAt: GIVEN_TIME });
    const gone = given([
      created,
      { type: 'RecordReverted', data: { type: TYPE, id: ID, asOf: AS_OF, outcome: 'deleted', changes: [] } },
    ]).state();
    expect(gone).toMatchObject({ version: 2, deleted: true, data: { amount: 10, note: 'a' } });
    DeciderSpecification.for(recordDecider)([
      created,
      { type: 'RecordReverted', data: { type: TYPE, id: ID, asOf: AS_OF, outcome: 'deleted', changes: [] } },
    ])
      .when({ kind: 'patch', patch: { amount: 1 }, expectedVersion: 2, schemaCheck: VALID })
      .thenThrows({ code: 'gone' });
  });
});

describe('tenant-wide revert journal', () => {
  const op = DeciderSpecification.for(revertOperationDecider);
  const OP = 'op_AAAAAAAAAAAAAAAAAAAAAA';
  const start: RevertOperationCommand = {
    kind: 'start',
    operationId: OP,
    parameters: { asOf: AS_OF, types: ['price'], reason: 'bad import' },
    requestHash: 'h1',
  };
  const counts = { examined: 3, changed: 1, restored: 1, deleted: 1, unchanged: 0, conflicts: 0, invalid: 0 };
  const started: RevertOperationEvent = {
    type: 'TenantRevertStarted',
    data: {
      operationId: OP,
      asOf: AS_OF,
      types: ['price'],
      reason: 'bad import',
      requestHash: 'h1',
      changes: [
        { path: '/asOf', new: AS_OF },
        { path: '/types', new: ['price'] },
        { path: '/reason', new: 'bad import' },
      ],
    },
  };

  it('starts once, with its parameters; the same request again resumes it (nothing new)', () => {
    op([]).when(start).thenEmits([started]);
    op([started]).when(start).thenNothing();
  });
  it('another request under the same operation id is 422; a malformed operation id is 400', () => {
    op([started])
      .when({ ...start, requestHash: 'h2' })
      .thenThrows({ code: 'unprocessable', message: 'Idempotency-Key' });
    op([])
      .when({ ...start, operationId: 'x' })
      .thenThrows({ code: 'validation' });
  });
  it('finishes once, only after it started; the start commit time is when conflicts begin', () => {
    const finish: RevertOperationCommand = { kind: 'finish', operationId: OP, counts, result: { ok: true } };
    op([]).when(finish).thenThrows({ code: 'not_found' });
    const finished: RevertOperationEvent = {
      type: 'TenantRevertFinished',
      data: { operationId: OP, counts, result: { ok: true }, changes: [{ path: '/counts', new: counts }] },
    };
    op([started]).when(finish).thenEmits([finished]);
    op([started, finished]).when(finish).thenNothing();
    const s = op([{ events: [started], timestamp: '2026-03-01T00:00:00.000Z' }, finished]).state();
    expect(s).toMatchObject({ startedAt: '2026-03-01T00:00:00.000Z', parameters: { asOf: AS_OF, types: ['price'] }, finished: { counts } });
  });
});
