/**
 * What record use cases take: each takes the caller (principal), one `input` object, and an
 * options bag last (CommandOptions for commands, OperationOptions for reads).
 */
import type { RecordCommand } from '../../domain/records';
import type { ListParams } from './dto';

/** One record of a type. */
export interface RecordRef {
  type: string;
  id: string;
}

export interface CreateRecordInput {
  type: string;
  /** The record's data (checked against the type's schema). */
  data: unknown;
}

export interface PatchRecordInput extends RecordRef {
  /** A JSON merge patch of the record's data. */
  patch: unknown;
  /** The version the client read (If-Match); absent: apply to whatever is current. */
  ifMatch?: number | undefined;
}

export interface DeleteRecordInput extends RecordRef {
  ifMatch?: number | undefined;
}

export type FileCommand = Extract<RecordCommand, { kind: 'attachFile' | 'deleteFile' }>;

export interface FileCommandInput extends RecordRef {
  command: FileCommand;
}

/** A record now (no `asOf`), or as of an instant. */
export interface GetRecordInput extends RecordRef {
  asOf?: Date | undefined;
}

/** A record now, as of an instant, or at a version (file downloads). */
export interface RecordStateInput extends RecordRef {
  asOf?: Date | undefined;
  version?: number | undefined;
}

export interface HistoryInput extends RecordRef {
  limit: number;
  continuation?: string | undefined;
}

export interface ListRecordsInput extends ListParams {
  type: string;
}

export interface DefineTypeInput {
  type: string;
  /** The type's JSON Schema, as the tenant sent it (untrusted). */
  schema: unknown;
}

export interface ExportInput {
  /** Every record as of this instant (absent: now). */
  asOf?: Date | undefined;
}
