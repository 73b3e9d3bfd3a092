import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError, isAppError, notFound, validation } from '../domain/errors';
import type { Idempotency } from '../domain/events';
import { checkFileName } from '../domain/file-name';
import { checkFileTarget, FILE_ID, gone, parseRecordStreamId, recordStreamId, type FileEntry, type RecordEvent } from '../domain/records';
import type { BlobStoreFactory } from '../ports/blob-store';
import type { KeyProvider, WrappedKey } from '../ports/key-provider';
import type { Clock } from '../ports/runtime';
import {
  decryptStream,
  type EncryptResult,
  encryptedSize,
  encryptionDataJson,
  encryptStream,
  findEncryptionData,
  parseEncryptionData,
  plainRange,
  slicePlaintext,
  withContentKey,
  withNewContentKey,
  wrapContentKey,
} from '../crypto';
import { contentKeyCheck, isFileBindingError, openFileKey, verifySha256AtEnd } from './file-binding';
import { readStreamPages } from './record-reader';
import { toFileDto, type FileDto, type RecordDto, type RecordService } from './records';
import { TenantService, type RequestInfo, type UserPrincipal } from './service';

export interface FileServiceDeps {
  tenants: TenantService;
  records: RecordService;
  keys: KeyProvider;
  blobs: BlobStoreFactory;
  clock: Clock;
  maxFileBytes: number;
  log?: (message: string) => void;
}

export interface UploadInput {
  name: string;
  contentType: string;
  /** Content-Length when the client sent one (checked against the limit before reading). */
  declaredLength?: number;
  /** Set to replace an attached file (a new version of it); otherwise a new file is attached. */
  replaceFileId?: string;
  /**
   * Idempotency-Key with a hash of the request's method, path, If-Match, name, type and length.
   * A retry returns the first answer without reading its body (the body is not compared).
   */
  idempotency?: Idempotency;
}

export interface OpenedFile {
  file: FileDto;
  status: 200 | 206;
  /** Bytes of the body. */
  length: number;
  /** `bytes a-b/size` for 206 answers. */
  contentRange?: string;
  body: AsyncIterable<Uint8Array>;
}

const BLOB_PREFIX_META = 'tlrecord';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Encrypted files attached to records. Each file gets a fresh 256-bit content key; the
 * content is encrypted in 4 MiB AES-256-GCM regions in the Azure Storage client-side
 * encryption v2 layout before it reaches Blob Storage, and the content key is stored in the
 * blob's `encryptiondata` metadata wrapped by the tenant's key (KeyProvider). Plaintext never
 * touches disk and is never held whole in memory.
 */
export class FileService {
  constructor(private readonly d: FileServiceDeps) {}

  async upload(
    p: UserPrincipal,
    type: string,
    id: string,
    input: UploadInput,
    body: AsyncIterable<Uint8Array>,
    ifMatch: number | undefined,
    req: RequestInfo,
  ): Promise<{ status: 200 | 201; file: FileDto; record: RecordDto; replayed: boolean }> {
    TenantService.require(p, 'write');
    const name = checkFileName(input.name);
    if (!/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(input.contentType) || input.contentType.length > 200)
      throw validation('The Content-Type of a file must be a media type such as application/pdf.');
    if (input.declaredLength !== undefined && input.declaredLength > this.d.maxFileBytes) throw tooLarge(this.d.maxFileBytes);
    if (input.replaceFileId !== undefined && !FILE_ID.test(input.replaceFileId)) throw notFound('File not found.');
    const idem = input.idempotency;
    const status = input.replaceFileId ? 200 : 201;
    // A retried upload gets a file id derived from its key, so a retry racing the first attempt
    // attaches the same file id (and loses) instead of a second file.
    const fileId =
      input.replaceFileId ??
      (idem ? derivedFileId(p.tenantId, type, id, idem.key) : `f_${randomBytes(16).toString('base64url').slice(0, 22)}`);
    if (idem) {
      const earlier = await this.d.records.fileReplay(p, type, id, idem);
      const file = earlier?.state.files?.[fileId];
      if (earlier && file) {
        // Read and drop the retry's body, so that the client gets the answer instead of a reset connection.
        for await (const _ of limit(body, this.d.maxFileBytes)) void _;
        return { status, file: toFileDto(file), record: earlier.record, replayed: true };
      }
    }
    // Fail before reading a byte of the body if the record or the file to replace is missing
    // (the record decider's rules for an attach, checked again when the event is decided).
    const state = await this.d.records.recordState(p, type, id);
    const refused = checkFileTarget(state, { fileId, replace: !!input.replaceFileId, expectedVersion: ifMatch });
    if (refused) throw refused;

    const blobName = `${type}/${id}/${fileId}/${randomUUID()}`;
    const blobs = await this.d.blobs.forTenant(p.tenantId);
    const keyName = await this.d.tenants.keyName(p.tenantId);
    let result: EncryptResult;
    let keyId: string;
    let keyCheck: string;
    try {
      ({ result, keyId, keyCheck } = await withNewContentKey(async (cek) => {
        const wrapped = await wrapContentKey(this.d.keys, keyName, cek);
        const enc = encryptStream(limit(body, this.d.maxFileBytes), cek);
        enc.result.catch(() => undefined); // observed below; avoid an unhandled rejection if upload fails first
        try {
          await blobs.upload(blobName, enc.regions, {
            metadata: { encryptiondata: encryptionDataJson(wrapped), [BLOB_PREFIX_META]: `${type}/${id}/${fileId}` },
          });
        } catch (e) {
          await enc.regions.return?.(); // zeroes the stream's copy of the key, read or not
          throw e;
        }
        return { result: await enc.result, keyId: wrapped.keyId, keyCheck: contentKeyCheck(cek, blobName) };
      }));
    } catch (e) {
      await blobs.delete(blobName).catch(() => undefined);
      throw e;
    }
    // Only a fully written blob gets its FileAttached event; if the event fails, the blob goes.
    try {
      const file: Omit<FileEntry, 'version' | 'attachedAt' | 'attachedBy'> = {
        fileId,
        name,
        contentType: input.contentType,
        size: result.plaintextSize,
        sha256: result.sha256,
        blobName,
        keyId,
        keyCheck,
      };
      const {
        record,
        state: next,
        replayed,
      } = await this.d.records.fileCommand(
        p,
        type,
        id,
        { kind: 'attachFile', file, replace: !!input.replaceFileId, ...(ifMatch !== undefined ? { expectedVersion: ifMatch } : {}) },
        req,
        idem,
      );
      // A concurrent retry with the same key got in first: answer as it did, and drop this copy.
      if (replayed) await blobs.delete(blobName).catch(() => undefined);
      const entry = next.files?.[fileId];
      if (!entry) throw new AppError('unprocessable', 'This Idempotency-Key was already used with a different request.');
      return { status, file: toFileDto(entry), record, replayed };
    } catch (e) {
      await blobs.delete(blobName).catch(() => undefined);
      throw e;
    }
  }

  async delete(
    p: UserPrincipal,
    type: string,
    id: string,
    fileId: string,
    ifMatch: number | undefined,
    req: RequestInfo,
    idem?: Idempotency,
  ): Promise<{ record: RecordDto; replayed: boolean }> {
    if (!FILE_ID.test(fileId)) throw notFound('File not found.');
    // The blob stays: older record versions (history, asOf) still reference it.
    const r = await this.d.records.fileCommand(
      p,
      type,
      id,
      { kind: 'deleteFile', fileId, ...(ifMatch !== undefined ? { expectedVersion: ifMatch } : {}) },
      req,
      idem,
    );
    return { record: r.record, replayed: r.replayed };
  }

  /**
   * Opens a file for download: the current version, the one attached at a record version, or
   * the one current at an instant; optionally a byte range (only the covering regions are read
   * and decrypted). Integrity failures of the first region surface before any byte is sent.
   */
  async open(
    p: UserPrincipal,
    type: string,
    id: string,
    fileId: string,
    at: { asOf?: Date; version?: number },
    range?: { start?: number; end?: number },
  ): Promise<OpenedFile> {
    if (!FILE_ID.test(fileId)) throw notFound('File not found.');
    const state = await this.d.records.recordState(p, type, id, at);
    if (state.deleted) throw gone(state);
    const entry = state.files?.[fileId];
    if (!entry) throw notFound('File not found.');
    const blobs = await this.d.blobs.forTenant(p.tenantId);
    const info = await blobs.getInfo(entry.blobName);
    if (!info) throw integrity('The stored file is missing.');
    if (info.size !== encryptedSize(entry.size))
      throw integrity('The stored file does not have the size recorded when it was attached (truncated or extended).');
    let cek: Buffer;
    try {
      // Only the tenant's own key, and only the content key the log recorded for this file.
      cek = await openFileKey(this.d.keys, await this.d.tenants.keyName(p.tenantId), entry, info.metadata);
    } catch (e) {
      if (isFileBindingError(e)) {
        this.d.log?.(`download of file ${fileId} (${entry.blobName}) of tenant ${p.tenantId} refused: ${e.message}`);
        throw integrity(e.message);
      }
      // Metadata naming a key version that does not exist is damage to the stored file, not a missing file.
      if (isAppError(e) && e.code === 'not_found')
        throw integrity("The stored file's encryption metadata names a key version that does not exist; the file cannot be decrypted.");
      throw e;
    }

    let start = 0;
    let end = entry.size - 1;
    let status: 200 | 206 = 200;
    if (range) {
      if (range.start === undefined) {
        // suffix range: the last N bytes
        start = Math.max(0, entry.size - (range.end ?? 0));
      } else {
        start = range.start;
        if (range.end !== undefined) end = Math.min(range.end, entry.size - 1);
      }
      if (start > end || start >= entry.size) {
        cek.fill(0);
        throw new AppError('range_not_satisfiable', `The file has ${entry.size} bytes.`, { size: entry.size });
      }
      status = 206;
    }
    const file = toFileDto(entry);
    if (entry.size === 0) {
      cek.fill(0);
      if (entry.sha256 !== EMPTY_SHA256) throw integrity('The stored file is empty, but the file recorded for it is not.');
      return { file, status: 200, length: 0, body: empty() };
    }
    let plain: AsyncIterable<Uint8Array>;
    try {
      const r = plainRange(start, end, entry.size);
      const cipher = await blobs.download(entry.blobName, { offset: r.cipherOffset, count: r.cipherCount });
      const decrypted = decryptStream(cipher, cek, {
        firstRegion: r.firstRegion,
        regionCount: r.lastRegion - r.firstRegion + 1,
        plainSize: entry.size,
      });
      plain = finallyDo(slicePlaintext(decrypted, r.skipInFirst, r.take), () => cek.fill(0));
    } catch (e) {
      cek.fill(0);
      throw e;
    }
    if (start === 0 && end === entry.size - 1) {
      // The whole file: its SHA-256 must be the one recorded, or the last piece is never sent.
      plain = verifySha256AtEnd(plain, entry.sha256, () =>
        this.d.log?.(
          `download of file ${fileId} (${entry.blobName}) of tenant ${p.tenantId} aborted: its SHA-256 differs from the one recorded in FileAttached`,
        ),
      );
    }
    const it = plain[Symbol.asyncIterator]();
    let first: IteratorResult<Uint8Array>;
    try {
      first = await it.next();
    } catch (e) {
      if (isFileBindingError(e)) throw integrity(e.message);
      throw isCryptoError(e)
        ? integrity(`The stored file failed its integrity check (${(e as { code?: string }).code ?? 'tampered'}).`)
        : e;
    }
    return {
      file,
      status,
      length: end - start + 1,
      ...(status === 206 ? { contentRange: `bytes ${start}-${end}/${entry.size}` } : {}),
      body: resumed(first, it),
    };
  }

  /**
   * Deletes blobs that no FileAttached event references (an upload that crashed between
   * writing the blob and appending its event), and what uploads that never finished left in
   * the store (staged blocks, temp files: a crash mid-upload). Only what is older than
   * `minAgeMs` is touched, so uploads in flight are safe.
   */
  async sweepOrphans(
    tenantId: string,
    minAgeMs = 60 * 60_000,
  ): Promise<{ checked: number; deleted: number; unfinished: number; unfinishedBytes: number }> {
    const blobs = await this.d.blobs.forTenant(tenantId);
    const { events } = await this.d.tenants.stores(tenantId);
    const referenced = new Map<string, Set<string>>();
    let checked = 0;
    let deleted = 0;
    const now = this.d.clock.now().getTime();
    for await (const b of blobs.list()) {
      checked++;
      if (now - b.createdOn.getTime() < minAgeMs) continue;
      const [type, id] = b.name.split('/');
      const streamId = type && id ? recordStreamId(type, id) : '';
      if (!parseRecordStreamId(streamId)) continue;
      let names = referenced.get(streamId);
      if (!names) {
        names = new Set();
        // Paged and yielding: a record's stream can be long (the sweeper is a timer on the shared loop).
        for await (const page of readStreamPages(events, streamId)) {
          for (const c of page) for (const e of c.events as RecordEvent[]) if (e.type === 'FileAttached') names.add(e.data.blobName);
        }
        referenced.set(streamId, names);
      }
      if (!names.has(b.name)) {
        await blobs.delete(b.name);
        deleted++;
        this.d.log?.(`deleted orphan blob ${b.name} of tenant ${tenantId}`);
      }
    }
    const unfinished = await blobs.sweepUnfinished({ olderThan: new Date(now - minAgeMs) });
    return { checked, deleted, unfinished: unfinished.removed, unfinishedBytes: unfinished.bytes };
  }

  /**
   * Rotates the tenant's key: a new key version, then every file's content key is unwrapped
   * and re-wrapped with it (blob metadata only; content is not re-encrypted). Resumable: blobs
   * already wrapped by the newest version are skipped, and older versions stay usable for
   * decryption throughout.
   */
  async rotateKey(
    tenantId: string,
    options: { newVersion: boolean; onProgress?: (done: number, rewrapped: number) => void },
  ): Promise<{ keyId: string; checked: number; rewrapped: number; refused?: number }> {
    const keyName = await this.d.tenants.keyName(tenantId);
    const blobs = await this.d.blobs.forTenant(tenantId);
    const keyId = options.newVersion
      ? (await this.d.keys.rotateKey(keyName)).keyId
      : await withNewContentKey(async (probe) => (await wrapContentKey(this.d.keys, keyName, probe)).keyId);
    let checked = 0;
    let rewrapped = 0;
    let refused = 0;
    for await (const b of blobs.list()) {
      checked++;
      const json = findEncryptionData(b.metadata);
      if (!json) continue;
      let ed: ReturnType<typeof parseEncryptionData>;
      try {
        ed = parseEncryptionData(json);
      } catch (e) {
        // Garbage metadata cannot be re-wrapped either (downloads answer 502 for it): report it, keep rotating.
        refused++;
        this.d.log?.(
          `key rotation of tenant ${tenantId}: blob ${b.name} has invalid encryption metadata (${(e as Error).message}); left as it is`,
        );
        options.onProgress?.(checked, rewrapped);
        continue;
      }
      if (ed.keyId !== keyId) {
        let wrapped: WrappedKey;
        try {
          // Unwrapped only with the tenant's own key; every copy of the content key is zeroed.
          wrapped = await withContentKey(this.d.keys, keyName, ed, (cek) => wrapContentKey(this.d.keys, keyName, cek));
        } catch (e) {
          if (!isCryptoError(e) || (e as { code?: string }).code !== 'wrong-key') throw e;
          // Not this tenant's key (planted by whoever administers the storage, or corrupt): it
          // cannot be re-wrapped, and downloads refuse it anyway. Report it, keep rotating.
          refused++;
          this.d.log?.(`key rotation of tenant ${tenantId}: blob ${b.name} is not wrapped by the tenant's own key; left as it is`);
          options.onProgress?.(checked, rewrapped);
          continue;
        }
        const metadata = { ...b.metadata };
        for (const k of Object.keys(metadata)) if (k.toLowerCase() === 'encryptiondata') delete metadata[k];
        metadata.encryptiondata = encryptionDataJson(wrapped);
        await blobs.setMetadata(b.name, metadata, b.etag);
        rewrapped++;
      }
      options.onProgress?.(checked, rewrapped);
    }
    return { keyId, checked, rewrapped, ...(refused > 0 ? { refused } : {}) };
  }
}

/** The file id a new upload with this Idempotency-Key gets (as records derive their ids). */
function derivedFileId(tenantId: string, type: string, id: string, key: string): string {
  return `f_${createHash('sha256').update(`file\u0000${tenantId}\u0000${type}\u0000${id}\u0000${key}`).digest('base64url').slice(0, 22)}`;
}

function tooLarge(max: number): AppError {
  return new AppError('payload_too_large', `Files may be at most ${max} bytes.`);
}

function integrity(message: string): AppError {
  return new AppError('integrity_failed', message);
}

function isCryptoError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: string }).name === 'FileCryptoError';
}

async function* limit(body: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of body) {
    n += chunk.byteLength;
    if (n > max) throw tooLarge(max);
    yield chunk;
  }
}

async function* empty(): AsyncGenerator<Uint8Array> {
  // no bytes
}

/**
 * The body of an opened file: the piece already read, then the rest of `it`. Abandoning it —
 * `return()` from a client that went away, even before the first read — is passed on to `it`,
 * so the content key is zeroed and the blob download released at once rather than at GC.
 */
function resumed(first: IteratorResult<Uint8Array>, it: AsyncIterator<Uint8Array>): AsyncIterableIterator<Uint8Array> {
  let pending: IteratorResult<Uint8Array> | undefined = first.done ? undefined : first;
  let finished = !!first.done;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (pending) {
        const p = pending;
        pending = undefined;
        return p;
      }
      if (finished) return { done: true, value: undefined };
      const n = await it.next();
      if (n.done) finished = true;
      return n;
    },
    async return() {
      pending = undefined;
      if (!finished) {
        finished = true;
        await it.return?.();
      }
      return { done: true, value: undefined };
    },
  };
}

/** Runs `done` when the stream ends, fails or is abandoned (to zero the content key). */
async function* finallyDo(src: AsyncIterable<Uint8Array>, done: () => void): AsyncGenerator<Uint8Array> {
  try {
    yield* src;
  } finally {
    done();
  }
}
