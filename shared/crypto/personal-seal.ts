/**
 * Sealing of personal values (issue 14, erasure of a data subject): small JSON values encrypted
 * with AES-256-GCM under a per-subject data key, bound to where they are stored (associated
 * data). A sealed value is `{ iv, ct }` (base64url; `ct` = ciphertext ‖ 16-byte tag).
 *
 * Subject keys are 32 random bytes, wrapped by the tenant's key with the same v2 payload as file
 * content keys (content-key.ts), so only the tenant's own key unwraps them.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyProvider } from '../ports/key-provider';
import { unwrapContentKey, wrapContentKey } from './content-key';
import { CONTENT_KEY_LENGTH, FileCryptoError, NONCE_LENGTH, TAG_LENGTH } from './format';

export interface SealedValue {
  /** 12-byte nonce, base64url. */
  iv: string;
  /** Ciphertext ‖ tag, base64url. */
  ct: string;
}

/** A subject's data key as stored in the keyring: wrapped by the tenant's key, never in clear. */
export interface WrappedSubjectKey {
  keyId: string;
  algorithm: string;
  encryptedKey: string;
}

/** Encrypts the JSON of `value` under `key` (32 bytes); `aad` binds it to its place. */
export function sealJson(key: Uint8Array, aad: string, value: unknown): SealedValue {
  checkKey(key);
  const iv = randomBytes(NONCE_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { iv: iv.toString('base64url'), ct: ct.toString('base64url') };
}

/** Decrypts a sealed value; throws FileCryptoError 'tampered' when it does not authenticate under `key` and `aad`. */
export function openJson(key: Uint8Array, aad: string, sealed: SealedValue): unknown {
  checkKey(key);
  const iv = Buffer.from(String(sealed?.iv ?? ''), 'base64url');
  const all = Buffer.from(String(sealed?.ct ?? ''), 'base64url');
  if (iv.length !== NONCE_LENGTH || all.length < TAG_LENGTH)
    throw new FileCryptoError('invalid-metadata', 'A sealed personal value is malformed.');
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(all.subarray(all.length - TAG_LENGTH));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(all.subarray(0, all.length - TAG_LENGTH)), decipher.final()]);
  } catch {
    throw new FileCryptoError('tampered', 'A sealed personal value does not authenticate under its subject key (altered or moved).');
  }
  try {
    return JSON.parse(plain.toString('utf8'));
  } finally {
    plain.fill(0);
  }
}

/** A fresh subject key wrapped by the tenant's key `keyName`; the caller owns (and zeroes) `key`. */
export async function newSubjectKey(keys: KeyProvider, keyName: string): Promise<{ key: Buffer; wrapped: WrappedSubjectKey }> {
  const key = randomBytes(CONTENT_KEY_LENGTH);
  try {
    const w = await wrapContentKey(keys, keyName, key);
    return { key, wrapped: { keyId: w.keyId, algorithm: w.algorithm, encryptedKey: w.wrapped } };
  } catch (e) {
    key.fill(0);
    throw e;
  }
}

/** Unwraps a subject key with the tenant's own key (a foreign key id is refused); the caller zeroes it. */
export function unwrapSubjectKey(keys: KeyProvider, keyName: string, wrapped: WrappedSubjectKey): Promise<Buffer> {
  return unwrapContentKey(keys, keyName, wrapped);
}

/** Re-wraps a subject key from one tenant key to another (restores); the clear key is zeroed. */
export async function rewrapSubjectKey(
  keys: KeyProvider,
  from: { keyName: string; wrapped: WrappedSubjectKey },
  toKeyName: string,
): Promise<WrappedSubjectKey> {
  const key = await unwrapContentKey(keys, from.keyName, from.wrapped);
  try {
    const w = await wrapContentKey(keys, toKeyName, key);
    return { keyId: w.keyId, algorithm: w.algorithm, encryptedKey: w.wrapped };
  } finally {
    key.fill(0);
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== CONTENT_KEY_LENGTH)
    throw new FileCryptoError('invalid-argument', `A subject key must be ${CONTENT_KEY_LENGTH} bytes.`);
}
