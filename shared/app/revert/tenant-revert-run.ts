/**
 * One tenant-wide revert run's context and bookkeeping: what the walk (tenant-revert-walk.ts)
 * and the batch appends (tenant-revert-apply.ts) share, the counts and lists its result
 * reports, and how it tells its own reverts apart from someone else's changes.
 */
import type { Author } from '../../domain/events';
import type { Change } from '../../domain/json';
import type { RecordRevertedData, RecordState } from '../../domain/records';
import type { RevertCounts, RevertOutcome, RevertParameters } from '../../domain/revert';
import type { EventStore } from '../../ports/event-store';
import type { UserPrincipal } from '../auth/principal';
import type { CommandOptions } from '../request';
import type { TimeSlice } from '../yield';
import type { RevertDeps } from './context';

/** Diffs in a result's sample, and changes listed per sampled record. */
const SAMPLES = 20;
const SAMPLE_CHANGES = 50;
/** Conflicts and refused records listed in a result (all are counted). */
const LISTED = 100;
const LISTED_ERRORS = 10;
/** Commits read per step when looking for this run's own revert of a record. */
const LOOK_BACK = 20;

export interface RevertSample {
  type: string;
  id: string;
  outcome: RevertOutcome;
  changes: Change[];
}
export interface RevertConflict {
  type: string;
  id: string;
  version: number;
  updatedAt: string;
  updatedBy: Author;
}
export interface RevertInvalid {
  type: string;
  id: string;
  errors: Array<{ path: string; message: string }>;
}

/** What a run has found so far: every record counted, a few of each kind listed. */
export interface RevertTallies {
  counts: RevertCounts;
  samples: RevertSample[];
  conflicts: RevertConflict[];
  invalid: RevertInvalid[];
}

export class RevertTally {
  private readonly counts: RevertCounts = { examined: 0, changed: 0, restored: 0, deleted: 0, unchanged: 0, conflicts: 0, invalid: 0 };
  private readonly samples: RevertSample[] = [];
  private readonly conflicts: RevertConflict[] = [];
  private readonly invalid: RevertInvalid[] = [];

  get examined(): number {
    return this.counts.examined;
  }

  examine(): void {
    this.counts.examined++;
  }

  unchanged(): void {
    this.counts.unchanged++;
  }

  /** A record reverted (by this run: now, or before an interruption). */
  reverted(type: string, id: string, e: RecordRevertedData): void {
    this.counts[e.outcome]++;
    if (this.samples.length < SAMPLES) this.samples.push({ type, id, outcome: e.outcome, changes: e.changes.slice(0, SAMPLE_CHANGES) });
  }

  /** A record someone else changed after the run started: left alone. */
  conflict(current: RecordState): void {
    this.counts.conflicts++;
    if (this.conflicts.length < LISTED)
      this.conflicts.push({
        type: current.type,
        id: current.id,
        version: current.version,
        updatedAt: current.updatedAt,
        updatedBy: current.updatedBy,
      });
  }

  /** A record whose state at asOf the current schema refuses: left alone. */
  refused(type: string, id: string, errors: Array<{ path: string; message: string }>): void {
    this.counts.invalid++;
    if (this.invalid.length < LISTED) this.invalid.push({ type, id, errors: errors.slice(0, LISTED_ERRORS) });
  }

  /** The counts (a copy) and the lists. */
  tallies(): RevertTallies {
    return { counts: { ...this.counts }, samples: this.samples, conflicts: this.conflicts, invalid: this.invalid };
  }
}

/** A run (not a dry run) under way: its journal's operation id and the instant its start commit was stamped. */
export interface RevertOperationRun {
  id: string;
  startedAtMs: number;
}

/** What the walk and the appends of one run share. */
export interface RevertRun {
  d: RevertDeps;
  p: UserPrincipal;
  events: EventStore;
  parameters: RevertParameters;
  asOf: Date;
  /** Absent for a dry run (nothing is written). */
  operation?: RevertOperationRun | undefined;
  meta: { author: Author; correlationId: string };
  options: CommandOptions;
  signal: { abortSignal?: AbortSignal };
  slice: TimeSlice;
  tally: RevertTally;
}

/** A record changed after the run started: this run's own revert (counted), or someone else's change (a conflict). */
export async function changedSinceStart(
  run: RevertRun,
  operation: RevertOperationRun,
  streamId: string,
  current: RecordState,
): Promise<void> {
  const ours = await revertedByThisRun(run, operation, streamId);
  if (ours) run.tally.reverted(current.type, current.id, ours);
  else run.tally.conflict(current);
}

/** This run's RecordReverted event in the record's commits since the start, newest first. */
async function revertedByThisRun(run: RevertRun, operation: RevertOperationRun, streamId: string): Promise<RecordRevertedData | undefined> {
  let from: number | undefined;
  for (;;) {
    const page = await run.events.readStream(streamId, {
      direction: 'backward',
      ...(from !== undefined ? { fromVersion: from } : {}),
      maxCount: LOOK_BACK,
      ...run.signal,
    });
    for (const c of page) {
      if (Date.parse(c.timestamp) < operation.startedAtMs) return undefined;
      for (const e of c.events) {
        const data = e.data as RecordRevertedData;
        if (e.type === 'RecordReverted' && data.operationId === operation.id) return data;
      }
    }
    const last = page.at(-1);
    if (page.length < LOOK_BACK || !last || last.version <= 1) return undefined;
    from = last.version - 1;
  }
}
