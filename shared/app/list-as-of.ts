import { recordStreamId, type RecordState } from '../domain/records';
import type { EventStore } from '../ports/event-store';
import type { ProjectionStore } from '../ports/projection-store';
import { loadRecord } from './record-reader';
import { TimeSlice } from './yield';

/**
 * Records rebuilt as of the instant per request at most. A list whose filter matches few
 * records would otherwise rebuild every record of the type in one request; past this bound
 * the page ends early (possibly with no items) and its continuation resumes the scan.
 */
export const AS_OF_SCAN_PER_REQUEST = 1000;

/** Records read from the list view per scan step. */
const SCAN_BATCH = 100;

export interface AsOfPage {
  items: RecordState[];
  /** Id of the last record examined, when the scan has more to look at. */
  after?: string;
}

/**
 * One page of a type's records as of an instant: walks the list view in id order after
 * `after`, rebuilds each record at `asOf` from its log and keeps those `keep` accepts, until
 * `limit` are found, the type ends, or `maxExamined` records were rebuilt. It yields to the
 * event loop between records once its time slice is used up.
 */
export async function listRecordsAsOf(
  events: EventStore,
  projections: ProjectionStore,
  generation: number,
  q: { type: string; asOf: Date; limit: number; after?: string; maxExamined?: number },
  keep: (state: RecordState) => boolean,
): Promise<AsOfPage> {
  const maxExamined = Math.max(1, q.maxExamined ?? AS_OF_SCAN_PER_REQUEST);
  const slice = new TimeSlice();
  const items: RecordState[] = [];
  let after = q.after;
  let examined = 0;
  for (;;) {
    const batch = await projections.scanRecords(generation, {
      type: q.type,
      ...(after !== undefined ? { after: { type: q.type, id: after } } : {}),
      limit: SCAN_BATCH,
    });
    for (const [i, v] of batch.entries()) {
      after = v.id;
      examined++;
      const s = await loadRecord(events, recordStreamId(q.type, v.id), q.asOf, { slice });
      if (s && !s.deleted && keep(s)) {
        items.push(s);
        if (items.length === q.limit) return { items, after: v.id };
      }
      const endOfType = batch.length < SCAN_BATCH && i === batch.length - 1;
      if (examined >= maxExamined && !endOfType) return { items, after: v.id };
      await slice.maybeYield();
    }
    if (batch.length < SCAN_BATCH) return { items };
  }
}
