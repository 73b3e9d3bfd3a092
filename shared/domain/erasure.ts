/**
 * Erasures of data subjects (issue 14), event-sourced on the stream `erasures`: pure
 * decide/evolve. A `SubjectErased` event records who asked (the commit's author), when (its
 * time) and why (`reason`), and which subject keys were destroyed — never what was erased: the
 * subject is named only by its reference (a keyed hash of its id), keys only by their ids.
 */
import type { CommitOf, Decider } from './decider';
import { validation } from './errors';
import { assertNever, type Author, type NewEvent } from './events';
import type { Change } from './json';

export const ERASURES_STREAM = 'erasures';
export const REASON_MAX = 500;
export const SUBJECT_REF = /^s_[A-Za-z0-9_-]{22,43}$/;

export type ErasureEvent = NewEvent<'SubjectErased', { subjectRef: string; keyIds: string[]; reason: string; changes: Change[] }>;

export interface ErasureEntry {
  subjectRef: string;
  /** Every subject key id destroyed for this subject so far. */
  keyIds: string[];
  reason: string;
  erasedAt: string;
  erasedBy: Author;
  /** Version of the `erasures` stream that (last) recorded it. */
  version: number;
}

/** Erasures by subject reference. */
export type ErasureSet = ReadonlyMap<string, ErasureEntry>;

/**
 * `keyIds`: the subject's keys the keyring holds right now (read by the application). Erasing
 * again with no new key changes nothing (idempotent); a key created after an earlier erasure
 * (new data about the same person) is erased by a new event.
 */
export type ErasureCommand = { kind: 'erase'; subjectRef: string; keyIds: string[]; reason: unknown };

export function decideErasure(cmd: ErasureCommand, erased: ErasureSet): ErasureEvent[] {
  switch (cmd.kind) {
    case 'erase': {
      if (!SUBJECT_REF.test(cmd.subjectRef)) throw new Error('erasure decided with a malformed subject reference');
      const reason = checkReason(cmd.reason);
      const earlier = erased.get(cmd.subjectRef);
      const fresh = [...new Set(cmd.keyIds)].filter((k) => !earlier?.keyIds.includes(k)).sort();
      if (earlier && fresh.length === 0) return [];
      return [
        {
          type: 'SubjectErased',
          data: {
            subjectRef: cmd.subjectRef,
            keyIds: fresh,
            reason,
            changes: [
              { path: '/subject', new: cmd.subjectRef },
              { path: '/reason', new: reason },
            ],
          },
        },
      ];
    }
    default:
      return assertNever(cmd.kind, 'erasure command');
  }
}

/** A reason is required: 1–500 characters, no control characters. */
export function checkReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > REASON_MAX)
    throw validation(`Give a reason for the erasure (1-${REASON_MAX} characters).`, [{ path: '/reason', message: 'is required' }]);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(reason))
    throw validation('The reason cannot contain control characters.', [{ path: '/reason', message: 'has control characters' }]);
  return reason.trim();
}

export function evolveErasures(erased: ErasureSet, commit: CommitOf): ErasureSet {
  let next: Map<string, ErasureEntry> | undefined;
  for (const e of commit.events as ErasureEvent[]) {
    if (e.type !== 'SubjectErased') continue;
    next ??= new Map(erased);
    const earlier = next.get(e.data.subjectRef);
    next.set(e.data.subjectRef, {
      subjectRef: e.data.subjectRef,
      keyIds: [...(earlier?.keyIds ?? []), ...e.data.keyIds],
      reason: e.data.reason,
      erasedAt: commit.timestamp,
      erasedBy: commit.author,
      version: commit.version,
    });
  }
  return next ?? erased;
}

export const erasureDecider: Decider<ErasureCommand, ErasureEvent, ErasureSet> = {
  decide: decideErasure,
  evolve: evolveErasures,
  initialState: () => new Map(),
};
