import { evolveRecord, type RecordState } from '../domain/records';
import type { EventStore } from '../ports/event-store';

/** Commits replayed on top of a snapshot before a new snapshot is written. */
export const SNAPSHOT_EVERY = 50;

/**
 * A record's state from its log: the newest snapshot (at or before `until`) plus the commits
 * after it. Reads that had to replay SNAPSHOT_EVERY or more commits leave a snapshot behind,
 * so current-state and `asOf` reads stay bounded however long the history grows.
 */
export async function loadRecord(events: EventStore, streamId: string, until?: Date): Promise<RecordState | undefined> {
  const snap = await events.readSnapshot(streamId, until ? { until } : {});
  let state = snap?.state as RecordState | undefined;
  const commits = await events.readStream(streamId, { fromVersion: (snap?.version ?? 0) + 1, ...(until ? { until } : {}) });
  for (const c of commits) state = evolveRecord(state, c);
  if (state && commits.length >= SNAPSHOT_EVERY) {
    const last = commits.at(-1)!;
    try {
      await events.writeSnapshot(streamId, { version: last.version, timestamp: last.timestamp, state });
    } catch {
      // Best effort: a missing snapshot only makes the next read replay more.
    }
  }
  return state;
}
