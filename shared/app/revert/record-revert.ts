/**
 * Reverting one record to its state at an instant (POST …/records/{type}/{id}/revert): read the
 * record's state at `asOf` from its log, let the revert decider (shared/domain/revert.ts) plan
 * the one RecordReverted event, check the data it restores against the type's current schema,
 * and append it through handleCommand with the client's If-Match. Projected inline, like every
 * record command, so lists show it at once.
 */
import { AppError } from '../../domain/errors';
import type { Change } from '../../domain/json';
import { assertRecordId, type RecordRevertedData, type RecordState, recordStreamId, SCHEMA_UNCHECKED } from '../../domain/records';
import { type RevertCommand, revertDataToCheck, revertDecider, type RevertOutcome } from '../../domain/revert';
import type { EventStore } from '../../ports/event-store';
import { requirePermission, type UserPrincipal } from '../auth/principal';
import { handleCommand } from '../command-handling/handle-command';
import { ignoreErased, sealingFor } from '../erasure/sealing';
import { loadRecord, loadRecordVersion } from '../record-reader';
import { type RecordDto, toDto } from '../records';
import { author, projectInline } from '../records/context';
import type { RecordRef } from '../records/inputs';
import type { CommandOptions } from '../request';
import type { SchemaHandle } from '../type-schemas';
import { assertPast, type RevertDeps } from './context';

export interface RecordRevertInput extends RecordRef {
  /** The instant to go back to (in the past). */
  asOf: Date;
  reason?: string | undefined;
  /** The version the client read (If-Match); required. */
  ifMatch?: number | undefined;
}

export interface RecordRevertResult {
  /** What the revert did; `unchanged`: the record already was as at asOf, nothing was appended. */
  outcome: RevertOutcome | 'unchanged';
  asOf: string;
  /** The record's version now (its ETag). */
  version: number;
  /** The record now; absent when the revert deleted it (or it stays deleted). */
  record?: RecordDto;
  /** Every field's old and new value (empty when nothing changed). */
  changes: Change[];
  /** True when an earlier request with the same Idempotency-Key is the answer. */
  replayed: boolean;
}

export async function revertRecord(
  d: RevertDeps,
  p: UserPrincipal,
  input: RecordRevertInput,
  options: CommandOptions,
): Promise<RecordRevertResult> {
  requirePermission(p, 'write');
  assertPast(input.asOf, d.clock);
  const { type, id, ifMatch } = input;
  const idem = options.idempotency;
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  return d.stores.use(
    p.tenantId,
    async (s) => {
      const { events } = s;
      const { def, schema } = await d.records.types.requireType(p.tenantId, events, type);
      // Personal values of the restored data are sealed under their subject's key (issue 14).
      const sealing = sealingFor(d.records, events, def.schema);
      assertRecordId(id);
      const streamId = recordStreamId(type, id);
      const asOf = input.asOf.toISOString();
      const r = await handleCommand(
        sealing?.events ?? events,
        streamId,
        revertDecider,
        async (state): Promise<RevertCommand> => {
          // The record's state at asOf, from its log (snapshot + tail); none when it did not exist yet.
          const target = state ? await loadRecord(events, streamId, input.asOf) : undefined;
          const cmd: RevertCommand = {
            kind: 'revert',
            asOf,
            ...(input.reason !== undefined ? { reason: input.reason } : {}),
            target,
            expectedVersion: ifMatch,
            schemaCheck: SCHEMA_UNCHECKED,
          };
          return withSchemaCheck(d, p.tenantId, schema, state, cmd);
        },
        {
          meta: { author: author(p), correlationId: options.correlationId },
          ...(idem ? { idempotency: idem } : {}),
          ...signal,
          load: async (store, sid, o) => {
            const loaded = await loadRecordVersion(store, sid, o);
            sealing?.loaded(loaded.state);
            return loaded;
          },
          onConflict: () => new AppError('precondition_failed', 'The record was changed concurrently; reload it and retry.'),
        },
      );
      if (r.commit) await projectInline(d.records, events, await s.projections(), r.commit);
      const state = r.state;
      if (!state) throw new Error('record state missing after a revert');
      const reverted = r.replayed && idem ? await earlierRevert(events, streamId, idem.key) : (r.newEvents[0]?.data as RecordRevertedData);
      return {
        outcome: reverted?.outcome ?? 'unchanged',
        asOf: reverted?.asOf ?? asOf,
        version: state.version,
        ...(state.deleted ? {} : { record: toDto(state) }),
        changes: reverted?.changes ?? [],
        replayed: r.replayed,
      };
    },
    signal,
  );
}

/** The RecordReverted event of the commit that carried this Idempotency-Key (for a replayed answer). */
async function earlierRevert(events: EventStore, streamId: string, key: string): Promise<RecordRevertedData | undefined> {
  const c = await events.findByIdempotencyKey(streamId, key);
  const e = c?.events.find((x) => x.type === 'RecordReverted');
  return e?.data as RecordRevertedData | undefined;
}

/** Runs the schema check the decider needs (the data the revert restores), if any, and puts its outcome in. */
export async function withSchemaCheck(
  d: RevertDeps,
  tenantId: string,
  schema: SchemaHandle,
  state: RecordState | undefined,
  cmd: RevertCommand,
): Promise<RevertCommand> {
  const data = revertDataToCheck(state, cmd);
  if (data === undefined) return cmd;
  // Erased personal values (the marker) do not fail the check (issue 14).
  return { ...cmd, schemaCheck: ignoreErased(await d.records.schemas.check(tenantId, schema, data), data) };
}
