/**
 * Record commands: create, patch, delete, and the file commands (attach, replace, detach).
 * Each goes through `handleCommand` with the record decider (shared/domain/records.ts), which
 * holds every rule; this module only checks the caller's role and the record's type, runs the
 * async schema check the decider asks for, and projects the commit inline.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AppError, conflict } from '../../domain/errors';
import type { Idempotency } from '../../domain/events';
import {
  assertRecordId,
  type RecordCommand,
  type RecordEvent,
  recordDataToCheck,
  recordDecider,
  type RecordState,
  recordStreamId,
  SCHEMA_UNCHECKED,
  type SchemaCheck,
} from '../../domain/records';
import { type CommandResult, handleCommand, replayedAnswer } from '../command-handling/handle-command';
import type { EventStore } from '../../ports/event-store';
import { loadRecordVersion, SNAPSHOT_EVERY } from '../record-reader';
import type { OperationOptions } from '../../ports/options';
import type { CommandOptions } from '../request';
import { TenantService, type UserPrincipal } from '../service';
import type { SchemaHandle } from '../type-schemas';
import { ignoreErased, sealingFor } from '../erasure/sealing';
import { author, projectInline, type RecordsContext } from './context';
import { type CommandOutcome, type RecordDto, toDto } from './dto';
import type { CreateRecordInput, DeleteRecordInput, FileCommandInput, PatchRecordInput, RecordRef } from './inputs';
import { withStores } from '../tenants/with-stores';

/** Read attempts of a file command without If-Match that lost a race (files do not conflict with data). */
const FILE_COMMAND_RETRIES = 4;

export async function createRecord(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: CreateRecordInput,
  options: CommandOptions,
): Promise<CommandOutcome> {
  const { type, data } = input;
  const idem = options.idempotency;
  const id = (tenantId: string) => (idem ? derivedId(tenantId, type, idem.key) : `r_${randomBytes(16).toString('base64url').slice(0, 22)}`);
  return run(ctx, p, { type, idOf: id, status: 201 }, options, {
    command: (recordId) => ({ kind: 'create', type, id: recordId, data: data as Record<string, unknown>, schemaCheck: SCHEMA_UNCHECKED }),
    // A new stream: nothing to read. An existing one fails the append (expected version 0).
    newStream: true,
    onConflict: () => conflict('This record already exists.'),
  });
}

export async function patchRecord(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: PatchRecordInput,
  options: CommandOptions,
): Promise<CommandOutcome> {
  const { type, id, patch, ifMatch } = input;
  return run(ctx, p, { type, idOf: () => id, status: 200 }, options, {
    command: () => ({ kind: 'patch', patch: patch as Record<string, unknown>, expectedVersion: ifMatch, schemaCheck: SCHEMA_UNCHECKED }),
    onConflict: () => new AppError('precondition_failed', 'The record was changed concurrently; reload it and retry.'),
  });
}

export async function deleteRecord(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: DeleteRecordInput,
  options: CommandOptions,
): Promise<CommandOutcome> {
  const { type, id, ifMatch } = input;
  return run(ctx, p, { type, idOf: () => id, status: 204 }, options, {
    command: () => ({ kind: 'delete', expectedVersion: ifMatch }),
    onConflict: () => new AppError('precondition_failed', 'The record was changed concurrently; reload it and retry.'),
  });
}

/**
 * Appends a file command (attach, replace, delete) to a record. With If-Match it is checked;
 * without, the command applies to whatever the current version is (files do not conflict
 * with data changes) and is retried if another writer got in first.
 */
export async function fileCommand(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: FileCommandInput,
  options: CommandOptions,
): Promise<{ record: RecordDto; state: RecordState; replayed: boolean }> {
  const { type, id, command } = input;
  const r = await run(ctx, p, { type, idOf: () => id, status: 200 }, options, {
    command: () => command,
    // A retry with the same key re-reads too: it then finds the commit of the attempt it raced.
    retries: command.expectedVersion === undefined || options.idempotency ? FILE_COMMAND_RETRIES : 0,
    onConflict: () => new AppError('precondition_failed', 'The record was changed concurrently; retry.'),
  });
  return { record: r.record, state: r.state, replayed: r.replayed };
}

/**
 * The record as the first file command with this Idempotency-Key left it, if there was one
 * (422 if the key came with another request). Lets an upload answer a retry before reading
 * its body.
 */
export async function fileReplay(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: RecordRef,
  options: OperationOptions & { idempotency: Idempotency },
): Promise<{ record: RecordDto; state: RecordState } | undefined> {
  TenantService.require(p, 'write');
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events }) => {
      assertRecordId(input.id);
      const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
      const earlier = await replayedAnswer(events, recordStreamId(input.type, input.id), recordDecider, options.idempotency, {}, signal);
      return earlier?.state ? { record: toDto(earlier.state), state: earlier.state } : undefined;
    },
    options,
  );
}

/** Which record a command is for, and the status it answers with when it changes something. */
interface Target {
  type: string;
  idOf: (tenantId: string) => string;
  status: CommandOutcome['status'];
}

interface RunSpec {
  command: (id: string) => RecordCommand;
  /** Create: the stream must not exist, so nothing is read (the append expects version 0). */
  newStream?: boolean;
  retries?: number;
  onConflict: () => AppError;
}

/** One record command through handleCommand: role, type, id, schema check, inline projection. */
async function run(
  ctx: RecordsContext,
  p: UserPrincipal,
  { type, idOf, status }: Target,
  options: CommandOptions,
  spec: RunSpec,
): Promise<CommandOutcome & { state: RecordState }> {
  TenantService.require(p, 'write');
  const idem = options.idempotency;
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events, projections }) => {
      const { def, schema } = await ctx.types.requireType(p.tenantId, events, type);
      const id = idOf(p.tenantId);
      assertRecordId(id);
      // Types with personal marks: values are sealed under their subject's key before the append (issue 14).
      const sealing = sealingFor(ctx, events, def.schema);
      const r: CommandResult<RecordState | undefined, RecordEvent> = await handleCommand(
        sealing?.events ?? events,
        recordStreamId(type, id),
        recordDecider,
        (state) => withSchemaCheck(ctx, p.tenantId, schema, state, spec.command(id)),
        {
          meta: { author: author(p), correlationId: options.correlationId },
          ...(idem ? { idempotency: idem } : {}),
          ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
          load: async (store, streamId, o) => {
            const loaded = spec.newStream ? { state: undefined, version: 0 } : await loadRecordVersion(store, streamId, o);
            sealing?.loaded(loaded.state);
            return loaded;
          },
          retries: spec.retries ?? 0,
          onConflict: spec.onConflict,
        },
      );
      if (r.commit) {
        // Types with sealed (personal) values: the state here is not what readers see, so the
        // snapshot is left to reads and the projection reads the record back.
        const plain = sealing ? undefined : r.state;
        await keepSnapshot(events, r.commit.streamId, plain, r.commit.timestamp);
        await projectInline(ctx, events, projections, r.commit, plain);
      }
      if (!r.state) throw new Error('record state missing after a command');
      // A command that changed nothing answers 200 with the record as it is.
      return { status: r.commit || r.replayed ? status : 200, record: toDto(r.state), replayed: r.replayed, state: r.state };
    },
    options,
  );
}

/**
 * Keeps the record's snapshot current on the write path: every SNAPSHOT_EVERY versions the
 * state after the command is stored, so no read, projection or restore-time rebuild replays more than that many commits
 * of a record written through commands. Best effort, like every snapshot.
 */
async function keepSnapshot(events: EventStore, streamId: string, state: RecordState | undefined, timestamp: string): Promise<void> {
  if (!state || state.version % SNAPSHOT_EVERY !== 0) return;
  try {
    await events.writeSnapshot(streamId, { version: state.version, timestamp, state });
  } catch {
    // A missing snapshot only makes the next read replay more.
  }
}

/** Runs the schema check the decider needs for this command (if any) and puts its outcome in. */
async function withSchemaCheck(
  ctx: RecordsContext,
  tenantId: string,
  schema: SchemaHandle,
  state: RecordState | undefined,
  cmd: RecordCommand,
): Promise<RecordCommand> {
  if (cmd.kind !== 'create' && cmd.kind !== 'patch') return cmd;
  const data = recordDataToCheck(state, cmd);
  if (data === undefined) return cmd;
  const schemaCheck: SchemaCheck = ignoreErased(await ctx.schemas.check(tenantId, schema, data), data);
  return { ...cmd, schemaCheck };
}

/** A retried create with the same Idempotency-Key targets the same record id. */
function derivedId(tenantId: string, type: string, key: string): string {
  return `r_${createHash('sha256').update(`${tenantId}\u0000${type}\u0000${key}`).digest('base64url').slice(0, 22)}`;
}
