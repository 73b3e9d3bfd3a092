/**
 * Entity types and records of a tenant. Each use case is a module of its own:
 * - types.ts: define, list and read entity types (type-catalog.ts caches them per tenant);
 * - commands.ts: create, patch, delete and the file commands, through handleCommand and the
 *   record decider (shared/domain/records.ts);
 * - queries.ts: one record (now, as of an instant, at a version), its history, lists;
 * - audit-export.ts: the audit trail and the export of every record.
 * `RecordService` bundles them for callers that hold one object (functions/, files, backup).
 */
import type { Idempotency } from '../../domain/events';
import type { RecordCommand, RecordState } from '../../domain/records';
import type { TypeDefinition } from '../../domain/type-set';
import type { AuditEntry, Page } from '../../ports/projection-store';
import type { Clock } from '../../ports/runtime';
import type { ProgressSink } from '../progress';
import { ProjectionService, type ProjectionStatusReport } from '../projections';
import type { RequestInfo, TenantService, UserPrincipal } from '../service';
import { sharedSandbox, type TypeSchemaSandbox } from '../type-schemas';
import { type AuditQuery, audit, exportRecords } from './audit-export';
import { createRecord, deleteRecord, fileCommand, fileReplay, patchRecord } from './commands';
import type { RecordsContext } from './context';
import type { CommandOutcome, HistoryItem, ListParams, RecordDto } from './dto';
import { getRecord, history, list, recordState } from './queries';
import { TypeCatalog } from './type-catalog';
import { defineType, getType, listTypes } from './types';

export type { CommandOutcome, FileDto, HistoryItem, ListParams, RecordDto } from './dto';
export { toDto, toFileDto } from './dto';

export class RecordService {
  private readonly ctx: RecordsContext;
  private readonly projectionService: ProjectionService;

  constructor(
    tenants: TenantService,
    clock: Clock,
    log: (message: string) => void = () => undefined,
    /** Compiles and runs tenant schemas off the event loop (see shared/app/type-schemas). */
    schemas: TypeSchemaSandbox = sharedSandbox(),
  ) {
    this.ctx = { tenants, clock, log, schemas, types: new TypeCatalog(schemas) };
    this.projectionService = new ProjectionService({ tenants, clock, log });
  }

  /** Drops the cached types of a tenant (after a scratch tenant is removed). */
  forget(tenantId: string): void {
    this.ctx.types.forget(tenantId);
  }

  defineType(
    p: UserPrincipal,
    type: string,
    schema: unknown,
    req: RequestInfo,
  ): Promise<{ status: 200 | 201; definition: TypeDefinition }> {
    return defineType(this.ctx, p, type, schema, req);
  }
  listTypes(p: UserPrincipal): Promise<TypeDefinition[]> {
    return listTypes(this.ctx, p);
  }
  getType(p: UserPrincipal, type: string): Promise<TypeDefinition> {
    return getType(this.ctx, p, type);
  }

  createRecord(p: UserPrincipal, type: string, data: unknown, idem: Idempotency | undefined, req: RequestInfo): Promise<CommandOutcome> {
    return createRecord(this.ctx, p, type, data, idem, req);
  }
  patchRecord(
    p: UserPrincipal,
    type: string,
    id: string,
    patch: unknown,
    ifMatch: number | undefined,
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<CommandOutcome> {
    return patchRecord(this.ctx, p, type, id, patch, ifMatch, idem, req);
  }
  deleteRecord(
    p: UserPrincipal,
    type: string,
    id: string,
    ifMatch: number | undefined,
    idem: Idempotency | undefined,
    req: RequestInfo,
  ): Promise<CommandOutcome> {
    return deleteRecord(this.ctx, p, type, id, ifMatch, idem, req);
  }
  fileCommand(
    p: UserPrincipal,
    type: string,
    id: string,
    cmd: Extract<RecordCommand, { kind: 'attachFile' | 'deleteFile' }>,
    req: RequestInfo,
    idem?: Idempotency,
  ): Promise<{ record: RecordDto; state: RecordState; replayed: boolean }> {
    return fileCommand(this.ctx, p, type, id, cmd, req, idem);
  }
  fileReplay(
    p: UserPrincipal,
    type: string,
    id: string,
    idem: Idempotency,
  ): Promise<{ record: RecordDto; state: RecordState } | undefined> {
    return fileReplay(this.ctx, p, type, id, idem);
  }

  recordState(p: UserPrincipal, type: string, id: string, at: { asOf?: Date; version?: number } = {}): Promise<RecordState> {
    return recordState(this.ctx, p, type, id, at);
  }
  getRecord(p: UserPrincipal, type: string, id: string, asOf?: Date): Promise<RecordDto> {
    return getRecord(this.ctx, p, type, id, asOf);
  }
  history(p: UserPrincipal, type: string, id: string, limit: number, continuation?: string): Promise<Page<HistoryItem>> {
    return history(this.ctx, p, type, id, limit, continuation);
  }
  list(p: UserPrincipal, type: string, q: ListParams): Promise<Page<RecordDto>> {
    return list(this.ctx, p, type, q);
  }
  audit(p: UserPrincipal, q: AuditQuery): Promise<Page<AuditEntry>> {
    return audit(this.ctx, p, q);
  }
  exportRecords(p: UserPrincipal, asOf?: Date): AsyncGenerator<string> {
    return exportRecords(this.ctx, p, asOf);
  }

  /** @deprecated Projections are shared/app/projections' (ProjectionService); kept until functions/ calls it. */
  status(p: UserPrincipal): Promise<ProjectionStatusReport> {
    return this.projectionService.status(p);
  }
  /** @deprecated See {@link ProjectionService.projectionStatus}. */
  projectionStatus(tenantId: string): Promise<ProjectionStatusReport> {
    return this.projectionService.projectionStatus(tenantId);
  }
  /** @deprecated See {@link ProjectionService.rebuild}. */
  rebuild(tenantId: string, onProgress?: ProgressSink): Promise<{ generation: number; applied: number }> {
    return this.projectionService.rebuild(tenantId, onProgress);
  }
}
