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
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import type { StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { conflict, validation } from '../../domain/errors';
import type { BackupObject, BackupTarget } from '../../ports/backup-target';
import { backupTargetError, checkKey, httpStatusOf, serviceCodeOf } from './errors';
import { throwIfAborted } from '../abort';
import { discardUncommitted } from '../blob/azure-blob-store';

export interface BlobBackupTargetOptions {
  /** Tier name (default "azure"). */
  name?: string;
  /** Prepended to every blob name, e.g. "tenant-ledger/"; '' (default) for none. */
  keyPrefix?: string;
  /** Blobs per listing page (1..5000, default 5000). */
  listPageSize?: number;
}

/**
 * Time limits of the Azure tier's calls. The SDK's `tryTimeoutInMs` is only a server-side
 * timeout (a URL parameter): against a server that accepts and never answers, the client would
 * wait for ever. So each call also has a client-side watchdog: a call without progress for
 * `tryTimeoutMs × maxTries` is aborted and fails with a TimeoutError.
 */
export interface BlobBackupTargetTimeouts {
  /** One try of one request (default 60 s). */
  tryTimeoutMs?: number;
  /** Tries per request, first included (default 3). */
  maxTries?: number;
}

const DEFAULT_TRY_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_TRIES = 3;

/** The pipeline options with the tier's timeouts filled in where the caller set none. */
function withTimeouts(
  pipelineOptions: StoragePipelineOptions | undefined,
  t: BlobBackupTargetTimeouts | undefined,
): StoragePipelineOptions {
  return {
    ...pipelineOptions,
    retryOptions: {
      maxTries: t?.maxTries ?? DEFAULT_MAX_TRIES,
      tryTimeoutInMs: t?.tryTimeoutMs ?? DEFAULT_TRY_TIMEOUT_MS,
      ...pipelineOptions?.retryOptions,
    },
  };
}

type CallOptions = { abortSignal?: AbortSignal } | undefined;

/**
 * Aborts a call that made no progress for `ms` (kick() on progress), or when the caller's signal
 * aborts. `fail(e)` turns the SDK's abort into a TimeoutError when the watchdog caused it.
 */
class Watchdog {
  private readonly controller = new AbortController();
  readonly signal: AbortSignal;
  private timer: NodeJS.Timeout | undefined;
  private fired = false;

  constructor(
    private readonly ms: number,
    parent: AbortSignal | undefined,
  ) {
    this.signal = parent ? AbortSignal.any([parent, this.controller.signal]) : this.controller.signal;
    this.kick();
  }

  kick(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort();
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** The error to throw for `e`: a TimeoutError when the watchdog aborted the call. */
  fail(e: unknown): unknown {
    if (!this.fired) return e;
    const t = new Error(`no answer within ${this.ms} ms`);
    t.name = 'TimeoutError';
    return t;
  }
}

/** The factories' options: the target's own, plus how its client is built. */
export interface BlobBackupTargetClientOptions extends BlobBackupTargetOptions {
  /** Passed to the BlobServiceClient (retries, proxy, test transports). */
  pipelineOptions?: StoragePipelineOptions;
  timeouts?: BlobBackupTargetTimeouts;
}

export class BlobBackupTarget implements BackupTarget {
  readonly name: string;
  private readonly keyPrefix: string;
  private readonly listPageSize: number;
  /** Client-side limit of one call without progress (see BlobBackupTargetTimeouts). */
  private callTimeoutMs = DEFAULT_TRY_TIMEOUT_MS * DEFAULT_MAX_TRIES;

  /** From a storage connection string (account key or SAS; Azurite's too). */
  static fromConnectionString(
    connectionString: string,
    containerName: string,
    options: BlobBackupTargetClientOptions = {},
  ): BlobBackupTarget {
    const { pipelineOptions, timeouts } = options;
    const service = BlobServiceClient.fromConnectionString(connectionString, withTimeouts(pipelineOptions, timeouts));
    return new BlobBackupTarget(service.getContainerClient(containerName), options).withCallTimeout(timeouts);
  }

  /** From the account's blob endpoint (https://<account>.blob.core.windows.net) and an Entra ID credential. */
  static fromAccountUrl(
    accountUrl: string,
    credential: TokenCredential,
    containerName: string,
    options: BlobBackupTargetClientOptions = {},
  ): BlobBackupTarget {
    const { pipelineOptions, timeouts } = options;
    const service = new BlobServiceClient(accountUrl, credential, withTimeouts(pipelineOptions, timeouts));
    return new BlobBackupTarget(service.getContainerClient(containerName), options).withCallTimeout(timeouts);
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

  private withCallTimeout(t: BlobBackupTargetTimeouts | undefined): this {
    this.callTimeoutMs = (t?.tryTimeoutMs ?? DEFAULT_TRY_TIMEOUT_MS) * (t?.maxTries ?? DEFAULT_MAX_TRIES);
    return this;
  }

  /** Runs one SDK call under a watchdog. */
  private async timed<T>(options: CallOptions, fn: (abortSignal: AbortSignal, dog: Watchdog) => Promise<T>): Promise<T> {
    throwIfAborted(options?.abortSignal);
    const dog = new Watchdog(this.callTimeoutMs, options?.abortSignal);
    try {
      return await fn(dog.signal, dog);
    } catch (e) {
      throw dog.fail(e);
    } finally {
      dog.stop();
    }
  }

  /** Creates the container (private) if it does not exist; for setup and tests. */
  async createContainerIfNotExists(): Promise<void> {
    try {
      await this.container.createIfNotExists();
    } catch (e) {
      throw backupTargetError(this.name, 'create container', e);
    }
  }

  async put(key: string, body: Uint8Array, options?: CallOptions): Promise<void> {
    checkKey(key);
    try {
      await this.timed(options, (abortSignal) =>
        this.container.getBlockBlobClient(this.keyPrefix + key).uploadData(body, { conditions: { ifNoneMatch: '*' }, abortSignal }),
      );
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 409 || status === 412 || serviceCodeOf(e) === 'BlobAlreadyExists') {
        // 409 is also what an immutability policy answers; either way the object is not written.
        throw conflict(`Backup object ${key} already exists in ${this.name}; backup objects are never overwritten.`);
      }
      throw backupTargetError(this.name, 'put', e);
    }
  }

  async putStream(key: string, chunks: AsyncIterable<Uint8Array>, _size: number, options?: CallOptions): Promise<void> {
    checkKey(key);
    try {
      await this.timed(options, (abortSignal, dog) => {
        // Progress (bytes read from the source or sent) keeps a long upload alive.
        async function* kicking() {
          for await (const c of chunks) {
            dog.kick();
            yield c;
          }
        }
        return this.container.getBlockBlobClient(this.keyPrefix + key).uploadStream(Readable.from(kicking()), 4 * 1024 * 1024, 4, {
          conditions: { ifNoneMatch: '*' },
          abortSignal,
          onProgress: () => dog.kick(),
        });
      });
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 409 || status === 412 || serviceCodeOf(e) === 'BlobAlreadyExists') {
        throw conflict(`Backup object ${key} already exists in ${this.name}; backup objects are never overwritten.`);
      }
      // A failed or aborted upload leaves staged blocks (Azurite then even refuses the key):
      // discard them, without the caller's signal, unless someone committed the key meanwhile.
      await discardUncommitted(this.container.getBlockBlobClient(this.keyPrefix + key), undefined).catch(() => undefined);
      throw backupTargetError(this.name, 'putStream', e);
    }
  }

  async getStream(key: string, options?: CallOptions): Promise<AsyncIterable<Uint8Array> | undefined> {
    checkKey(key);
    try {
      // The watchdog covers the answer's start; the body then streams under the caller's signal.
      const r = await this.timed(options, (abortSignal) =>
        this.container.getBlobClient(this.keyPrefix + key).download(0, undefined, { abortSignal }),
      );
      return (r.readableStreamBody ?? Readable.from([])) as unknown as AsyncIterable<Uint8Array>;
    } catch (e) {
      if (httpStatusOf(e) === 404 && serviceCodeOf(e) !== 'ContainerNotFound') return undefined;
      throw backupTargetError(this.name, 'getStream', e);
    }
  }

  async get(key: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    checkKey(key);
    const blob = this.container.getBlobClient(this.keyPrefix + key);
    try {
      return await this.timed(options, async (abortSignal) => {
        // downloadToBuffer reads the size first; a 0-byte blob has nothing to download.
        const props = await blob.getProperties({ abortSignal });
        if ((props.contentLength ?? 0) === 0) return new Uint8Array(0);
        return await blob.downloadToBuffer(0, undefined, { abortSignal });
      });
    } catch (e) {
      if (httpStatusOf(e) === 404 && serviceCodeOf(e) !== 'ContainerNotFound') return undefined;
      throw backupTargetError(this.name, 'get', e);
    }
  }

  async *list(prefix: string, options?: CallOptions): AsyncIterable<BackupObject> {
    throwIfAborted(options?.abortSignal);
    const dog = new Watchdog(this.callTimeoutMs, options?.abortSignal);
    dog.stop();
    const pages = this.container
      .listBlobsFlat({ prefix: this.keyPrefix + prefix, abortSignal: dog.signal })
      .byPage({ maxPageSize: this.listPageSize });
    while (true) {
      let next;
      dog.kick();
      try {
        next = await pages.next();
      } catch (e) {
        throw backupTargetError(this.name, 'list', dog.fail(e));
      } finally {
        dog.stop();
      }
      if (next.done) return;
      for (const b of next.value.segment.blobItems) {
        throwIfAborted(options?.abortSignal);
        if (!b.name.startsWith(this.keyPrefix)) continue;
        yield {
          key: b.name.slice(this.keyPrefix.length),
          size: b.properties.contentLength ?? 0,
          lastModified: b.properties.lastModified,
        };
      }
    }
  }

  async delete(key: string, options?: CallOptions): Promise<void> {
    checkKey(key);
    try {
      await this.timed(options, (abortSignal) =>
        this.container.getBlobClient(this.keyPrefix + key).deleteIfExists({ deleteSnapshots: 'include', abortSignal }),
      );
    } catch (e) {
      throw backupTargetError(this.name, 'delete', e);
    }
  }
}
