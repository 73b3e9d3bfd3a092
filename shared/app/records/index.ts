/**
 * Entity types and records of a tenant. Each use case is a module of its own:
 * - types.ts: define, list and read entity types (type-catalog.ts caches them per tenant);
 * - commands.ts: create, patch, delete and the file commands, through handleCommand and the
 *   record decider (shared/domain/records.ts);
 * - queries.ts: one record (now, as of an instant, at a version), its history, lists;
 * - audit-export.ts: the audit trail and the export of every record.
 * `RecordService` bundles them for callers that hold one object (functions/, files, backup).
 * Every use case takes the caller, one `input` object (inputs.ts) and an options bag last:
 * `CommandOptions` (correlation id, Idempotency-Key, abortSignal) for commands,
 * `OperationOptions` (abortSignal) for reads.
 */
import type { Idempotency } from '../../domain/events';
import type { RecordState } from '../../domain/records';
import type { TypeDefinition } from '../../domain/type-set';
import type { AuditEntry, Page } from '../../ports/projection-store';
import type { OperationOptions } from '../../ports/options';
import type { Clock } from '../../ports/runtime';
import type { ProgressSink } from '../progress';
import type { PersonalDataVault } from '../erasure/vault';
import { ProjectionService, type ProjectionStatusReport } from '../projections';
import type { CommandOptions } from '../request';
import type { TenantService, UserPrincipal } from '../service';
import { sharedSandbox, type TypeSchemaSandbox } from '../type-schemas';
import { type AuditQuery, audit, exportRecords } from './audit-export';
import { createRecord, deleteRecord, fileCommand, fileReplay, patchRecord } from './commands';
export type { RecordsContext } from './context';
import type { RecordsContext } from './context';
import type { CommandOutcome, HistoryItem, RecordDto } from './dto';
import type {
  CreateRecordInput,
  DefineTypeInput,
  DeleteRecordInput,
  ExportInput,
  FileCommandInput,
  GetRecordInput,
  HistoryInput,
  ListRecordsInput,
  PatchRecordInput,
  RecordRef,
  RecordStateInput,
} from './inputs';
import { getRecord, history, list, recordState } from './queries';
import { TypeCatalog } from './type-catalog';
import { defineType, getType, listTypes } from './types';

export type { CommandOutcome, FileDto, HistoryItem, ListParams, RecordDto } from './dto';
export { toDto, toFileDto } from './dto';
export type * from './inputs';

export class RecordService {
  private readonly ctx: RecordsContext;
  private readonly projectionService: ProjectionService;

  constructor(
    tenants: TenantService,
    clock: Clock,
    log: (message: string) => void = () => undefined,
    /** Compiles and runs tenant schemas off the event loop (see shared/app/type-schemas). */
    schemas: TypeSchemaSandbox = sharedSandbox(),
    /** Keyrings and sealing of personal values (issue 14, shared/app/erasure). */
    personal?: PersonalDataVault,
  ) {
    this.ctx = { stores: tenants.tenantStores, clock, log, schemas, types: new TypeCatalog(schemas), ...(personal ? { personal } : {}) };
    this.projectionService = new ProjectionService({ tenants, clock, log });
  }

  /** The types, schemas and helpers record use cases share, for use-case modules outside records/ (shared/app/revert). */
  get context(): RecordsContext {
    return this.ctx;
  }

  /** Drops the cached types of a tenant (after a scratch tenant is removed). */
  forget(tenantId: string): void {
    this.ctx.types.forget(tenantId);
  }

  defineType(
    p: UserPrincipal,
    input: DefineTypeInput,
    options: CommandOptions,
  ): Promise<{ status: 200 | 201; definition: TypeDefinition }> {
    return defineType(this.ctx, p, input, options);
  }
  listTypes(p: UserPrincipal, options?: OperationOptions): Promise<TypeDefinition[]> {
    return listTypes(this.ctx, p, options);
  }
  getType(p: UserPrincipal, input: { type: string }, options?: OperationOptions): Promise<TypeDefinition> {
    return getType(this.ctx, p, input, options);
  }

  createRecord(p: UserPrincipal, input: CreateRecordInput, options: CommandOptions): Promise<CommandOutcome> {
    return createRecord(this.ctx, p, input, options);
  }
  patchRecord(p: UserPrincipal, input: PatchRecordInput, options: CommandOptions): Promise<CommandOutcome> {
    return patchRecord(this.ctx, p, input, options);
  }
  deleteRecord(p: UserPrincipal, input: DeleteRecordInput, options: CommandOptions): Promise<CommandOutcome> {
    return deleteRecord(this.ctx, p, input, options);
  }
  fileCommand(
    p: UserPrincipal,
    input: FileCommandInput,
    options: CommandOptions,
  ): Promise<{ record: RecordDto; state: RecordState; replayed: boolean }> {
    return fileCommand(this.ctx, p, input, options);
  }
  fileReplay(
    p: UserPrincipal,
    input: RecordRef,
    options: OperationOptions & { idempotency: Idempotency },
  ): Promise<{ record: RecordDto; state: RecordState } | undefined> {
    return fileReplay(this.ctx, p, input, options);
  }

  recordState(p: UserPrincipal, input: RecordStateInput, options?: OperationOptions): Promise<RecordState> {
    return recordState(this.ctx, p, input, options);
  }
  getRecord(p: UserPrincipal, input: GetRecordInput, options?: OperationOptions): Promise<RecordDto> {
    return getRecord(this.ctx, p, input, options);
  }
  history(p: UserPrincipal, input: HistoryInput, options?: OperationOptions): Promise<Page<HistoryItem>> {
    return history(this.ctx, p, input, options);
  }
  list(p: UserPrincipal, input: ListRecordsInput, options?: OperationOptions): Promise<Page<RecordDto>> {
    return list(this.ctx, p, input, options);
  }
  audit(p: UserPrincipal, q: AuditQuery, options?: OperationOptions): Promise<Page<AuditEntry>> {
    return audit(this.ctx, p, q, options);
  }
  exportRecords(p: UserPrincipal, input?: ExportInput, options?: OperationOptions): AsyncGenerator<string> {
    return exportRecords(this.ctx, p, input, options);
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
