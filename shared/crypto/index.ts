/**
 * Client-side file encryption in the Azure Storage client-side encryption **v2 ("2.0")**
 * format, so that blobs the service writes can be read by the official .NET/Java/Python
 * SDKs (given the tenant's key) and blobs they write can be read here.
 *
 * Format (as `azure/storage/blob/_encryption.py` writes protocol 2.0):
 *  - a fresh 32-byte content key (CEK) per file; the key provider wraps
 *    `"2.0"` padded with NUL to 8 bytes ‖ CEK (40 bytes, so that A256KW can wrap it);
 *  - the plaintext is cut into regions of 4 MiB (the last one shorter); region i is stored as
 *    `nonce(12) ‖ AES-256-GCM(CEK, nonce, data, no AAD) ‖ tag(16)`; the nonce is i as a
 *    12-byte big-endian integer (what the Python SDK writes);
 *  - the blob metadata `encryptiondata` holds the JSON from {@link encryptionDataJson}.
 *
 * Everything streams with constant memory: about one region (4 MiB) at a time, never the file.
 * Decryption authenticates a region before releasing any of its plaintext, checks every
 * region's stored nonce against its position and every region's length against the file size
 * recorded in the file's event, so reordered, swapped, truncated or extended ciphertext fails
 * with a {@link FileCryptoError} and never yields plaintext of the damaged part.
 *
 * Key material never appears in errors or logs; the module's own copies of the CEK are zeroed
 * when a stream ends.
 *
 * The folder is the codec, split by concern: format.ts (constants, errors, sizes and ranges),
 * encryption-data.ts (the `encryptiondata` metadata), content-key.ts (content keys) and
 * encrypt-stream.ts, decrypt-stream.ts. Import from the folder: it exports only what zeroes every copy
 * of a key it makes (withNewContentKey, wrapContentKey, withContentKey, the streams) and, for
 * a key that must outlive one call (a download streamed to a client), unwrapContentKey, whose
 * result the caller zeroes. The raw payload helpers and bare key generation stay inside.
 */
export {
  CONTENT_KEY_LENGTH,
  ENCRYPTION_ALGORITHM,
  ENCRYPTION_DATA_KEY,
  ENCRYPTION_MODE,
  ENCRYPTION_PROTOCOL,
  encryptedSize,
  FileCryptoError,
  type FileCryptoErrorCode,
  isFileCryptoError,
  NONCE_LENGTH,
  type PlainRange,
  plainRange,
  plainSizeOf,
  REGION_OVERHEAD,
  REGION_SIZE,
  regionCountOf,
  slicePlaintext,
  TAG_LENGTH,
} from './format';
export {
  type EncryptionData,
  type EncryptionDataOptions,
  encryptionDataJson,
  findEncryptionData,
  parseEncryptionData,
  wrappedKeyOf,
} from './encryption-data';
export { unwrapContentKey, withContentKey, withNewContentKey, wrapContentKey } from './content-key';
export { type DecryptOptions, decryptStream } from './decrypt-stream';
export { type EncryptResult, type EncryptStream, encryptStream } from './encrypt-stream';
export {
  newSubjectKey,
  openJson,
  rewrapSubjectKey,
  type SealedValue,
  sealJson,
  unwrapSubjectKey,
  type WrappedSubjectKey,
} from './personal-seal';
