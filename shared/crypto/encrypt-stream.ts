/**
 * Encrypting a stream in the v2 region layout, one region in memory at a time. The stream
 * takes its own copy of the content key and zeroes it when it ends.
 */
import { type CipherGCM, createCipheriv, createHash } from 'node:crypto';
import { checkContentKey, checkRegionSize, FileCryptoError, MAX_UPDATE, NONCE_LENGTH, nonceFor, REGION_SIZE, TAG_LENGTH } from './format';

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
