/**
 * The batch form of handleCommand: commands to several streams of one store, read → decide
 * each → ONE `appendMany` (one transaction, one fsync where the store has it), each commit
 * checked against the version its command was decided on.
 *
 *   const { outcomes } = await handleCommands(events, recordDecider, [
 *     { streamId: 'record:item:1', command: c1 },
 *     { streamId: 'record:item:2', command: c2, loaded: { state, version } },
 *   ], { meta });
 *   // outcomes[i]: { ok: true, result } (as handleCommand's) or { ok: false, error } (an AppError)
 *
 * Per command, as in handleCommand: load (its `loaded` state and version if given, else
 * `options.load`, else fold the stream), its Idempotency-Key's earlier commit is the answer
 * (`replayed`; 422 for another request with the same key), decide; no events: nothing to
 * append. Then every command that decided events goes in one `appendMany`.
 *
 * Lost race: if any commit of the batch is stale the store writes none of them
 * (WrongExpectedVersionError), and the commands that were to be appended go one by one
 * through handleCommand, in order, with the same options, Idempotency-Key and `loaded`
 * state: each either appends, replays the commit its key already made (a concurrent retry),
 * or gets `options.onConflict` (default 409) as its outcome. The same one-by-one path serves
 * stores without `appendMany` and batches with fewer than two commits to append.
 *
 * Outcomes are in the order of the commands. A command's AppError (decide's refusals, a
 * reused key, a lost race) is its outcome and the others go on; any other error (the store
 * failing) is thrown: in the one-by-one path the commands before it stay appended.
 * At most one command per stream.
 */
import type { Decider } from '../../domain/decider';
import { type AppError, isAppError, isWrongExpectedVersion } from '../../domain/errors';
import type { Commit, Idempotency, NewEvent } from '../../domain/events';
import type { AppendResult, BatchAppend, EventStore } from '../../ports/event-store';
import type { OperationOptions } from '../../ports/options';
import {
  type CommandInput,
  type CommandResult,
  foldStream,
  type HandleCommandOptions,
  handleCommand,
  type Loaded,
  replayedAnswer,
} from './handle-command';

/** One command of a batch. */
export interface BatchCommand<Command, State> {
  streamId: string;
  command: CommandInput<Command, State>;
  /**
   * The stream's state and version already read: the command is decided on it and its version
   * is the expected version, in the batch and in the one-by-one path (default: `options.load`).
   */
  loaded?: Loaded<State>;
  /** This command's Idempotency-Key and request hash. */
  idempotency?: Idempotency;
}

/** handleCommand's options that apply to every command of a batch (an append is not wrapped: one appendMany serves all). */
export type HandleCommandsOptions<State, Event extends NewEvent> = Omit<HandleCommandOptions<State, Event>, 'idempotency' | 'aroundAppend'>;

export type BatchOutcome<State, Event extends NewEvent> =
  | { ok: true; result: CommandResult<State, Event> }
  | { ok: false; error: AppError };

export interface BatchResult<State, Event extends NewEvent> {
  /** One per command, in their order. */
  outcomes: Array<BatchOutcome<State, Event>>;
  /** True when the commits were appended in one appendMany; false when they went one by one (or there were none). */
  batched: boolean;
}

/** A command decided, waiting for the batch's append. */
interface Decided<Command, State, Event extends NewEvent> {
  index: number;
  item: BatchCommand<Command, State>;
  state: State;
  version: number;
  events: Event[];
}

export async function handleCommands<Command, Event extends NewEvent, State>(
  events: EventStore,
  decider: Decider<Command, Event, State>,
  commands: ReadonlyArray<BatchCommand<Command, State>>,
  options: HandleCommandsOptions<State, Event>,
): Promise<BatchResult<State, Event>> {
  if (new Set(commands.map((c) => c.streamId)).size !== commands.length) throw new Error('handleCommands takes one command per stream');
  options.abortSignal?.throwIfAborted();
  const signal: OperationOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const outcomes: Array<BatchOutcome<State, Event> | undefined> = commands.map(() => undefined);
  const decided: Array<Decided<Command, State, Event>> = [];
  for (const [index, item] of commands.entries()) {
    try {
      const d = await decideOne(events, decider, item, options, signal);
      if ('result' in d) outcomes[index] = { ok: true, result: d.result };
      else decided.push({ index, item, ...d });
    } catch (e) {
      if (!isAppError(e)) throw e;
      outcomes[index] = { ok: false, error: e };
    }
  }
  const appended = await appendTogether(events, decider, decided, options, signal);
  if (appended) {
    for (const [i, d] of decided.entries()) outcomes[d.index] = { ok: true, result: appended[i]! };
  } else {
    for (const d of decided) outcomes[d.index] = await oneByOne(events, decider, d.item, options);
  }
  return { outcomes: outcomes.map((o) => o!), batched: appended !== undefined };
}

/** One command through handleCommand (the lost-race path), with its key and its `loaded` state; its AppError is its outcome. */
async function oneByOne<Command, Event extends NewEvent, State>(
  events: EventStore,
  decider: Decider<Command, Event, State>,
  item: BatchCommand<Command, State>,
  options: HandleCommandsOptions<State, Event>,
): Promise<BatchOutcome<State, Event>> {
  const loaded = item.loaded;
  try {
    const result = await handleCommand(events, item.streamId, decider, item.command, {
      ...options,
      ...(item.idempotency ? { idempotency: item.idempotency } : {}),
      ...(loaded ? { load: async () => loaded } : {}),
    });
    return { ok: true, result };
  } catch (e) {
    if (!isAppError(e)) throw e;
    return { ok: false, error: e };
  }
}

/** One command read and decided: its answer already (a no-op or a replay), or the events to append. */
async function decideOne<Command, Event extends NewEvent, State>(
  events: EventStore,
  decider: Decider<Command, Event, State>,
  item: BatchCommand<Command, State>,
  options: HandleCommandsOptions<State, Event>,
  signal: OperationOptions,
): Promise<{ result: CommandResult<State, Event> } | { state: State; version: number; events: Event[] }> {
  const { state, version } =
    item.loaded ??
    (options.load
      ? await options.load(events, item.streamId, signal)
      : await foldStream(events, item.streamId, decider, undefined, signal));
  if (item.idempotency) {
    const earlier = await replayedAnswer(events, item.streamId, decider, item.idempotency, options, signal);
    if (earlier) return { result: earlier };
  }
  const command = item.command;
  const cmd =
    typeof command === 'function' ? await (command as (s: State, v: number) => Command | Promise<Command>)(state, version) : command;
  const out = decider.decide(cmd, state);
  if (out.length === 0) return { result: { state, version, newEvents: [], replayed: false } };
  return { state, version, events: out };
}

/** The decided commands' commits in one appendMany; undefined when the store cannot, there are fewer than two, or one lost a race (nothing written). */
async function appendTogether<Command, Event extends NewEvent, State>(
  events: EventStore,
  decider: Decider<Command, Event, State>,
  decided: Array<Decided<Command, State, Event>>,
  options: HandleCommandsOptions<State, Event>,
  signal: OperationOptions,
): Promise<Array<CommandResult<State, Event>> | undefined> {
  if (decided.length < 2 || !events.appendMany) return undefined;
  const metas = decided.map((d) => ({ ...options.meta, ...(d.item.idempotency ? { idempotency: d.item.idempotency } : {}) }));
  const batch: BatchAppend[] = decided.map((d, i) => ({
    streamId: d.item.streamId,
    expectedVersion: d.version,
    events: d.events,
    meta: metas[i]!,
  }));
  let results: AppendResult[];
  try {
    results = await events.appendMany(batch, signal);
  } catch (e) {
    if (isWrongExpectedVersion(e)) return undefined;
    throw e;
  }
  return decided.map((d, i) => {
    const r = results[i]!;
    const commit: Commit = {
      tenantId: events.tenantId,
      streamId: d.item.streamId,
      version: r.version,
      timestamp: r.timestamp,
      ...metas[i]!,
      events: d.events,
    };
    return {
      state: decider.evolve(d.state, commit as Commit & { events: Event[] }),
      version: r.version,
      commit,
      newEvents: d.events,
      replayed: false,
    };
  });
}
