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
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, type CipherGCM } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KeyProvider, WrappedKey } from '../ports/key-provider';

export const REGION_SIZE = 4 * 1024 * 1024;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
export const CONTENT_KEY_LENGTH = 32;
/** Per-region overhead: nonce + tag. */
export const REGION_OVERHEAD = NONCE_LENGTH + TAG_LENGTH;
export const ENCRYPTION_PROTOCOL = '2.0';
export const ENCRYPTION_ALGORITHM = 'AES_GCM_256';
export const ENCRYPTION_MODE = 'FullBlob';
/** The metadata key, written in lower case: the Python reader looks it up case-sensitively. */
export const ENCRYPTION_DATA_KEY = 'encryptiondata';
/** Largest piece handed to one `update()` call: one big call is ~3× slower (output allocation). */
const MAX_UPDATE = 64 * 1024;
/** `"2.0"` padded with NUL to 8 bytes: the prefix of the wrapped payload. */
const PAYLOAD_PREFIX = Buffer.from([0x32, 0x2e, 0x30, 0, 0, 0, 0, 0]);
const PAYLOAD_LENGTH = PAYLOAD_PREFIX.length + CONTENT_KEY_LENGTH;

export type FileCryptoErrorCode =
  /** A region failed authentication (modified bytes, a region from another file, or a wrong content key: GCM cannot tell these apart). */
  | 'tampered'
  /** The ciphertext ends before the size recorded for the file says it should. */
  | 'truncated'
  /** The ciphertext has bytes beyond what the recorded size allows. */
  | 'extended'
  /** A region's stored nonce names another region of this file: regions were moved. */
  | 'reordered'
  /** The content key could not be unwrapped with the tenant's key (another key, or a corrupt wrapped key). */
  | 'wrong-key'
  /** The `encryptiondata` metadata or the unwrapped key payload is missing, malformed or of an unsupported version. */
  | 'invalid-metadata'
  /** A caller passed impossible arguments (bad key length, range outside the file, …). */
  | 'invalid-argument'
  /** The consumer stopped reading the encrypted regions before the end. */
  | 'aborted';

/** Errors of this module. Checked by `name`/`code` (see isFileCryptoError); messages never carry key material. */
export class FileCryptoError extends Error {
  override readonly name = 'FileCryptoError';
  constructor(
    readonly code: FileCryptoErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isFileCryptoError(e: unknown): e is FileCryptoError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as { name?: unknown }).name === 'FileCryptoError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
}

// ---------------------------------------------------------------------------------------------
// Content keys

/**
 * A fresh random 32-byte content key. The caller zeroes it when done; prefer
 * {@link withNewContentKey}, which does that on every path.
 */
export function newContentKey(): Buffer {
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
 * result holds a copy of the key: callers outside this module use {@link wrapContentKey},
 * which zeroes it (a test checks that no other module calls this).
 */
export function wrapPayload(cek: Uint8Array): Buffer {
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
export function unwrapPayload(bytes: Uint8Array): Buffer {
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
 * pass through unchanged. The unwrapped payload is zeroed; the caller zeroes the returned key
 * when done — prefer {@link withContentKey}, which does that on every path.
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

// ---------------------------------------------------------------------------------------------
// Metadata (`encryptiondata`)

export interface EncryptionDataOptions {
  /** `KeyWrappingMetadata.EncryptionLibrary`; defaults to "tenant-ledger <package version>". */
  encryptionLibrary?: string;
}

/** The validated content of an `encryptiondata` value. */
export interface EncryptionData {
  /** `WrappedContentKey.KeyId`: the versioned id of the key-encryption key. */
  keyId: string;
  /** `WrappedContentKey.Algorithm`: the key wrap algorithm (e.g. "A256KW", "RSA-OAEP-256"). */
  algorithm: string;
  /** `WrappedContentKey.EncryptedKey`: the wrapped v2 payload, base64. */
  encryptedKey: string;
  /** `EncryptionAgent.Protocol`. */
  protocol: typeof ENCRYPTION_PROTOCOL;
  /** `EncryptionAgent.EncryptionAlgorithm`. */
  encryptionAlgorithm: typeof ENCRYPTION_ALGORITHM;
  /** `EncryptedRegionInfo.DataLength` (always 4 MiB in protocol 2.0). */
  regionSize: number;
  nonceLength: typeof NONCE_LENGTH;
  /** `KeyWrappingMetadata.EncryptionLibrary`, when present (e.g. "Python 12.15.0"). */
  encryptionLibrary?: string;
  /** `EncryptionMode`, when present ("FullBlob"). */
  encryptionMode?: string;
}

let defaultLibrary: string | undefined;
/** "tenant-ledger <version>" from the nearest package.json named tenant-ledger (works from sources and from dist/). */
function libraryName(): string {
  if (defaultLibrary !== undefined) return defaultLibrary;
  let version: string | undefined;
  let dir = __dirname;
  for (let i = 0; i < 5 && version === undefined; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'tenant-ledger' && typeof pkg.version === 'string') version = pkg.version;
    } catch {
      // not here: go up
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  defaultLibrary = version ? `tenant-ledger ${version}` : 'tenant-ledger';
  return defaultLibrary;
}

/**
 * Python's `json.dumps` (default separators ", " and ": ", ensure_ascii) for a string:
 * everything outside printable ASCII is escaped as lower-case \uXXXX, so the value is also a
 * valid HTTP header value.
 */
function pyString(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The `encryptiondata` metadata value, byte for byte as the Python SDK writes protocol 2.0
 * (same field order — the Java reader depends on it — and the same `json.dumps` spacing):
 * `{"WrappedContentKey": {"KeyId", "EncryptedKey", "Algorithm"}, "EncryptionAgent": {"Protocol",
 * "EncryptionAlgorithm"}, "EncryptedRegionInfo": {"DataLength", "NonceLength"},
 * "KeyWrappingMetadata": {"EncryptionLibrary"}, "EncryptionMode": "FullBlob"}`.
 * Protocol 2.0 has a fixed region size of 4 MiB, so none can be chosen here.
 */
export function encryptionDataJson(wrapped: WrappedKey, options: EncryptionDataOptions = {}): string {
  if (
    !wrapped ||
    typeof wrapped.keyId !== 'string' ||
    wrapped.keyId === '' ||
    typeof wrapped.algorithm !== 'string' ||
    wrapped.algorithm === '' ||
    typeof wrapped.wrapped !== 'string' ||
    !isBase64(wrapped.wrapped)
  ) {
    throw new FileCryptoError('invalid-argument', 'The wrapped key needs a key id, an algorithm and base64 key bytes.');
  }
  const library = options.encryptionLibrary ?? libraryName();
  return (
    `{"WrappedContentKey": {"KeyId": ${pyString(wrapped.keyId)}, "EncryptedKey": ${pyString(wrapped.wrapped)}, "Algorithm": ${pyString(wrapped.algorithm)}}, ` +
    `"EncryptionAgent": {"Protocol": "${ENCRYPTION_PROTOCOL}", "EncryptionAlgorithm": "${ENCRYPTION_ALGORITHM}"}, ` +
    `"EncryptedRegionInfo": {"DataLength": ${REGION_SIZE}, "NonceLength": ${NONCE_LENGTH}}, ` +
    `"KeyWrappingMetadata": {"EncryptionLibrary": ${pyString(library)}}, ` +
    `"EncryptionMode": "${ENCRYPTION_MODE}"}`
  );
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/;
function isBase64(s: string): boolean {
  return BASE64.test(s);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const MAX_ENCRYPTION_DATA_LENGTH = 8192;

function bad(message: string): FileCryptoError {
  return new FileCryptoError('invalid-metadata', `Invalid encryptiondata: ${message}`);
}

/**
 * Parses and validates an `encryptiondata` value: only protocol "2.0" with AES_GCM_256,
 * 4 MiB regions and 12-byte nonces is accepted (v1 AES-CBC is insecure; "2.1" with other
 * region sizes is not read by every SDK). Field order is not checked when reading.
 */
export function parseEncryptionData(json: string): EncryptionData {
  if (typeof json !== 'string') throw bad('expected a JSON string.');
  // Azure caps all of a blob's metadata at 8 KiB; anything longer was not written by an SDK.
  if (json.length > MAX_ENCRYPTION_DATA_LENGTH) throw bad(`longer than ${MAX_ENCRYPTION_DATA_LENGTH} characters.`);
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw bad('not JSON.');
  }
  if (!isObject(doc)) throw bad('expected a JSON object.');
  const agent = doc.EncryptionAgent;
  if (!isObject(agent)) throw bad('EncryptionAgent is missing.');
  if (agent.Protocol !== ENCRYPTION_PROTOCOL) {
    const p = typeof agent.Protocol === 'string' ? JSON.stringify(agent.Protocol.slice(0, 16)) : 'missing';
    throw bad(`protocol ${p} is not supported; only client-side encryption protocol "${ENCRYPTION_PROTOCOL}" is read.`);
  }
  if (agent.EncryptionAlgorithm !== ENCRYPTION_ALGORITHM)
    throw bad(`EncryptionAgent.EncryptionAlgorithm must be "${ENCRYPTION_ALGORITHM}".`);
  const region = doc.EncryptedRegionInfo;
  if (!isObject(region)) throw bad('EncryptedRegionInfo is missing.');
  if (region.DataLength !== REGION_SIZE)
    throw bad(`EncryptedRegionInfo.DataLength must be ${REGION_SIZE} for protocol ${ENCRYPTION_PROTOCOL}.`);
  if (region.NonceLength !== NONCE_LENGTH) throw bad(`EncryptedRegionInfo.NonceLength must be ${NONCE_LENGTH}.`);
  const key = doc.WrappedContentKey;
  if (!isObject(key)) throw bad('WrappedContentKey is missing.');
  if (typeof key.KeyId !== 'string' || key.KeyId === '' || key.KeyId.length > 1024)
    throw bad('WrappedContentKey.KeyId must be a key id of at most 1024 characters.');
  if (typeof key.Algorithm !== 'string' || key.Algorithm === '' || key.Algorithm.length > 64)
    throw bad('WrappedContentKey.Algorithm must be an algorithm name of at most 64 characters.');
  if (typeof key.EncryptedKey !== 'string' || key.EncryptedKey.length > 4096 || !isBase64(key.EncryptedKey))
    throw bad('WrappedContentKey.EncryptedKey must be base64 of at most 4096 characters.');
  const out: EncryptionData = {
    keyId: key.KeyId,
    algorithm: key.Algorithm,
    encryptedKey: key.EncryptedKey,
    protocol: ENCRYPTION_PROTOCOL,
    encryptionAlgorithm: ENCRYPTION_ALGORITHM,
    regionSize: REGION_SIZE,
    nonceLength: NONCE_LENGTH,
  };
  if (doc.KeyWrappingMetadata !== undefined) {
    if (!isObject(doc.KeyWrappingMetadata)) throw bad('KeyWrappingMetadata must be an object.');
    const lib = doc.KeyWrappingMetadata.EncryptionLibrary;
    if (typeof lib === 'string') out.encryptionLibrary = lib;
  }
  if (doc.EncryptionMode !== undefined) {
    if (doc.EncryptionMode !== ENCRYPTION_MODE) throw bad(`EncryptionMode must be "${ENCRYPTION_MODE}".`);
    out.encryptionMode = ENCRYPTION_MODE;
  }
  return out;
}

/** The WrappedKey (KeyProvider shape) recorded in encryption data. */
export function wrappedKeyOf(data: Pick<EncryptionData, 'keyId' | 'algorithm' | 'encryptedKey'>): WrappedKey {
  return { keyId: data.keyId, algorithm: data.algorithm, wrapped: data.encryptedKey };
}

/**
 * The raw `encryptiondata` value in blob metadata, whatever the key's case (metadata names
 * are case-insensitive in Azure Storage; SDKs and proxies may change the case); undefined when
 * the blob has none. Pass it to parseEncryptionData. Two keys differing only in case with
 * different values are rejected.
 */
export function findEncryptionData(metadata: Record<string, string> | undefined): string | undefined {
  if (!metadata) return undefined;
  let found: string | undefined;
  for (const [k, v] of Object.entries(metadata)) {
    if (k.toLowerCase() !== ENCRYPTION_DATA_KEY) continue;
    if (found !== undefined && found !== v) throw bad('the metadata holds two different encryptiondata values.');
    found = v;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Sizes and ranges

function checkRegionSize(regionSize: number): void {
  if (!Number.isSafeInteger(regionSize) || regionSize < 1)
    throw new FileCryptoError('invalid-argument', 'regionSize must be a positive integer.');
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new FileCryptoError('invalid-argument', `${what} must be a non-negative integer.`);
}

/** Number of regions of a file of `plainSize` bytes (0 for an empty file). */
export function regionCountOf(plainSize: number, regionSize = REGION_SIZE): number {
  checkSize(plainSize, 'plainSize');
  checkRegionSize(regionSize);
  return Math.ceil(plainSize / regionSize);
}

/** Stored size of a file of `plainSize` bytes: plainSize + 28 bytes per region. */
export function encryptedSize(plainSize: number, regionSize = REGION_SIZE): number {
  return plainSize + regionCountOf(plainSize, regionSize) * REGION_OVERHEAD;
}

/** Inverse of encryptedSize; throws 'truncated' for a stored size no plaintext size maps to. */
export function plainSizeOf(storedSize: number, regionSize = REGION_SIZE): number {
  checkSize(storedSize, 'storedSize');
  checkRegionSize(regionSize);
  const full = Math.floor(storedSize / (regionSize + REGION_OVERHEAD));
  const rest = storedSize - full * (regionSize + REGION_OVERHEAD);
  if (rest === 0) return full * regionSize;
  if (rest <= REGION_OVERHEAD)
    throw new FileCryptoError('truncated', 'The stored size does not match any encrypted file size: its last region is incomplete.');
  return full * regionSize + rest - REGION_OVERHEAD;
}

export interface PlainRange {
  firstRegion: number;
  lastRegion: number;
  /** Offset of the first covering region in the stored blob. */
  cipherOffset: number;
  /** Number of stored bytes of the covering regions. */
  cipherCount: number;
  /** Plaintext bytes to drop from the start of the decrypted first region. */
  skipInFirst: number;
  /** Plaintext bytes to return after skipping (endInclusive − start + 1). */
  take: number;
}

/**
 * For an HTTP Range request of plaintext bytes [start, endInclusive] of a file of `plainSize`
 * bytes: which regions cover it, where they are stored, and how to cut the decrypted regions.
 * Use with `decryptStream(download(cipherOffset, cipherCount), cek, { firstRegion,
 * regionCount: lastRegion - firstRegion + 1, plainSize })` and `slicePlaintext(…, skipInFirst, take)`.
 */
export function plainRange(start: number, endInclusive: number, plainSize: number, regionSize = REGION_SIZE): PlainRange {
  checkSize(start, 'start');
  checkSize(endInclusive, 'endInclusive');
  checkSize(plainSize, 'plainSize');
  checkRegionSize(regionSize);
  if (endInclusive < start || endInclusive >= plainSize) {
    throw new FileCryptoError('invalid-argument', `The range ${start}-${endInclusive} is not inside a file of ${plainSize} bytes.`);
  }
  const firstRegion = Math.floor(start / regionSize);
  const lastRegion = Math.floor(endInclusive / regionSize);
  const cipherOffset = firstRegion * (regionSize + REGION_OVERHEAD);
  const coveredEnd = Math.min(plainSize, (lastRegion + 1) * regionSize);
  return {
    firstRegion,
    lastRegion,
    cipherOffset,
    cipherCount: encryptedSize(coveredEnd, regionSize) - cipherOffset,
    skipInFirst: start - firstRegion * regionSize,
    take: endInclusive - start + 1,
  };
}

/** Drops `skip` bytes, then passes on `take` bytes of a stream (for serving a Range from decrypted regions). */
export async function* slicePlaintext(
  plain: AsyncIterable<Uint8Array>,
  skip: number,
  take: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  checkSize(skip, 'skip');
  checkSize(take, 'take');
  if (take === 0) return;
  for await (const chunk of plain) {
    let c = chunk;
    if (skip > 0) {
      if (c.length <= skip) {
        skip -= c.length;
        continue;
      }
      c = c.subarray(skip);
      skip = 0;
    }
    if (c.length >= take) {
      yield c.subarray(0, take);
      return;
    }
    take -= c.length;
    yield c;
  }
}

// ---------------------------------------------------------------------------------------------
// Streams

function checkContentKey(cek: Uint8Array): void {
  if (!(cek instanceof Uint8Array) || cek.length !== CONTENT_KEY_LENGTH) {
    throw new FileCryptoError('invalid-argument', `A content key must be ${CONTENT_KEY_LENGTH} bytes.`);
  }
}

/** Region index as a 12-byte big-endian integer (the Python SDK's nonce). */
function nonceFor(index: number): Buffer {
  const n = Buffer.alloc(NONCE_LENGTH);
  n.writeBigUInt64BE(BigInt(index), NONCE_LENGTH - 8);
  return n;
}

export interface EncryptResult {
  plaintextSize: number;
  /** SHA-256 of the plaintext, hex. */
  sha256: string;
  regions: number;
}

export interface EncryptStream {
  /**
   * The stored bytes, one region per chunk: nonce(12) ‖ ciphertext ‖ tag(16). Its `return()`
   * zeroes the stream's copy of the key even when reading never started: a caller whose
   * consumer failed before reading calls it.
   */
  regions: AsyncIterableIterator<Uint8Array>;
  /** Settles when `regions` has been read to the end (or fails, or is abandoned). */
  result: Promise<EncryptResult>;
}

/**
 * Encrypts a plaintext stream into v2 regions, one region in memory at a time.
 *
 * An empty input yields zero regions (a 0-byte blob). That is what the Python SDK does:
 * `encrypt_blob(b"")` runs `GCMBlobEncryptionStream.read()`, whose loop stops as soon as the
 * source returns 0 bytes, so no region (not even a 28-byte nonce+tag) is written; its reader
 * sees size 0 and returns b"" (checked against the real SDK in test/files/python-sdk-interop.test.ts).
 */
export function encryptStream(plain: AsyncIterable<Uint8Array>, cek: Uint8Array, options: { regionSize?: number } = {}): EncryptStream {
  checkContentKey(cek);
  const regionSize = options.regionSize ?? REGION_SIZE;
  checkRegionSize(regionSize);
  const key = Buffer.from(cek); // own copy, zeroed when the stream ends

  let resolve!: (r: EncryptResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<EncryptResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => undefined); // a caller reading only `regions` must not cause an unhandled rejection

  async function* run(): AsyncGenerator<Uint8Array, void, undefined> {
    const hash = createHash('sha256');
    let total = 0;
    let index = 0;
    let settled = false;
    // The region being built: nonce ‖ ciphertext (‖ tag at the end), filled as input arrives.
    let region: Buffer | undefined;
    let filled = 0; // plaintext bytes in the current region
    let written = 0; // ciphertext bytes in the current region (GCM: always equal to filled)
    let cipher: CipherGCM | undefined;

    const finishRegion = (): Buffer => {
      const c = cipher!;
      const r = region!;
      const tail = c.final(); // GCM: empty
      r.set(tail, NONCE_LENGTH + written);
      written += tail.length;
      if (written !== filled) throw new Error('AES-GCM produced a ciphertext of unexpected length.');
      c.getAuthTag().copy(r, NONCE_LENGTH + written);
      const length = NONCE_LENGTH + written + TAG_LENGTH;
      // A short last region of a small file need not pin a whole region-sized buffer.
      const out = length === r.length ? r : length * 2 < r.length ? Buffer.from(r.subarray(0, length)) : r.subarray(0, length);
      region = undefined;
      cipher = undefined;
      filled = 0;
      written = 0;
      index++;
      return out;
    };

    try {
      for await (const chunk of plain) {
        if (!(chunk instanceof Uint8Array))
          throw new FileCryptoError('invalid-argument', 'The plaintext stream must yield Uint8Array chunks.');
        let offset = 0;
        while (offset < chunk.length) {
          if (!region) {
            const nonce = nonceFor(index);
            region = Buffer.allocUnsafe(NONCE_LENGTH + regionSize + TAG_LENGTH);
            nonce.copy(region, 0);
            cipher = createCipheriv('aes-256-gcm', key, nonce);
          }
          const n = Math.min(chunk.length - offset, regionSize - filled, MAX_UPDATE);
          const piece = chunk.subarray(offset, offset + n);
          hash.update(piece);
          const enc = cipher!.update(piece);
          region.set(enc, NONCE_LENGTH + written);
          written += enc.length;
          filled += n;
          offset += n;
          total += n;
          if (filled === regionSize) yield finishRegion();
        }
      }
      if (region && filled > 0) yield finishRegion();
      settled = true;
      resolve({ plaintextSize: total, sha256: hash.digest('hex'), regions: index });
    } catch (e) {
      settled = true;
      reject(e);
      throw e;
    } finally {
      key.fill(0);
      if (!settled) reject(new FileCryptoError('aborted', 'The encrypted regions were not read to the end.'));
    }
  }

  const gen = run();
  const regions: AsyncIterableIterator<Uint8Array> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => gen.next(),
    async return() {
      key.fill(0); // also when `gen` never started (its finally would not run)
      reject(new FileCryptoError('aborted', 'The encrypted regions were not read to the end.'));
      await gen.return(undefined);
      return { done: true, value: undefined };
    },
    throw: (e?: unknown) => gen.throw(e),
  };
  return { regions, result };
}

export interface DecryptOptions {
  /** Index of the first region in the input (0 for the whole file; see plainRange). */
  firstRegion: number;
  /** Number of regions the input must hold. */
  regionCount: number;
  /** Plaintext size of the whole file, as recorded in the file's event (not the blob's size). */
  plainSize: number;
  regionSize?: number;
}

/**
 * Decrypts `regionCount` regions starting at `firstRegion` from a stream of stored bytes in any
 * chunking. For every region it checks that the stored nonce is the region's index, that the
 * region has exactly the length `plainSize` implies, and authenticates the tag before yielding
 * any of that region's plaintext; the last region's plaintext is released only once the input
 * has ended exactly there. Any failure throws a FileCryptoError; nothing of the damaged region
 * (or later) has been yielded. Memory: about one region's plaintext. Impossible options (a
 * key that is not 32 bytes, regions outside the file) throw 'invalid-argument' at once.
 */
export function decryptStream(cipherText: AsyncIterable<Uint8Array>, cek: Uint8Array, options: DecryptOptions): AsyncIterable<Uint8Array> {
  checkContentKey(cek);
  const regionSize = options.regionSize ?? REGION_SIZE;
  checkRegionSize(regionSize);
  const { firstRegion, regionCount, plainSize } = options;
  checkSize(firstRegion, 'firstRegion');
  checkSize(regionCount, 'regionCount');
  checkSize(plainSize, 'plainSize');
  const totalRegions = regionCountOf(plainSize, regionSize);
  if (firstRegion + regionCount > totalRegions) {
    throw new FileCryptoError(
      'invalid-argument',
      `Regions ${firstRegion}..${firstRegion + regionCount - 1} are not inside a file of ${totalRegions} regions.`,
    );
  }
  const key = Buffer.from(cek);
  const plainLengthOf = (i: number) => Math.min(regionSize, plainSize - i * regionSize);

  async function* run(): AsyncGenerator<Uint8Array, void, undefined> {
    const it = cipherText[Symbol.asyncIterator]();
    let done = false;
    let chunk: Uint8Array = new Uint8Array(0);
    let pos = 0;
    /** Next non-empty input chunk, or false at the end of the input. */
    const more = async (): Promise<boolean> => {
      while (!done) {
        const r = await it.next();
        if (r.done) {
          done = true;
          return false;
        }
        if (!(r.value instanceof Uint8Array))
          throw new FileCryptoError('invalid-argument', 'The ciphertext stream must yield Uint8Array chunks.');
        if (r.value.length > 0) {
          chunk = r.value;
          pos = 0;
          return true;
        }
      }
      return false;
    };
    const nonce = Buffer.alloc(NONCE_LENGTH);
    const tag = Buffer.alloc(TAG_LENGTH);
    let pieces: Buffer[] = [];
    const discard = () => {
      for (const p of pieces) p.fill(0);
      pieces = [];
    };
    /** Copies up to `into.length` bytes of input into `into`; returns how many (fewer if the input ends first). */
    const fill = async (into: Buffer): Promise<number> => {
      let have = 0;
      while (have < into.length) {
        if (pos >= chunk.length && !(await more())) break;
        const n = Math.min(into.length - have, chunk.length - pos);
        into.set(chunk.subarray(pos, pos + n), have);
        have += n;
        pos += n;
      }
      return have;
    };

    try {
      for (let k = 0; k < regionCount; k++) {
        const index = firstRegion + k;
        const length = plainLengthOf(index);
        const where = `region ${index} of ${totalRegions}`;
        const got = await fill(nonce);
        if (got < NONCE_LENGTH) {
          throw new FileCryptoError('truncated', `The encrypted file ends early: ${where} is ${got === 0 ? 'missing' : 'incomplete'}.`);
        }
        const expected = nonceFor(index);
        if (!nonce.equals(expected)) {
          const high = nonce.readUInt32BE(0);
          const stored = nonce.readBigUInt64BE(4);
          if (high === 0 && stored < BigInt(totalRegions)) {
            throw new FileCryptoError('reordered', `The encrypted file's regions are out of order: ${where} holds region ${stored}.`);
          }
          throw new FileCryptoError('tampered', `The encrypted file was modified: ${where} has an unexpected nonce.`);
        }
        const decipher = createDecipheriv('aes-256-gcm', key, nonce);
        let left = length;
        while (left > 0) {
          if (pos >= chunk.length && !(await more())) {
            discard();
            throw new FileCryptoError('truncated', `The encrypted file ends early: ${where} is incomplete.`);
          }
          const n = Math.min(left, chunk.length - pos, MAX_UPDATE);
          pieces.push(decipher.update(chunk.subarray(pos, pos + n)));
          pos += n;
          left -= n;
        }
        if ((await fill(tag)) < TAG_LENGTH) {
          discard();
          throw new FileCryptoError('truncated', `The encrypted file ends early: ${where} is incomplete.`);
        }
        decipher.setAuthTag(tag);
        try {
          const tail = decipher.final();
          if (tail.length) pieces.push(tail);
        } catch {
          discard();
          throw new FileCryptoError(
            'tampered',
            `The encrypted file failed authentication at ${where}: it was modified, holds a region of another file, or the content key is wrong.`,
          );
        }
        if (k === regionCount - 1) {
          // The last region asked for: release it only if the input ends exactly here.
          if (pos < chunk.length || (await more())) {
            discard();
            throw new FileCryptoError('extended', `The encrypted file has bytes after ${where}, beyond the size recorded for it.`);
          }
        }
        const out = pieces;
        pieces = [];
        yield* coalesce(out);
      }
      if (regionCount === 0 && (pos < chunk.length || (await more()))) {
        throw new FileCryptoError('extended', 'The encrypted file has bytes although the size recorded for it is empty.');
      }
    } finally {
      discard();
      key.fill(0);
      if (!done) {
        try {
          await it.return?.(); // release the source (e.g. an HTTP response) when stopping early
        } catch {
          // the error that stopped us (if any) matters more
        }
      }
    }
  }

  return run();
}

/** Yields decrypted pieces in chunks of up to 64 KiB, joining tiny pieces (from tiny input chunks). */
function* coalesce(pieces: Buffer[]): Generator<Uint8Array, void, undefined> {
  let group: Buffer[] = [];
  let size = 0;
  for (const p of pieces) {
    if (size > 0 && size + p.length > MAX_UPDATE) {
      yield joined(group, size);
      group = [];
      size = 0;
    }
    group.push(p);
    size += p.length;
  }
  if (size > 0) yield joined(group, size);
}

function joined(group: Buffer[], size: number): Buffer {
  if (group.length === 1) return group[0]!;
  const out = Buffer.concat(group, size);
  for (const p of group) p.fill(0); // our intermediate copies of plaintext
  return out;
}
