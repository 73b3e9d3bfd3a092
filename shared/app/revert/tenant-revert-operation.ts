/**
 * The operation id that journals a tenant-wide revert run (stream `revert-op:<operationId>`),
 * and what sending the same request again does. The id derives from the Idempotency-Key, or
 * for a request without one from the request itself, so the same request after a crash finds
 * the journal and resumes the run.
 */
import { createHash, randomBytes } from 'node:crypto';
import { revertOperationDecider, revertOperationStreamId } from '../../domain/revert';
import type { EventStore } from '../../ports/event-store';
import { foldStream } from '../command-handling/handle-command';

/** The operation id of a run: derived from the Idempotency-Key (so a retry resumes it), else random. */
export function revertOperationId(tenantId: string, key: string | undefined): string {
  const bytes = key === undefined ? randomBytes(16) : createHash('sha256').update(`revert\u0000${tenantId}\u0000${key}`).digest();
  return `op_${bytes.toString('base64url').slice(0, 22)}`;
}

/** Earlier runs of one request without Idempotency-Key looked through for an unfinished one. */
const UNKEYED_RUNS = 1_000;

/**
 * The operation id of a run without Idempotency-Key: that of the first run of this very
 * request (same asOf, types and reason: `requestHash`) whose journal is not finished. So the
 * same request sent again resumes an interrupted run; once that run has finished, the same
 * request starts the next one.
 */
export async function unkeyedRevertOperationId(events: EventStore, tenantId: string, requestHash: string): Promise<string> {
  for (let n = 0; n < UNKEYED_RUNS; n++) {
    const bytes = createHash('sha256').update(`revert-unkeyed\u0000${tenantId}\u0000${requestHash}\u0000${n}`).digest();
    const id = `op_${bytes.toString('base64url').slice(0, 22)}`;
    const { state } = await foldStream(events, revertOperationStreamId(id), revertOperationDecider);
    if (!state?.finished) return id;
  }
  return revertOperationId(tenantId, undefined);
}

/** What sending the same request again does (the `retry` of an answer). */
export function retryNote(dryRun: boolean, keyed: boolean): string {
  if (dryRun)
    return 'A dry run writes nothing. Run it with the same body without dryRun and with an Idempotency-Key: if the run is interrupted (crash, timeout, lost connection), the same request with the same key resumes it, and no record is reverted twice.';
  if (keyed)
    return 'The same request with the same Idempotency-Key answers this result again; had the run been interrupted, it would have resumed it.';
  return 'This run had no Idempotency-Key. The same request (same asOf, types and reason) sent while a run of it is unfinished resumes that run; once it has finished, as now, it starts a new run (records already as at asOf are left unchanged).';
}
