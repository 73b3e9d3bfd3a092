/**
 * Records of a tenant's entity types, event-sourced: pure decide/evolve. The service passes
 * in ids; commit metadata (version, time, author) comes from the store.
 */
import { AppError, conflict, notFound, validation } from './errors';
import { assertNever, type Author, type Commit, type NewEvent } from './events';
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
export const TYPES_STREAM = 'types';

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

export type RecordEvent =
  | NewEvent<'RecordCreated', { type: string; id: string; data: Record<string, unknown>; changes: Change[] }>
  | NewEvent<'RecordUpdated', { type: string; id: string; patch: Record<string, unknown>; changes: Change[] }>
  | NewEvent<'RecordDeleted', { type: string; id: string; changes: Change[] }>
  | NewEvent<'FileAttached', FileAttachedData>
  | NewEvent<'FileDeleted', { type: string; id: string; fileId: string; changes: Change[] }>;

export type RecordCommand =
  | { kind: 'create'; type: string; id: string; data: Record<string, unknown> }
  | { kind: 'patch'; patch: Record<string, unknown> }
  | { kind: 'delete' }
  | { kind: 'attachFile'; file: Omit<FileEntry, 'version' | 'attachedAt' | 'attachedBy'>; replace: boolean }
  | { kind: 'deleteFile'; fileId: string };

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

export function decideRecord(state: RecordState | undefined, cmd: RecordCommand): RecordEvent[] {
  switch (cmd.kind) {
    case 'create': {
      if (state) throw conflict('This record already exists.');
      if (!isPlainObject(cmd.data)) throw validation('A record is a JSON object.');
      return [{ type: 'RecordCreated', data: { type: cmd.type, id: cmd.id, data: cmd.data, changes: diff(undefined, cmd.data) } }];
    }
    case 'patch': {
      if (!state || state.deleted) throw state?.deleted ? gone(state) : notFound('Record not found.');
      if (!isPlainObject(cmd.patch)) throw validation('A merge patch for a record is a JSON object.');
      const next = applyMergePatch(state.data, cmd.patch) as Record<string, unknown>;
      const changes = diff(state.data, next);
      return changes.length === 0 ? [] : [{ type: 'RecordUpdated', data: { type: state.type, id: state.id, patch: cmd.patch, changes } }];
    }
    case 'delete': {
      if (!state || state.deleted) throw state?.deleted ? gone(state) : notFound('Record not found.');
      return [{ type: 'RecordDeleted', data: { type: state.type, id: state.id, changes: diff(state.data, undefined) } }];
    }
    case 'attachFile': {
      if (!state || state.deleted) throw state?.deleted ? gone(state) : notFound('Record not found.');
      const previous = state.files?.[cmd.file.fileId];
      if (cmd.replace && !previous) throw notFound('File not found.');
      if (!cmd.replace && previous) throw conflict('This file id is already attached.');
      const changes: Change[] = [
        { path: `/files/${cmd.file.fileId}`, ...(previous ? { old: fileSummary(previous) } : {}), new: fileSummary(cmd.file) },
      ];
      return [{ type: 'FileAttached', data: { type: state.type, id: state.id, ...cmd.file, changes } }];
    }
    case 'deleteFile': {
      if (!state || state.deleted) throw state?.deleted ? gone(state) : notFound('Record not found.');
      const previous = state.files?.[cmd.fileId];
      if (!previous) throw notFound('File not found.');
      return [
        {
          type: 'FileDeleted',
          data: {
            type: state.type,
            id: state.id,
            fileId: cmd.fileId,
            changes: [{ path: `/files/${cmd.fileId}`, old: fileSummary(previous) }],
          },
        },
      ];
    }
    default:
      return assertNever(cmd, 'record command');
  }
}

export function gone(state: RecordState): AppError {
  return new AppError('gone', `This record was deleted at ${state.updatedAt}.`);
}

/** Folds one commit of a record stream into its state. */
export function evolveRecord(
  state: RecordState | undefined,
  commit: Pick<Commit, 'version' | 'timestamp' | 'author' | 'events'>,
): RecordState | undefined {
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

// ------------------------------------------------------------------ entity types

export type TypeEvent = NewEvent<'TypeSchemaSet', { type: string; schema: Record<string, unknown>; changes: Change[] }>;

export interface TypeDefinition {
  type: string;
  schema: Record<string, unknown>;
  /** Version of the types stream that last set it. */
  version: number;
  updatedAt: string;
  updatedBy: Author;
}

export function decideTypeSchema(current: TypeDefinition | undefined, type: string, schema: Record<string, unknown>): TypeEvent[] {
  const changes = diff(current?.schema, schema, '/schema');
  return changes.length === 0 ? [] : [{ type: 'TypeSchemaSet', data: { type, schema, changes } }];
}

export function evolveTypes(
  types: Map<string, TypeDefinition>,
  commit: Pick<Commit, 'version' | 'timestamp' | 'author' | 'events'>,
): Map<string, TypeDefinition> {
  for (const e of commit.events as TypeEvent[]) {
    if (e.type === 'TypeSchemaSet') {
      types.set(e.data.type, {
        type: e.data.type,
        schema: e.data.schema,
        version: commit.version,
        updatedAt: commit.timestamp,
        updatedBy: commit.author,
      });
    }
  }
  return types;
}
