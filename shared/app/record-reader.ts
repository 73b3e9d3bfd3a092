import type { Commit } from '../domain/events';
import { evolveRecord, type RecordState } from '../domain/records';
import type { EventStore } from '../ports/event-store';
import { TimeSlice } from './yield';
import type { OperationOptions } from '../ports/options';

/** Commits replayed on top of a snapshot before a new snapshot is written. */
export const SNAPSHOT_EVERY = 50;

/** Commits per store read while replaying a stream (1–5 ms of work on the embedded store here). */
export const READ_PAGE = 100;

/**
 * A long replay also leaves a snapshot every this many commits on its way, so a read that
 * runs at the same time, is retried, or asks for an earlier instant starts close by.
 */
export const SNAPSHOT_DURING_REPLAY = 10_000;

/**
 * The commits of a stream in pages of {@link READ_PAGE}, from `fromVersion` (default 1) up to
 * `toVersion` and/or the last commit at or before `until`. Between pages it yields to the
 * event loop once the current time slice is used up, so replaying a stream of any length
 * never holds the loop longer than about one slice plus one page.
 */
export async function* readStreamPages(
  events: EventStore,
  streamId: string,
  range: { fromVersion?: number; toVersion?: number; until?: Date } & OperationOptions = {},
  slice: TimeSlice = new TimeSlice(),
): AsyncGenerator<Commit[]> {
  const signal = range.abortSignal ? { abortSignal: range.abortSignal } : {};
  let from = range.fromVersion ?? 1;
  for (;;) {
    const max = range.toVersion !== undefined ? Math.min(READ_PAGE, range.toVersion - from + 1) : READ_PAGE;
    if (max <= 0) return;
    const page = await events.readStream(streamId, {
      fromVersion: from,
      maxCount: max,
      ...(range.until ? { until: range.until } : {}),
      ...signal,
    });
    if (page.length > 0) yield page;
    if (page.length < max) return;
    from = page.at(-1)!.version + 1;
    await slice.maybeYield();
  }
}

/** A record's state folded from versions 1..`version` of its log (no snapshot), in yielding pages. */
export async function replayRecordTo(
  events: EventStore,
  streamId: string,
  version: number,
  slice?: TimeSlice,
  options: OperationOptions = {},
): Promise<RecordState | undefined> {
  let state: RecordState | undefined;
  for await (const page of readStreamPages(events, streamId, { toVersion: version, ...signalOf(options) }, slice)) {
    for (const c of page) state = evolveRecord(state, c);
  }
  return state;
}

/**
 * A record's state from its log: the newest snapshot (at or before `until`) plus the commits
 * after it. Reads that had to replay SNAPSHOT_EVERY or more commits leave a snapshot behind,
 * so current-state and `asOf` reads stay bounded however long the history grows. The replay
 * reads in pages and yields between them (see {@link readStreamPages}); a very long replay
 * also leaves snapshots on its way ({@link SNAPSHOT_DURING_REPLAY}).
 */
export async function loadRecord(
  events: EventStore,
  streamId: string,
  until?: Date,
  options: { slice?: TimeSlice; snapshotDuringReplay?: number } & OperationOptions = {},
): Promise<RecordState | undefined> {
  const during = options.snapshotDuringReplay ?? SNAPSHOT_DURING_REPLAY;
  const signal = signalOf(options);
  const snap = await events.readSnapshot(streamId, { ...(until ? { until } : {}), ...signal });
  let state = snap?.state as RecordState | undefined;
  let last: Commit | undefined;
  let replayed = 0;
  let sinceSnapshot = 0;
  const take = async (page: Commit[]) => {
    for (const c of page) state = evolveRecord(state, c);
    last = page.at(-1) ?? last;
    replayed += page.length;
    sinceSnapshot += page.length;
    if (sinceSnapshot >= during && state && last) {
      sinceSnapshot = 0;
      await leaveSnapshot(events, streamId, state, last);
    }
  };
  // The first page read directly: a record read from a current snapshot needs no more (the
  // paged, yielding reader below is for long tails).
  const from = (snap?.version ?? 0) + 1;
  const first = await events.readStream(streamId, { fromVersion: from, maxCount: READ_PAGE, ...(until ? { until } : {}), ...signal });
  await take(first);
  if (first.length === READ_PAGE) {
    const slice = options.slice ?? new TimeSlice();
    await slice.maybeYield();
    for await (const page of readStreamPages(
      events,
      streamId,
      { fromVersion: first.at(-1)!.version + 1, ...(until ? { until } : {}), ...signal },
      slice,
    ))
      await take(page);
  }
  if (state && last && replayed >= SNAPSHOT_EVERY && sinceSnapshot > 0) await leaveSnapshot(events, streamId, state, last);
  return state;
}

/** The record's state (from its newest snapshot on) and the stream version it is at: handleCommand's `load` for record commands. */
export async function loadRecordVersion(
  events: EventStore,
  streamId: string,
  options: OperationOptions = {},
): Promise<{ state: RecordState | undefined; version: number }> {
  const state = await loadRecord(events, streamId, undefined, signalOf(options));
  return { state, version: state?.version ?? 0 };
}

/** Only the abort signal of an options bag (the rest is not for the store). */
export function signalOf(options: OperationOptions): OperationOptions {
  return options.abortSignal ? { abortSignal: options.abortSignal } : {};
}

async function leaveSnapshot(events: EventStore, streamId: string, state: RecordState, at: Commit): Promise<void> {
  try {
    await events.writeSnapshot(streamId, { version: at.version, timestamp: at.timestamp, state });
  } catch {
    // Best effort: a missing snapshot only makes the next read replay more.
  }
}
