/**
 * Record states carried through a projector run, folded from the feed's own commits, and the
 * snapshots such a fold leaves (shared/app/projector.ts).
 */
import type { Commit } from '../domain/events';
import { evolveRecord, type RecordState } from '../domain/records';
import type { EventStore } from '../ports/event-store';
import { SNAPSHOT_EVERY } from './record-reader';

/**
 * Record states one projector run carries from page to page, so a catch-up folds each commit
 * once instead of re-reading every touched record from the log on every page. The commits
 * come from the same log (the feed) that a re-read would return, in version order; a batch
 * that does not continue a carried state exactly (a gap, a duplicate, a state not held) is
 * re-read from the log as before. Bounded: past {@link CARRY_LIMIT} states it starts over.
 * Lives for one run (or one rebuild or restore, which run the projector page by page) only:
 * nothing outlives it in memory.
 */
export class StateCarry {
  private readonly states = new Map<string, RecordState>();
  get(streamId: string): RecordState | undefined {
    return this.states.get(streamId);
  }
  set(streamId: string, state: RecordState): void {
    if (this.states.size >= CARRY_LIMIT && !this.states.has(streamId)) this.states.clear();
    this.states.set(streamId, state);
  }
}

/** Best effort, like every snapshot: a missing one only makes the next read replay more. */
export async function leaveSnapshot(events: EventStore, streamId: string, state: RecordState, timestamp: string): Promise<void> {
  try {
    await events.writeSnapshot(streamId, { version: state.version, timestamp, state });
  } catch {
    // See above.
  }
}

/** Record states carried per projector run at most. */
const CARRY_LIMIT = 10_000;

/**
 * The state after `list` (one stream's commits of a batch, in feed order) when they continue
 * `from` without a gap: from version 1, or from `from`'s version + 1. Undefined otherwise (the
 * caller reads the log). With it, the state at the last version in the batch that is a multiple
 * of SNAPSHOT_EVERY, if any: where the command path keeps its snapshots (same version, so writing
 * it again is a no-op on the embedded store and a rewrite on Cosmos).
 */
export function foldBatch(
  from: RecordState | undefined,
  list: Commit[],
): { state: RecordState; snapshot?: { state: RecordState; timestamp: string } } | undefined {
  const first = list[0]!;
  if (first.version !== 1 && from?.version !== first.version - 1) return undefined;
  let state = first.version === 1 ? undefined : from;
  let expected = first.version;
  let snapshot: { state: RecordState; timestamp: string } | undefined;
  for (const c of list) {
    if (c.version !== expected) return undefined;
    state = evolveRecord(state, c);
    if (state && c.version % SNAPSHOT_EVERY === 0) snapshot = { state, timestamp: c.timestamp };
    expected++;
  }
  return state ? { state, ...(snapshot ? { snapshot } : {}) } : undefined;
}
