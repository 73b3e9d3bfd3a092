import { Readable } from 'node:stream';
/**
 * BackupTarget on an Azure Blob Storage container (tier 3: a separate storage account,
 * ideally with a container-level immutability policy), with the real `@azure/storage-blob`.
 *
 * Objects are block blobs named `prefix + key` (optional prefix). put = uploadData with
 * If-None-Match: * (409 BlobAlreadyExists / 412 → AppError conflict: the service enforces
 * it atomically, there is no race); get = downloadToBuffer (404 → undefined); list =
 * listBlobsFlat({ prefix }) page by page (the service returns names in lexicographic order);
 * delete = deleteIfExists (snapshots included; refused with 409/403 while an immutability
 * policy or legal hold protects the blob, which surfaces as a BackupTargetError).
 *
 * Errors are recognised by `statusCode`/`code`, never `instanceof`. Other failures become an
 * Error named 'BackupTargetError' (status and code only; the SDK's RestError carries the
 * request and is not rethrown); AbortError passes through.
 */
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { conflict, validation } from '../../domain/errors';
import type { BackupObject, BackupTarget } from '../../ports/backup-target';
import { backupTargetError, checkKey, httpStatusOf, serviceCodeOf } from './errors';

export interface BlobBackupTargetOptions {
  /** Tier name (default "azure"). */
  name?: string;
  /** Prepended to every blob name, e.g. "tenant-ledger/"; '' (default) for none. */
  keyPrefix?: string;
  /** Blobs per listing page (1..5000, default 5000). */
  listPageSize?: number;
}

export class BlobBackupTarget implements BackupTarget {
  readonly name: string;
  private readonly keyPrefix: string;
  private readonly listPageSize: number;

  /** From a storage connection string (account key or SAS; Azurite's too). */
  static fromConnectionString(
    connectionString: string,
    containerName: string,
    options: BlobBackupTargetOptions = {},
    pipelineOptions?: StoragePipelineOptions,
  ): BlobBackupTarget {
    const service = BlobServiceClient.fromConnectionString(connectionString, pipelineOptions);
    return new BlobBackupTarget(service.getContainerClient(containerName), options);
  }

  /** From the account's blob endpoint (https://<account>.blob.core.windows.net) and an Entra ID credential. */
  static fromAccountUrl(
    accountUrl: string,
    credential: TokenCredential,
    containerName: string,
    options: BlobBackupTargetOptions = {},
    pipelineOptions?: StoragePipelineOptions,
  ): BlobBackupTarget {
    const service = new BlobServiceClient(accountUrl, credential, pipelineOptions);
    return new BlobBackupTarget(service.getContainerClient(containerName), options);
  }

  constructor(
    readonly container: ContainerClient,
    options: BlobBackupTargetOptions = {},
  ) {
    const pageSize = options.listPageSize ?? 5000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 5000) throw validation('listPageSize must be an integer from 1 to 5000.');
    this.name = options.name ?? 'azure';
    this.keyPrefix = options.keyPrefix ?? '';
    this.listPageSize = pageSize;
  }

  /** Creates the container (private) if it does not exist; for setup and tests. */
  async createContainerIfNotExists(): Promise<void> {
    try {
      await this.container.createIfNotExists();
    } catch (e) {
      throw backupTargetError(this.name, 'create container', e);
    }
  }

  async put(key: string, body: Uint8Array, options?: { abortSignal?: AbortSignal }): Promise<void> {
    checkKey(key);
    try {
      await this.container.getBlockBlobClient(this.keyPrefix + key).uploadData(body, {
        conditions: { ifNoneMatch: '*' },
        ...(options?.abortSignal ? { abortSignal: options.abortSignal } : {}),
      });
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 409 || status === 412 || serviceCodeOf(e) === 'BlobAlreadyExists') {
        // 409 is also what an immutability policy answers; either way the object is not written.
        throw conflict(`Backup object ${key} already exists in ${this.name}; backup objects are never overwritten.`);
      }
      throw backupTargetError(this.name, 'put', e);
    }
  }

  async putStream(key: string, chunks: AsyncIterable<Uint8Array>, _size: number): Promise<void> {
    checkKey(key);
    try {
      await this.container.getBlockBlobClient(this.keyPrefix + key).uploadStream(Readable.from(chunks), 4 * 1024 * 1024, 4, { conditions: { ifNoneMatch: '*' } });
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 409 || status === 412 || serviceCodeOf(e) === 'BlobAlreadyExists') {
        throw conflict(`Backup object ${key} already exists in ${this.name}; backup objects are never overwritten.`);
      }
      throw backupTargetError(this.name, 'putStream', e);
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    checkKey(key);
    try {
      const r = await this.container.getBlobClient(this.keyPrefix + key).download();
      return (r.readableStreamBody ?? Readable.from([])) as unknown as AsyncIterable<Uint8Array>;
    } catch (e) {
      if (httpStatusOf(e) === 404 && serviceCodeOf(e) !== 'ContainerNotFound') return undefined;
      throw backupTargetError(this.name, 'getStream', e);
    }
  }

  async get(key: string, options?: { abortSignal?: AbortSignal }): Promise<Uint8Array | undefined> {
    checkKey(key);
    const blob = this.container.getBlobClient(this.keyPrefix + key);
    const abort = options?.abortSignal ? { abortSignal: options.abortSignal } : {};
    try {
      // downloadToBuffer reads the size first; a 0-byte blob has nothing to download.
      const props = await blob.getProperties(abort);
      if ((props.contentLength ?? 0) === 0) return new Uint8Array(0);
      return await blob.downloadToBuffer(0, undefined, abort);
    } catch (e) {
      if (httpStatusOf(e) === 404 && serviceCodeOf(e) !== 'ContainerNotFound') return undefined;
      throw backupTargetError(this.name, 'get', e);
    }
  }

  async *list(prefix: string): AsyncIterable<BackupObject> {
    const pages = this.container.listBlobsFlat({ prefix: this.keyPrefix + prefix }).byPage({ maxPageSize: this.listPageSize });
    while (true) {
      let next;
      try {
        next = await pages.next();
      } catch (e) {
        throw backupTargetError(this.name, 'list', e);
      }
      if (next.done) return;
      for (const b of next.value.segment.blobItems) {
        if (!b.name.startsWith(this.keyPrefix)) continue;
        yield {
          key: b.name.slice(this.keyPrefix.length),
          size: b.properties.contentLength ?? 0,
          lastModified: b.properties.lastModified,
        };
      }
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.container.getBlobClient(this.keyPrefix + key).deleteIfExists({ deleteSnapshots: 'include' });
    } catch (e) {
      throw backupTargetError(this.name, 'delete', e);
    }
  }
}
