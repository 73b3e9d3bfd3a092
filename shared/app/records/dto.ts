/** What record use cases answer with: records and files as clients see them, pages, history. */
import type { Author } from '../../domain/events';
import type { Change } from '../../domain/json';
import type { FileEntry, RecordState } from '../../domain/records';
import type { JsonPrimitive } from '../../ports/projection-store';

export interface FileDto {
  fileId: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Record version that attached this file version. */
  version: number;
  attachedAt: string;
  attachedBy: Author;
}

export interface RecordDto {
  id: string;
  type: string;
  version: number;
  data: Record<string, unknown>;
  createdAt: string;
  createdBy: Author;
  updatedAt: string;
  updatedBy: Author;
  /** Files attached at this version (single-record reads; lists leave it out). */
  files?: FileDto[];
}

export interface CommandOutcome {
  status: 200 | 201 | 204;
  record: RecordDto;
  /** True when an earlier response was replayed for the same Idempotency-Key. */
  replayed: boolean;
}

export interface ListParams {
  filters: Array<{ path: string[]; value: JsonPrimitive }>;
  sort?: { path: string[]; descending: boolean };
  limit: number;
  continuation?: string;
  asOf?: Date;
}

export interface HistoryItem {
  version: number;
  timestamp: string;
  author: Author;
  correlationId: string;
  events: Array<{ type: string; changes: Change[] }>;
}

export const toFileDto = (f: FileEntry): FileDto => ({
  fileId: f.fileId,
  name: f.name,
  contentType: f.contentType,
  size: f.size,
  sha256: f.sha256,
  version: f.version,
  attachedAt: f.attachedAt,
  attachedBy: f.attachedBy,
});

export const toDto = (s: RecordState): RecordDto => ({
  id: s.id,
  type: s.type,
  version: s.version,
  data: s.data,
  createdAt: s.createdAt,
  createdBy: s.createdBy,
  updatedAt: s.updatedAt,
  updatedBy: s.updatedBy,
  files: Object.values(s.files ?? {}).map(toFileDto),
});

/** A row of the records projection as a DTO (lists leave files out). */
export function viewToDto(v: {
  type: string;
  id: string;
  version: number;
  data: Record<string, unknown> | null;
  createdAt: string;
  createdBy: Author;
  updatedAt: string;
  updatedBy: Author;
}): RecordDto {
  return {
    id: v.id,
    type: v.type,
    version: v.version,
    data: v.data ?? {},
    createdAt: v.createdAt,
    createdBy: v.createdBy,
    updatedAt: v.updatedAt,
    updatedBy: v.updatedBy,
  };
}
