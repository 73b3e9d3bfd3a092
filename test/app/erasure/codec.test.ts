/** The sealing codec and the marks (shared/app/erasure): what the log holds, what readers get back. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ERASED, openEvent, openSnapshot, sealRecordEvents, sealSnapshot } from '../../../shared/app/erasure/codec';
import { checkMarks, markProblems, marksOf } from '../../../shared/app/erasure/marks';
import { decideRecord, type RecordEvent, type RecordState } from '../../../shared/domain/records';

const marks = marksOf({
  type: 'object',
  'x-subject': 'owner',
  properties: { owner: { type: 'string' }, email: { type: 'string', 'x-personal': true }, note: { type: 'string' } },
})!;
const own = marksOf({ type: 'object', properties: { email: { type: 'string', 'x-personal': true } } })!;

function keyring() {
  const keys = new Map<string, { keyId: string; key: Buffer }>();
  return {
    keys,
    seal: {
      refOf: async (id: string) => `s_${Buffer.from(id).toString('base64url').padEnd(22, 'A')}`,
      current: async (ref: string) => {
        let k = keys.get(ref);
        if (!k) {
          k = { keyId: `k_${ref}`, key: randomBytes(32) };
          keys.set(ref, k);
        }
        return k;
      },
    },
    open: async (ref: string, keyId: string) => {
      const k = keys.get(ref);
      return k && k.keyId === keyId ? k.key : undefined;
    },
  };
}

const ID = 'r_AAAAAAAAAAAAAAAAAAAAAA';
const stream = `rec:customer:${ID}`;
const state = (data: Record<string, unknown>): RecordState => ({
  type: 'customer',
  id: ID,
  version: 1,
  data,
  deleted: false,
  createdAt: 't',
  createdBy: { kind: 'system', id: 'x' },
  updatedAt: 't',
  updatedBy: { kind: 'system', id: 'x' },
});

describe('sealing record events', () => {
  it('takes personal values out of data and changes, and puts them back on open', async () => {
    const ring = keyring();
    const [created] = decideRecord(undefined, {
      kind: 'create',
      type: 'customer',
      id: ID,
      data: { owner: 'cust-1', email: 'a@b.test', note: 'kept' },
      schemaCheck: { outcome: 'valid' },
    });
    const [sealed] = await sealRecordEvents([created!], { streamId: stream, version: 1 }, marks, undefined, ring.seal);
    const raw = JSON.stringify(sealed);
    expect(raw).not.toContain('a@b.test');
    expect(raw).toContain('kept');
    expect((sealed!.data as { data: unknown }).data).toEqual({ owner: 'cust-1', note: 'kept' });
    const opened = await openEvent(sealed!, { streamId: stream, version: 1, index: 0 }, ring.open);
    expect(opened).toEqual(created);
    // Moved elsewhere (another version or stream), it does not open.
    await expect(openEvent(sealed!, { streamId: stream, version: 2, index: 0 }, ring.open)).rejects.toMatchObject({
      name: 'FileCryptoError',
    });
  });

  it('a change of subject seals old values under the old subject and new ones under the new', async () => {
    const ring = keyring();
    const before = state({ owner: 'cust-1', email: 'old@b.test' });
    const [updated] = decideRecord(before, {
      kind: 'patch',
      patch: { owner: 'cust-2', email: 'new@b.test' },
      expectedVersion: 1,
      schemaCheck: { outcome: 'valid' },
    });
    const [sealed] = await sealRecordEvents([updated!], { streamId: stream, version: 2 }, marks, before, ring.seal);
    expect((sealed!.data as unknown as { sealed: unknown[] }).sealed).toHaveLength(2);
    // The old subject's key destroyed: only its values become the marker.
    ring.keys.delete(await ring.seal.refOf('cust-1'));
    const opened = (await openEvent(sealed!, { streamId: stream, version: 2, index: 0 }, ring.open)) as RecordEvent;
    expect(opened.data).toMatchObject({
      patch: { owner: 'cust-2', email: 'new@b.test' },
      changes: [
        { path: '/owner', old: 'cust-1', new: 'cust-2' },
        { path: '/email', old: ERASED, new: 'new@b.test' },
      ],
    });
  });

  it('a destroyed key gives the marker in data and changes; types without marks are untouched', async () => {
    const ring = keyring();
    const [created] = decideRecord(undefined, {
      kind: 'create',
      type: 'customer',
      id: ID,
      data: { email: 'a@b.test' },
      schemaCheck: { outcome: 'valid' },
    });
    const [sealed] = await sealRecordEvents([created!], { streamId: stream, version: 1 }, own, undefined, ring.seal);
    ring.keys.clear();
    const opened = (await openEvent(sealed!, { streamId: stream, version: 1, index: 0 }, ring.open)) as RecordEvent;
    expect(opened.data).toMatchObject({ data: { email: ERASED }, changes: [{ path: '/email', new: ERASED }] });
    expect(await openEvent(created!, { streamId: stream, version: 1, index: 0 }, ring.open)).toBe(created);
  });

  it('snapshots are sealed whole and read as absent once the key is gone', async () => {
    const ring = keyring();
    const k = await ring.seal.current('s_x');
    const s = state({ email: 'a@b.test' });
    const sealed = sealSnapshot(s, { streamId: stream, version: 1 }, { ref: 's_x', ...k });
    expect(JSON.stringify(sealed)).not.toContain('a@b.test');
    expect(await openSnapshot(sealed, { streamId: stream, version: 1 }, ring.open)).toEqual(s);
    ring.keys.clear();
    expect(await openSnapshot(sealed, { streamId: stream, version: 1 }, ring.open)).toBeUndefined();
  });
});

describe('marks', () => {
  it('reads the personal properties and the subject field', () => {
    expect(marks).toEqual({ personal: ['email'], subjectField: 'owner' });
    expect(own).toEqual({ personal: ['email'] });
    expect(marksOf({ type: 'object', properties: { a: { 'x-personal': false } } })).toBeUndefined();
  });
  it('names every bad mark', () => {
    expect(markProblems({ type: 'object', 'x-subject': 3, properties: { a: { 'x-personal': 1 } } }).map((p) => p.path)).toEqual([
      '/properties/a/x-personal',
      '/x-subject',
    ]);
    expect(() => checkMarks({ items: [{ 'x-personal': true }] })).toThrow(/allowed only on a top-level property/);
    expect(() => checkMarks({ type: 'object', properties: { a: { type: 'string', 'x-personal': true } } })).not.toThrow();
  });
});

describe('sealing a revert', () => {
  it('a RecordReverted event keeps no personal value in clear and opens back', async () => {
    const ring = keyring();
    const before = state({ email: 'now@b.test' });
    const reverted = {
      type: 'RecordReverted' as const,
      data: {
        type: 'customer',
        id: ID,
        asOf: '2026-01-01T00:00:00.000Z',
        outcome: 'changed' as const,
        data: { email: 'then@b.test' },
        changes: [{ path: '/email', old: 'now@b.test', new: 'then@b.test' }],
      },
    };
    const [sealed] = await sealRecordEvents([reverted], { streamId: stream, version: 2 }, own, before, ring.seal);
    expect(JSON.stringify(sealed)).not.toMatch(/now@b|then@b/);
    expect(await openEvent(sealed!, { streamId: stream, version: 2, index: 0 }, ring.open)).toEqual(reverted);
  });
});
