import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import {
  decryptStream,
  encryptedSize,
  encryptionDataJson,
  encryptStream,
  ENCRYPTION_DATA_KEY,
  findEncryptionData,
  isFileCryptoError,
  NONCE_LENGTH,
  parseEncryptionData,
  plainRange,
  plainSizeOf,
  REGION_SIZE,
  regionCountOf,
  slicePlaintext,
  TAG_LENGTH,
  unwrapContentKey,
  wrapContentKey,
  type FileCryptoError,
} from '../../shared/crypto';
import { chunksOf, collect, collectUntilError, oddChunks, patternBytes } from './helpers';

/** A content key of the test's own (the codec keeps its key generation inside withNewContentKey). */
const freshKey = () => randomBytes(32);

const OVERHEAD = NONCE_LENGTH + TAG_LENGTH;
const SMALL = 1024;

async function encrypt(
  plain: Buffer,
  cek: Buffer,
  regionSize?: number,
  chunking: (b: Buffer) => AsyncIterable<Uint8Array> = (b) => chunksOf(b, 65_536),
) {
  const enc = encryptStream(chunking(plain), cek, regionSize === undefined ? {} : { regionSize });
  const regions: Buffer[] = [];
  for await (const r of enc.regions) regions.push(Buffer.from(r));
  return { regions, cipher: Buffer.concat(regions), result: await enc.result };
}

function decryptAll(
  cipher: Uint8Array,
  cek: Buffer,
  plainSize: number,
  regionSize?: number,
  chunking: (b: Uint8Array) => AsyncIterable<Uint8Array> = (b) => chunksOf(b, 65_536),
) {
  const rs = regionSize ?? REGION_SIZE;
  return decryptStream(chunking(cipher), cek, {
    firstRegion: 0,
    regionCount: regionCountOf(plainSize, rs),
    plainSize,
    ...(regionSize === undefined ? {} : { regionSize }),
  });
}

function expectCryptoError(error: unknown, code: FileCryptoError['code']): void {
  expect(isFileCryptoError(error), String(error)).toBe(true);
  const e = error as FileCryptoError;
  expect(e.name).toBe('FileCryptoError');
  expect(e.code).toBe(code);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('round trips', () => {
  const cases: Array<[string, number, number | undefined]> = [
    ['empty (1 KiB regions)', 0, SMALL],
    ['1 byte (1 KiB regions)', 1, SMALL],
    ['region − 1 (1 KiB regions)', SMALL - 1, SMALL],
    ['region (1 KiB regions)', SMALL, SMALL],
    ['region + 1 (1 KiB regions)', SMALL + 1, SMALL],
    ['3 regions + 5 (1 KiB regions)', 3 * SMALL + 5, SMALL],
    ['empty (4 MiB)', 0, undefined],
    ['1 byte (4 MiB)', 1, undefined],
    ['4 MiB − 1', REGION_SIZE - 1, undefined],
    ['4 MiB', REGION_SIZE, undefined],
    ['4 MiB + 1', REGION_SIZE + 1, undefined],
    ['3 × 4 MiB + 5', 3 * REGION_SIZE + 5, undefined],
  ];
  for (const [name, size, regionSize] of cases) {
    it(name, async () => {
      const rs = regionSize ?? REGION_SIZE;
      const plain = patternBytes(size, size + 1);
      const cek = freshKey();
      const { regions, cipher, result } = await encrypt(plain, cek, regionSize, oddChunks);
      const n = Math.ceil(size / rs);
      expect(result).toEqual({ plaintextSize: size, sha256: sha(plain), regions: n });
      expect(regions.length).toBe(n);
      expect(cipher.length).toBe(encryptedSize(size, rs));
      expect(cipher.length).toBe(size + n * OVERHEAD);
      expect(plainSizeOf(cipher.length, rs)).toBe(size);
      regions.forEach((r, i) => {
        expect(r.length).toBe(Math.min(rs, size - i * rs) + OVERHEAD);
        // nonce = region index, 12-byte big-endian
        const nonce = Buffer.alloc(NONCE_LENGTH);
        nonce.writeUInt32BE(i, 8);
        expect(r.subarray(0, NONCE_LENGTH).equals(nonce)).toBe(true);
      });
      // Whole input at once, odd chunks, and (small files) one byte at a time.
      expect((await collect(decryptAll(cipher, cek, size, regionSize, (b) => chunksOf(b, Math.max(1, b.length))))).equals(plain)).toBe(
        true,
      );
      expect((await collect(decryptAll(cipher, cek, size, regionSize, oddChunks))).equals(plain)).toBe(true);
      if (size < 8 * SMALL)
        expect((await collect(decryptAll(cipher, cek, size, regionSize, (b) => chunksOf(b, 1)))).equals(plain)).toBe(true);
    });
  }

  it('an empty input gives zero regions and an empty stored blob (as the Python SDK writes)', async () => {
    const { regions, cipher, result } = await encrypt(Buffer.alloc(0), freshKey());
    expect(regions).toEqual([]);
    expect(cipher.length).toBe(0);
    expect(result.sha256).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('a fresh content key per file: the same plaintext encrypts differently', async () => {
    const plain = patternBytes(3000);
    const a = await encrypt(plain, freshKey(), SMALL);
    const b = await encrypt(plain, freshKey(), SMALL);
    expect(a.cipher.equals(b.cipher)).toBe(false);
  });

  it('streams: the first region is yielded after reading about one region of input, not the whole file', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 64; i++) {
        pulled += 16 * 1024;
        yield patternBytes(16 * 1024, i);
      }
    }
    const enc = encryptStream(source(), freshKey(), { regionSize: 64 * 1024 });
    const it = enc.regions[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(pulled).toBe(64 * 1024);
    let count = 1;
    while (!(await it.next()).done) count++;
    expect(count).toBe(16);
    expect((await enc.result).plaintextSize).toBe(1024 * 1024);
  });

  it('result rejects when the regions are abandoned, and when the input fails', async () => {
    const enc = encryptStream(chunksOf(patternBytes(5000), 100), freshKey(), { regionSize: SMALL });
    for await (const _ of enc.regions) break;
    await expect(enc.result).rejects.toMatchObject({ name: 'FileCryptoError', code: 'aborted' });

    async function* failing() {
      yield Buffer.alloc(10);
      throw new Error('disk on fire');
    }
    const bad = encryptStream(failing(), freshKey());
    await expect(collect(bad.regions)).rejects.toThrow('disk on fire');
    await expect(bad.result).rejects.toThrow('disk on fire');
  });

  it('does not depend on the caller keeping the key buffer intact', async () => {
    const plain = patternBytes(5000);
    const cek = freshKey();
    const copy = Buffer.from(cek);
    const enc = encryptStream(chunksOf(plain, 100), cek, { regionSize: SMALL });
    cek.fill(0);
    const cipher = await collect(enc.regions);
    expect((await collect(decryptAll(cipher, copy, plain.length, SMALL))).equals(plain)).toBe(true);
  });
});

describe('ranges', () => {
  for (const rs of [SMALL, REGION_SIZE]) {
    const size = 3 * rs + 5;
    const ranges: Array<[string, number, number]> = [
      ['first byte', 0, 0],
      ['last byte of region 0', rs - 1, rs - 1],
      ['first byte of region 1', rs, rs],
      ['across regions 0 and 1', rs - 1, rs],
      ['region 1 exactly', rs, 2 * rs - 1],
      ['across three regions', rs - 3, 2 * rs + 2],
      ['first byte of the last region', 3 * rs, 3 * rs],
      ['last byte', size - 1, size - 1],
      ['whole file', 0, size - 1],
    ];
    it(`region size ${rs}: range decrypts equal the plaintext slice`, async () => {
      const plain = patternBytes(size, 7);
      const cek = freshKey();
      const { cipher } = await encrypt(plain, cek, rs);
      for (const [name, start, end] of ranges) {
        const r = plainRange(start, end, size, rs);
        expect(r.cipherOffset, name).toBe(r.firstRegion * (rs + OVERHEAD));
        expect(r.cipherOffset + r.cipherCount, name).toBe(Math.min(cipher.length, (r.lastRegion + 1) * (rs + OVERHEAD)));
        const stored = cipher.subarray(r.cipherOffset, r.cipherOffset + r.cipherCount);
        const regions = decryptStream(oddChunks(stored), cek, {
          firstRegion: r.firstRegion,
          regionCount: r.lastRegion - r.firstRegion + 1,
          plainSize: size,
          regionSize: rs,
        });
        const got = await collect(slicePlaintext(regions, r.skipInFirst, r.take));
        expect(got.equals(plain.subarray(start, end + 1)), name).toBe(true);
      }
    });
  }

  it('plainRange rejects ranges outside the file', () => {
    expect(() => plainRange(0, 0, 0)).toThrow(/not inside/);
    expect(() => plainRange(5, 4, 10)).toThrow(/not inside/);
    expect(() => plainRange(0, 10, 10)).toThrow(/not inside/);
  });

  it('encryptedSize / plainSizeOf', () => {
    expect(encryptedSize(0)).toBe(0);
    expect(encryptedSize(1)).toBe(29);
    expect(encryptedSize(REGION_SIZE)).toBe(REGION_SIZE + 28);
    expect(encryptedSize(REGION_SIZE + 1)).toBe(REGION_SIZE + 1 + 56);
    for (const n of [0, 1, 1023, 1024, 1025, 3077]) expect(plainSizeOf(encryptedSize(n, SMALL), SMALL)).toBe(n);
    expect(() => plainSizeOf(28)).toThrow(expect.objectContaining({ code: 'truncated' }));
    expect(() => plainSizeOf(REGION_SIZE + 28 + 5)).toThrow(expect.objectContaining({ code: 'truncated' }));
  });
});

describe('tampering, truncation, extension, reordering, wrong keys', () => {
  // 4 regions of 1 KiB: three full ones and one of 5 bytes.
  const size = 3 * SMALL + 5;
  const regionLen = SMALL + OVERHEAD;
  let fixture: Promise<{ plain: Buffer; cek: Buffer; cipher: Buffer }> | undefined;
  const get = () =>
    (fixture ??= (async () => {
      const plain = patternBytes(size, 42);
      const cek = freshKey();
      const { cipher } = await encrypt(plain, cek, SMALL);
      return { plain, cek, cipher };
    })());

  /** Decrypts damaged ciphertext: must fail with `code` after yielding exactly the first `intactRegions` regions. */
  async function expectFailure(damaged: Buffer, code: FileCryptoError['code'], intactRegions: number, cek?: Buffer) {
    const f = await get();
    for (const chunking of [(b: Uint8Array) => chunksOf(b, b.length || 1), oddChunks, (b: Uint8Array) => chunksOf(b, 1)]) {
      const { yielded, error } = await collectUntilError(decryptAll(damaged, cek ?? f.cek, size, SMALL, chunking));
      expectCryptoError(error, code);
      expect(yielded.equals(f.plain.subarray(0, intactRegions * SMALL))).toBe(true);
      const message = (error as Error).message;
      for (const k of [f.cek, cek].filter((x): x is Buffer => !!x)) {
        expect(message).not.toContain(k.toString('hex'));
        expect(message).not.toContain(k.toString('base64'));
      }
    }
  }

  const flip = (b: Buffer, at: number, mask = 0x01) => {
    const c = Buffer.from(b);
    c[at]! ^= mask;
    return c;
  };

  it('intact fixture decrypts', async () => {
    const f = await get();
    expect((await collect(decryptAll(f.cipher, f.cek, size, SMALL, oddChunks))).equals(f.plain)).toBe(true);
  });

  it('a bit flip in the ciphertext of region 1 → tampered, only region 0 is yielded', async () => {
    const f = await get();
    await expectFailure(flip(f.cipher, regionLen + NONCE_LENGTH + 100), 'tampered', 1);
  });

  it('a bit flip in the first ciphertext byte of region 0 → tampered, nothing yielded', async () => {
    const f = await get();
    await expectFailure(flip(f.cipher, NONCE_LENGTH), 'tampered', 0);
  });

  it('a bit flip in the tag of region 2 → tampered, regions 0–1 yielded', async () => {
    const f = await get();
    await expectFailure(flip(f.cipher, 3 * regionLen - 1, 0x80), 'tampered', 2);
  });

  it('a bit flip in the tag of the short last region → tampered', async () => {
    const f = await get();
    await expectFailure(flip(f.cipher, f.cipher.length - 1), 'tampered', 3);
  });

  it('a bit flip in the nonce of region 1 → tampered (high byte) or reordered (names another region)', async () => {
    const f = await get();
    await expectFailure(flip(f.cipher, regionLen, 0x80), 'tampered', 1);
    await expectFailure(flip(f.cipher, regionLen + NONCE_LENGTH - 1, 0x02), 'reordered', 1); // nonce 1 → 3
    await expectFailure(flip(f.cipher, regionLen + NONCE_LENGTH - 1, 0x40), 'tampered', 1); // nonce 1 → 65: not a region of this file
  });

  it('truncation: dropping the last byte → truncated, the last region is not yielded', async () => {
    const f = await get();
    await expectFailure(f.cipher.subarray(0, f.cipher.length - 1), 'truncated', 3);
  });

  it('truncation: dropping the last region, or the last two → truncated', async () => {
    const f = await get();
    await expectFailure(f.cipher.subarray(0, 3 * regionLen), 'truncated', 3);
    await expectFailure(f.cipher.subarray(0, 2 * regionLen), 'truncated', 2);
    await expectFailure(f.cipher.subarray(0, 2 * regionLen + 5), 'truncated', 2);
    await expectFailure(Buffer.alloc(0), 'truncated', 0);
  });

  it('extension: one extra byte → extended, and the last region is withheld', async () => {
    const f = await get();
    await expectFailure(Buffer.concat([f.cipher, Buffer.from([0])]), 'extended', 3);
  });

  it('extension: an extra (validly encrypted) region → extended', async () => {
    const f = await get();
    // Region 4 encrypted with the same key and the right nonce: only the recorded size can tell.
    const more = patternBytes(SMALL + 5, 9);
    const { cipher: longer } = await encrypt(more, f.cek, SMALL);
    const extra = longer.subarray(0, regionLen); // region 0 of another file with the same key…
    await expectFailure(Buffer.concat([f.cipher, extra]), 'extended', 3);
  });

  it('extension when the file ends on a region boundary', async () => {
    const plain = patternBytes(2 * SMALL, 3);
    const cek = freshKey();
    const { cipher } = await encrypt(plain, cek, SMALL);
    const { yielded, error } = await collectUntilError(decryptAll(Buffer.concat([cipher, Buffer.alloc(1)]), cek, plain.length, SMALL));
    expectCryptoError(error, 'extended');
    expect(yielded.equals(plain.subarray(0, SMALL))).toBe(true);
    // An empty file with stored bytes
    const r = await collectUntilError(decryptAll(Buffer.alloc(28), cek, 0, SMALL));
    expectCryptoError(r.error, 'extended');
    expect(r.yielded.length).toBe(0);
  });

  it('reordered regions: swapping regions 1 and 2 → reordered, only region 0 yielded', async () => {
    const f = await get();
    const r = (i: number) => f.cipher.subarray(i * regionLen, Math.min(f.cipher.length, (i + 1) * regionLen));
    await expectFailure(Buffer.concat([r(0), r(2), r(1), r(3)]), 'reordered', 1);
    // Region 0 repeated in place of region 1
    await expectFailure(Buffer.concat([r(0), r(0), r(2), r(3)]), 'reordered', 1);
  });

  it('a region swapped in from another file encrypted with another key → tampered', async () => {
    const f = await get();
    const other = await encrypt(patternBytes(size, 99), freshKey(), SMALL);
    const damaged = Buffer.concat([
      f.cipher.subarray(0, regionLen),
      other.cipher.subarray(regionLen, 2 * regionLen),
      f.cipher.subarray(2 * regionLen),
    ]);
    await expectFailure(damaged, 'tampered', 1);
  });

  it('a wrong content key → tampered at region 0 (GCM cannot tell a wrong key from modified bytes); nothing yielded', async () => {
    const f = await get();
    await expectFailure(f.cipher, 'tampered', 0, freshKey());
  });

  it('ranges are checked the same way: damage inside the covering regions fails, nothing of it is yielded', async () => {
    const f = await get();
    const r = plainRange(SMALL + 10, 2 * SMALL + 10, size, SMALL); // regions 1..2
    const stored = flip(f.cipher, 2 * regionLen + NONCE_LENGTH + 3).subarray(r.cipherOffset, r.cipherOffset + r.cipherCount);
    const { yielded, error } = await collectUntilError(
      decryptStream(chunksOf(stored, 100), f.cek, { firstRegion: 1, regionCount: 2, plainSize: size, regionSize: SMALL }),
    );
    expectCryptoError(error, 'tampered');
    expect(yielded.equals(f.plain.subarray(SMALL, 2 * SMALL))).toBe(true);
    // The right bytes at the wrong offset (region 0 served for region 1) → reordered
    const wrong = f.cipher.subarray(0, 2 * regionLen);
    const w = await collectUntilError(
      decryptStream(chunksOf(wrong, 100), f.cek, { firstRegion: 1, regionCount: 2, plainSize: size, regionSize: SMALL }),
    );
    expectCryptoError(w.error, 'reordered');
    expect(w.yielded.length).toBe(0);
    // More than the covering regions → extended
    const more = f.cipher.subarray(r.cipherOffset, r.cipherOffset + r.cipherCount + 1);
    const m = await collectUntilError(
      decryptStream(chunksOf(more, 100), f.cek, { firstRegion: 1, regionCount: 2, plainSize: size, regionSize: SMALL }),
    );
    expectCryptoError(m.error, 'extended');
    expect(m.yielded.equals(f.plain.subarray(SMALL, 2 * SMALL))).toBe(true);
  });

  it('real 4 MiB regions: a flipped tag in region 1 of a 4 MiB + 1 file → only region 0 is yielded', async () => {
    const plain = patternBytes(REGION_SIZE + 1, 5);
    const cek = freshKey();
    const { cipher } = await encrypt(plain, cek);
    const damaged = flip(cipher, cipher.length - 1);
    const { yielded, error } = await collectUntilError(decryptAll(damaged, cek, plain.length, undefined, oddChunks));
    expectCryptoError(error, 'tampered');
    expect(yielded.equals(plain.subarray(0, REGION_SIZE))).toBe(true);
    const t = await collectUntilError(decryptAll(cipher.subarray(0, cipher.length - 1), cek, plain.length));
    expectCryptoError(t.error, 'truncated');
    expect(t.yielded.equals(plain.subarray(0, REGION_SIZE))).toBe(true);
  });

  it('decryptStream rejects impossible options up front', () => {
    const cek = freshKey();
    const none = chunksOf(Buffer.alloc(0), 1);
    expect(() => decryptStream(none, cek, { firstRegion: 0, regionCount: 2, plainSize: SMALL, regionSize: SMALL })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(() => decryptStream(none, Buffer.alloc(16), { firstRegion: 0, regionCount: 0, plainSize: 0 })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(() => encryptStream(none, Buffer.alloc(31))).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
  });
});

describe('content keys and metadata', () => {
  const dir = mkdtempSync(join(tmpdir(), 'file-crypto-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

  it('the wrapped payload: "2.0" padded to 8 bytes, then the 32-byte key; other payloads are refused', async () => {
    const keys = new LocalKeyProvider({ dir: join(dir, 'payload'), masterKey: randomBytes(32) });
    await keys.createKey('tenant-p');
    const cek = freshKey();
    const wrapped = await wrapContentKey(keys, 'tenant-p', cek);
    // What the key provider wrapped, seen through the provider itself (not through the codec).
    const p = Buffer.from(await keys.unwrapKey('tenant-p', wrapped));
    expect(p.length).toBe(40);
    expect(p.subarray(0, 8).equals(Buffer.from('2.0\0\0\0\0\0', 'latin1'))).toBe(true);
    expect(p.subarray(8).equals(cek)).toBe(true);
    const data = parseEncryptionData(encryptionDataJson(wrapped));
    expect((await unwrapContentKey(keys, 'tenant-p', data)).equals(cek)).toBe(true);
    const unwrapOf = async (payload: Buffer) =>
      unwrapContentKey(keys, 'tenant-p', { ...data, encryptedKey: (await keys.wrapKey('tenant-p', payload)).wrapped }).catch(
        (e: unknown) => e,
      );
    const v1 = Buffer.from(p);
    v1.write('1.0', 0, 'latin1');
    expectCryptoError(await unwrapOf(v1), 'invalid-metadata');
    expectCryptoError(await unwrapOf(Buffer.concat([p, Buffer.alloc(8)])), 'invalid-metadata');
    expectCryptoError(await wrapContentKey(keys, 'tenant-p', Buffer.alloc(16)).catch((e: unknown) => e), 'invalid-argument');
  });

  it('with the local key provider: wrap, unwrap; another key or a damaged wrapped key → wrong-key', async () => {
    const keys = new LocalKeyProvider({ dir, masterKey: randomBytes(32) });
    await keys.createKey('tenant-a');
    const other = await keys.createKey('tenant-b');
    const cek = freshKey();
    const wrapped = await wrapContentKey(keys, 'tenant-a', cek);
    expect(wrapped.algorithm).toBe('A256KW');
    expect(Buffer.from(wrapped.wrapped, 'base64').length).toBe(48);
    const data = parseEncryptionData(encryptionDataJson(wrapped));
    expect((await unwrapContentKey(keys, 'tenant-a', data)).equals(cek)).toBe(true);

    const err = await unwrapContentKey(keys, 'tenant-a', { ...data, keyId: other.keyId }).catch((e: unknown) => e);
    expectCryptoError(err, 'wrong-key');
    expect((err as Error).message).not.toContain(cek.toString('hex'));
    const damaged = Buffer.from(data.encryptedKey, 'base64');
    damaged[5]! ^= 1;
    expectCryptoError(
      await unwrapContentKey(keys, 'tenant-a', { ...data, encryptedKey: damaged.toString('base64') }).catch((e: unknown) => e),
      'wrong-key',
    );
    // A v1-style wrapped key (the bare 32-byte key, no "2.0" prefix) is refused
    const v1 = await keys.wrapKey('tenant-a', cek);
    expectCryptoError(
      await unwrapContentKey(keys, 'tenant-a', { ...data, encryptedKey: v1.wrapped }).catch((e: unknown) => e),
      'invalid-metadata',
    );
  });

  it('encryptionDataJson → parseEncryptionData round trip', () => {
    const json = encryptionDataJson({
      keyId: 'local:acme/0123456789abcdef',
      algorithm: 'A256KW',
      wrapped: Buffer.alloc(40, 1).toString('base64'),
    });
    const d = parseEncryptionData(json);
    expect(d).toMatchObject({
      keyId: 'local:acme/0123456789abcdef',
      algorithm: 'A256KW',
      encryptedKey: Buffer.alloc(40, 1).toString('base64'),
      protocol: '2.0',
      encryptionAlgorithm: 'AES_GCM_256',
      regionSize: 4194304,
      nonceLength: 12,
      encryptionMode: 'FullBlob',
    });
    expect(d.encryptionLibrary).toMatch(/^tenant-ledger \d+\.\d+\.\d+/);
    expect(encryptionDataJson({ keyId: 'k', algorithm: 'A256KW', wrapped: 'AAAA' }, { encryptionLibrary: 'Test 1' })).toContain(
      '"KeyWrappingMetadata": {"EncryptionLibrary": "Test 1"}',
    );
    // Non-ASCII is escaped like Python's json.dumps, so the value stays a valid header value.
    const unicode = encryptionDataJson({ keyId: 'kľúč\u007f', algorithm: 'A256KW', wrapped: 'AAAA' });
    expect(unicode).toContain('"KeyId": "k\\u013e\\u00fa\\u010d\\u007f"');
    expect(parseEncryptionData(unicode).keyId).toBe('kľúč\u007f');
  });

  it('parseEncryptionData rejects other protocols, algorithms, region info and malformed values', () => {
    const base = JSON.parse(encryptionDataJson({ keyId: 'k', algorithm: 'A256KW', wrapped: 'AAAA' })) as Record<
      string,
      Record<string, unknown>
    >;
    const variant = (path: [string, string], value: unknown) => {
      const copy = JSON.parse(JSON.stringify(base)) as Record<string, Record<string, unknown>>;
      copy[path[0]]![path[1]] = value;
      return JSON.stringify(copy);
    };
    const rejects = (json: string, message: RegExp) => {
      let error: unknown;
      try {
        parseEncryptionData(json);
      } catch (e) {
        error = e;
      }
      expectCryptoError(error, 'invalid-metadata');
      expect((error as Error).message).toMatch(message);
    };
    rejects(variant(['EncryptionAgent', 'Protocol'], '1.0'), /protocol "1\.0" is not supported/);
    rejects(variant(['EncryptionAgent', 'Protocol'], '2.1'), /protocol "2\.1" is not supported/);
    rejects(variant(['EncryptionAgent', 'EncryptionAlgorithm'], 'AES_CBC_256'), /EncryptionAlgorithm/);
    rejects(variant(['EncryptedRegionInfo', 'DataLength'], 1024), /DataLength/);
    rejects(variant(['EncryptedRegionInfo', 'DataLength'], '4194304'), /DataLength/);
    rejects(variant(['EncryptedRegionInfo', 'NonceLength'], 16), /NonceLength/);
    rejects(variant(['WrappedContentKey', 'EncryptedKey'], 'not base64!'), /EncryptedKey/);
    rejects(variant(['WrappedContentKey', 'KeyId'], ''), /KeyId/);
    rejects('{', /not JSON/);
    rejects('[]', /object/);
    rejects('{}', /EncryptionAgent/);
    rejects(JSON.stringify({ ...base, EncryptionMode: 'PartialBlob' }), /EncryptionMode/);
    // Order of fields does not matter when reading
    const reordered = JSON.stringify({
      EncryptionMode: 'FullBlob',
      EncryptedRegionInfo: base.EncryptedRegionInfo,
      EncryptionAgent: base.EncryptionAgent,
      WrappedContentKey: base.WrappedContentKey,
    });
    expect(parseEncryptionData(reordered).keyId).toBe('k');
  });

  it('findEncryptionData reads the metadata key case-insensitively', () => {
    const json = encryptionDataJson({ keyId: 'k', algorithm: 'A256KW', wrapped: 'AAAA' });
    expect(ENCRYPTION_DATA_KEY).toBe('encryptiondata');
    for (const key of ['encryptiondata', 'EncryptionData', 'ENCRYPTIONDATA']) {
      expect(findEncryptionData({ other: 'x', [key]: json })).toBe(json);
    }
    expect(findEncryptionData({ other: 'x' })).toBeUndefined();
    expect(findEncryptionData(undefined)).toBeUndefined();
    expect(() => findEncryptionData({ encryptiondata: json, EncryptionData: '{}' })).toThrow(
      expect.objectContaining({ code: 'invalid-metadata' }),
    );
  });
});
