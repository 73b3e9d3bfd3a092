/**
 * Given/when/then specifications for deciders (shared/domain/decider.ts), after Emmett's
 * `DeciderSpecification` (event-driven-io/emmett, samples/webApi/expressjs-with-esdb/src/
 * shoppingCarts/businessLogic.unit.spec.ts):
 *
 *   const given = DeciderSpecification.for(recordDecider);
 *   given([created]).when({ kind: 'delete', expectedVersion: 1 }).thenEmits([{ type: 'RecordDeleted', data: … }]);
 *   given([]).when({ kind: 'delete', expectedVersion: 1 }).thenThrows({ code: 'not_found' });
 *   given([created]).when(samePatch).thenNothing();
 *
 * (`thenEmits` rather than Emmett's `then`: an object with a `then` method is a thenable, and
 * an accidental `await` would call it.)
 *
 * `given` takes the stream's history: events (each becomes one commit, versions 1, 2, …, at
 * GIVEN_TIME by GIVEN_AUTHOR) or whole commits `{ events, version?, timestamp?, author? }`
 * when the state depends on what the store stamped. It is folded with the decider's own
 * `evolve` from `initialState()`, so a spec also exercises evolve.
 */
import { expect } from 'vitest';
import type { CommitOf, Decider } from '../../shared/domain/decider';
import type { ErrorCode } from '../../shared/domain/errors';
import type { Author, NewEvent } from '../../shared/domain/events';

export const GIVEN_TIME = '2026-01-02T03:04:05.000Z';
export const GIVEN_AUTHOR: Author = { kind: 'user', userId: 'u_spec', email: 'spec@example.test' };

export type GivenCommit<E extends NewEvent> = { events: E[]; version?: number; timestamp?: string; author?: Author };
export type Given<E extends NewEvent> = E | GivenCommit<E>;

export interface Then<E extends NewEvent> {
  /** decide returns exactly these events. */
  thenEmits(expected: E[]): void;
  /** decide returns no events (the command changes nothing). */
  thenNothing(): void;
  /** decide throws: an AppError with this code (and message part), or an error `check` accepts. */
  thenThrows(expected: { code: ErrorCode; message?: string | RegExp } | ((error: unknown) => boolean)): void;
}

export interface When<C, E extends NewEvent, S> {
  when(command: C): Then<E>;
  /** The state the history folds to (to check evolve, or to call the decider's helpers). */
  state(): S;
}

export const DeciderSpecification = {
  for<C, E extends NewEvent, S>(decider: Decider<C, E, S>) {
    return (history: Given<E> | Given<E>[]): When<C, E, S> => {
      const fold = (items: Given<E>[]): S => {
        let s = decider.initialState();
        items.forEach((item, i) => {
          const c: CommitOf<E> =
            'events' in item
              ? {
                  version: item.version ?? i + 1,
                  timestamp: item.timestamp ?? GIVEN_TIME,
                  author: item.author ?? GIVEN_AUTHOR,
                  events: item.events,
                }
              : { version: i + 1, timestamp: GIVEN_TIME, author: GIVEN_AUTHOR, events: [item] };
          s = decider.evolve(s, c);
        });
        return s;
      };
      const state = fold(Array.isArray(history) ? history : [history]);
      return {
        when(command: C): Then<E> {
          return {
            thenEmits: (expected) => expect(decider.decide(command, state)).toEqual(expected),
            thenNothing: () => expect(decider.decide(command, state)).toEqual([]),
            thenThrows: (expected) => {
              let thrown: unknown;
              let threw = false;
              try {
                decider.decide(command, state);
              } catch (e) {
                thrown = e;
                threw = true;
              }
              expect(threw, 'decide should have thrown').toBe(true);
              if (typeof expected === 'function') {
                expect(expected(thrown), `unexpected error: ${String(thrown)}`).toBe(true);
                return;
              }
              expect(thrown).toMatchObject({ name: 'AppError', code: expected.code });
              if (expected.message !== undefined) expect((thrown as Error).message).toMatch(expected.message);
            },
          };
        },
        state: () => state,
      };
    };
  },
};
