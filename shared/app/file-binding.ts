/**
 * Binding a stored file to its tenant and to the `FileAttached` event that records it, so that
 * whoever administers the storage account cannot make the service serve other bytes than the
 * ones the tenant's log recorded:
 *
 *  - **Tenant.** The content key is unwrapped only with the tenant's own key (the key provider
 *    refuses a key id of any other key, whatever the blob metadata names).
 *  - **Object.** New `FileAttached` events record `keyCheck`, an HMAC-SHA-256 keyed with the
 *    content key over the blob name (a commitment: it reveals nothing about the key). The key the
 *    metadata unwraps to must reproduce it, so metadata (and content) copied from another file —
 *    of another tenant or of the same tenant — is refused before a byte is sent. The wrapped key
 *    itself may legitimately change (key rotation and restores re-wrap it, metadata only); the
 *    content key never does, which is why the log commits to the key rather than to a wrapping.
 *  - **Content.** Each region is authenticated by AES-GCM with that key, and a whole-file
 *    download also checks the plaintext's SHA-256 against the event at the end, releasing the
 *    last piece only when it matches (see {@link verifySha256AtEnd}).
 *
 * Events written before `keyCheck` existed fall back to the metadata (still unwrapped only with
 * the tenant's own key), and rely on the size and end-of-download SHA-256 checks.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { KeyProvider } from '../ports/key-provider';
import { FileCryptoError, findEncryptionData, parseEncryptionData, unwrapContentKey } from '../crypto';

const KEY_CHECK_LABEL = 'tenant-ledger file key check v1\0';

/** The commitment recorded in `FileAttached.keyCheck`: HMAC-SHA-256(content key, label ‖ blob name), hex. */
export function contentKeyCheck(cek: Uint8Array, blobName: string): string {
  return createHmac('sha256', cek)
    .update(KEY_CHECK_LABEL + blobName, 'utf8')
    .digest('hex');
}

/** Why a stored file is refused; mapped to 502 (integrity_failed) by the file service. */
export class FileBindingError extends Error {
  override readonly name = 'FileBindingError';
}

export function isFileBindingError(e: unknown): e is FileBindingError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'FileBindingError';
}

/** What the log recorded for one file version (a FileAttached event). */
export interface RecordedFileKey {
  blobName: string;
  /** Absent in events written before the binding existed. */
  keyCheck?: string;
}

/**
 * Unwraps the content key of a stored file from its blob metadata with the tenant's own key
 * `keyName`, and checks it against what the log recorded for that file. Throws
 * FileBindingError (never returning a key) when the metadata is missing or malformed, names
 * another tenant's key, or unwraps to a key other than the recorded one. The caller zeroes the
 * returned key.
 */
export async function openFileKey(
  keys: KeyProvider,
  keyName: string,
  recorded: RecordedFileKey,
  metadata: Record<string, string> | undefined,
): Promise<Buffer> {
  let cek: Buffer;
  try {
    const json = findEncryptionData(metadata);
    if (json === undefined) throw new FileBindingError('The stored file has no encryption metadata.');
    cek = await unwrapContentKey(keys, keyName, parseEncryptionData(json));
  } catch (e) {
    if (isFileBindingError(e)) throw e;
    if (e instanceof FileCryptoError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'FileCryptoError')) {
      const code = (e as FileCryptoError).code;
      throw new FileBindingError(
        code === 'wrong-key'
          ? "The stored file's content key is not wrapped by this tenant's own key: the file was not written for this tenant and is refused."
          : `The stored file's encryption metadata is not valid (${code}: ${(e as Error).message.replace(/^Invalid encryptiondata: /, '')})`,
      );
    }
    throw e;
  }
  if (recorded.keyCheck !== undefined && !sameHex(contentKeyCheck(cek, recorded.blobName), recorded.keyCheck)) {
    cek.fill(0);
    throw new FileBindingError(
      "The stored file's content key is not the one recorded for this file in the tenant's log: the blob or its metadata was replaced.",
    );
  }
  return cek;
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Passes a plaintext stream through while hashing it, holding back the last piece until the
 * stream ended and its SHA-256 equals `expectedHex`. On a mismatch it throws (calling
 * `onMismatch` first) instead of releasing the last piece, so a client never receives a
 * complete body whose content differs from the recorded one: it sees a broken transfer.
 */
export async function* verifySha256AtEnd(
  plain: AsyncIterable<Uint8Array>,
  expectedHex: string,
  onMismatch: () => void,
): AsyncGenerator<Uint8Array, void, undefined> {
  const hash = createHash('sha256');
  let held: Uint8Array | undefined;
  for await (const chunk of plain) {
    if (chunk.length === 0) continue;
    hash.update(chunk);
    if (held) yield held;
    held = chunk;
  }
  if (hash.digest('hex') !== expectedHex) {
    held?.fill(0);
    onMismatch();
    throw new FileBindingError(
      "The downloaded file's SHA-256 differs from the one recorded when it was attached: the transfer was stopped before its end.",
    );
  }
  if (held) yield held;
}
