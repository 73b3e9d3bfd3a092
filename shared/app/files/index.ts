/**
 * Files attached to records, a module per use case:
 * - upload.ts: upload (attach or replace) and delete (detach);
 * - download.ts: open a file for download (any version, byte ranges);
 * - maintenance.ts: sweep orphaned and unfinished blobs, re-wrap content keys after a rotation;
 * - common.ts: what they depend on (FileServiceDeps) and share.
 * The file codec itself (encryption, the v2 layout, key zeroing) is shared/crypto.
 */
import type { OperationOptions } from '../../ports/options';
import type { FileDto, RecordDto } from '../records';
import type { CommandOptions } from '../request';
import type { UserPrincipal } from '../service';
import type { FileServiceDeps } from './common';
import { type OpenedFile, type OpenFileInput, openFile } from './download';
import { rotateKey, type SweepOrphansOptions, sweepOrphans } from './maintenance';
import { type DeleteFileInput, deleteFile, type UploadInput, upload } from './upload';

export type { FileServiceDeps } from './common';
export type { OpenedFile, OpenFileInput } from './download';
export type { SweepOrphansOptions } from './maintenance';
export type { DeleteFileInput, UploadInput } from './upload';

/**
 * Encrypted files attached to records. Each file gets a fresh 256-bit content key; the
 * content is encrypted in 4 MiB AES-256-GCM regions in the Azure Storage client-side
 * encryption v2 layout before it reaches Blob Storage, and the content key is stored in the
 * blob's `encryptiondata` metadata wrapped by the tenant's key (KeyProvider). Plaintext never
 * touches disk and is never held whole in memory.
 */
export class FileService {
  constructor(private readonly d: FileServiceDeps) {}

  upload(
    p: UserPrincipal,
    input: UploadInput,
    options: CommandOptions,
  ): Promise<{ status: 200 | 201; file: FileDto; record: RecordDto; replayed: boolean }> {
    return upload(this.d, p, input, options);
  }

  delete(p: UserPrincipal, input: DeleteFileInput, options: CommandOptions): Promise<{ record: RecordDto; replayed: boolean }> {
    return deleteFile(this.d, p, input, options);
  }

  open(p: UserPrincipal, input: OpenFileInput, options: OperationOptions = {}): Promise<OpenedFile> {
    return openFile(this.d, p, input, options);
  }

  sweepOrphans(
    tenantId: string,
    options: SweepOrphansOptions = {},
  ): Promise<{ checked: number; deleted: number; unfinished: number; unfinishedBytes: number }> {
    return sweepOrphans(this.d, tenantId, options);
  }

  rotateKey(
    tenantId: string,
    options: { newVersion: boolean; onProgress?: (done: number, rewrapped: number) => void },
  ): Promise<{ keyId: string; checked: number; rewrapped: number; refused?: number }> {
    return rotateKey(this.d, tenantId, options);
  }
}
