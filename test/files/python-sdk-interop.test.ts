/**
 * Interoperability with the official Azure Storage Python SDK (azure-storage-blob, client-side
 * encryption v2), against Azurite in-process:
 *  (a) the service encrypts and uploads (blocks + `encryptiondata` metadata, with
 *      @azure/storage-blob, which has no client-side encryption of its own); the Python SDK
 *      downloads with require_encryption=True and decrypts;
 *  (b) the Python SDK encrypts and uploads; the service parses the metadata, unwraps the key and
 *      decrypts with decryptStream.
 * The key-encryption key is an A256KW key whose raw bytes the test knows, used by both sides.
 * Skipped (with the reason printed) when `/usr/bin/python3 -c "import azure.storage.blob"` fails.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzuriteBlob, type RunningBlob } from '../../host/azurite';
import {
  decryptStream,
  encryptedSize,
  encryptionDataJson,
  encryptStream,
  findEncryptionData,
  parseEncryptionData,
  plainRange,
  plainSizeOf,
  regionCountOf,
  REGION_SIZE,
  slicePlaintext,
  unwrapContentKey,
  wrapContentKey,
} from '../../shared/crypto';
import { chunksOf, collect, freePort, patternBytes, RawKekProvider } from './helpers';

/** A content key of the test's own (the codec keeps its key generation inside withNewContentKey). */
const freshKey = () => randomBytes(32);

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(__dirname, '../support/python-interop.py');

function pythonSkipReason(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import azure.storage.blob, cryptography'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.error) return `${PYTHON} cannot run: ${probe.error.message}`;
  if (probe.status !== 0) return `${PYTHON} -c "import azure.storage.blob" failed: ${(probe.stderr || '').trim().split('\n').pop()}`;
  return undefined;
}
const skipReason = pythonSkipReason();
if (skipReason) console.warn(`[python-sdk-interop] skipped: ${skipReason} (install python3-azure-storage and python3-cryptography)`);

const SIZES: Array<[string, number]> = [
  ['0', 0],
  ['1', 1],
  ['4 MiB − 1', REGION_SIZE - 1],
  ['4 MiB', REGION_SIZE],
  ['4 MiB + 1', REGION_SIZE + 1],
  ['9 MiB', 9 * 1024 * 1024],
];

describe.skipIf(skipReason !== undefined)('Python SDK (azure-storage-blob, encryption v2) interop via Azurite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'py-interop-'));
  const kek = randomBytes(32);
  const KEY_ID = 'local:interop/0123456789abcdef';
  const keys = new RawKekProvider(kek, KEY_ID);
  let azurite: RunningBlob;
  let container: ContainerClient;
  let sdkVersion = '';

  /** Runs the Python driver asynchronously (Azurite runs in this process: a sync spawn would deadlock). */
  function python(args: string[]): Promise<Record<string, unknown>> {
    return new Promise((res, rej) => {
      execFile(
        PYTHON,
        [SCRIPT, ...args],
        {
          env: {
            ...process.env,
            INTEROP_CONNECTION_STRING: azurite.connectionString,
            INTEROP_KEK_HEX: kek.toString('hex'),
            INTEROP_KEK_ID: KEY_ID,
          },
          maxBuffer: 16 * 1024 * 1024,
          timeout: 120_000,
        },
        (error, stdout, stderr) => {
          if (error) return rej(new Error(`python-interop.py ${args[0]} failed: ${stderr.trim() || error.message}`));
          res(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>);
        },
      );
    });
  }

  /** What the service does on upload: fresh key, wrap, encrypt, one block per region, commit with metadata. */
  async function serviceUpload(name: string, plain: Buffer, metadataKey = 'encryptiondata') {
    const cek = freshKey();
    const wrapped = await wrapContentKey(keys, 'interop', cek);
    const enc = encryptStream(chunksOf(plain, 256 * 1024), cek);
    cek.fill(0);
    const blob = container.getBlockBlobClient(name);
    const ids: string[] = [];
    for await (const region of enc.regions) {
      const id = Buffer.from(`region-${String(ids.length).padStart(8, '0')}`).toString('base64');
      await blob.stageBlock(id, region, region.length);
      ids.push(id);
    }
    const result = await enc.result;
    await blob.commitBlockList(ids, { metadata: { [metadataKey]: encryptionDataJson(wrapped) } });
    return result;
  }

  /** What the service does on download: metadata → unwrap → decrypt (optionally a plaintext range). */
  async function serviceDownload(name: string, plainSize: number, range?: [number, number]) {
    const blob = container.getBlockBlobClient(name);
    const props = await blob.getProperties();
    expect(props.contentLength).toBe(encryptedSize(plainSize));
    expect(plainSizeOf(props.contentLength!)).toBe(plainSize);
    const json = findEncryptionData(props.metadata);
    expect(json).toBeDefined();
    const data = parseEncryptionData(json!);
    const cek = await unwrapContentKey(keys, 'any', data);
    try {
      if (range) {
        const r = plainRange(range[0], range[1], plainSize);
        const res = await blob.download(r.cipherOffset, r.cipherCount);
        const regions = decryptStream(res.readableStreamBody as AsyncIterable<Uint8Array>, cek, {
          firstRegion: r.firstRegion,
          regionCount: r.lastRegion - r.firstRegion + 1,
          plainSize,
        });
        return await collect(slicePlaintext(regions, r.skipInFirst, r.take));
      }
      const res = await blob.download();
      const body = (res.readableStreamBody ?? chunksOf(Buffer.alloc(0), 1)) as AsyncIterable<Uint8Array>;
      return await collect(decryptStream(body, cek, { firstRegion: 0, regionCount: regionCountOf(plainSize), plainSize }));
    } finally {
      cek.fill(0);
    }
  }

  beforeAll(async () => {
    azurite = await startAzuriteBlob(join(dir, 'azurite'), await freePort());
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('interop');
    await container.create();
    sdkVersion = String((await python(['version']))['azure-storage-blob']);
    console.info(`[python-sdk-interop] azure-storage-blob ${sdkVersion}`);
  });

  afterAll(async () => {
    await azurite?.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  for (const [name, size] of SIZES) {
    it(`(a) ${name} bytes: service encrypts and uploads, the Python SDK downloads and decrypts byte-exact`, async () => {
      const plain = patternBytes(size, size + 11);
      const blobName = `svc-${size}.bin`;
      const result = await serviceUpload(blobName, plain);
      expect(result.plaintextSize).toBe(size);
      const out = join(dir, `${blobName}.py-out`);
      const r = await python(['download', '--container', 'interop', '--blob', blobName, '--file', out]);
      expect(r.size).toBe(size);
      expect(readFileSync(out).equals(plain)).toBe(true);
    });

    it(`(b) ${name} bytes: the Python SDK encrypts and uploads, the service decrypts byte-exact`, async () => {
      const plain = patternBytes(size, size + 12);
      const blobName = `py-${size}.bin`;
      const input = join(dir, `${blobName}.in`);
      writeFileSync(input, plain);
      const r = (await python(['upload', '--container', 'interop', '--blob', blobName, '--file', input])) as {
        size: number;
        metadata: Record<string, string>;
      };
      // The SDK writes zero regions for an empty blob, one per started 4 MiB otherwise.
      expect(r.size).toBe(encryptedSize(size));
      expect(Object.keys(r.metadata)).toEqual(['encryptiondata']);

      const got = await serviceDownload(blobName, size);
      expect(got.equals(plain)).toBe(true);

      // What the SDK wrote, byte for byte, is what encryptionDataJson writes for the same wrapped key.
      const data = parseEncryptionData(r.metadata.encryptiondata!);
      expect(data.encryptionLibrary).toBe(`Python ${sdkVersion}`);
      expect(
        encryptionDataJson(
          { keyId: data.keyId, algorithm: data.algorithm, wrapped: data.encryptedKey },
          { encryptionLibrary: `Python ${sdkVersion}` },
        ),
      ).toBe(r.metadata.encryptiondata);

      // The stored nonces are the region indexes (12-byte big-endian).
      const stored = await container.getBlockBlobClient(blobName).downloadToBuffer();
      for (let i = 0; i < regionCountOf(size); i++) {
        const off = i * (REGION_SIZE + 28);
        expect(stored.readBigUInt64BE(off + 4)).toBe(BigInt(i));
        expect(stored.readUInt32BE(off)).toBe(0);
      }
    });
  }

  it('(b) chunked upload by the Python SDK (blocks of 1 MiB, not aligned to regions) decrypts; ranges too', async () => {
    const size = 9 * 1024 * 1024 + 3;
    const plain = patternBytes(size, 77);
    const input = join(dir, 'py-chunked.in');
    writeFileSync(input, plain);
    await python([
      'upload',
      '--container',
      'interop',
      '--blob',
      'py-chunked.bin',
      '--file',
      input,
      '--max-single-put-size',
      String(1024 * 1024),
      '--max-block-size',
      String(1024 * 1024),
    ]);
    const blocks = await container.getBlockBlobClient('py-chunked.bin').getBlockList('committed');
    expect(blocks.committedBlocks?.length).toBeGreaterThan(3);
    expect((await serviceDownload('py-chunked.bin', size)).equals(plain)).toBe(true);
    for (const [s, e] of [
      [0, 0],
      [REGION_SIZE - 1, REGION_SIZE],
      [2 * REGION_SIZE, size - 1],
      [size - 1, size - 1],
    ] as Array<[number, number]>) {
      expect((await serviceDownload('py-chunked.bin', size, [s, e])).equals(plain.subarray(s, e + 1))).toBe(true);
    }
  });

  it('(a) the Python SDK reads ranges of a service-written blob, also with small download chunks', async () => {
    const size = 9 * 1024 * 1024;
    const plain = patternBytes(size, 78);
    await serviceUpload('svc-ranges.bin', plain);
    const out = join(dir, 'svc-ranges.out');
    for (const [offset, length] of [
      [REGION_SIZE - 10, 20],
      [0, 1],
      [size - 5, 5],
      [123_456, 5 * 1024 * 1024],
    ] as Array<[number, number]>) {
      await python([
        'download',
        '--container',
        'interop',
        '--blob',
        'svc-ranges.bin',
        '--file',
        out,
        '--offset',
        String(offset),
        '--length',
        String(length),
      ]);
      expect(readFileSync(out).equals(plain.subarray(offset, offset + length))).toBe(true);
    }
    await python([
      'download',
      '--container',
      'interop',
      '--blob',
      'svc-ranges.bin',
      '--file',
      out,
      '--max-single-get-size',
      String(REGION_SIZE + 28),
      '--max-chunk-get-size',
      String(REGION_SIZE + 28),
    ]);
    expect(readFileSync(out).equals(plain)).toBe(true);
  });

  it('the Python reader looks the metadata key up case-sensitively: only "encryptiondata" (lower case) is read correctly', async () => {
    const plain = patternBytes(100, 5);
    await serviceUpload('svc-casing.bin', plain, 'EncryptionData');
    // Azurite keeps the case as written (as Azure does): listing shows it. @azure/storage-blob's
    // getProperties/download read metadata from Node's lower-cased response headers, so there
    // the key arrives as "encryptiondata" whatever was written. Our reader does not care.
    const listed: Array<Record<string, string> | undefined> = [];
    for await (const item of container.listBlobsFlat({ prefix: 'svc-casing.bin', includeMetadata: true })) listed.push(item.metadata);
    expect(listed.map((m) => Object.keys(m ?? {}))).toEqual([['EncryptionData']]);
    expect(findEncryptionData(listed[0])).toBeDefined();
    const props = await container.getBlockBlobClient('svc-casing.bin').getProperties();
    expect(Object.keys(props.metadata ?? {})).toEqual(['encryptiondata']);
    expect((await serviceDownload('svc-casing.bin', 100)).equals(plain)).toBe(true);
    // The Python SDK (12.15) looks up properties.metadata['encryptiondata'] case-sensitively, so
    // it does not see the encryption data … and then still decrypts (its decrypt step reads the
    // case-insensitive response header) but with the range offsets of an unencrypted blob,
    // (0, 0): it returns b"" without an error, even with require_encryption=True. Hence the
    // service always writes the key in lower case.
    const out = join(dir, 'svc-casing.out');
    const outcome = await python(['download', '--container', 'interop', '--blob', 'svc-casing.bin', '--file', out]).then(
      () => ({ returned: readFileSync(out) }),
      (e: unknown) => ({ error: String(e) }),
    );
    console.info(
      `[python-sdk-interop] metadata key "EncryptionData": Python SDK ${'returned' in outcome ? `returned ${outcome.returned.length} bytes without error` : `failed: ${outcome.error}`}`,
    );
    expect('returned' in outcome && outcome.returned.equals(plain)).toBe(false);
  });

  it('reordered or dropped regions of a Python-written blob: the service refuses them (the Python reader does not)', async () => {
    const size = 9 * 1024 * 1024; // regions of 4, 4 and 1 MiB
    const plain = patternBytes(size, 79);
    const input = join(dir, 'py-damage.in');
    writeFileSync(input, plain);
    await python(['upload', '--container', 'interop', '--blob', 'py-damage.bin', '--file', input]);
    const source = container.getBlockBlobClient('py-damage.bin');
    const metadata = (await source.getProperties()).metadata!;
    const stored = await source.downloadToBuffer();
    const full = REGION_SIZE + 28;
    const region = (i: number) => stored.subarray(i * full, Math.min(stored.length, (i + 1) * full));
    const variants: Array<[string, Buffer, string]> = [
      ['swapped regions 0 and 1', Buffer.concat([region(1), region(0), region(2)]), 'reordered'],
      ['last region dropped', Buffer.concat([region(0), region(1)]), 'truncated'],
    ];
    for (const [what, bytes, code] of variants) {
      const name = `py-damage-${code}.bin`;
      await container.getBlockBlobClient(name).upload(bytes, bytes.length, { metadata });
      // The file's event recorded `size`: the service decrypts against that, not the blob's size.
      const data = parseEncryptionData(findEncryptionData(metadata)!);
      const cek = await unwrapContentKey(keys, 'any', data);
      const res = await container.getBlockBlobClient(name).download();
      const parts: Buffer[] = [];
      let error: unknown;
      try {
        for await (const c of decryptStream(res.readableStreamBody as AsyncIterable<Uint8Array>, cek, {
          firstRegion: 0,
          regionCount: regionCountOf(size),
          plainSize: size,
        }))
          parts.push(Buffer.from(c));
      } catch (e) {
        error = e;
      }
      expect(error, what).toMatchObject({ name: 'FileCryptoError', code });
      expect(Buffer.concat(parts).equals(plain.subarray(0, code === 'reordered' ? 0 : 2 * REGION_SIZE)), what).toBe(true);
      // For the record: what the Python SDK makes of the same blob (it trusts the stored nonces and the blob's size).
      const out = join(dir, `${name}.out`);
      const py = await python(['download', '--container', 'interop', '--blob', name, '--file', out]).then(
        () => `returned ${readFileSync(out).length} bytes without error`,
        (e: unknown) => `failed (${String(e).slice(0, 120)})`,
      );
      console.info(`[python-sdk-interop] ${what}: Python SDK ${py}`);
    }
  });

  it('the Python SDK rejects a service-written blob whose region was modified', async () => {
    const plain = patternBytes(REGION_SIZE + 10, 6);
    await serviceUpload('svc-tampered.bin', plain);
    const blob = container.getBlockBlobClient('svc-tampered.bin');
    const props = await blob.getProperties();
    const stored = await blob.downloadToBuffer();
    stored[REGION_SIZE + 28 + 12 + 3]! ^= 1;
    await blob.upload(stored, stored.length, { metadata: props.metadata! });
    const out = join(dir, 'svc-tampered.out');
    await expect(python(['download', '--container', 'interop', '--blob', 'svc-tampered.bin', '--file', out])).rejects.toThrow(
      /Decryption failed|InvalidTag/,
    );
  });
});
