/**
 * The shape every aggregate's rules take (record, type set, user, tenant): a pure decider.
 *
 * - `decide(command, state)` holds every rule: it returns the events the command produces
 *   (an empty list when it changes nothing) or throws an AppError (shared/domain/errors.ts).
 * - `evolve(state, commit)` folds one stored commit into the state. It gets the whole commit
 *   because states carry what the store stamped (version, server time, author).
 * - `initialState()` is the state of a stream that does not exist yet.
 *
 * Deciders never read the clock, generate ids or do I/O: whatever they need (ids, the outcome
 * of an async check such as schema validation) comes in the command. The application runs
 * them through `handleCommand` (shared/app/command-handling/handle-command.ts); tests run them
 * through `DeciderSpecification` (test/support/decider-specification.ts).
 */
import type { Commit, NewEvent } from './events';

/** What `evolve` sees of a commit: its events and what the store stamped on it. */
export type CommitOf<E extends NewEvent = NewEvent> = Pick<Commit, 'version' | 'timestamp' | 'author'> & { events: readonly E[] };

export interface Decider<Command, Event extends NewEvent, State> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, commit: CommitOf<Event>): State;
  initialState(): State;
}
