/**
 * A record's state now and at the revert's instant, from ONE read of its log where possible.
 *
 * Timestamps never decrease within a stream, so the state at `asOf` is the fold of a prefix of
 * the commits the current state is folded from: when the newest snapshot is stamped at or
 * before `asOf` (or there is none), one pass over the snapshot's tail gives both states. Only
 * a record with a snapshot newer than `asOf` needs a second read (the newest snapshot at or
 * before `asOf` plus its tail), exactly what `loadRecord(…, asOf)` does. The results are the
 * same as `loadRecord(events, id)` and `loadRecord(events, id, asOf)`; the tenant-wide revert
 * read the log twice per record before.
 */
import { evolveRecord, type RecordState } from '../../domain/records';
import type { EventStore } from '../../ports/event-store';
import { loadRecord, readStreamPages, SNAPSHOT_EVERY } from '../record-reader';
import type { TimeSlice } from '../yield';

export interface RecordStates {
  /** The record as it is (undefined: no such stream). */
  current: RecordState | undefined;
  /** The record as it was at asOf (undefined: it did not exist yet). */
  target: RecordState | undefined;
}

export async function loadRecordNowAndAt(
  events: EventStore,
  streamId: string,
  asOf: Date,
  options: { slice?: TimeSlice; abortSignal?: AbortSignal } = {},
): Promise<RecordStates> {
  const asOfMs = asOf.getTime();
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const snap = await events.readSnapshot(streamId, signal);
  if (snap && Date.parse(snap.timestamp) > asOfMs) {
    const slice = options.slice ? { slice: options.slice } : {};
    return { current: await loadRecord(events, streamId, undefined, slice), target: await loadRecord(events, streamId, asOf, slice) };
  }
  let current = snap?.state as RecordState | undefined;
  let target = current;
  let replayed = 0;
  let last: { version: number; timestamp: string } | undefined;
  for await (const page of readStreamPages(events, streamId, { fromVersion: (snap?.version ?? 0) + 1 }, options.slice)) {
    for (const c of page) {
      current = evolveRecord(current, c);
      if (Date.parse(c.timestamp) <= asOfMs) target = current;
    }
    replayed += page.length;
    last = page.at(-1);
  }
  // Like loadRecord: a read that replayed many commits leaves a snapshot (best effort).
  if (current && last && replayed >= SNAPSHOT_EVERY) {
    try {
      await events.writeSnapshot(streamId, { version: last.version, timestamp: last.timestamp, state: current });
    } catch {
      // A missing snapshot only makes the next read replay more.
    }
  }
  return { current, target };
}
