/** Given/when/then specification of the record decider (shared/domain/records.ts): every rule, in its order. */
import { describe, expect, it } from 'vitest';
import type { FieldError } from '../../shared/domain/errors';
import type { Author } from '../../shared/domain/events';
import {
  checkFileTarget,
  type FileEntry,
  type RecordCommand,
  type RecordEvent,
  recordDataToCheck,
  recordDecider,
  SCHEMA_UNCHECKED,
} from '../../shared/domain/records';
import { DeciderSpecification, GIVEN_AUTHOR, GIVEN_TIME } from '../support/decider-specification';

const given = DeciderSpecification.for(recordDecider);
const TYPE = 'invoice';
const ID = 'r_0000000000000000000001';
const VALID = { outcome: 'valid' } as const;
const ERRORS: FieldError[] = [{ path: '/total', message: 'must be number' }];
const INVALID = { outcome: 'invalid', errors: ERRORS } as const;

const created: RecordEvent = {
  type: 'RecordCreated',
  data: { type: TYPE, id: ID, data: { total: 1, note: 'a' }, changes: [] },
};
const deleted: RecordEvent = { type: 'RecordDeleted', data: { type: TYPE, id: ID, changes: [] } };
const file = (fileId: string, name = 'a.pdf'): Omit<FileEntry, 'version' | 'attachedAt' | 'attachedBy'> => ({
  fileId,
  name,
  contentType: 'application/pdf',
  size: 3,
  sha256: 'abc',
  blobName: `${TYPE}/${ID}/${fileId}/b`,
  keyId: 'k/1',
});
const F1 = 'f_0000000000000000000001';
const F2 = 'f_0000000000000000000002';
const attached: RecordEvent = { type: 'FileAttached', data: { type: TYPE, id: ID, ...file(F1), changes: [] } };

describe('record decider', () => {
  describe('create', () => {
    const create = (
      schemaCheck: Extract<RecordCommand, { kind: 'create' }>['schemaCheck'],
      data: unknown = { total: 1 },
    ): RecordCommand => ({
      kind: 'create',
      type: TYPE,
      id: ID,
      data: data as Record<string, unknown>,
      schemaCheck,
    });

    it('a new record, with every field as a change', () =>
      given([])
        .when(create(VALID))
        .thenEmits([{ type: 'RecordCreated', data: { type: TYPE, id: ID, data: { total: 1 }, changes: [{ path: '/total', new: 1 }] } }]));
    it('refuses an existing record (409), also a deleted one', () => {
      given([created]).when(create(VALID)).thenThrows({ code: 'conflict', message: 'already exists' });
      given([created, deleted]).when(create(VALID)).thenThrows({ code: 'conflict' });
    });
    it('refuses data that is not a JSON object (400)', () => {
      given([])
        .when(create(VALID, [1]))
        .thenThrows({ code: 'validation', message: 'JSON object' });
      given([]).when(create(VALID, null)).thenThrows({ code: 'validation' });
    });
    it('refuses data the schema check found invalid (422 with its errors)', () =>
      given([])
        .when(create(INVALID))
        .thenThrows(
          (e) =>
            (e as { code?: string }).code === 'unprocessable' &&
            (e as { details?: unknown }).details !== undefined &&
            JSON.stringify((e as { details: { errors: FieldError[] } }).details.errors) === JSON.stringify(ERRORS),
        ));
    it('never decides unchecked data (a caller bug, not an AppError)', () =>
      given([])
        .when(create(SCHEMA_UNCHECKED))
        .thenThrows((e) => e instanceof Error && (e as { name: string }).name === 'Error' && /without a schema check/.test(e.message)));
  });

  describe('patch', () => {
    const patch = (
      p: unknown,
      expectedVersion: number | undefined,
      schemaCheck: Extract<RecordCommand, { kind: 'patch' }>['schemaCheck'] = VALID,
    ): RecordCommand => ({
      kind: 'patch',
      patch: p as Record<string, unknown>,
      expectedVersion,
      schemaCheck,
    });

    it('merges the patch, recording old and new values', () =>
      given([created])
        .when(patch({ total: 2, note: null }, 1))
        .thenEmits([
          {
            type: 'RecordUpdated',
            data: {
              type: TYPE,
              id: ID,
              patch: { total: 2, note: null },
              changes: [
                { path: '/total', old: 1, new: 2 },
                { path: '/note', old: 'a' },
              ],
            },
          },
        ]));
    it('requires If-Match (428), before anything else', () => {
      given([created])
        .when(patch({ total: 2 }, undefined))
        .thenThrows({ code: 'precondition_required', message: 'If-Match' });
      given([])
        .when(patch({ total: 2 }, undefined))
        .thenThrows({ code: 'precondition_required' });
    });
    it('404 for a missing record, 410 for a deleted one, 412 for a stale If-Match', () => {
      given([])
        .when(patch({ total: 2 }, 1))
        .thenThrows({ code: 'not_found', message: 'Record not found.' });
      given([created, deleted])
        .when(patch({ total: 2 }, 2))
        .thenThrows({ code: 'gone', message: GIVEN_TIME });
      given([created, { ...created, type: 'RecordUpdated', data: { type: TYPE, id: ID, patch: { total: 5 }, changes: [] } }])
        .when(patch({ total: 2 }, 1))
        .thenThrows({ code: 'precondition_failed', message: 'at version 2' });
    });
    it('refuses a patch that is not a JSON object (400)', () =>
      given([created]).when(patch('x', 1)).thenThrows({ code: 'validation', message: 'merge patch' }));
    it('a patch that changes nothing emits nothing, whatever the schema check says', () => {
      given([created])
        .when(patch({ total: 1 }, 1, SCHEMA_UNCHECKED))
        .thenNothing();
      given([created])
        .when(patch({ total: 1 }, 1, INVALID))
        .thenNothing();
    });
    it('refuses a result the schema check found invalid (422)', () =>
      given([created])
        .when(patch({ total: 'x' }, 1, INVALID))
        .thenThrows({ code: 'unprocessable', message: 'schema' }));
    it('never decides an unchecked change', () =>
      given([created])
        .when(patch({ total: 2 }, 1, SCHEMA_UNCHECKED))
        .thenThrows((e) => /without a schema check/.test((e as Error).message)));
  });

  describe('delete', () => {
    it('emits RecordDeleted with every field removed', () =>
      given([created])
        .when({ kind: 'delete', expectedVersion: 1 })
        .thenEmits([
          {
            type: 'RecordDeleted',
            data: {
              type: TYPE,
              id: ID,
              changes: [
                { path: '/total', old: 1 },
                { path: '/note', old: 'a' },
              ],
            },
          },
        ]));
    it('428 without If-Match, 404 missing, 410 deleted, 412 stale', () => {
      given([created]).when({ kind: 'delete', expectedVersion: undefined }).thenThrows({ code: 'precondition_required' });
      given([]).when({ kind: 'delete', expectedVersion: 1 }).thenThrows({ code: 'not_found' });
      given([created, deleted]).when({ kind: 'delete', expectedVersion: 2 }).thenThrows({ code: 'gone' });
      given([created]).when({ kind: 'delete', expectedVersion: 7 }).thenThrows({ code: 'precondition_failed' });
    });
  });

  describe('attachFile', () => {
    it('attaches a new file id, with or without If-Match', () => {
      const event: RecordEvent = {
        type: 'FileAttached',
        data: {
          type: TYPE,
          id: ID,
          ...file(F2),
          changes: [{ path: `/files/${F2}`, new: { name: 'a.pdf', contentType: 'application/pdf', size: 3, sha256: 'abc' } }],
        },
      };
      given([created])
        .when({ kind: 'attachFile', file: file(F2), replace: false })
        .thenEmits([event]);
      given([created])
        .when({ kind: 'attachFile', file: file(F2), replace: false, expectedVersion: 1 })
        .thenEmits([event]);
    });
    it('replaces an attached file, recording the old one', () =>
      given([created, attached])
        .when({ kind: 'attachFile', file: file(F1, 'b.pdf'), replace: true })
        .thenEmits([
          {
            type: 'FileAttached',
            data: {
              type: TYPE,
              id: ID,
              ...file(F1, 'b.pdf'),
              changes: [
                {
                  path: `/files/${F1}`,
                  old: { name: 'a.pdf', contentType: 'application/pdf', size: 3, sha256: 'abc' },
                  new: { name: 'b.pdf', contentType: 'application/pdf', size: 3, sha256: 'abc' },
                },
              ],
            },
          },
        ]));
    it('404 missing record, 410 deleted, 412 stale If-Match (only when sent)', () => {
      given([])
        .when({ kind: 'attachFile', file: file(F2), replace: false })
        .thenThrows({ code: 'not_found', message: 'Record' });
      given([created, deleted])
        .when({ kind: 'attachFile', file: file(F2), replace: false })
        .thenThrows({ code: 'gone' });
      given([created, attached])
        .when({ kind: 'attachFile', file: file(F2), replace: false, expectedVersion: 1 })
        .thenThrows({ code: 'precondition_failed' });
    });
    it('404 for replacing a file that is not attached, 409 for attaching an id that is', () => {
      given([created])
        .when({ kind: 'attachFile', file: file(F1), replace: true })
        .thenThrows({ code: 'not_found', message: 'File not found.' });
      given([created, attached])
        .when({ kind: 'attachFile', file: file(F1), replace: false })
        .thenThrows({ code: 'conflict', message: 'already attached' });
    });
  });

  describe('deleteFile', () => {
    it('detaches an attached file', () =>
      given([created, attached])
        .when({ kind: 'deleteFile', fileId: F1 })
        .thenEmits([
          {
            type: 'FileDeleted',
            data: {
              type: TYPE,
              id: ID,
              fileId: F1,
              changes: [{ path: `/files/${F1}`, old: { name: 'a.pdf', contentType: 'application/pdf', size: 3, sha256: 'abc' } }],
            },
          },
        ]));
    it('404 missing record or file, 410 deleted record, 412 stale If-Match', () => {
      given([]).when({ kind: 'deleteFile', fileId: F1 }).thenThrows({ code: 'not_found', message: 'Record' });
      given([created]).when({ kind: 'deleteFile', fileId: F1 }).thenThrows({ code: 'not_found', message: 'File not found.' });
      given([created, attached, deleted]).when({ kind: 'deleteFile', fileId: F1 }).thenThrows({ code: 'gone' });
      given([created, attached]).when({ kind: 'deleteFile', fileId: F1, expectedVersion: 1 }).thenThrows({ code: 'precondition_failed' });
    });
  });

  describe('evolve', () => {
    const alice: Author = { kind: 'user', userId: 'u_alice', email: 'alice@example.test' };
    it('stamps versions, times and authors from the commits; files come and go; deletion keeps the data', () => {
      const s = given([
        created,
        { events: [attached], version: 2, timestamp: '2026-02-01T00:00:00.000Z', author: alice },
        { events: [{ type: 'FileDeleted', data: { type: TYPE, id: ID, fileId: F1, changes: [] } }, deleted], version: 3, timestamp: 'T3' },
      ]).state();
      expect(s).toMatchObject({
        version: 3,
        deleted: true,
        data: { total: 1, note: 'a' },
        createdAt: GIVEN_TIME,
        createdBy: GIVEN_AUTHOR,
        updatedAt: 'T3',
        files: {},
      });
      const mid = given([created, { events: [attached], version: 2, timestamp: 'T2', author: alice }]).state();
      expect(mid?.files?.[F1]).toMatchObject({ name: 'a.pdf', version: 2, attachedAt: 'T2', attachedBy: alice });
    });
  });

  describe('recordDataToCheck (what the application validates)', () => {
    const state = given([created]).state();
    it('the new data of a create and the merged data of a changing patch', () => {
      expect(recordDataToCheck(undefined, { kind: 'create', type: TYPE, id: ID, data: { a: 1 }, schemaCheck: SCHEMA_UNCHECKED })).toEqual({
        a: 1,
      });
      expect(
        recordDataToCheck(state, { kind: 'patch', patch: { note: null, b: 2 }, expectedVersion: 1, schemaCheck: SCHEMA_UNCHECKED }),
      ).toEqual({
        total: 1,
        b: 2,
      });
    });
    it('nothing when the decision does not depend on it', () => {
      expect(
        recordDataToCheck(state, { kind: 'patch', patch: { total: 1 }, expectedVersion: 1, schemaCheck: SCHEMA_UNCHECKED }),
      ).toBeUndefined();
      expect(
        recordDataToCheck(state, { kind: 'patch', patch: { total: 2 }, expectedVersion: 9, schemaCheck: SCHEMA_UNCHECKED }),
      ).toBeUndefined();
      expect(
        recordDataToCheck(state, { kind: 'patch', patch: { total: 2 }, expectedVersion: undefined, schemaCheck: SCHEMA_UNCHECKED }),
      ).toBeUndefined();
      expect(
        recordDataToCheck(state, { kind: 'create', type: TYPE, id: ID, data: { a: 1 }, schemaCheck: SCHEMA_UNCHECKED }),
      ).toBeUndefined();
      expect(
        recordDataToCheck(undefined, { kind: 'create', type: TYPE, id: ID, data: [] as never, schemaCheck: SCHEMA_UNCHECKED }),
      ).toBeUndefined();
      expect(recordDataToCheck(state, { kind: 'delete', expectedVersion: 1 })).toBeUndefined();
    });
  });

  it('checkFileTarget: the attach rules an upload checks before reading its body', () => {
    const state = given([created, attached]).state();
    expect(checkFileTarget(state, { fileId: F2, replace: false })).toBeUndefined();
    expect(checkFileTarget(state, { fileId: F1, replace: true, expectedVersion: 2 })).toBeUndefined();
    expect(checkFileTarget(undefined, { fileId: F2, replace: false })?.code).toBe('not_found');
    expect(checkFileTarget(state, { fileId: F2, replace: true })?.code).toBe('not_found');
    expect(checkFileTarget(state, { fileId: F1, replace: false })?.code).toBe('conflict');
    expect(checkFileTarget(state, { fileId: F2, replace: false, expectedVersion: 1 })?.code).toBe('precondition_failed');
  });
});
