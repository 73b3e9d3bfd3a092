/**
 * Content keys (CEKs): a fresh random key per file or backup segment, wrapped by the tenant's
 * key as the v2 payload `"2.0\0\0\0\0\0"` ‖ CEK. Every function here that makes a copy of a key
 * zeroes it, or hands it to a callback and zeroes it when the callback settles.
 */
import { randomBytes } from 'node:crypto';
import type { KeyProvider, WrappedKey } from '../ports/key-provider';
import { type EncryptionData, wrappedKeyOf } from './encryption-data';
import { CONTENT_KEY_LENGTH, checkContentKey, ENCRYPTION_PROTOCOL, FileCryptoError } from './format';

/** `"2.0"` padded with NUL to 8 bytes: the prefix of the wrapped payload. */
const PAYLOAD_PREFIX = Buffer.from([0x32, 0x2e, 0x30, 0, 0, 0, 0, 0]);
const PAYLOAD_LENGTH = PAYLOAD_PREFIX.length + CONTENT_KEY_LENGTH;

/** A fresh random 32-byte content key (inside this module only: callers use {@link withNewContentKey}). */
function newContentKey(): Buffer {
  return randomBytes(CONTENT_KEY_LENGTH);
}

/**
 * Runs `fn` with a fresh content key and zeroes the key when `fn` settles (returns or throws).
 * `fn` must not keep the key beyond its promise (streams that need it take their own copy,
 * as encryptStream does, and zero that when they end).
 */
export async function withNewContentKey<T>(fn: (cek: Buffer) => Promise<T>): Promise<T> {
  const cek = newContentKey();
  try {
    return await fn(cek);
  } finally {
    cek.fill(0);
  }
}

/**
 * Low level: the bytes the key provider wraps for v2, `"2.0\0\0\0\0\0"` ‖ cek (40 bytes). The
 * result holds a copy of the key, so it stays inside this module: {@link wrapContentKey}
 * zeroes it.
 */
function wrapPayload(cek: Uint8Array): Buffer {
  checkContentKey(cek);
  const out = Buffer.alloc(PAYLOAD_LENGTH);
  PAYLOAD_PREFIX.copy(out, 0);
  out.set(cek, PAYLOAD_PREFIX.length);
  return out;
}

/**
 * Low level: checks the v2 prefix and length of an unwrapped payload and returns a copy of the
 * content key (the payload is not zeroed). Callers outside this module use
 * {@link unwrapContentKey} / {@link withContentKey}, which zero every copy.
 */
function unwrapPayload(bytes: Uint8Array): Buffer {
  if (!(bytes instanceof Uint8Array) || bytes.length !== PAYLOAD_LENGTH) {
    throw new FileCryptoError(
      'invalid-metadata',
      `The unwrapped content key has the wrong length for protocol ${ENCRYPTION_PROTOCOL} (expected ${PAYLOAD_LENGTH} bytes).`,
    );
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!view.subarray(0, PAYLOAD_PREFIX.length).equals(PAYLOAD_PREFIX)) {
    throw new FileCryptoError(
      'invalid-metadata',
      `The unwrapped content key does not carry the protocol ${ENCRYPTION_PROTOCOL} prefix: the encryption metadata is not valid and may have been modified.`,
    );
  }
  return Buffer.from(view.subarray(PAYLOAD_PREFIX.length));
}

/** Wraps `cek` (as a v2 payload) with the tenant's key `keyName`; the payload copy is zeroed. */
export async function wrapContentKey(keys: KeyProvider, keyName: string, cek: Uint8Array): Promise<WrappedKey> {
  const payload = wrapPayload(cek);
  try {
    return await keys.wrapKey(keyName, payload);
  } finally {
    payload.fill(0);
  }
}

/**
 * Unwraps the content key recorded in a file's (or segment's) encryption data with the
 * tenant's own key `keyName`: a key id naming any other key is refused by the key provider.
 * A provider's `KeyUnwrapError` (another tenant's key, a corrupt wrapped key) becomes
 * FileCryptoError 'wrong-key'; other provider errors (e.g. the key version no longer exists)
 * pass through unchanged. The unwrapped payload is zeroed; the caller zeroes the returned key.
 * Only for a key that must outlive one call (a download streamed to a client: file-binding.ts's
 * openFileKey); everything else uses {@link withContentKey}, which zeroes it on every path.
 */
export async function unwrapContentKey(
  keys: KeyProvider,
  keyName: string,
  data: Pick<EncryptionData, 'keyId' | 'algorithm' | 'encryptedKey'>,
): Promise<Buffer> {
  let payload: Uint8Array;
  try {
    payload = await keys.unwrapKey(keyName, wrappedKeyOf(data));
  } catch (e) {
    if (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'KeyUnwrapError') {
      throw new FileCryptoError(
        'wrong-key',
        "The content key could not be unwrapped with the tenant's own key: it belongs to another key (another tenant's?) or is corrupt.",
      );
    }
    throw e;
  }
  try {
    return unwrapPayload(payload);
  } finally {
    payload.fill(0);
  }
}

/** Unwraps a content key with the tenant's own key (see unwrapContentKey), runs `fn`, and zeroes the key when `fn` settles. */
export async function withContentKey<T>(
  keys: KeyProvider,
  keyName: string,
  data: Pick<EncryptionData, 'keyId' | 'algorithm' | 'encryptedKey'>,
  fn: (cek: Buffer) => Promise<T>,
): Promise<T> {
  const cek = await unwrapContentKey(keys, keyName, data);
  try {
    return await fn(cek);
  } finally {
    cek.fill(0);
  }
}
