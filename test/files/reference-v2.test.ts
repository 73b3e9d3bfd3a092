/**
 * An independent, minimal implementation of the Azure Storage client-side encryption v2 ("2.0")
 * format, written here from the published format (Python SDK `_encryption.py`, protocol 2.0)
 * without importing shared/crypto/, checked against the service in both directions:
 *
 *  - content key: 32 random bytes; the KEK (A256KW, RFC 3394) wraps "2.0" ‖ 5×NUL ‖ cek;
 *  - regions of 4 MiB plaintext: nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16), no AAD,
 *    nonce = region index as a 12-byte big-endian integer (readers use the stored nonce);
 *  - metadata "encryptiondata": {WrappedContentKey{KeyId, EncryptedKey, Algorithm},
 *    EncryptionAgent{Protocol, EncryptionAlgorithm}, EncryptedRegionInfo{DataLength,
 *    NonceLength}, KeyWrappingMetadata{EncryptionLibrary}, EncryptionMode}.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptStream,
  encryptionDataJson,
  encryptStream,
  parseEncryptionData,
  unwrapContentKey,
  wrapContentKey,
} from '../../shared/crypto';
import { aesKeyUnwrap, aesKeyWrap, chunksOf, collect, oddChunks, patternBytes, RawKekProvider } from './helpers';

// ---- the reference -------------------------------------------------------------------------

const REF_REGION = 4 * 1024 * 1024;
const REF_NONCE = 12;
const REF_TAG = 16;
const REF_VERSION_PREFIX = Buffer.concat([Buffer.from('2.0', 'ascii'), Buffer.alloc(5)]);

function refNonce(i: number): Buffer {
  const n = Buffer.alloc(REF_NONCE);
  let v = i;
  for (let b = REF_NONCE - 1; v > 0; b--) {
    n[b] = v % 256;
    v = Math.floor(v / 256);
  }
  return n;
}

function refEncrypt(plain: Buffer, cek: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, off = 0; off < plain.length; i++, off += REF_REGION) {
    const nonce = refNonce(i);
    const c = createCipheriv('aes-256-gcm', cek, nonce);
    const body = Buffer.concat([c.update(plain.subarray(off, off + REF_REGION)), c.final()]);
    out.push(nonce, body, c.getAuthTag());
  }
  return Buffer.concat(out);
}

function refDecrypt(blob: Buffer, cek: Buffer): Buffer {
  const out: Buffer[] = [];
  const regionLen = REF_NONCE + REF_REGION + REF_TAG;
  for (let off = 0; off < blob.length; off += regionLen) {
    const region = blob.subarray(off, off + regionLen);
    if (region.length < REF_NONCE + REF_TAG) throw new Error('short region');
    const d = createDecipheriv('aes-256-gcm', cek, region.subarray(0, REF_NONCE));
    d.setAuthTag(region.subarray(region.length - REF_TAG));
    out.push(d.update(region.subarray(REF_NONCE, region.length - REF_TAG)), d.final());
  }
  return Buffer.concat(out);
}

function refMetadata(kek: Buffer, keyId: string, cek: Buffer): string {
  const wrapped = aesKeyWrap(kek, Buffer.concat([REF_VERSION_PREFIX, cek]));
  return JSON.stringify({
    WrappedContentKey: { KeyId: keyId, EncryptedKey: wrapped.toString('base64'), Algorithm: 'A256KW' },
    EncryptionAgent: { Protocol: '2.0', EncryptionAlgorithm: 'AES_GCM_256' },
    EncryptedRegionInfo: { DataLength: REF_REGION, NonceLength: REF_NONCE },
    KeyWrappingMetadata: { EncryptionLibrary: 'Reference 1.0' },
    EncryptionMode: 'FullBlob',
  });
}

/** Reads metadata as a v2 reader does: checks protocol and region info, unwraps, strips the version prefix. */
function refOpen(json: string, kek: Buffer, keyId: string): Buffer {
  const d = JSON.parse(json) as {
    WrappedContentKey: { KeyId: string; EncryptedKey: string; Algorithm: string };
    EncryptionAgent: { Protocol: string; EncryptionAlgorithm: string };
    EncryptedRegionInfo: { DataLength: number; NonceLength: number };
  };
  if (d.EncryptionAgent.Protocol !== '2.0' || d.EncryptionAgent.EncryptionAlgorithm !== 'AES_GCM_256') throw new Error('not v2');
  if (d.EncryptedRegionInfo.DataLength !== REF_REGION || d.EncryptedRegionInfo.NonceLength !== REF_NONCE) throw new Error('region info');
  if (d.WrappedContentKey.KeyId !== keyId || d.WrappedContentKey.Algorithm !== 'A256KW') throw new Error('key');
  const payload = aesKeyUnwrap(kek, Buffer.from(d.WrappedContentKey.EncryptedKey, 'base64'));
  if (payload.length !== 40 || !payload.subarray(0, 8).equals(REF_VERSION_PREFIX)) throw new Error('payload');
  return payload.subarray(8);
}

// ---- the checks ----------------------------------------------------------------------------

const SIZES: Array<[string, number]> = [
  ['0', 0],
  ['1', 1],
  ['4 MiB − 1', REF_REGION - 1],
  ['4 MiB', REF_REGION],
  ['4 MiB + 1', REF_REGION + 1],
  ['3 × 4 MiB + 5', 3 * REF_REGION + 5],
];

const kek = randomBytes(32);
const KEY_ID = 'local:reference/00000000000000aa';
const keys = new RawKekProvider(kek, KEY_ID);

describe('service ↔ independent reference implementation of v2', () => {
  for (const [name, size] of SIZES) {
    it(`${name} bytes: service-encrypt → reference-decrypt, byte-exact with reference-encrypt`, async () => {
      const plain = patternBytes(size, size + 3);
      const cek = randomBytes(32);
      const wrapped = await wrapContentKey(keys, 'any', cek);
      const json = encryptionDataJson(wrapped);
      const enc = encryptStream(oddChunks(plain), cek);
      const stored = await collect(enc.regions);
      expect((await enc.result).plaintextSize).toBe(size);

      // The reference opens the service's metadata and decrypts its ciphertext.
      const refCek = refOpen(json, kek, KEY_ID);
      expect(refCek.equals(cek)).toBe(true);
      expect(refDecrypt(stored, refCek).equals(plain)).toBe(true);
      // Same key, same deterministic nonces: identical bytes.
      expect(stored.equals(refEncrypt(plain, cek))).toBe(true);
    });

    it(`${name} bytes: reference-encrypt → service-decrypt`, async () => {
      const plain = patternBytes(size, size + 4);
      const cek = randomBytes(32);
      const json = refMetadata(kek, KEY_ID, cek);
      const stored = refEncrypt(plain, cek);

      const data = parseEncryptionData(json);
      expect(data.encryptionLibrary).toBe('Reference 1.0');
      const serviceCek = await unwrapContentKey(keys, 'any', data);
      expect(serviceCek.equals(cek)).toBe(true);
      const regionCount = Math.ceil(size / REF_REGION);
      const got = await collect(decryptStream(chunksOf(stored, 100_000), serviceCek, { firstRegion: 0, regionCount, plainSize: size }));
      expect(got.equals(plain)).toBe(true);
    });
  }

  it('encryptionDataJson has the field order of the Python SDK (the Java reader depends on it)', () => {
    const json = encryptionDataJson(
      { keyId: KEY_ID, algorithm: 'A256KW', wrapped: 'AAAAAAAAAAA=' },
      { encryptionLibrary: 'tenant-ledger 0.1.0' },
    );
    const doc = JSON.parse(json) as Record<string, Record<string, unknown>>;
    expect(Object.keys(doc)).toEqual([
      'WrappedContentKey',
      'EncryptionAgent',
      'EncryptedRegionInfo',
      'KeyWrappingMetadata',
      'EncryptionMode',
    ]);
    expect(Object.keys(doc.WrappedContentKey!)).toEqual(['KeyId', 'EncryptedKey', 'Algorithm']);
    expect(Object.keys(doc.EncryptionAgent!)).toEqual(['Protocol', 'EncryptionAlgorithm']);
    expect(Object.keys(doc.EncryptedRegionInfo!)).toEqual(['DataLength', 'NonceLength']);
    expect(Object.keys(doc.KeyWrappingMetadata!)).toEqual(['EncryptionLibrary']);
    // And the exact text json.dumps(OrderedDict) produces (", " and ": " separators).
    expect(json).toBe(
      '{"WrappedContentKey": {"KeyId": "local:reference/00000000000000aa", "EncryptedKey": "AAAAAAAAAAA=", "Algorithm": "A256KW"}, ' +
        '"EncryptionAgent": {"Protocol": "2.0", "EncryptionAlgorithm": "AES_GCM_256"}, ' +
        '"EncryptedRegionInfo": {"DataLength": 4194304, "NonceLength": 12}, ' +
        '"KeyWrappingMetadata": {"EncryptionLibrary": "tenant-ledger 0.1.0"}, ' +
        '"EncryptionMode": "FullBlob"}',
    );
    // The reference's compact JSON parses the same way.
    expect(parseEncryptionData(refMetadata(kek, KEY_ID, randomBytes(32))).keyId).toBe(KEY_ID);
  });

  it('the reference nonce is the region index as a 12-byte big-endian integer', () => {
    expect(refNonce(0).toString('hex')).toBe('000000000000000000000000');
    expect(refNonce(1).toString('hex')).toBe('000000000000000000000001');
    expect(refNonce(258).toString('hex')).toBe('000000000000000000000102');
  });
});
