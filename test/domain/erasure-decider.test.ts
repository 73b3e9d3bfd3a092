/** Given/when/then specification of the erasure decider (shared/domain/erasure.ts). */
import { describe, expect, it } from 'vitest';
import { type ErasureCommand, type ErasureEvent, erasureDecider, evolveErasures } from '../../shared/domain/erasure';
import { DeciderSpecification, GIVEN_AUTHOR, GIVEN_TIME } from '../support/decider-specification';

const given = DeciderSpecification.for(erasureDecider);
const REF = 's_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const erase = (keyIds: string[], reason: unknown = 'Art. 17 request'): ErasureCommand => ({
  kind: 'erase',
  subjectRef: REF,
  keyIds,
  reason,
});
const erased = (keyIds: string[], reason = 'Art. 17 request'): ErasureEvent => ({
  type: 'SubjectErased',
  data: {
    subjectRef: REF,
    keyIds,
    reason,
    changes: [
      { path: '/subject', new: REF },
      { path: '/reason', new: reason },
    ],
  },
});

describe('erasure decider', () => {
  it('a first erasure records the subject reference, the destroyed key ids and the reason (never values)', () =>
    given([])
      .when(erase(['k_1']))
      .thenEmits([erased(['k_1'])]));

  it('a subject without keys is still erased (the request is on record)', () =>
    given([])
      .when(erase([]))
      .thenEmits([erased([])]));

  it('erasing again with no new key changes nothing (idempotent)', () =>
    given([erased(['k_1'])])
      .when(erase(['k_1'], 'again'))
      .thenNothing());

  it('a key created after the erasure (new data about the person) is erased by a new event', () =>
    given([erased(['k_1'])])
      .when(erase(['k_1', 'k_2'], 'again'))
      .thenEmits([erased(['k_2'], 'again')]));

  it('a reason is required, trimmed, at most 500 characters, without control characters', () => {
    given([])
      .when(erase(['k_1'], ''))
      .thenThrows({ code: 'validation' });
    given([])
      .when(erase(['k_1'], '   '))
      .thenThrows({ code: 'validation' });
    given([])
      .when(erase(['k_1'], 42))
      .thenThrows({ code: 'validation' });
    given([])
      .when(erase(['k_1'], 'x'.repeat(501)))
      .thenThrows({ code: 'validation' });
    given([])
      .when(erase(['k_1'], 'a\nb'))
      .thenThrows({ code: 'validation' });
    given([])
      .when(erase(['k_1'], '  why  '))
      .thenEmits([erased(['k_1'], 'why')]);
  });

  it('a malformed subject reference is a caller bug, not input', () =>
    given([])
      .when({ kind: 'erase', subjectRef: 'someone@example.test', keyIds: [], reason: 'x' })
      .thenThrows((e) => e instanceof Error && !('code' in e)));

  it('evolve: who, when and every destroyed key id', () => {
    let s = erasureDecider.initialState();
    s = evolveErasures(s, { version: 1, timestamp: GIVEN_TIME, author: GIVEN_AUTHOR, events: [erased(['k_1'])] });
    s = evolveErasures(s, { version: 2, timestamp: '2026-02-01T00:00:00.000Z', author: GIVEN_AUTHOR, events: [erased(['k_2'], 'b')] });
    expect(s.get(REF)).toEqual({
      subjectRef: REF,
      keyIds: ['k_1', 'k_2'],
      reason: 'b',
      erasedAt: '2026-02-01T00:00:00.000Z',
      erasedBy: GIVEN_AUTHOR,
      version: 2,
    });
  });
});
