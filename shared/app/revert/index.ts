/**
 * Undo to an instant: reverting is a command like any other. It appends events that bring the
 * data back; the mistake and the revert both stay in the history.
 * - record-revert.ts: one record (editor, If-Match);
 * - tenant-revert.ts: every record of some types or of the whole tenant (admin), with a dry
 *   run, progress, and a journal that makes it resumable under one operation id.
 * The rules are shared/domain/revert.ts's deciders.
 */
import type { UserPrincipal } from '../auth/principal';
import type { CommandOptions } from '../request';
import type { RevertDeps } from './context';
import { type RecordRevertInput, type RecordRevertResult, revertRecord } from './record-revert';
import { type PreparedTenantRevert, prepareTenantRevert, type TenantRevertInput } from './tenant-revert';

export type { RevertDeps } from './context';
export type { RecordRevertInput, RecordRevertResult } from './record-revert';
export type { PreparedTenantRevert, TenantRevertInput, TenantRevertResult } from './tenant-revert';

export class RevertService {
  constructor(private readonly d: RevertDeps) {}

  /** One record back to its state at `input.asOf` (editor; If-Match required). */
  revertRecord(p: UserPrincipal, input: RecordRevertInput, options: CommandOptions): Promise<RecordRevertResult> {
    return revertRecord(this.d, p, input, options);
  }

  /**
   * Every record of `input.types` (or of the tenant) back to its state at `input.asOf` (admin):
   * checks the caller and the input now, and returns the run (or dry run) to start, which
   * reports progress. The same Idempotency-Key resumes an interrupted run.
   */
  prepareTenantRevert(p: UserPrincipal, input: TenantRevertInput, options: CommandOptions): Promise<PreparedTenantRevert> {
    return prepareTenantRevert(this.d, p, input, options);
  }
}
