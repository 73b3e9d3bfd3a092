import { Readable } from 'node:stream';
/**
 * BackupTarget on any S3-compatible service (tier 1 "own cloud", tier 2 "external EU cloud"),
 * with the real `@aws-sdk/client-s3`.
 *
 * Objects live in one bucket under an optional key prefix (`prefix + key`); `list` strips the
 * prefix again. Objects are immutable: `put` never overwrites.
 *
 * put: by default a HeadObject first (an existing key → AppError conflict), then PutObject
 * with `If-None-Match: *` (S3 conditional writes: 412 PreconditionFailed / 409
 * ConditionalRequestConflict → conflict). The HEAD is there for servers that ignore
 * If-None-Match on PUT (s3rver 3.7.1 does; so do some older S3-compatible services): on those
 * there is a race — two writers that both pass the HEAD before either PUT lands both succeed
 * and the later one wins. Backup keys are written by one timer per tenant and tier, so the
 * race needs two concurrent runs of the same backup; on servers that honour If-None-Match
 * (AWS S3 since 2024, most current S3-compatible services) the PUT itself closes it, and
 * `headBeforePut: false` saves the extra request.
 *
 * get: GetObject, body read fully; NoSuchKey/404 → undefined.
 * list: ListObjectsV2 with continuation tokens (S3 returns keys in UTF-8 binary order).
 * delete: DeleteObject (S3 answers 204 whether or not the key existed).
 *
 * Errors are recognised by `name` and `$metadata.httpStatusCode`, never `instanceof`. Failures
 * other than the above become an Error named 'BackupTargetError' (status and code only; the
 * SDK error, which carries the response, is not rethrown); AbortError passes through.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { conflict, validation } from '../../domain/errors';
import type { BackupObject, BackupTarget } from '../../ports/backup-target';
import { backupTargetError, checkKey, httpStatusOf, serviceCodeOf } from './errors';
import { throwIfAborted } from '../abort';

export interface S3BackupTargetOptions {
  /** Tier name, e.g. "own-cloud" or "eu-cloud". */
  name: string;
  bucket: string;
  /** Prepended to every key, e.g. "tenant-ledger/"; '' (default) for none. */
  keyPrefix?: string;
  /** e.g. "https://s3.eu-central-003.backblazeb2.com"; omitted for AWS S3 itself. */
  endpoint?: string;
  region: string;
  /** Path-style URLs (endpoint/bucket/key) instead of virtual-hosted (bucket.endpoint/key). */
  forcePathStyle?: boolean;
  /** Static credentials; omitted → the SDK's default provider chain (env, profile, IMDS, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** HeadObject before PutObject, for servers that ignore If-None-Match (default true). */
  headBeforePut?: boolean;
  /** MaxKeys per ListObjectsV2 page (1..1000, default 1000). */
  listPageSize?: number;
  /**
   * Passed to the S3Client. Default here 'WHEN_REQUIRED' (the SDK's own default sends
   * streamed bodies aws-chunked with CRC trailers, which S3-compatible services often mishandle).
   */
  requestChecksumCalculation?: S3ClientConfig['requestChecksumCalculation'];
  responseChecksumValidation?: S3ClientConfig['responseChecksumValidation'];
  /** TCP/TLS connect timeout per request (default 10 s). The SDK's own default is none. */
  connectTimeoutMs?: number;
  /**
   * A request fails when its socket has been idle this long (default 60 s): a server that
   * accepts the connection and never answers. The SDK's own default is none.
   */
  idleTimeoutMs?: number;
  /** Attempts per call, first try included (default 3, the SDK's default). */
  maxAttempts?: number;
}

/** Call options: the caller's abort signal, handed to every SDK request. */
type CallOptions = { abortSignal?: AbortSignal } | undefined;
const sendOptions = (o: CallOptions) => (o?.abortSignal ? { abortSignal: o.abortSignal } : undefined);

export class S3BackupTarget implements BackupTarget {
  readonly name: string;
  readonly bucket: string;
  private readonly keyPrefix: string;
  private readonly headBeforePut: boolean;
  private readonly listPageSize: number;

  /** Builds its own S3Client from the options. */
  static create(options: S3BackupTargetOptions): S3BackupTarget {
    const config: S3ClientConfig = { region: options.region };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
    if (options.credentials !== undefined) config.credentials = options.credentials;
    // Default WHEN_REQUIRED: with WHEN_SUPPORTED the SDK sends streamed bodies aws-chunked with
    // trailing checksums, which many S3-compatible services (and s3rver) store verbatim.
    config.requestChecksumCalculation = options.requestChecksumCalculation ?? 'WHEN_REQUIRED';
    if (options.responseChecksumValidation !== undefined) config.responseChecksumValidation = options.responseChecksumValidation;
    // Without these the SDK waits forever on a server that accepts and never answers.
    config.requestHandler = { connectionTimeout: options.connectTimeoutMs ?? 10_000, socketTimeout: options.idleTimeoutMs ?? 60_000 };
    config.maxAttempts = options.maxAttempts ?? 3;
    return new S3BackupTarget(new S3Client(config), options);
  }

  constructor(
    readonly client: S3Client,
    options: Pick<S3BackupTargetOptions, 'name' | 'bucket' | 'keyPrefix' | 'headBeforePut' | 'listPageSize'>,
  ) {
    if (!options.bucket) throw validation('An S3 backup target needs a bucket.');
    const pageSize = options.listPageSize ?? 1000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw validation('listPageSize must be an integer from 1 to 1000.');
    this.name = options.name;
    this.bucket = options.bucket;
    this.keyPrefix = options.keyPrefix ?? '';
    this.headBeforePut = options.headBeforePut ?? true;
    this.listPageSize = pageSize;
  }

  async put(key: string, body: Uint8Array, options?: CallOptions): Promise<void> {
    checkKey(key);
    throwIfAborted(options?.abortSignal);
    const Key = this.keyPrefix + key;
    const send = sendOptions(options);
    if (this.headBeforePut) {
      // Racy by itself (see the file comment); the If-None-Match below is what closes the race
      // on servers that honour it.
      if (await this.exists(Key, send)) throw this.exists409(key);
    }
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentLength: body.byteLength, IfNoneMatch: '*' }),
        send,
      );
    } catch (e) {
      const status = httpStatusOf(e);
      const code = serviceCodeOf(e);
      if (status === 412 || code === 'PreconditionFailed' || status === 409 || code === 'ConditionalRequestConflict') {
        throw this.exists409(key);
      }
      throw backupTargetError(this.name, 'put', e);
    }
  }

  async putStream(key: string, chunks: AsyncIterable<Uint8Array>, size: number, options?: CallOptions): Promise<void> {
    checkKey(key);
    throwIfAborted(options?.abortSignal);
    const Key = this.keyPrefix + key;
    const send = sendOptions(options);
    if (this.headBeforePut && (await this.exists(Key, send))) throw this.exists409(key);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key, Body: Readable.from(chunks), ContentLength: size, IfNoneMatch: '*' }),
        send,
      );
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 412 || status === 409 || serviceCodeOf(e) === 'PreconditionFailed') throw this.exists409(key);
      throw backupTargetError(this.name, 'putStream', e);
    }
  }

  async getStream(key: string, options?: CallOptions): Promise<AsyncIterable<Uint8Array> | undefined> {
    checkKey(key);
    throwIfAborted(options?.abortSignal);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }), sendOptions(options));
      if (!out.Body) return (async function* () {})();
      return out.Body as unknown as AsyncIterable<Uint8Array>;
    } catch (e) {
      if (httpStatusOf(e) === 404 && serviceCodeOf(e) !== 'NoSuchBucket') return undefined;
      throw backupTargetError(this.name, 'getStream', e);
    }
  }

  async get(key: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    checkKey(key);
    throwIfAborted(options?.abortSignal);
    const send = sendOptions(options);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }), send);
      if (!out.Body) return new Uint8Array(0);
      return await out.Body.transformToByteArray();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw backupTargetError(this.name, 'get', e);
    }
  }

  async *list(prefix: string, options?: CallOptions): AsyncIterable<BackupObject> {
    let ContinuationToken: string | undefined;
    do {
      throwIfAborted(options?.abortSignal);
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix + prefix,
            MaxKeys: this.listPageSize,
            ...(ContinuationToken !== undefined ? { ContinuationToken } : {}),
          }),
          sendOptions(options),
        );
      } catch (e) {
        throw backupTargetError(this.name, 'list', e);
      }
      for (const o of page.Contents ?? []) {
        throwIfAborted(options?.abortSignal);
        if (o.Key === undefined || !o.Key.startsWith(this.keyPrefix)) continue;
        yield { key: o.Key.slice(this.keyPrefix.length), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
  }

  async delete(key: string, options?: CallOptions): Promise<void> {
    checkKey(key);
    throwIfAborted(options?.abortSignal);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }), sendOptions(options));
    } catch (e) {
      if (isNotFound(e)) return; // some S3-compatible services answer 404 instead of 204
      throw backupTargetError(this.name, 'delete', e);
    }
  }

  private async exists(Key: string, send: CallOptions): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), send);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw backupTargetError(this.name, 'put', e);
    }
  }

  private exists409(key: string) {
    return conflict(`Backup object ${key} already exists in ${this.name}; backup objects are never overwritten.`);
  }
}

/** NoSuchKey (GET), NotFound (HEAD: no body, so the SDK names it by status) or plain 404. */
function isNotFound(e: unknown): boolean {
  const code = serviceCodeOf(e);
  if (code === 'NoSuchBucket') return false; // a misconfigured target is an error, not an absent object
  return httpStatusOf(e) === 404 || code === 'NoSuchKey' || code === 'NotFound';
}
