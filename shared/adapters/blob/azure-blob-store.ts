/**
 * Azure BlobStore: one private container per tenant (`t-<tenantId>`), block blobs written
 * block by block and committed only when the source stream has ended.
 *
 * Upload: incoming chunks become blocks of at least MIN_BLOCK_BYTES (small chunks are copied
 * into a fresh buffer until it is full; chunks at least that large are staged as they are,
 * without a copy, split above MAX_BLOCK_BYTES) and at most MAX_IN_FLIGHT blocks are being
 * staged at once: the source is not read further until one finishes, so memory stays at
 * about (MAX_IN_FLIGHT + 1) blocks whatever the blob's size. Chunks are not copied when they
 * are large enough, so a source must not reuse a buffer it has yielded (Node streams never do).
 * The block list is committed with If-None-Match: * (an existing name → AppError conflict).
 * A source that throws, a failed stage or an aborted signal stops the upload before the
 * commit: the blob never appears, and the adapter discards the blocks it staged (discardUncommitted;
 * a stage cut off mid-flight may still land afterwards: sweepUnfinished removes it later).
 *
 * Block ids carry a random per-upload prefix, so two concurrent uploads of the same name
 * cannot overwrite each other's staged blocks (the loser's commit then fails with conflict).
 *
 * Errors: AppError (validation, not_found, conflict, precondition_failed, unavailable,
 * payload_too_large); an aborted operation rejects with an Error named 'AbortError'; any
 * other service or network error becomes an Error named 'BlobStorageError' with
 * statusCode/code. The SDK's RestError is never rethrown as is: it carries the request.
 */
import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import type { BlockBlobClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { AppError, conflict, isAppError, notFound, validation } from '../../domain/errors';
import type {
  BlobInfo,
  BlobStore,
  BlobStoreFactory,
  DownloadOptions,
  SweepUnfinishedOptions,
  UnfinishedSweep,
  UploadOptions,
} from '../../ports/blob-store';
import type { OperationOptions } from '../../ports/options';
import { abortError, asAbortError, throwIfAborted, untilAborted } from '../abort';
import { openOnce } from '../open-once';
import { checkBlobName, checkEtag, checkMetadata, checkRange, takeSmallBody } from '../blob-rules';
import { azureErrorCodeOf, httpStatusOf, isAbortError } from '../sdk-errors';

const MiB = 1024 * 1024;
/** Blocks are at least this large (except the last); also the size callers usually send. */
export const MIN_BLOCK_BYTES = 4 * MiB;
/** Larger chunks are split: 100 MiB is the block limit of older service versions. */
export const MAX_BLOCK_BYTES = 100 * MiB;
/** Blocks being staged at once; the source is not read further while this many are in flight. */
export const MAX_IN_FLIGHT = 4;
/** A block blob has at most 50,000 committed blocks. */
const MAX_BLOCKS = 50_000;
/** Container rule: 3-63 of [a-z0-9-], starting with a letter or digit, every '-' followed by one. */
const CONTAINER_NAME = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/;
const CONTAINER_PREFIX = 't-';
/** Seconds Azure typically needs before a deleted container's name can be reused. */
const CONTAINER_BEING_DELETED_RETRY_SECONDS = 30;

/** A clean error without the SDK's request/response (headers carry credentials). */
function sanitized(e: unknown, action: string): Error {
  if (isAppError(e)) return e;
  if (isAbortError(e)) return abortError();
  const status = httpStatusOf(e);
  const code = azureErrorCodeOf(e);
  const raw = typeof e === 'object' && e !== null ? (e as { message?: unknown }).message : e;
  // The service's message ends with RequestId/Time lines: keep the first line only.
  const message = String(raw ?? '').split('\n')[0] ?? '';
  const err = new Error(
    `Blob storage ${action} failed${status !== undefined || code ? ` (${[status !== undefined ? `HTTP ${status}` : '', code ?? ''].filter(Boolean).join(', ')})` : ''}${message ? `: ${message}` : ''}`,
  ) as Error & { statusCode?: number; code?: string };
  err.name = 'BlobStorageError';
  if (status !== undefined) err.statusCode = status;
  if (code !== undefined) err.code = code;
  return err;
}

const preconditionFailed = (message: string) => new AppError('precondition_failed', message);

export function containerNameFor(tenantId: string): string {
  const name = `${CONTAINER_PREFIX}${tenantId}`;
  if (typeof tenantId !== 'string' || !CONTAINER_NAME.test(name)) {
    throw validation('This tenant id cannot name a blob container: use a-z, 0-9 and single "-" between them.', [
      { path: '/id', message: 'must give a valid container name' },
    ]);
  }
  return name;
}

/** Fixed-length block ids: a random per-upload prefix and a zero-padded counter. */
function blockIdFor(uploadPrefix: string, index: number): string {
  return Buffer.from(`${uploadPrefix}-${index.toString().padStart(6, '0')}`, 'ascii').toString('base64');
}

function quotedEtag(etag: string): string {
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

async function* emptyIterable(): AsyncGenerator<Uint8Array> {
  // nothing
}

async function* chunksOf(body: NodeJS.ReadableStream, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) {
      throwIfAborted(signal);
      yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    }
  } catch (e) {
    throw sanitized(asAbortError(e, signal), 'download');
  }
}

export class AzureBlobStore implements BlobStore {
  constructor(private readonly container: ContainerClient) {}

  get containerName(): string {
    return this.container.containerName;
  }

  async upload(name: string, chunks: AsyncIterable<Uint8Array>, options: UploadOptions): Promise<BlobInfo> {
    checkBlobName(name);
    const metadata = { ...(options.metadata ?? {}) };
    checkMetadata(metadata);
    const signal = options.abortSignal;
    if (signal?.aborted) throw abortError(signal);
    const blob = this.container.getBlockBlobClient(name);
    if (options.small) {
      // A body of at most SMALL_BLOB_MAX bytes is one Put Blob (If-None-Match: *) instead of a
      // staged block and a commit: one request. A larger one goes on the usual way.
      const taken = await takeSmallBody(chunks);
      if (signal?.aborted) throw abortError(signal);
      if (taken.body) return putSmall(blob, name, taken.body, metadata, signal);
      chunks = taken.rest;
    }

    // Aborts the in-flight stages and wakes the source read, on caller abort or stage failure.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const uploadPrefix = randomBytes(8).toString('hex');
    const ids: string[] = [];
    let size = 0;
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;

    const fail = (error: unknown) => {
      if (!failure) failure = { error };
      stop.abort();
    };
    const failedOr = (): never => {
      if (failure) throw failure.error;
      throw abortError(signal);
    };

    const stage = async (block: Uint8Array): Promise<void> => {
      while (inFlight.size >= MAX_IN_FLIGHT && !stop.signal.aborted) await Promise.race(inFlight);
      if (stop.signal.aborted) failedOr();
      if (ids.length >= MAX_BLOCKS) {
        throw new AppError('payload_too_large', `A blob holds at most ${MAX_BLOCKS} blocks.`);
      }
      const id = blockIdFor(uploadPrefix, ids.length);
      ids.push(id);
      size += block.length;
      const p: Promise<void> = blob
        .stageBlock(id, block, block.length, { abortSignal: stop.signal })
        .then(
          () => undefined,
          (e: unknown) => fail(stop.signal.aborted && !failure ? abortError(signal) : writeError(e, 'stageBlock')),
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };

    let iterator: AsyncIterator<Uint8Array> | undefined;
    /**
     * The source's next chunk, or a rejection with stop's reason as soon as the upload stops
     * (a source may wait forever). A fresh listener per read, removed when the read settles:
     * racing every read against one long-lived promise would keep every chunk reachable
     * from that promise's reactions until the upload ends.
     */
    const nextChunk = () =>
      new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        if (stop.signal.aborted) return reject(stop.signal.reason);
        const onStop = () => reject(stop.signal.reason);
        stop.signal.addEventListener('abort', onStop, { once: true });
        iterator ??= chunks[Symbol.asyncIterator]();
        iterator.next().then(
          (r) => {
            stop.signal.removeEventListener('abort', onStop);
            resolve(r);
          },
          (e: unknown) => {
            stop.signal.removeEventListener('abort', onStop);
            reject(e);
          },
        );
      });
    let sourceDone = false;
    let commitTried = false;
    let buffer: Buffer | undefined;
    let buffered = 0;
    try {
      for (;;) {
        const next = await nextChunk();
        if (next.done) {
          sourceDone = true;
          break;
        }
        const chunk: unknown = next.value;
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError('upload: the source must yield Uint8Array chunks.');
        }
        let offset = 0;
        while (offset < chunk.length) {
          const rest = chunk.length - offset;
          if (buffered === 0 && rest >= MIN_BLOCK_BYTES) {
            const n = Math.min(rest, MAX_BLOCK_BYTES);
            await stage(chunk.subarray(offset, offset + n));
            offset += n;
            continue;
          }
          buffer ??= Buffer.allocUnsafe(MIN_BLOCK_BYTES);
          const n = Math.min(MIN_BLOCK_BYTES - buffered, rest);
          buffer.set(chunk.subarray(offset, offset + n), buffered);
          buffered += n;
          offset += n;
          if (buffered === MIN_BLOCK_BYTES) {
            const full = buffer;
            buffer = undefined;
            buffered = 0;
            await stage(full);
          }
        }
      }
      if (buffered > 0 && buffer) {
        const last = buffer.subarray(0, buffered);
        buffer = undefined;
        buffered = 0;
        await stage(last);
      }
      await Promise.all([...inFlight]);
      if (stop.signal.aborted) failedOr();

      let committed;
      try {
        commitTried = true;
        committed = await blob.commitBlockList(ids, {
          metadata,
          conditions: { ifNoneMatch: '*' },
          abortSignal: signal,
        });
      } catch (e) {
        const status = httpStatusOf(e);
        // If-None-Match: * fails with 409 BlobAlreadyExists (or 412 on some versions).
        if ((status === 409 && azureErrorCodeOf(e) !== 'ContainerBeingDeleted') || status === 412) {
          throw conflict(`A blob named "${name}" already exists.`);
        }
        if (signal?.aborted) throw abortError(signal);
        throw writeError(e, 'commitBlockList');
      }
      return {
        name,
        size,
        createdOn: committed.lastModified ?? new Date(),
        etag: committed.etag ?? '',
        metadata,
      };
    } catch (e) {
      // The source failed, a stage failed or the caller aborted: stop everything, commit nothing.
      // When only the source failed, the stages in flight (at most MAX_IN_FLIGHT blocks) may
      // finish first: a stage cut off client-side can still land server-side after the discard
      // below, and would then stay until the sweeper finds it.
      if (!failure && !stop.signal.aborted && !signal?.aborted) await Promise.allSettled([...inFlight]);
      stop.abort();
      const source = iterator;
      if (source && !sourceDone) {
        // Not awaited: a source stuck in next() would hold its return() forever.
        Promise.resolve()
          .then(() => source.return?.())
          .catch(() => undefined);
      }
      await Promise.allSettled([...inFlight]);
      // Staged blocks would stay in the account (Azure drops them after a week, Azurite never):
      // discard them now. After a failed commit the name may hold another upload's blob: leave it.
      // Not tied to the caller's signal: an aborted upload must still clean up.
      if (ids.length > 0 && !commitTried) await discardUncommitted(blob, undefined).catch(() => undefined);
      if (failure && e === stop.signal.reason) throw failure.error;
      if (e === stop.signal.reason) throw abortError(signal);
      if (isAbortError(e) && signal?.aborted) throw abortError(signal);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async download(name: string, options: DownloadOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkBlobName(name);
    checkRange(options.offset, 'offset');
    checkRange(options.count, 'count');
    throwIfAborted(options.abortSignal);
    const offset = options.offset ?? 0;
    const count = options.count;
    const blob = this.container.getBlobClient(name);
    if (count === 0) {
      // The SDK reads count 0 as "to the end": answer locally, but still 404 a missing blob.
      if (!(await this.getInfo(name, options))) throw notFound(`No blob named "${name}".`);
      return emptyIterable();
    }
    try {
      const res = await blob.download(offset, count, { abortSignal: options.abortSignal });
      const body = res.readableStreamBody;
      if (!body) throw new Error('Blob storage returned no body.');
      return chunksOf(body, options.abortSignal);
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 404) throw notFound(`No blob named "${name}".`);
      // 416: the range starts at or beyond the end of the blob: there are no such bytes.
      if (status === 416) return emptyIterable();
      if (options.abortSignal?.aborted) throw abortError(options.abortSignal);
      throw sanitized(e, 'download');
    }
  }

  async getInfo(name: string, options: OperationOptions = {}): Promise<BlobInfo | undefined> {
    checkBlobName(name);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      const p = await this.container.getBlobClient(name).getProperties({ abortSignal });
      return {
        name,
        size: p.contentLength ?? 0,
        createdOn: p.createdOn ?? p.lastModified ?? new Date(0),
        etag: p.etag ?? '',
        // As the SDK returns it: read from response headers, so the names are lower case.
        metadata: { ...(p.metadata ?? {}) },
      };
    } catch (e) {
      // BlobNotFound or ContainerNotFound (a HEAD response has no error body to tell them apart).
      if (httpStatusOf(e) === 404) return undefined;
      throw sanitized(e, 'getProperties');
    }
  }

  async setMetadata(name: string, metadata: Record<string, string>, etag: string, options: OperationOptions = {}): Promise<void> {
    checkBlobName(name);
    const md = { ...(metadata ?? {}) };
    checkMetadata(md);
    checkEtag(etag);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      await this.container.getBlobClient(name).setMetadata(md, { conditions: { ifMatch: etag }, abortSignal });
    } catch (e) {
      const status = httpStatusOf(e);
      // A missing blob answers 404 on Azure, 412 on Azurite: with If-Match both mean "not that version".
      if (status === 412) throw preconditionFailed(`Blob "${name}" has changed (or is gone) since etag ${etag}.`);
      if (status === 404) throw notFound(`No blob named "${name}".`);
      throw sanitized(e, 'setMetadata');
    }
  }

  async delete(name: string, options: OperationOptions = {}): Promise<void> {
    checkBlobName(name);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      await this.container.getBlobClient(name).deleteIfExists({ deleteSnapshots: 'include', abortSignal });
    } catch (e) {
      // deleteIfExists only swallows BlobNotFound; a missing container means no blob either.
      if (httpStatusOf(e) === 404) return;
      throw sanitized(e, 'delete');
    }
  }

  async *list(prefix?: string, options: OperationOptions = {}): AsyncIterable<BlobInfo> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      for await (const item of this.container.listBlobsFlat({ prefix, includeMetadata: true, abortSignal })) {
        throwIfAborted(abortSignal);
        yield {
          name: item.name,
          size: item.properties.contentLength ?? 0,
          createdOn: item.properties.createdOn ?? item.properties.lastModified,
          // Listings give the etag unquoted; headers (and so every other call) give it quoted.
          etag: quotedEtag(item.properties.etag),
          // As the SDK returns it: from the listing XML, so with the names' original case.
          metadata: { ...(item.metadata ?? {}) },
        };
      }
    } catch (e) {
      if (httpStatusOf(e) === 404) return; // the tenant's container is gone: nothing to list
      throw sanitized(e, 'listBlobs');
    }
  }

  async sweepUnfinished(options: SweepUnfinishedOptions): Promise<UnfinishedSweep> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const cutoff = options.olderThan.getTime();
    const out: UnfinishedSweep = { removed: 0, bytes: 0 };
    const committed = new Set<string>();
    try {
      for await (const item of this.container.listBlobsFlat({ abortSignal })) committed.add(item.name);
      // Listed with uncommitted blobs, a name that has only staged blocks appears too.
      for await (const item of this.container.listBlobsFlat({ includeUncommitedBlobs: true, abortSignal })) {
        throwIfAborted(abortSignal);
        if (committed.has(item.name)) continue;
        const when = item.properties.lastModified ?? item.properties.createdOn;
        if (when && when.getTime() > cutoff) continue;
        await discardUncommitted(this.container.getBlockBlobClient(item.name), abortSignal);
        out.removed++;
      }
    } catch (e) {
      if (httpStatusOf(e) === 404) return out; // the tenant's container is gone
      throw sanitized(e, 'sweepUnfinished');
    }
    return out;
  }
}

/**
 * Drops the staged (uncommitted) blocks of a blob that was never committed. The documented way:
 * commit an empty block list, which discards every uncommitted block, only if no blob exists
 * (If-None-Match: *), then delete that empty blob by its etag. A committed blob is left alone.
 */
export async function discardUncommitted(blob: BlockBlobClient, abortSignal: AbortSignal | undefined): Promise<void> {
  let etag: string | undefined;
  try {
    etag = (await blob.commitBlockList([], { conditions: { ifNoneMatch: '*' }, abortSignal })).etag;
  } catch (e) {
    const status = httpStatusOf(e);
    if (status === 409 || status === 412 || status === 404) return; // committed meanwhile, or container gone
    throw e;
  }
  // Not abortable: the empty blob just committed is removed even if the caller has given up.
  await blob.deleteIfExists({ conditions: etag ? { ifMatch: etag } : {} }).catch((e: unknown) => {
    if (httpStatusOf(e) !== 412) throw e;
  });
}

/** Errors of writes into the container: a missing or deleted container is the tenant's storage gone. */
/** A small body in one Put Blob, created only if the name is free (as commitBlockList does). */
async function putSmall(
  blob: BlockBlobClient,
  name: string,
  bytes: Buffer,
  metadata: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<BlobInfo> {
  try {
    const r = await blob.upload(bytes, bytes.length, { metadata, conditions: { ifNoneMatch: '*' }, abortSignal: signal });
    return { name, size: bytes.length, createdOn: r.lastModified ?? new Date(), etag: r.etag ?? '', metadata };
  } catch (e) {
    const status = httpStatusOf(e);
    if ((status === 409 && azureErrorCodeOf(e) !== 'ContainerBeingDeleted') || status === 412) {
      throw conflict(`A blob named "${name}" already exists.`);
    }
    if (signal?.aborted || isAbortError(e)) throw abortError(signal);
    throw writeError(e, 'upload');
  }
}

function writeError(e: unknown, action: string): Error {
  const status = httpStatusOf(e);
  if (status === 409 && azureErrorCodeOf(e) === 'ContainerBeingDeleted') return containerBeingDeleted();
  if (status === 404) return notFound("The tenant's blob container does not exist.");
  return sanitized(e, action);
}

function containerBeingDeleted(): AppError {
  return new AppError('unavailable', "The tenant's blob container is still being deleted; try again later.", {
    retryAfterSeconds: CONTAINER_BEING_DELETED_RETRY_SECONDS,
  });
}

export class AzureBlobStoreFactory implements BlobStoreFactory {
  private readonly stores = new Map<string, Promise<AzureBlobStore>>();

  constructor(private readonly service: BlobServiceClient) {}

  /** Account key or SAS connection string (locally Azurite's). */
  static fromConnectionString(connectionString: string, options?: StoragePipelineOptions): AzureBlobStoreFactory {
    return new AzureBlobStoreFactory(BlobServiceClient.fromConnectionString(connectionString, options));
  }

  /** e.g. https://account.blob.core.windows.net with a managed identity credential. */
  static fromAccountUrl(url: string, credential: TokenCredential, options?: StoragePipelineOptions): AzureBlobStoreFactory {
    return new AzureBlobStoreFactory(new BlobServiceClient(url, credential, options));
  }

  /**
   * The first call per tenant creates the container; concurrent callers share that request,
   * so it is not tied to one caller's signal: an aborted signal is refused before it starts, and
   * a caller whose signal fires meanwhile stops waiting with an AbortError.
   */
  async forTenant(tenantId: string, options: OperationOptions = {}): Promise<BlobStore> {
    const containerName = containerNameFor(tenantId);
    throwIfAborted(options.abortSignal);
    return untilAborted(
      openOnce(this.stores, tenantId, () => this.open(containerName)),
      options.abortSignal,
    );
  }

  async deleteTenant(tenantId: string, options: OperationOptions = {}): Promise<void> {
    const containerName = containerNameFor(tenantId);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    this.stores.delete(tenantId);
    try {
      await this.service.getContainerClient(containerName).deleteIfExists({ abortSignal });
    } catch (e) {
      if (httpStatusOf(e) === 404) return;
      throw sanitized(e, 'deleteContainer');
    }
  }

  private async open(containerName: string): Promise<AzureBlobStore> {
    const container = this.service.getContainerClient(containerName);
    try {
      // No `access`: the container is private (no anonymous reads).
      await container.createIfNotExists();
    } catch (e) {
      if (httpStatusOf(e) === 409 && azureErrorCodeOf(e) === 'ContainerBeingDeleted') throw containerBeingDeleted();
      throw sanitized(e, 'createContainer');
    }
    return new AzureBlobStore(container);
  }
}
