/** Uploading (attach, replace) and detaching a record's files. */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError, notFound, validation } from '../../domain/errors';
import { checkFileName } from '../../domain/file-name';
import { checkFileTarget, FILE_ID, type FileEntry } from '../../domain/records';
import { type EncryptResult, encryptionDataJson, encryptStream, withNewContentKey, wrapContentKey } from '../../crypto';
import { contentKeyCheck } from '../file-binding';
import { type FileDto, type RecordDto, type RecordRef, toFileDto } from '../records';
import type { CommandOptions } from '../request';
import { TenantService, type UserPrincipal } from '../service';
import { type FileServiceDeps, signalOf } from './common';

export interface UploadInput extends RecordRef {
  name: string;
  contentType: string;
  /** Content-Length when the client sent one (checked against the limit before reading). */
  declaredLength?: number | undefined;
  /** Set to replace an attached file (a new version of it); otherwise a new file is attached. */
  replaceFileId?: string | undefined;
  /** The record version the client read (If-Match). */
  ifMatch?: number | undefined;
  /** The file's content, read once. */
  body: AsyncIterable<Uint8Array>;
}

export interface DeleteFileInput extends RecordRef {
  fileId: string;
  ifMatch?: number | undefined;
}

const BLOB_PREFIX_META = 'tlrecord';

/**
 * Attaches (or replaces) a file. With an Idempotency-Key (its hash covers the request's
 * method, path, If-Match, name, type and length), a retry returns the first answer without
 * reading its body (the body is not compared).
 */
export async function upload(
  d: FileServiceDeps,
  p: UserPrincipal,
  input: UploadInput,
  options: CommandOptions,
): Promise<{ status: 200 | 201; file: FileDto; record: RecordDto; replayed: boolean }> {
  const { type, id, body, ifMatch } = input;
  TenantService.require(p, 'write');
  const name = checkFileName(input.name);
  if (!/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(input.contentType) || input.contentType.length > 200)
    throw validation('The Content-Type of a file must be a media type such as application/pdf.');
  if (input.declaredLength !== undefined && input.declaredLength > d.maxFileBytes) throw tooLarge(d.maxFileBytes);
  if (input.replaceFileId !== undefined && !FILE_ID.test(input.replaceFileId)) throw notFound('File not found.');
  const idem = options.idempotency;
  const status = input.replaceFileId ? 200 : 201;
  // A retried upload gets a file id derived from its key, so a retry racing the first attempt
  // attaches the same file id (and loses) instead of a second file.
  const fileId =
    input.replaceFileId ??
    (idem ? derivedFileId(p.tenantId, type, id, idem.key) : `f_${randomBytes(16).toString('base64url').slice(0, 22)}`);
  if (idem) {
    const earlier = await d.records.fileReplay(p, { type, id }, { ...signalOf(options), idempotency: idem });
    const file = earlier?.state.files?.[fileId];
    if (earlier && file) {
      // Read and drop the retry's body, so that the client gets the answer instead of a reset connection.
      for await (const _ of limit(body, d.maxFileBytes)) void _;
      return { status, file: toFileDto(file), record: earlier.record, replayed: true };
    }
  }
  // Fail before reading a byte of the body if the record or the file to replace is missing
  // (the record decider's rules for an attach, checked again when the event is decided).
  const state = await d.records.recordState(p, { type, id }, signalOf(options));
  const refused = checkFileTarget(state, { fileId, replace: !!input.replaceFileId, expectedVersion: ifMatch });
  if (refused) throw refused;

  const blobName = `${type}/${id}/${fileId}/${randomUUID()}`;
  const blobs = await d.blobs.forTenant(p.tenantId);
  const keyName = await d.tenants.keyName(p.tenantId);
  let result: EncryptResult;
  let keyId: string;
  let keyCheck: string;
  try {
    ({ result, keyId, keyCheck } = await withNewContentKey(async (cek) => {
      const wrapped = await wrapContentKey(d.keys, keyName, cek);
      const enc = encryptStream(limit(body, d.maxFileBytes), cek);
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
    } = await d.records.fileCommand(
      p,
      {
        type,
        id,
        command: {
          kind: 'attachFile',
          file,
          replace: !!input.replaceFileId,
          ...(ifMatch !== undefined ? { expectedVersion: ifMatch } : {}),
        },
      },
      options,
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

export async function deleteFile(
  d: FileServiceDeps,
  p: UserPrincipal,
  input: DeleteFileInput,
  options: CommandOptions,
): Promise<{ record: RecordDto; replayed: boolean }> {
  const { type, id, fileId, ifMatch } = input;
  if (!FILE_ID.test(fileId)) throw notFound('File not found.');
  // The blob stays: older record versions (history, asOf) still reference it.
  const r = await d.records.fileCommand(
    p,
    { type, id, command: { kind: 'deleteFile', fileId, ...(ifMatch !== undefined ? { expectedVersion: ifMatch } : {}) } },
    options,
  );
  return { record: r.record, replayed: r.replayed };
}

/** The file id a new upload with this Idempotency-Key gets (as records derive their ids). */
function derivedFileId(tenantId: string, type: string, id: string, key: string): string {
  return `f_${createHash('sha256').update(`file\u0000${tenantId}\u0000${type}\u0000${id}\u0000${key}`).digest('base64url').slice(0, 22)}`;
}

function tooLarge(max: number): AppError {
  return new AppError('payload_too_large', `Files may be at most ${max} bytes.`);
}

async function* limit(body: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of body) {
    n += chunk.byteLength;
    if (n > max) throw tooLarge(max);
    yield chunk;
  }
}
