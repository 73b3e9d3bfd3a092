/**
 * Azure Storage client-side encryption v2 ("2.0"): constants, the codec's error, and the size
 * and range arithmetic of the region layout (see index.ts for the format).
 */
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
export const MAX_UPDATE = 64 * 1024;

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

export function checkContentKey(cek: Uint8Array): void {
  if (!(cek instanceof Uint8Array) || cek.length !== CONTENT_KEY_LENGTH) {
    throw new FileCryptoError('invalid-argument', `A content key must be ${CONTENT_KEY_LENGTH} bytes.`);
  }
}

/** Region index as a 12-byte big-endian integer (the Python SDK's nonce). */
export function nonceFor(index: number): Buffer {
  const n = Buffer.alloc(NONCE_LENGTH);
  n.writeBigUInt64BE(BigInt(index), NONCE_LENGTH - 8);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Sizes and ranges (internal checks first)

export function checkRegionSize(regionSize: number): void {
  if (!Number.isSafeInteger(regionSize) || regionSize < 1)
    throw new FileCryptoError('invalid-argument', 'regionSize must be a positive integer.');
}

export function checkSize(n: number, what: string): void {
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
