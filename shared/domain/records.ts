/**
 * Records of a tenant's entity types, event-sourced: pure decide/evolve. The service passes
 * in ids; commit metadata (version, time, author) comes from the store.
 */
import type { CommitOf, Decider } from './decider';
import { AppError, conflict, type FieldError, notFound, unprocessable, validation } from './errors';
import { assertNever, type Author, type NewEvent } from './events';
import { applyMergePatch, diff, isPlainObject, type Change } from './json';

export const TYPE_NAME = /^[a-z][a-z0-9_-]{0,39}$/;
export const RECORD_ID = /^r_[A-Za-z0-9_-]{22}$/;

export function assertTypeName(t: string): void {
  if (!TYPE_NAME.test(t))
    throw validation(`Type names are 1-40 characters: lowercase letters, digits, "_" and "-", starting with a letter.`);
}
export function assertRecordId(id: string): void {
  if (!RECORD_ID.test(id)) throw notFound('Record not found.');
}

export const recordStreamId = (type: string, id: string) => `rec:${type}:${id}`;
export function parseRecordStreamId(streamId: string): { type: string; id: string } | undefined {
  const m = /^rec:([a-z][a-z0-9_-]{0,39}):(r_[A-Za-z0-9_-]{22})$/.exec(streamId);
  return m ? { type: m[1]!, id: m[2]! } : undefined;
}

export const FILE_ID = /^f_[A-Za-z0-9_-]{22}$/;

/** A file attached to a record, as its FileAttached event recorded it. */
export interface FileEntry {
  fileId: string;
  name: string;
  contentType: string;
  /** Plaintext size in bytes; every read checks the stored ciphertext against it. */
  size: number;
  /** SHA-256 of the plaintext, hex. */
  sha256: string;
  /** Name of the encrypted blob in the tenant's container. */
  blobName: string;
  /** Versioned id of the tenant key that wrapped the file's content key at upload. */
  keyId: string;
  /**
   * Commitment to the file's content key (HMAC-SHA-256 keyed with it over the blob name, hex;
   * see shared/app/file-binding.ts): a download accepts the blob's metadata only if the tenant's
   * own key unwraps it to this key. Absent in events written before it existed.
   */
  keyCheck?: string;
  /** Record version at which this file version was attached. */
  version: number;
  attachedAt: string;
  attachedBy: Author;
}

export type FileAttachedData = Omit<FileEntry, 'version' | 'attachedAt' | 'attachedBy'> & { type: string; id: string; changes: Change[] };

/**
 * What a revert (shared/domain/revert.ts) did to a record: brought it back to its state at
 * `asOf`. `outcome` says how: `changed` (fields got their old values back), `restored` (a
 * deleted record came back) or `deleted` (the record did not exist, or was deleted, at
 * `asOf`). `data` is the record's data afterwards (absent for `deleted`, which keeps the data
 * as it was, like RecordDeleted). `operationId` names the tenant-wide revert it belongs to.
 */
export interface RecordRevertedData {
  type: string;
  id: string;
  asOf: string;
  reason?: string;
  operationId?: string;
  outcome: 'changed' | 'restored' | 'deleted';
  data?: Record<string, unknown>;
  changes: Change[];
}

export type RecordEvent =
  | NewEvent<'RecordCreated', { type: string; id: string; data: Record<string, unknown>; changes: Change[] }>
  | NewEvent<'RecordUpdated', { type: string; id: string; patch: Record<string, unknown>; changes: Change[] }>
  | NewEvent<'RecordDeleted', { type: string; id: string; changes: Change[] }>
  | NewEvent<'FileAttached', FileAttachedData>
  | NewEvent<'FileDeleted', { type: string; id: string; fileId: string; changes: Change[] }>
  | NewEvent<'RecordReverted', RecordRevertedData>;

/**
 * The outcome of validating data against its type's schema. Validation runs asynchronously in
 * a worker sandbox (shared/app/type-schemas), so the application runs it and passes the outcome
 * in; the decider holds what it means. `unchecked`: the application did not validate because
 * {@link recordDataToCheck} said the decision does not depend on it.
 */
export type SchemaCheck = { outcome: 'valid' } | { outcome: 'invalid'; errors: FieldError[] } | { outcome: 'unchecked' };
export const SCHEMA_UNCHECKED: SchemaCheck = { outcome: 'unchecked' };

/**
 * Commands on one record. `expectedVersion` is the client's If-Match: data changes (patch,
 * delete) require it; file commands check it only when sent (files do not conflict with data).
 */
export type RecordCommand =
  | { kind: 'create'; type: string; id: string; data: Record<string, unknown>; schemaCheck: SchemaCheck }
  | { kind: 'patch'; patch: Record<string, unknown>; expectedVersion: number | undefined; schemaCheck: SchemaCheck }
  | { kind: 'delete'; expectedVersion: number | undefined }
  | { kind: 'attachFile'; file: Omit<FileEntry, 'version' | 'attachedAt' | 'attachedBy'>; replace: boolean; expectedVersion?: number }
  | { kind: 'deleteFile'; fileId: string; expectedVersion?: number };

export interface RecordState {
  type: string;
  id: string;
  version: number;
  data: Record<string, unknown>;
  deleted: boolean;
  createdAt: string;
  createdBy: Author;
  updatedAt: string;
  updatedBy: Author;
  /** Current files by id (absent in states stored before files existed). */
  files?: Record<string, FileEntry>;
}

const fileSummary = (f: Pick<FileEntry, 'name' | 'contentType' | 'size' | 'sha256'>) => ({
  name: f.name,
  contentType: f.contentType,
  size: f.size,
  sha256: f.sha256,
});

/** What a command would do before its schema check: refused, or events plus the data the schema must accept. */
type Plan = { refused: AppError } | { events: RecordEvent[]; toCheck?: Record<string, unknown> };

/**
 * The record decider: every rule of a record command. Order of the checks (the first failing
 * one answers): If-Match missing (428, patch and delete) → record missing (404) → deleted (410)
 * → If-Match stale (412) → the command's own rules (400/404/409) → nothing changes (no events)
 * → schema check (422).
 */
export function decideRecord(state: RecordState | undefined, cmd: RecordCommand): RecordEvent[] {
  const plan = planRecord(state, cmd);
  if ('refused' in plan) throw plan.refused;
  if (plan.toCheck !== undefined && plan.events.length > 0) {
    const check = (cmd as { schemaCheck: SchemaCheck }).schemaCheck;
    switch (check.outcome) {
      case 'valid':
        break;
      case 'invalid':
        throw recordSchemaRefusal(check.errors);
      case 'unchecked':
        // A caller bug, not bad input: the data was never validated.
        throw new Error(`record ${cmd.kind} decided without a schema check`);
      default:
        return assertNever(check, 'schema check');
    }
  }
  return plan.events;
}

/**
 * The data the type's schema must accept for `cmd` to be decided, or undefined when the
 * decision does not depend on it (the command is refused for another reason, or changes
 * nothing). The application validates exactly this and passes the outcome as `schemaCheck`.
 */
export function recordDataToCheck(state: RecordState | undefined, cmd: RecordCommand): Record<string, unknown> | undefined {
  const plan = planRecord(state, cmd);
  return 'refused' in plan || plan.events.length === 0 ? undefined : plan.toCheck;
}

/** The error for data the type's schema refuses. */
export function recordSchemaRefusal(errors: FieldError[]): AppError {
  return unprocessable('The record does not match the schema of its type.', errors);
}

/** The record a command on an existing record may act on (404/410/412 otherwise). */
function live(state: RecordState | undefined, expectedVersion: number | undefined): AppError | undefined {
  if (!state) return notFound('Record not found.');
  if (state.deleted) return gone(state);
  if (expectedVersion !== undefined && state.version !== expectedVersion)
    return new AppError('precondition_failed', `The record is at version ${state.version}; reload it and retry.`);
  return undefined;
}

const ifMatchRequired = () => new AppError('precondition_required', 'Send If-Match with the ETag of the version you are changing.');

function planRecord(state: RecordState | undefined, cmd: RecordCommand): Plan {
  switch (cmd.kind) {
    case 'create': {
      if (state) return { refused: conflict('This record already exists.') };
      if (!isPlainObject(cmd.data)) return { refused: validation('A record is a JSON object.') };
      const events: RecordEvent[] = [
        { type: 'RecordCreated', data: { type: cmd.type, id: cmd.id, data: cmd.data, changes: diff(undefined, cmd.data) } },
      ];
      return { events, toCheck: cmd.data };
    }
    case 'patch': {
      if (cmd.expectedVersion === undefined) return { refused: ifMatchRequired() };
      const refused = live(state, cmd.expectedVersion);
      if (refused || !state) return { refused: refused ?? notFound('Record not found.') };
      if (!isPlainObject(cmd.patch)) return { refused: validation('A merge patch for a record is a JSON object.') };
      const next = applyMergePatch(state.data, cmd.patch) as Record<string, unknown>;
      const changes = diff(state.data, next);
      if (changes.length === 0) return { events: [] };
      return { events: [{ type: 'RecordUpdated', data: { type: state.type, id: state.id, patch: cmd.patch, changes } }], toCheck: next };
    }
    case 'delete': {
      if (cmd.expectedVersion === undefined) return { refused: ifMatchRequired() };
      const refused = live(state, cmd.expectedVersion);
      if (refused || !state) return { refused: refused ?? notFound('Record not found.') };
      return { events: [{ type: 'RecordDeleted', data: { type: state.type, id: state.id, changes: diff(state.data, undefined) } }] };
    }
    case 'attachFile': {
      const refused = checkFileTarget(state, { fileId: cmd.file.fileId, replace: cmd.replace, expectedVersion: cmd.expectedVersion });
      if (refused || !state) return { refused: refused ?? notFound('Record not found.') };
      const previous = state.files?.[cmd.file.fileId];
      const changes: Change[] = [
        { path: `/files/${cmd.file.fileId}`, ...(previous ? { old: fileSummary(previous) } : {}), new: fileSummary(cmd.file) },
      ];
      return { events: [{ type: 'FileAttached', data: { type: state.type, id: state.id, ...cmd.file, changes } }] };
    }
    case 'deleteFile': {
      const refused = live(state, cmd.expectedVersion);
      if (refused || !state) return { refused: refused ?? notFound('Record not found.') };
      const previous = state.files?.[cmd.fileId];
      if (!previous) return { refused: notFound('File not found.') };
      return {
        events: [
          {
            type: 'FileDeleted',
            data: {
              type: state.type,
              id: state.id,
              fileId: cmd.fileId,
              changes: [{ path: `/files/${cmd.fileId}`, old: fileSummary(previous) }],
            },
          },
        ],
      };
    }
    default:
      return assertNever(cmd, 'record command');
  }
}

/**
 * The rules an attach (or replace) of a file must pass, without the file itself: the record
 * is live and at `expectedVersion` when given; a replaced file exists, a new file id does
 * not. An upload checks them before reading its body; `decideRecord` checks them again.
 */
export function checkFileTarget(
  state: RecordState | undefined,
  target: { fileId: string; replace: boolean; expectedVersion?: number | undefined },
): AppError | undefined {
  const refused = live(state, target.expectedVersion);
  if (refused) return refused;
  const previous = state?.files?.[target.fileId];
  if (target.replace && !previous) return notFound('File not found.');
  if (!target.replace && previous) return conflict('This file id is already attached.');
  return undefined;
}

export function gone(state: RecordState): AppError {
  return new AppError('gone', `This record was deleted at ${state.updatedAt}.`);
}

/** Folds one commit of a record stream into its state. */
export function evolveRecord(state: RecordState | undefined, commit: CommitOf): RecordState | undefined {
  let s = state;
  for (const e of commit.events as RecordEvent[]) {
    switch (e.type) {
      case 'RecordCreated':
        s = {
          type: e.data.type,
          id: e.data.id,
          version: commit.version,
          data: e.data.data,
          deleted: false,
          createdAt: commit.timestamp,
          createdBy: commit.author,
          updatedAt: commit.timestamp,
          updatedBy: commit.author,
        };
        break;
      case 'RecordUpdated':
        if (s)
          s = {
            ...s,
            version: commit.version,
            data: applyMergePatch(s.data, e.data.patch) as Record<string, unknown>,
            updatedAt: commit.timestamp,
            updatedBy: commit.author,
          };
        break;
      case 'RecordDeleted':
        if (s) s = { ...s, version: commit.version, deleted: true, updatedAt: commit.timestamp, updatedBy: commit.author };
        break;
      case 'RecordReverted':
        if (s)
          s = {
            ...s,
            version: commit.version,
            data: e.data.outcome === 'deleted' ? s.data : (e.data.data ?? s.data),
            deleted: e.data.outcome === 'deleted',
            updatedAt: commit.timestamp,
            updatedBy: commit.author,
          };
        break;
      case 'FileAttached':
        if (s) {
          const { type: _t, id: _i, changes: _c, ...file } = e.data;
          s = {
            ...s,
            version: commit.version,
            updatedAt: commit.timestamp,
            updatedBy: commit.author,
            files: {
              ...s.files,
              [file.fileId]: { ...file, version: commit.version, attachedAt: commit.timestamp, attachedBy: commit.author },
            },
          };
        }
        break;
      case 'FileDeleted':
        if (s) {
          const files = { ...s.files };
          delete files[e.data.fileId];
          s = { ...s, version: commit.version, updatedAt: commit.timestamp, updatedBy: commit.author, files };
        }
        break;
      default:
        // Other event types never appear in record streams; ignore rather than corrupt.
        break;
    }
  }
  return s;
}

/** The record decider (see {@link decideRecord}); a stream that does not exist has no state. */
export const recordDecider: Decider<RecordCommand, RecordEvent, RecordState | undefined> = {
  decide: (command, state) => decideRecord(state, command),
  evolve: evolveRecord,
  initialState: () => undefined,
};
