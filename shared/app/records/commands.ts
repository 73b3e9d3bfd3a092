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
import { type CommandResult, handleCommand, type Loaded, replayedAnswer } from '../command-handling/handle-command';
import type { EventStore } from '../../ports/event-store';
import { loadRecord } from '../record-reader';
import { type RequestInfo, TenantService, type UserPrincipal } from '../service';
import type { SchemaHandle } from '../type-schemas';
import { author, projectInline, type RecordsContext } from './context';
import { type CommandOutcome, type RecordDto, toDto } from './dto';

/** Read attempts of a file command without If-Match that lost a race (files do not conflict with data). */
const FILE_COMMAND_RETRIES = 4;

export async function createRecord(
  ctx: RecordsContext,
  p: UserPrincipal,
  type: string,
  data: unknown,
  idem: Idempotency | undefined,
  req: RequestInfo,
): Promise<CommandOutcome> {
  const id = (tenantId: string) => (idem ? derivedId(tenantId, type, idem.key) : `r_${randomBytes(16).toString('base64url').slice(0, 22)}`);
  return run(ctx, p, type, (t) => id(t), idem, req, 201, {
    command: (recordId) => ({ kind: 'create', type, id: recordId, data: data as Record<string, unknown>, schemaCheck: SCHEMA_UNCHECKED }),
    // A new stream: nothing to read. An existing one fails the append (expected version 0).
    newStream: true,
    onConflict: () => conflict('This record already exists.'),
  });
}

export async function patchRecord(
  ctx: RecordsContext,
  p: UserPrincipal,
  type: string,
  id: string,
  patch: unknown,
  ifMatch: number | undefined,
  idem: Idempotency | undefined,
  req: RequestInfo,
): Promise<CommandOutcome> {
  return run(ctx, p, type, () => id, idem, req, 200, {
    command: () => ({ kind: 'patch', patch: patch as Record<string, unknown>, expectedVersion: ifMatch, schemaCheck: SCHEMA_UNCHECKED }),
    onConflict: () => new AppError('precondition_failed', 'The record was changed concurrently; reload it and retry.'),
  });
}

export async function deleteRecord(
  ctx: RecordsContext,
  p: UserPrincipal,
  type: string,
  id: string,
  ifMatch: number | undefined,
  idem: Idempotency | undefined,
  req: RequestInfo,
): Promise<CommandOutcome> {
  return run(ctx, p, type, () => id, idem, req, 204, {
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
  type: string,
  id: string,
  cmd: Extract<RecordCommand, { kind: 'attachFile' | 'deleteFile' }>,
  req: RequestInfo,
  idem?: Idempotency,
): Promise<{ record: RecordDto; state: RecordState; replayed: boolean }> {
  const r = await run(ctx, p, type, () => id, idem, req, 200, {
    command: () => cmd,
    // A retry with the same key re-reads too: it then finds the commit of the attempt it raced.
    retries: cmd.expectedVersion === undefined || idem ? FILE_COMMAND_RETRIES : 0,
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
  type: string,
  id: string,
  idem: Idempotency,
): Promise<{ record: RecordDto; state: RecordState } | undefined> {
  TenantService.require(p, 'write');
  const { events } = await ctx.tenants.stores(p.tenantId);
  assertRecordId(id);
  const earlier = await replayedAnswer(events, recordStreamId(type, id), recordDecider, idem);
  return earlier?.state ? { record: toDto(earlier.state), state: earlier.state } : undefined;
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
  type: string,
  idOf: (tenantId: string) => string,
  idem: Idempotency | undefined,
  req: RequestInfo,
  status: CommandOutcome['status'],
  spec: RunSpec,
): Promise<CommandOutcome & { state: RecordState }> {
  TenantService.require(p, 'write');
  const { events, projections } = await ctx.tenants.stores(p.tenantId);
  const { schema } = await ctx.types.requireType(p.tenantId, events, type);
  const id = idOf(p.tenantId);
  assertRecordId(id);
  const r: CommandResult<RecordState | undefined, RecordEvent> = await handleCommand(
    events,
    recordStreamId(type, id),
    recordDecider,
    (state) => withSchemaCheck(ctx, p.tenantId, schema, state, spec.command(id)),
    {
      meta: { author: author(p), correlationId: req.correlationId },
      ...(idem ? { idempotency: idem } : {}),
      load: spec.newStream ? async () => ({ state: undefined, version: 0 }) : loadRecordVersion,
      retries: spec.retries ?? 0,
      onConflict: spec.onConflict,
    },
  );
  if (r.commit) await projectInline(ctx, events, projections, r.commit);
  if (!r.state) throw new Error('record state missing after a command');
  // A command that changed nothing answers 200 with the record as it is.
  return { status: r.commit || r.replayed ? status : 200, record: toDto(r.state), replayed: r.replayed, state: r.state };
}

/** The record's state (from its newest snapshot on) and the stream version it is at. */
async function loadRecordVersion(events: EventStore, streamId: string): Promise<Loaded<RecordState | undefined>> {
  const state = await loadRecord(events, streamId);
  return { state, version: state?.version ?? 0 };
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
  const schemaCheck: SchemaCheck = await ctx.schemas.check(tenantId, schema, data);
  return { ...cmd, schemaCheck };
}

/** A retried create with the same Idempotency-Key targets the same record id. */
function derivedId(tenantId: string, type: string, key: string): string {
  return `r_${createHash('sha256').update(`${tenantId}\u0000${type}\u0000${key}`).digest('base64url').slice(0, 22)}`;
}
