/** What the file use cases depend on, and the helpers they share. */
import { AppError } from '../../domain/errors';
import type { BlobStoreFactory } from '../../ports/blob-store';
import type { KeyProvider } from '../../ports/key-provider';
import type { OperationOptions } from '../../ports/options';
import type { Clock } from '../../ports/runtime';
import type { RecordService } from '../records';
import type { TenantService } from '../service';

export interface FileServiceDeps {
  tenants: TenantService;
  records: RecordService;
  keys: KeyProvider;
  blobs: BlobStoreFactory;
  clock: Clock;
  maxFileBytes: number;
  log?: (message: string) => void;
}

export function signalOf(options: OperationOptions): OperationOptions {
  return options.abortSignal ? { abortSignal: options.abortSignal } : {};
}

/** A stored file that fails a check (missing, resized, wrong key, tampered): 502 at the edge. */
export function integrity(message: string): AppError {
  return new AppError('integrity_failed', message);
}

/** An error of the file codec (shared/crypto), checked by name. */
export function isCryptoError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: string }).name === 'FileCryptoError';
}
