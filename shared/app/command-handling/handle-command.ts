/**
 * The one path every command takes: read the stream → evolve its state → decide → append
 * with the expected version. Modelled on Emmett's `handleCommand`
 * (event-driven-io/emmett, src/packages/emmett/src/commandHandling/handleCommand.ts).
 *
 *   const r = await handleCommand(events, streamId, recordDecider, command, {
 *     meta: { author, correlationId }, idempotency, onConflict: () => conflict('…'),
 *   });
 *   // r.state: the state after the command; r.commit: what was appended (absent when
 *   // nothing was: a no-op command or a replay); r.replayed: answered from an earlier commit.
 *
 * One attempt:
 * 1. Load: fold the stream with `decider.evolve` (or `options.load`, e.g. a snapshot-aware
 *    reader or a cache) into `{ state, version }`.
 * 2. Idempotency-Key: if a commit of this stream already carried the key, the command is not
 *    decided again: the answer is the state right after that commit (`replayed: true`). The
 *    same key with another request (by `requestHash`, or `options.isSameRequest`) is 422.
 *    Checked after loading, so a retry racing its first attempt either sees that commit here
 *    or loses the append below and finds it then.
 * 3. Decide: `command` is the command itself, or a function building it from the loaded state
 *    (for async inputs the decider needs, such as a schema-check outcome). No events: nothing
 *    is appended (`commit` absent).
 * 4. Append with the loaded version as the expected version, `meta` and the Idempotency-Key.
 *    `options.aroundAppend` may wrap the append (e.g. a guard on another stream).
 *
 * On a concurrent change (WrongExpectedVersionError) it tries again from 1. while
 * `options.retries` allows (default 0: commands checked with If-Match do not retry); then,
 * with an Idempotency-Key, an earlier commit carrying the key is the answer; else it throws
 * `options.onConflict(expectedVersion)` (the caller's 409/412 wording). Any other error passes
 * through unchanged; decide's AppErrors reach the caller as they are.
 */
import { type AppError, conflict, isWrongExpectedVersion, unprocessable } from '../../domain/errors';
import type { Author, Commit, Idempotency, NewEvent } from '../../domain/events';
import type { Decider } from '../../domain/decider';
import type { AppendResult, EventStore } from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import { readStreamPages } from '../record-reader';

export interface HandleCommandOptions<State, Event extends NewEvent> {
  /** Stored with the commit (the store adds the server time). */
  meta: { author: Author; correlationId: string };
  /** The command's Idempotency-Key and request hash: a retried command appends nothing new. */
  idempotency?: Idempotency;
  /** Reads the stream's current state and version (default: fold every commit with `evolve`); gets the command's abortSignal. */
  load?: (events: EventStore, streamId: string, options: OperationOptions) => Promise<Loaded<State>>;
  /** Re-reads and decides again this many times after losing a race (default 0). */
  retries?: number;
  /** The error for a lost race that is not retried; gets the version the append expected. */
  onConflict?: (expectedVersion: number) => AppError;
  /** Whether an earlier commit with the same key came from the same request (default: same requestHash). */
  isSameRequest?: (earlier: Commit, idempotency: Idempotency) => boolean | Promise<boolean>;
  /** Wraps the append, e.g. to update a guard stream first; must call `append` at most once. */
  aroundAppend?: (append: () => Promise<AppendResult>, change: Change<State, Event>) => Promise<AppendResult>;
  /** Stops before each attempt once aborted; passed to the store's append and Idempotency-Key lookup. */
  abortSignal?: AbortSignal;
}

export interface Loaded<State> {
  state: State;
  /** The stream's version (0: it does not exist). */
  version: number;
}

/** What one attempt is about to append. */
export interface Change<State, Event extends NewEvent> {
  before: State;
  /** `before` evolved with `events` (its commit's timestamp is not known yet: ''). */
  after: State;
  expectedVersion: number;
  events: Event[];
}

export interface CommandResult<State, Event extends NewEvent> {
  /** The state after the command (after the earlier commit, for a replay). */
  state: State;
  /** The stream's version that `state` is at. */
  version: number;
  /** The commit appended now; absent when the command changed nothing or was replayed. */
  commit?: Commit;
  /** The events appended now (empty for no-ops and replays). */
  newEvents: Event[];
  /** True when an earlier commit with the same Idempotency-Key is the answer. */
  replayed: boolean;
}

export type CommandInput<Command, State> = Command | ((state: State, version: number) => Command | Promise<Command>);

export async function handleCommand<Command, Event extends NewEvent, State>(
  events: EventStore,
  streamId: string,
  decider: Decider<Command, Event, State>,
  command: CommandInput<Command, State>,
  options: HandleCommandOptions<State, Event>,
): Promise<CommandResult<State, Event>> {
  const load = options.load ?? ((store: EventStore, id: string, o: OperationOptions) => foldStream(store, id, decider, undefined, o));
  const retries = options.retries ?? 0;
  const idem = options.idempotency;
  const meta = { ...options.meta, ...(idem ? { idempotency: idem } : {}) };
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  for (let attempt = 0; ; attempt++) {
    options.abortSignal?.throwIfAborted();
    const { state, version } = await load(events, streamId, signal);
    if (idem) {
      const earlier = await replayedAnswer(events, streamId, decider, idem, options, signal);
      if (earlier) return earlier;
    }
    const cmd =
      typeof command === 'function' ? await (command as (s: State, v: number) => Command | Promise<Command>)(state, version) : command;
    const out = decider.decide(cmd, state);
    if (out.length === 0) return { state, version, newEvents: [], replayed: false };
    const append = () => events.append(streamId, version, out, meta, signal);
    let r: AppendResult;
    try {
      r = options.aroundAppend ? await options.aroundAppend(append, change(decider, state, version, out, meta.author)) : await append();
    } catch (e) {
      if (!isWrongExpectedVersion(e)) throw e;
      if (attempt < retries) continue;
      if (idem) {
        const earlier = await replayedAnswer(events, streamId, decider, idem, options, signal);
        if (earlier) return earlier;
      }
      throw options.onConflict?.(version) ?? conflict('The data was changed concurrently; reload it and retry.');
    }
    const commit: Commit = { tenantId: events.tenantId, streamId, version: r.version, timestamp: r.timestamp, ...meta, events: out };
    return {
      state: decider.evolve(state, commit as Commit & { events: Event[] }),
      version: r.version,
      commit,
      newEvents: out,
      replayed: false,
    };
  }
}

/** The change an attempt is about to append; `after` is evolved before the store stamps a time (timestamp ''). */
function change<State, Event extends NewEvent>(
  decider: Decider<unknown, Event, State>,
  before: State,
  expectedVersion: number,
  events: Event[],
  author: Author,
): Change<State, Event> {
  const after = decider.evolve(before, { version: expectedVersion + 1, timestamp: '', author, events });
  return { before, after, expectedVersion, events };
}

/** Every commit of the stream folded with `evolve`, read in yielding pages. */
export async function foldStream<State, Event extends NewEvent>(
  events: EventStore,
  streamId: string,
  decider: Pick<Decider<unknown, Event, State>, 'evolve' | 'initialState'>,
  toVersion?: number,
  options: OperationOptions = {},
): Promise<Loaded<State>> {
  let state = decider.initialState();
  let version = 0;
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  for await (const page of readStreamPages(events, streamId, { ...(toVersion !== undefined ? { toVersion } : {}), ...signal })) {
    for (const c of page) {
      state = decider.evolve(state, c as Commit & { events: Event[] });
      version = c.version;
    }
  }
  return { state, version };
}

/**
 * The answer of the earlier commit of this stream that carried this Idempotency-Key, if there
 * was one: the state right after it (`replayed: true`); 422 when the key came with another request.
 */
export async function replayedAnswer<State, Event extends NewEvent>(
  events: EventStore,
  streamId: string,
  decider: Decider<unknown, Event, State>,
  idem: Idempotency,
  options: Pick<HandleCommandOptions<State, Event>, 'isSameRequest'> = {},
  signal: OperationOptions = {},
): Promise<CommandResult<State, Event> | undefined> {
  const earlier = await events.findByIdempotencyKey(streamId, idem.key, signal);
  if (!earlier) return undefined;
  const same = options.isSameRequest ? await options.isSameRequest(earlier, idem) : earlier.idempotency?.requestHash === idem.requestHash;
  if (!same) throw unprocessable('This Idempotency-Key was already used with a different request.');
  const { state } = await foldStream(events, streamId, decider, earlier.version, signal);
  return { state, version: earlier.version, newEvents: [], replayed: true };
}
