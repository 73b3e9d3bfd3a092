/**
 * Decrypting a stream in the v2 region layout (all of it or a run of regions), one region in
 * memory at a time. The stream takes its own copy of the content key and zeroes it when it ends.
 */
import { createDecipheriv } from 'node:crypto';
import {
  checkContentKey,
  checkRegionSize,
  checkSize,
  FileCryptoError,
  MAX_UPDATE,
  NONCE_LENGTH,
  nonceFor,
  REGION_SIZE,
  regionCountOf,
  TAG_LENGTH,
} from './format';

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
