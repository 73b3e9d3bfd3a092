/** Downloading a record's file: decrypted as it streams, whole or a byte range, any version. */
import { AppError, isAppError, notFound } from '../../domain/errors';
import { FILE_ID, gone } from '../../domain/records';
import type { OperationOptions } from '../../ports/options';
import { decryptStream, encryptedSize, plainRange, slicePlaintext } from '../../crypto';
import { isFileBindingError, openFileKey, verifySha256AtEnd } from '../file-binding';
import { type FileDto, type RecordRef, toFileDto } from '../records';
import type { UserPrincipal } from '../service';
import { type FileServiceDeps, integrity, isCryptoError, signalOf } from './common';

export interface OpenFileInput extends RecordRef {
  fileId: string;
  /** The file as attached at this record version… */
  version?: number | undefined;
  /** …or as it was at this instant (neither: the current one). */
  asOf?: Date | undefined;
  /** A byte range (`end` alone: the last `end` bytes). */
  range?: { start?: number; end?: number } | undefined;
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

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Opens a file for download: the current version, the one attached at a record version, or
 * the one current at an instant; optionally a byte range (only the covering regions are read
 * and decrypted). Integrity failures of the first region surface before any byte is sent.
 */
export async function openFile(
  d: FileServiceDeps,
  p: UserPrincipal,
  input: OpenFileInput,
  options: OperationOptions = {},
): Promise<OpenedFile> {
  const { type, id, fileId, range } = input;
  if (!FILE_ID.test(fileId)) throw notFound('File not found.');
  const state = await d.records.recordState(p, { type, id, asOf: input.asOf, version: input.version }, signalOf(options));
  if (state.deleted) throw gone(state);
  const entry = state.files?.[fileId];
  if (!entry) throw notFound('File not found.');
  const blobs = await d.blobs.forTenant(p.tenantId);
  const info = await blobs.getInfo(entry.blobName);
  if (!info) throw integrity('The stored file is missing.');
  if (info.size !== encryptedSize(entry.size))
    throw integrity('The stored file does not have the size recorded when it was attached (truncated or extended).');
  let cek: Buffer;
  try {
    // Only the tenant's own key, and only the content key the log recorded for this file.
    cek = await openFileKey(d.keys, await d.tenants.keyName(p.tenantId), entry, info.metadata);
  } catch (e) {
    if (isFileBindingError(e)) {
      d.log?.(`download of file ${fileId} (${entry.blobName}) of tenant ${p.tenantId} refused: ${e.message}`);
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
      d.log?.(
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
    throw isCryptoError(e) ? integrity(`The stored file failed its integrity check (${(e as { code?: string }).code ?? 'tampered'}).`) : e;
  }
  return {
    file,
    status,
    length: end - start + 1,
    ...(status === 206 ? { contentRange: `bytes ${start}-${end}/${entry.size}` } : {}),
    body: resumed(first, it),
  };
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
