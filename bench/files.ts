/**
 * Encrypted-file phases of `npm run bench`:
 *   - encrypt-only / decrypt-only throughput of encryptStream / decryptStream (in memory), against
 *     raw node:crypto AES-256-GCM over the same bytes and `openssl speed -evp aes-256-gcm`;
 *   - upload and download of the same bytes to an in-process Azurite through AzureBlobStore,
 *     plain vs encrypted (encryptStream regions + encryptiondata metadata, decryptStream), side
 *     by side in the same runs with the embedded default FolderBlobStore (fsync before an upload
 *     returns) and raw node:fs write + fdatasync + rename + directory fsync / sequential read;
 *   - a 1 GiB file through the local host in a child process (`node dist/host/start.js`, files
 *     in its folder store): HTTP upload/download throughput and peak RSS growth of that process.
 * Sizes are in MB = 10^6 bytes (as openssl reports), file sizes in MiB/GiB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteBlob } from '../host/azurite';
import { AzureBlobStoreFactory } from '../shared/adapters/blob/azure-blob-store';
import { FolderBlobStoreFactory } from '../shared/adapters/embedded/folder-blob-store';
import { LocalKeyProvider } from '../shared/adapters/embedded/local-key-provider';
import {
  decryptStream,
  encryptedSize,
  encryptionDataJson,
  encryptStream,
  findEncryptionData,
  NONCE_LENGTH,
  parseEncryptionData,
  REGION_OVERHEAD,
  REGION_SIZE,
  regionCountOf,
  TAG_LENGTH,
  withContentKey,
  withNewContentKey,
  wrapContentKey,
} from '../shared/crypto';
import { verifySha256AtEnd } from '../shared/app/file-binding';
import type { BlobStore } from '../shared/ports/blob-store';
import type { KeyProvider } from '../shared/ports/key-provider';
import { call, expectStatus } from './http';
import { msSince, nowNs, type Metric } from './lib';
import { createBenchTenant, defineBenchType, TYPE } from './records';

export const MiB = 1024 * 1024;
/** MB/s (10^6 bytes per second) of `bytes` moved in `ms`. */
export const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

// ------------------------------------------------------------------ data source

/**
 * Deterministic pseudo-random bytes, cheap to produce: a fixed pool of random bytes copied into
 * a fresh buffer per chunk (never reused: AzureBlobStore stages large chunks without copying),
 * with the chunk's file offset stamped at every MiB so no two MiB of a file are equal.
 * The same (total, chunkSize) always yields the same bytes.
 */
export class PseudoRandomSource {
  private readonly pool = randomBytes(8 * MiB);

  chunk(offset: number, size: number): Buffer {
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const at = (offset + filled) % this.pool.length;
      const n = Math.min(size - filled, this.pool.length - at);
      this.pool.copy(out, filled, at, at + n);
      filled += n;
    }
    for (let o = (MiB - (offset % MiB)) % MiB; o + 8 <= size; o += MiB) out.writeDoubleBE(offset + o, o);
    return out;
  }

  async *chunks(total: number, chunkSize: number): AsyncGenerator<Uint8Array, void, undefined> {
    for (let offset = 0; offset < total; offset += chunkSize) yield this.chunk(offset, Math.min(chunkSize, total - offset));
  }

  /** The same bytes as a web ReadableStream (pull-based: one chunk per read, so fetch applies backpressure). */
  stream(total: number, chunkSize: number): ReadableStream<Uint8Array> {
    let offset = 0;
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (offset >= total) return controller.close();
        const n = Math.min(chunkSize, total - offset);
        controller.enqueue(this.chunk(offset, n));
        offset += n;
      },
    });
  }
}

async function drain(src: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of src) n += c.byteLength;
  return n;
}

/** Region index as the 12-byte big-endian nonce (as shared/crypto writes it). */
function nonceFor(index: number): Buffer {
  const n = Buffer.alloc(NONCE_LENGTH);
  n.writeBigUInt64BE(BigInt(index), NONCE_LENGTH - 8);
  return n;
}

// ------------------------------------------------------------------ 1. crypto throughput (memory only)

export interface CryptoConfig {
  /** Plaintext bytes per run (512 MiB). */
  bytes: number;
  /** Size of the plaintext chunks fed in (1 MiB). */
  chunk: number;
  /** Alternating runs of each encrypt series; figures aggregate all runs. */
  runs: number;
  /** Regions of the encrypted output kept (from the first run) for the decrypt series, which decrypts them bytes/(kept) times. */
  keepRegions: number;
}

export interface Throughput {
  bytes: number;
  ms: number;
  mbps: number;
  /** Per-run MB/s, in order. */
  runs: number[];
}

export interface CryptoResult {
  cfg: CryptoConfig;
  /** Generating the chunks alone (included in every series below). */
  source: Throughput;
  encryptStream: Throughput;
  rawGcm64k: Throughput;
  rawGcm16k: Throughput;
  /** SHA-256 over the same bytes (encryptStream also hashes the plaintext for the file's event). */
  rawSha256: Throughput;
  decryptStream: Throughput;
  /** decryptStream followed by the whole-file SHA-256 check FileService.open applies (verifySha256AtEnd). */
  decryptStreamChecked: Throughput;
  rawGcmDecrypt64k: Throughput;
  /** Plaintext bytes of the kept ciphertext (one decrypt pass). */
  decryptFileBytes: number;
  decryptPasses: number;
}

function throughput(bytes: number, runMs: number[]): Throughput {
  const ms = runMs.reduce((a, b) => a + b, 0);
  return { bytes: bytes * runMs.length, ms, mbps: mbps(bytes * runMs.length, ms), runs: runMs.map((m) => mbps(bytes, m)) };
}

/** AES-256-GCM with node:crypto directly, one cipher per 4 MiB region, `piece`-byte update() calls, output discarded. */
async function rawGcmEncrypt(src: PseudoRandomSource, cfg: CryptoConfig, piece: number): Promise<number> {
  if (REGION_SIZE % cfg.chunk !== 0 || cfg.chunk % piece !== 0)
    throw new Error('raw GCM: chunks must tile regions and pieces must tile chunks');
  const key = randomBytes(32);
  const t0 = nowNs();
  let region = 0;
  let filled = 0;
  let cipher = createCipheriv('aes-256-gcm', key, nonceFor(region));
  for await (const chunk of src.chunks(cfg.bytes, cfg.chunk)) {
    for (let o = 0; o < chunk.length; o += piece) cipher.update(chunk.subarray(o, o + piece));
    filled += chunk.length;
    if (filled === REGION_SIZE) {
      cipher.final();
      cipher.getAuthTag();
      cipher = createCipheriv('aes-256-gcm', key, nonceFor(++region));
      filled = 0;
    }
  }
  cipher.final();
  cipher.getAuthTag();
  return msSince(t0);
}

async function rawSha256(src: PseudoRandomSource, cfg: CryptoConfig): Promise<number> {
  const t0 = nowNs();
  const h = createHash('sha256');
  for await (const chunk of src.chunks(cfg.bytes, cfg.chunk)) h.update(chunk);
  h.digest();
  return msSince(t0);
}

export async function benchFileCrypto(cfg: CryptoConfig): Promise<CryptoResult> {
  const src = new PseudoRandomSource();
  const sourceMs: number[] = [];
  const encMs: number[] = [];
  const raw64: number[] = [];
  const raw16: number[] = [];
  const shaMs: number[] = [];
  let kept: Buffer[] = [];
  /** Content key of the kept regions (set during the first encrypt run). */
  let keptKey: Buffer | undefined;
  let expectedSha: string | undefined;

  // Warm-up (JIT, first allocations): 16 MiB through each path.
  const warm: CryptoConfig = { ...cfg, bytes: 16 * MiB };
  await drain(src.chunks(warm.bytes, warm.chunk));
  await withNewContentKey((cek) => drain(encryptStream(src.chunks(warm.bytes, warm.chunk), cek).regions));
  await rawGcmEncrypt(src, warm, 64 * 1024);

  for (let run = 0; run < cfg.runs; run++) {
    let t0 = nowNs();
    const n = await drain(src.chunks(cfg.bytes, cfg.chunk));
    sourceMs.push(msSince(t0));
    if (n !== cfg.bytes) throw new Error(`source produced ${n} bytes, expected ${cfg.bytes}`);

    // Alternate the order of the encrypt series between runs.
    const series: (() => Promise<void>)[] = [
      () =>
        withNewContentKey(async (cek) => {
          const enc = encryptStream(src.chunks(cfg.bytes, cfg.chunk), cek);
          let stored = 0;
          t0 = nowNs();
          for await (const r of enc.regions) {
            stored += r.byteLength;
            if (run === 0 && kept.length < cfg.keepRegions) kept.push(Buffer.from(r.buffer, r.byteOffset, r.byteLength));
          }
          const res = await enc.result;
          encMs.push(msSince(t0));
          if (res.plaintextSize !== cfg.bytes || stored !== encryptedSize(cfg.bytes))
            throw new Error(`encryptStream: ${res.plaintextSize} plaintext / ${stored} stored bytes`);
          if (expectedSha !== undefined && res.sha256 !== expectedSha)
            throw new Error('encryptStream: the plaintext hash differs between runs');
          expectedSha = res.sha256;
          // The kept regions are a file of `keepRegions` regions under this content key.
          if (run === 0) keptKey = Buffer.from(cek);
        }),
      async () => void raw64.push(await rawGcmEncrypt(src, cfg, 64 * 1024)),
      async () => void raw16.push(await rawGcmEncrypt(src, cfg, 16 * 1024)),
      async () => void shaMs.push(await rawSha256(src, cfg)),
    ];
    for (const s of run % 2 === 0 ? series : [...series].reverse()) await s();
  }

  // Decrypt: the kept regions are a valid file of keepRegions × 4 MiB (regions 0..k-1 with their nonces).
  const key = keptKey!;
  const stored = Buffer.concat(kept);
  kept = [];
  const plainSize = cfg.keepRegions * REGION_SIZE;
  if (stored.length !== encryptedSize(plainSize)) throw new Error('decrypt: kept regions have an unexpected size');
  const passes = Math.max(1, Math.round(cfg.bytes / plainSize));
  const storedChunks = async function* (): AsyncGenerator<Uint8Array> {
    for (let o = 0; o < stored.length; o += cfg.chunk) yield stored.subarray(o, Math.min(stored.length, o + cfg.chunk));
  };
  const decMs: number[] = [];
  const checkedMs: number[] = [];
  const rawDecMs: number[] = [];
  let plainSha = '';
  // Warm-up, one pass of each (not timed), then `passes` timed passes alternating.
  const decryptPass = async (): Promise<number> => {
    const t0 = nowNs();
    const n = await drain(decryptStream(storedChunks(), key, { firstRegion: 0, regionCount: cfg.keepRegions, plainSize }));
    const ms = msSince(t0);
    if (n !== plainSize) throw new Error(`decryptStream: ${n} bytes, expected ${plainSize}`);
    return ms;
  };
  const rawDecryptPass = (): number => {
    const t0 = nowNs();
    const piece = 64 * 1024;
    for (let r = 0; r < cfg.keepRegions; r++) {
      const base = r * (REGION_SIZE + REGION_OVERHEAD);
      const d = createDecipheriv('aes-256-gcm', key, stored.subarray(base, base + NONCE_LENGTH));
      const body = base + NONCE_LENGTH;
      d.setAuthTag(stored.subarray(body + REGION_SIZE, body + REGION_SIZE + TAG_LENGTH));
      for (let o = 0; o < REGION_SIZE; o += piece) d.update(stored.subarray(body + o, body + o + piece));
      d.final();
    }
    return msSince(t0);
  };
  const checkedPass = async (): Promise<number> => {
    const t0 = nowNs();
    const n = await drain(
      verifySha256AtEnd(
        decryptStream(storedChunks(), key, { firstRegion: 0, regionCount: cfg.keepRegions, plainSize }),
        plainSha,
        () => undefined,
      ),
    );
    const ms = msSince(t0);
    if (n !== plainSize) throw new Error(`decryptStream + SHA-256 check: ${n} bytes, expected ${plainSize}`);
    return ms;
  };
  {
    const h = createHash('sha256');
    for await (const c of decryptStream(storedChunks(), key, { firstRegion: 0, regionCount: cfg.keepRegions, plainSize })) h.update(c);
    plainSha = h.digest('hex');
  }
  await decryptPass();
  await checkedPass();
  rawDecryptPass();
  const order: Array<() => Promise<void>> = [
    async () => void decMs.push(await decryptPass()),
    async () => void checkedMs.push(await checkedPass()),
    async () => void rawDecMs.push(rawDecryptPass()),
  ];
  for (let p = 0; p < passes; p++) {
    // Rotate the order between passes, so no series always runs first.
    for (let i = 0; i < order.length; i++) await order[(i + p) % order.length]!();
  }
  key.fill(0);

  return {
    cfg,
    source: throughput(cfg.bytes, sourceMs),
    encryptStream: throughput(cfg.bytes, encMs),
    rawGcm64k: throughput(cfg.bytes, raw64),
    rawGcm16k: throughput(cfg.bytes, raw16),
    rawSha256: throughput(cfg.bytes, shaMs),
    decryptStream: throughput(plainSize, decMs),
    decryptStreamChecked: throughput(plainSize, checkedMs),
    rawGcmDecrypt64k: throughput(plainSize, rawDecMs),
    decryptFileBytes: plainSize,
    decryptPasses: passes,
  };
}
// ------------------------------------------------------------------ openssl speed

export type OpensslResult = { ok: true; mbps: number; command: string; version: string } | { ok: false; reason: string };

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err?: Error }> {
  return new Promise((resolve) => {
    let out = '';
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      return resolve({ code: null, out: '', err: e as Error });
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, out, err });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/**
 * Parses the table of `openssl speed` ("The 'numbers' are in 1000s of bytes per second"):
 * the value of the 16384-byte column of the aes-256-gcm row, as MB/s; undefined if absent.
 */
export function parseOpensslSpeed(out: string): number | undefined {
  const lines = out.split(/\r?\n/);
  const header = lines.find((l) => /^type\s/.test(l) && /16384 bytes/.test(l));
  if (!header) return undefined;
  const sizes = [...header.matchAll(/(\d+) bytes/g)].map((m) => m[1]);
  const col = sizes.indexOf('16384');
  const row = lines.find((l) => /^aes-256-gcm\s/i.test(l.trim()));
  if (col < 0 || !row) return undefined;
  const values = [...row.matchAll(/(\d+(?:\.\d+)?)k/g)].map((m) => Number(m[1]));
  if (values.length !== sizes.length) return undefined;
  const v = values[col];
  return v !== undefined && Number.isFinite(v) && v > 0 ? (v * 1000) / 1e6 : undefined;
}

/**
 * `openssl speed -evp aes-256-gcm -seconds 3`, restricted to the 16384-byte block with `-bytes 16384`
 * (3 s instead of 6 sizes × 3 s); falls back to the full command if `-bytes` is not understood.
 */
export async function opensslAesGcm(seconds: number): Promise<OpensslResult> {
  const version = await run('openssl', ['version'], 10_000);
  if (version.err || version.code !== 0)
    return { ok: false, reason: `openssl not available (${version.err?.message ?? `exit ${version.code}`})` };
  const base = ['speed', '-evp', 'aes-256-gcm', '-seconds', String(seconds)];
  for (const args of [[...base, '-bytes', '16384'], base]) {
    const r = await run('openssl', args, (seconds * 6 + 30) * 1000);
    const v = r.code === 0 ? parseOpensslSpeed(r.out) : undefined;
    if (v !== undefined)
      return { ok: true, mbps: v, command: `openssl ${args.join(' ')}`, version: version.out.trim().split('\n')[0] ?? '' };
  }
  return { ok: false, reason: 'could not parse the output of openssl speed' };
}

// ------------------------------------------------------------------ 2. Azurite, plain vs encrypted

export interface BlobConfig {
  bytes: number;
  /** Source chunk size (4 MiB: one block per chunk / region). */
  chunk: number;
  runs: number;
}

export interface BlobResult {
  cfg: BlobConfig;
  /** CPU time of this process's main thread (the one event loop shared by client, crypto and Azurite) per series, summed over runs; undefined without /proc. */
  loopCpuMs: { plainUpload?: number; encryptedUpload?: number; plainDownload?: number; encryptedDownload?: number };
  plainUpload: Throughput;
  encryptedUpload: Throughput;
  plainDownload: Throughput;
  encryptedDownload: Throughput;
  storedPlain: number;
  storedEncrypted: number;
  /**
   * The embedded default, FolderBlobStore (DATA_DIR/files): the same series in the same runs,
   * and the floor under it: raw node:fs write + fdatasync + rename + directory fsync, and a
   * plain sequential read, of the same bytes on the same disk.
   */
  folder: { plainUpload: Throughput; encryptedUpload: Throughput; plainDownload: Throughput; encryptedDownload: Throughput };
  rawFs: { write: Throughput; read: Throughput };
}

/** CPU time (ns) of a process's main thread, from /proc/<pid>/task/<pid>/schedstat; undefined where unavailable. */
function mainThreadCpuNs(pid: number): number | undefined {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns : undefined;
  } catch {
    return undefined;
  }
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res, rej) => {
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => res());
  });
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

/** The key (in the bench's LocalKeyProvider) that wraps the encrypted uploads' content keys. */
export const KEY_NAME = 'bench-files';

export async function uploadPlain(
  store: BlobStore,
  src: PseudoRandomSource,
  name: string,
  cfg: BlobConfig,
): Promise<{ ms: number; size: number }> {
  const t0 = nowNs();
  const info = await store.upload(name, src.chunks(cfg.bytes, cfg.chunk), { metadata: {} });
  const ms = msSince(t0);
  if (info.size !== cfg.bytes) throw new Error(`plain upload: ${info.size} bytes stored, expected ${cfg.bytes}`);
  return { ms, size: info.size };
}

/** SHA-256 of each encrypted upload's plaintext (what a FileAttached event records), by blob name. */
const uploadedSha = new Map<string, string>();
function sha256Of(name: string): string {
  const v = uploadedSha.get(name);
  if (v === undefined) throw new Error(`encrypted download: no SHA-256 recorded for ${name}`);
  return v;
}

export async function uploadEncrypted(
  store: BlobStore,
  keys: KeyProvider,
  src: PseudoRandomSource,
  name: string,
  cfg: BlobConfig,
): Promise<{ ms: number; size: number }> {
  const t0 = nowNs();
  return withNewContentKey(async (cek) => {
    const wrapped = await wrapContentKey(keys, KEY_NAME, cek);
    const enc = encryptStream(src.chunks(cfg.bytes, cfg.chunk), cek);
    enc.result.catch(() => undefined);
    const info = await store.upload(name, enc.regions, { metadata: { encryptiondata: encryptionDataJson(wrapped) } });
    const r = await enc.result;
    const ms = msSince(t0);
    uploadedSha.set(name, r.sha256);
    if (r.plaintextSize !== cfg.bytes || info.size !== encryptedSize(cfg.bytes))
      throw new Error(`encrypted upload: ${r.plaintextSize} plaintext / ${info.size} stored bytes`);
    return { ms, size: info.size };
  });
}

async function downloadPlain(store: BlobStore, name: string, cfg: BlobConfig): Promise<number> {
  const t0 = nowNs();
  const n = await drain(await store.download(name));
  const ms = msSince(t0);
  if (n !== cfg.bytes) throw new Error(`plain download: ${n} bytes, expected ${cfg.bytes}`);
  return ms;
}

/** As FileService.open does: properties (metadata), unwrap the content key, download, decrypt, check the whole file's SHA-256. */
async function downloadEncrypted(store: BlobStore, keys: KeyProvider, name: string, cfg: BlobConfig): Promise<number> {
  const t0 = nowNs();
  const info = await store.getInfo(name);
  if (!info) throw new Error(`encrypted download: blob ${name} is missing`);
  const data = parseEncryptionData(findEncryptionData(info.metadata) ?? '');
  return withContentKey(keys, KEY_NAME, data, async (cek) => {
    const plain = verifySha256AtEnd(
      decryptStream(await store.download(name), cek, { firstRegion: 0, regionCount: regionCountOf(cfg.bytes), plainSize: cfg.bytes }),
      sha256Of(name),
      () => undefined,
    );
    const n = await drain(plain);
    const ms = msSince(t0);
    if (n !== cfg.bytes) throw new Error(`encrypted download: ${n} bytes, expected ${cfg.bytes}`);
    return ms;
  });
}

/** What a durable local write costs at least: write the chunks, fdatasync, rename into place, fsync the folder. */
async function rawFsWrite(dir: string, src: PseudoRandomSource, name: string, cfg: BlobConfig): Promise<number> {
  const t0 = nowNs();
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    for await (const c of src.chunks(cfg.bytes, cfg.chunk)) {
      let off = 0;
      while (off < c.length) off += (await fh.write(c, off, c.length - off)).bytesWritten;
    }
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
  return msSince(t0);
}

/** A plain sequential read of the file in 1 MiB reads (as FolderBlobStore.download reads). */
async function rawFsRead(dir: string, name: string, cfg: BlobConfig): Promise<number> {
  const t0 = nowNs();
  const fh = await open(join(dir, name), 'r');
  let n = 0;
  try {
    const buf = Buffer.allocUnsafe(MiB);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, MiB, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
  } finally {
    await fh.close();
  }
  if (n !== cfg.bytes) throw new Error(`raw fs read: ${n} bytes, expected ${cfg.bytes}`);
  return msSince(t0);
}

export async function benchAzuriteTransfer(cfg: BlobConfig): Promise<BlobResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-azurite-'));
  let azurite: Awaited<ReturnType<typeof startAzuriteBlob>> | undefined;
  try {
    azurite = await startAzuriteBlob(join(dir, 'azurite'), await freePort());
    const factory = AzureBlobStoreFactory.fromConnectionString(azurite.connectionString);
    const store = await factory.forTenant('bench-files');
    const folder = await new FolderBlobStoreFactory(join(dir, 'files')).forTenant('bench-files');
    const rawDir = join(dir, 'raw');
    mkdirSync(rawDir);
    const keys = new LocalKeyProvider({ dir: join(dir, 'keys'), masterKey: randomBytes(32) });
    await keys.createKey(KEY_NAME);
    const src = new PseudoRandomSource();

    // Warm-up: 16 MiB through each path (connections, JIT), not timed.
    const warm: BlobConfig = { ...cfg, bytes: 16 * MiB };
    await uploadPlain(store, src, 'warm-plain', warm);
    await uploadEncrypted(store, keys, src, 'warm-enc', warm);
    await downloadPlain(store, 'warm-plain', warm);
    await downloadEncrypted(store, keys, 'warm-enc', warm);
    await store.delete('warm-plain');
    await store.delete('warm-enc');
    await uploadPlain(folder, src, 'warm-plain', warm);
    await uploadEncrypted(folder, keys, src, 'warm-enc', warm);
    await downloadPlain(folder, 'warm-plain', warm);
    await downloadEncrypted(folder, keys, 'warm-enc', warm);
    await folder.delete('warm-plain');
    await folder.delete('warm-enc');
    await rawFsWrite(rawDir, src, 'warm', warm);
    await rawFsRead(rawDir, 'warm', warm);
    rmSync(join(rawDir, 'warm'));

    const loopCpuMs: BlobResult['loopCpuMs'] = {};
    /** Runs `fn`, adding the main thread's CPU time to `key`. */
    const onLoop = async <T>(key: keyof BlobResult['loopCpuMs'], fn: () => Promise<T>): Promise<T> => {
      const a = mainThreadCpuNs(process.pid);
      const r = await fn();
      const b = mainThreadCpuNs(process.pid);
      if (a !== undefined && b !== undefined) loopCpuMs[key] = (loopCpuMs[key] ?? 0) + (b - a) / 1e6;
      return r;
    };
    const up = { plain: [] as number[], enc: [] as number[], folderPlain: [] as number[], folderEnc: [] as number[], raw: [] as number[] };
    const down = {
      plain: [] as number[],
      enc: [] as number[],
      folderPlain: [] as number[],
      folderEnc: [] as number[],
      raw: [] as number[],
    };
    let storedPlain = 0;
    let storedEncrypted = 0;
    for (let r = 0; r < cfg.runs; r++) {
      const plainName = `plain-${r}`;
      const encName = `enc-${r}`;
      const steps: (() => Promise<void>)[] = [
        async () => {
          const u = await onLoop('plainUpload', () => uploadPlain(store, src, plainName, cfg));
          up.plain.push(u.ms);
          storedPlain = u.size;
        },
        async () => {
          const u = await onLoop('encryptedUpload', () => uploadEncrypted(store, keys, src, encName, cfg));
          up.enc.push(u.ms);
          storedEncrypted = u.size;
        },
      ];
      steps.push(
        async () => void up.folderPlain.push((await uploadPlain(folder, src, plainName, cfg)).ms),
        async () => void up.folderEnc.push((await uploadEncrypted(folder, keys, src, encName, cfg)).ms),
        async () => void up.raw.push(await rawFsWrite(rawDir, src, plainName, cfg)),
      );
      const reads: (() => Promise<void>)[] = [
        async () => void down.plain.push(await onLoop('plainDownload', () => downloadPlain(store, plainName, cfg))),
        async () => void down.enc.push(await onLoop('encryptedDownload', () => downloadEncrypted(store, keys, encName, cfg))),
        async () => void down.folderPlain.push(await downloadPlain(folder, plainName, cfg)),
        async () => void down.folderEnc.push(await downloadEncrypted(folder, keys, encName, cfg)),
        async () => void down.raw.push(await rawFsRead(rawDir, plainName, cfg)),
      ];
      // Alternate the order: as listed in even runs, reversed in odd runs.
      for (const s of r % 2 === 0 ? steps : [...steps].reverse()) await s();
      for (const s of r % 2 === 0 ? reads : [...reads].reverse()) await s();
      await store.delete(plainName);
      await store.delete(encName);
      await folder.delete(plainName);
      await folder.delete(encName);
      rmSync(join(rawDir, plainName));
    }
    return {
      cfg,
      plainUpload: throughput(cfg.bytes, up.plain),
      encryptedUpload: throughput(cfg.bytes, up.enc),
      plainDownload: throughput(cfg.bytes, down.plain),
      encryptedDownload: throughput(cfg.bytes, down.enc),
      storedPlain,
      storedEncrypted,
      loopCpuMs,
      folder: {
        plainUpload: throughput(cfg.bytes, up.folderPlain),
        encryptedUpload: throughput(cfg.bytes, up.folderEnc),
        plainDownload: throughput(cfg.bytes, down.folderPlain),
        encryptedDownload: throughput(cfg.bytes, down.folderEnc),
      },
      rawFs: { write: throughput(cfg.bytes, up.raw), read: throughput(cfg.bytes, down.raw) },
    };
  } finally {
    await azurite?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ 3. 1 GiB through the local host (child process)

export interface HostFileConfig {
  bytes: number;
  chunk: number;
  /** A small upload + download before measuring (loads the code paths into the child). */
  warmupBytes: number;
}

export interface HostFileResult {
  cfg: HostFileConfig;
  pid: number;
  startupMs: number;
  upload: Transfer;
  download: Transfer;
  /** Whether VmHWM could be reset before each transfer (/proc/<pid>/clear_refs); else it is the peak since start. */
  hwmReset: boolean;
  /** KiB from /proc/<pid>/status; undefined where /proc is not available. */
  rssBeforeKiB?: number;
  hwmUploadKiB?: number;
  hwmDownloadKiB?: number;
  rssAfterKiB?: number;
}

export interface Transfer {
  ms: number;
  mbps: number;
  /** CPU time of the child (all threads, /proc/<pid>/stat; 100 Hz ticks assumed) during the transfer. */
  hostCpuMs?: number;
  /** CPU time of the child's main thread (the event loop; /proc/<pid>/task/<pid>/schedstat). */
  hostMainThreadCpuMs?: number;
  /** CPU time of this (client) process during the transfer. */
  clientCpuMs: number;
}

export interface CpuSnapshot {
  totalMs?: number;
  mainNs?: number;
  client: NodeJS.CpuUsage;
}

export function cpuSnapshot(pid: number): CpuSnapshot {
  const out: CpuSnapshot = { client: process.cpuUsage() };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 (utime) and 15 (stime) of proc(5); f[0] is field 3.
    const ticks = Number(f[11]) + Number(f[12]);
    if (Number.isFinite(ticks)) out.totalMs = ticks * 10;
  } catch {
    // not Linux
  }
  const ns = mainThreadCpuNs(pid);
  if (ns !== undefined) out.mainNs = ns;
  return out;
}

function transfer(bytes: number, ms: number, a: CpuSnapshot, b: CpuSnapshot): Transfer {
  const client = process.cpuUsage(a.client);
  return {
    ms,
    mbps: mbps(bytes, ms),
    ...(a.totalMs !== undefined && b.totalMs !== undefined ? { hostCpuMs: b.totalMs - a.totalMs } : {}),
    ...(a.mainNs !== undefined && b.mainNs !== undefined ? { hostMainThreadCpuMs: (b.mainNs - a.mainNs) / 1e6 } : {}),
    clientCpuMs: (client.user + client.system) / 1000,
  };
}

interface ProcStatus {
  rssKiB: number;
  hwmKiB: number;
}

function procStatus(pid: number): ProcStatus | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(s);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(s);
    return rss && hwm ? { rssKiB: Number(rss[1]), hwmKiB: Number(hwm[1]) } : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux ≥ 4.0; own processes only). */
function resetHwm(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface Child {
  proc: ChildProcess;
  base: string;
  log: string[];
  exited: Promise<void>;
}

/**
 * Starts `node dist/host/start.js` in a child process on the embedded defaults with a local
 * Azurite. `overrides` is applied last: a value replaces the setting, `undefined` removes it.
 */
export async function startChildHost(
  appRoot: string,
  dataDir: string,
  operatorKey: string,
  timeoutMs: number,
  overrides: Record<string, string | undefined> = {},
): Promise<Child> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Whatever the shell (or the in-process host of the earlier phases) set: embedded defaults, local Azurite.
  for (const k of [
    'BLOB_CONNECTION_STRING',
    'BLOB_ACCOUNT_URL',
    'MAX_FILE_BYTES',
    'LOCAL_MASTER_KEY',
    'COSMOS_ENDPOINT',
    'COSMOS_KEY',
    'KEY_VAULT_URL',
  ])
    delete env[k];
  Object.assign(env, {
    DATA_DIR: dataDir,
    PORT: '0',
    LOCAL_BLOB: 'azurite',
    AZURITE_BLOB_PORT: String(await freePort()),
    OPERATOR_KEY: operatorKey,
    PASSWORD_SCRYPT_LOG_N: '14',
    STORE: 'embedded',
    KEY_PROVIDER: 'local',
    OPERATOR_AUTH: 'key',
  });
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const proc = spawn(process.execPath, [join(appRoot, 'dist', 'host', 'start.js')], {
    cwd: appRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child host did not start within ${timeoutMs} ms`)), timeoutMs);
    const onLine = (line: string) => {
      log.push(line);
      if (log.length > 400) log.splice(0, log.length - 200);
      const m = /Host started on http:\/\/(?:localhost|127\.0\.0\.1):(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
      }
    };
    for (const s of [proc.stdout!, proc.stderr!]) {
      let rest = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        rest += d;
        const lines = rest.split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) onLine(l);
      });
    }
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the child host exited (${signal ?? code}) before it started`));
    });
  });
  return { proc, base, log, exited };
}

export async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGINT');
  const stopped = await Promise.race([c.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000).unref())]);
  if (!stopped) {
    c.proc.kill('SIGKILL');
    await c.exited;
  }
}

async function uploadViaHost(
  base: string,
  path: string,
  token: string,
  src: PseudoRandomSource,
  bytes: number,
  chunk: number,
): Promise<{ ms: number; fileId: string; sha256: string; size: number }> {
  const t0 = nowNs();
  const init: RequestInit & { duplex: 'half' } = {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'x-file-name': `bench-${bytes}.bin` },
    body: src.stream(bytes, chunk),
    duplex: 'half',
  };
  const res = await fetch(base + path, init);
  const text = await res.text();
  const ms = msSince(t0);
  if (res.status !== 201) throw new Error(`upload through the host: expected HTTP 201, got ${res.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text) as { fileId: string; sha256: string; size: number };
  if (body.size !== bytes) throw new Error(`upload through the host: the file has ${body.size} bytes, expected ${bytes}`);
  return { ms, fileId: body.fileId, sha256: body.sha256, size: body.size };
}

async function downloadViaHost(base: string, path: string, token: string, bytes: number, sha256: string): Promise<number> {
  const t0 = nowNs();
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200 || !res.body)
    throw new Error(`download through the host: expected HTTP 200, got ${res.status}: ${(await res.text()).slice(0, 500)}`);
  if (res.headers.get('x-content-sha256') !== sha256)
    throw new Error('download through the host: x-content-sha256 differs from the upload');
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
  }
  const ms = msSince(t0);
  if (n !== bytes) throw new Error(`download through the host: ${n} bytes, expected ${bytes}`);
  return ms;
}

export async function benchHostFile(appRoot: string, cfg: HostFileConfig, onLog: (lines: string[]) => void): Promise<HostFileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tenant-ledger-bench-host-'));
  const src = new PseudoRandomSource();
  // The expected SHA-256 of the file (the server reports the one it computed), before the child runs.
  const h = createHash('sha256');
  for await (const c of src.chunks(cfg.bytes, cfg.chunk)) h.update(c);
  const expectedSha = h.digest('hex');

  let child: Child | undefined;
  try {
    const operatorKey = randomBytes(32).toString('base64url'); // 43 characters
    const t0 = nowNs();
    child = await startChildHost(appRoot, join(dir, 'data'), operatorKey, 60_000);
    const startupMs = msSince(t0);
    const pid = child.proc.pid!;
    const base = child.base;

    const t = await createBenchTenant(base, operatorKey, 'bench-files');
    await defineBenchType(base, t);
    const created = await call(base, 'POST', `/api/t/${t.id}/records/${TYPE}`, { token: t.token, body: { title: 'file bench' } });
    expectStatus(created, 201, 'create record');
    const recordPath = `/api/t/${t.id}/records/${TYPE}/${(created.body as { id: string }).id}/files`;

    // Warm-up (not measured): loads the upload/download code paths, opens the Azurite container.
    const w = await uploadViaHost(base, recordPath, t.token, src, cfg.warmupBytes, cfg.chunk);
    await downloadViaHost(base, `${recordPath}/${w.fileId}`, t.token, cfg.warmupBytes, w.sha256);
    await new Promise((r) => setTimeout(r, 500));

    const before = procStatus(pid);
    const hwmReset = resetHwm(pid);
    const cpu0 = cpuSnapshot(pid);
    const up = await uploadViaHost(base, recordPath, t.token, src, cfg.bytes, cfg.chunk);
    const cpu1 = cpuSnapshot(pid);
    if (up.sha256 !== expectedSha) throw new Error('upload through the host: the SHA-256 the server computed differs from the bytes sent');
    const afterUpload = procStatus(pid);
    if (hwmReset) resetHwm(pid);
    const cpu2 = cpuSnapshot(pid);
    const downMs = await downloadViaHost(base, `${recordPath}/${up.fileId}`, t.token, cfg.bytes, up.sha256);
    const cpu3 = cpuSnapshot(pid);
    const afterDownload = procStatus(pid);

    return {
      cfg,
      pid,
      startupMs,
      upload: transfer(cfg.bytes, up.ms, cpu0, cpu1),
      download: transfer(cfg.bytes, downMs, cpu2, cpu3),
      hwmReset,
      ...(before ? { rssBeforeKiB: before.rssKiB } : {}),
      ...(afterUpload ? { hwmUploadKiB: afterUpload.hwmKiB } : {}),
      ...(afterDownload ? { hwmDownloadKiB: afterDownload.hwmKiB, rssAfterKiB: afterDownload.rssKiB } : {}),
    };
  } catch (e) {
    if (child) onLog(child.log.slice(-200));
    throw e;
  } finally {
    if (child) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ report

export interface FileResults {
  crypto: CryptoResult;
  openssl: OpensslResult;
  blob: BlobResult;
  host: HostFileResult;
}

export interface FileRatios {
  encryptOverRawGcm64k: number;
  encryptOverRawGcm16k: number;
  /** encryptStream against GCM (64 KiB updates) and SHA-256 run one after the other: the floor of one thread doing both. */
  encryptOverGcmPlusSha: number;
  encryptOverOpenssl?: number;
  rawGcm16kOverOpenssl?: number;
  decryptOverRawGcmDecrypt: number;
  /** Price of the whole-file SHA-256 check on downloads: decryptStream + check over decryptStream alone. */
  decryptCheckedOverDecrypt: number;
  azuriteUploadEncOverPlain: number;
  azuriteDownloadEncOverPlain: number;
  hostUploadOverFolderEncUpload: number;
  hostDownloadOverFolderEncDownload: number;
  folderUploadOverRawFsWrite: number;
  folderDownloadOverRawFsRead: number;
  folderUploadOverAzuriteUpload: number;
  folderDownloadOverAzuriteDownload: number;
  folderUploadEncOverPlain: number;
  folderDownloadEncOverPlain: number;
}

export function fileRatios(r: FileResults): FileRatios {
  const c = r.crypto;
  const serial = 1 / (1 / c.rawGcm64k.mbps + 1 / c.rawSha256.mbps);
  return {
    encryptOverRawGcm64k: c.encryptStream.mbps / c.rawGcm64k.mbps,
    encryptOverRawGcm16k: c.encryptStream.mbps / c.rawGcm16k.mbps,
    encryptOverGcmPlusSha: c.encryptStream.mbps / serial,
    ...(r.openssl.ok
      ? { encryptOverOpenssl: c.encryptStream.mbps / r.openssl.mbps, rawGcm16kOverOpenssl: c.rawGcm16k.mbps / r.openssl.mbps }
      : {}),
    decryptOverRawGcmDecrypt: c.decryptStream.mbps / c.rawGcmDecrypt64k.mbps,
    decryptCheckedOverDecrypt: c.decryptStreamChecked.mbps / c.decryptStream.mbps,
    azuriteUploadEncOverPlain: r.blob.encryptedUpload.mbps / r.blob.plainUpload.mbps,
    azuriteDownloadEncOverPlain: r.blob.encryptedDownload.mbps / r.blob.plainDownload.mbps,
    hostUploadOverFolderEncUpload: r.host.upload.mbps / r.blob.folder.encryptedUpload.mbps,
    hostDownloadOverFolderEncDownload: r.host.download.mbps / r.blob.folder.encryptedDownload.mbps,
    folderUploadOverRawFsWrite: r.blob.folder.plainUpload.mbps / r.blob.rawFs.write.mbps,
    folderDownloadOverRawFsRead: r.blob.folder.plainDownload.mbps / r.blob.rawFs.read.mbps,
    folderUploadOverAzuriteUpload: r.blob.folder.plainUpload.mbps / r.blob.plainUpload.mbps,
    folderDownloadOverAzuriteDownload: r.blob.folder.plainDownload.mbps / r.blob.plainDownload.mbps,
    folderUploadEncOverPlain: r.blob.folder.encryptedUpload.mbps / r.blob.folder.plainUpload.mbps,
    folderDownloadEncOverPlain: r.blob.folder.encryptedDownload.mbps / r.blob.folder.plainDownload.mbps,
  };
}

type Fmt = (n: number) => string;
const sizeOf = (bytes: number) =>
  bytes >= 1024 * MiB && bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)} GiB` : `${Math.round(bytes / MiB)} MiB`;
const mib = (kib: number) => kib / 1024;

/** CPU busy time as a share of the transfer's wall time. */
function cpuNote(t: Transfer, fmt: Fmt): string {
  const pct = (ms: number | undefined) => (ms === undefined ? '?' : `${fmt((100 * ms) / t.ms)}%`);
  return `CPU/wall: host ${pct(t.hostCpuMs)} (event loop thread ${pct(t.hostMainThreadCpuMs)}), client ${pct(t.clientCpuMs)}`;
}

/** Rows [measurement, value, detail] for the one-shot table. */
export function fileRows(r: FileResults, fmt: Fmt): string[][] {
  const c = r.crypto;
  const t = (x: Throughput) => `${fmt(x.mbps)} MB/s`;
  const runs = (x: Throughput) => `runs: ${x.runs.map((v) => fmt(v)).join(', ')} MB/s`;
  const per = `${sizeOf(c.cfg.bytes)} × ${c.cfg.runs} runs in ${sizeOf(c.cfg.chunk)} chunks`;
  const b = r.blob;
  const bper = `${sizeOf(b.cfg.bytes)} × ${b.cfg.runs} runs, ${sizeOf(b.cfg.chunk)} chunks`;
  const loop = (ms: number | undefined, x: Throughput) =>
    `event loop thread CPU/wall ${ms === undefined ? '?' : `${fmt((100 * ms) / x.ms)}%`}`;
  const h = r.host;
  const rows: string[][] = [
    ['file source: generate fresh 1 MiB chunks (in every series)', t(c.source), per],
    ['encryptStream (4 MiB GCM regions + SHA-256 of plaintext)', t(c.encryptStream), `${per}; ${runs(c.encryptStream)}`],
    ['raw node:crypto AES-256-GCM, 64 KiB update() calls', t(c.rawGcm64k), `same bytes, one cipher per 4 MiB region; ${runs(c.rawGcm64k)}`],
    ['raw node:crypto AES-256-GCM, 16 KiB update() calls', t(c.rawGcm16k), `same bytes; ${runs(c.rawGcm16k)}`],
    ['raw node:crypto SHA-256', t(c.rawSha256), `same bytes; ${runs(c.rawSha256)}`],
    r.openssl.ok
      ? ['openssl speed -evp aes-256-gcm, 16384-byte blocks', `${fmt(r.openssl.mbps)} MB/s`, `${r.openssl.command} (${r.openssl.version})`]
      : ['openssl speed -evp aes-256-gcm, 16384-byte blocks', 'skipped', r.openssl.reason],
    ['decryptStream', t(c.decryptStream), `${sizeOf(c.decryptFileBytes)} file × ${c.decryptPasses} passes, ${sizeOf(c.cfg.chunk)} chunks`],
    ['decryptStream + whole-file SHA-256 check', t(c.decryptStreamChecked), 'as FileService.open serves a whole file (verifySha256AtEnd)'],
    ['raw node:crypto AES-256-GCM decrypt, 64 KiB update() calls', t(c.rawGcmDecrypt64k), 'same stored regions, tag checked'],
    [
      'Azurite upload, plain (store.upload)',
      t(b.plainUpload),
      `${bper}; ${runs(b.plainUpload)}; ${loop(b.loopCpuMs.plainUpload, b.plainUpload)}`,
    ],
    [
      'Azurite upload, encrypted (encryptStream + encryptiondata)',
      t(b.encryptedUpload),
      `${bper}; ${runs(b.encryptedUpload)}; ${loop(b.loopCpuMs.encryptedUpload, b.encryptedUpload)}`,
    ],
    [
      'Azurite download, plain (store.download drained)',
      t(b.plainDownload),
      `${bper}; ${runs(b.plainDownload)}; ${loop(b.loopCpuMs.plainDownload, b.plainDownload)}`,
    ],
    [
      'Azurite download, encrypted (getInfo + unwrap + decryptStream)',
      t(b.encryptedDownload),
      `${bper}; ${runs(b.encryptedDownload)}; ${loop(b.loopCpuMs.encryptedDownload, b.encryptedDownload)}`,
    ],
    [
      'folder store upload, plain (FolderBlobStore, fsync before it returns)',
      t(b.folder.plainUpload),
      `${bper}; ${runs(b.folder.plainUpload)}`,
    ],
    ['folder store upload, encrypted', t(b.folder.encryptedUpload), `${bper}; ${runs(b.folder.encryptedUpload)}`],
    ['folder store download, plain', t(b.folder.plainDownload), `${bper}; ${runs(b.folder.plainDownload)}`],
    ['folder store download, encrypted', t(b.folder.encryptedDownload), `${bper}; ${runs(b.folder.encryptedDownload)}`],
    ['raw node:fs write + fdatasync + rename + dir fsync', t(b.rawFs.write), `${bper}; ${runs(b.rawFs.write)}`],
    ['raw node:fs sequential read, 1 MiB reads', t(b.rawFs.read), `${bper}; ${runs(b.rawFs.read)}`],
    [
      'HTTP upload through the local host (child process)',
      `${fmt(h.upload.mbps)} MB/s`,
      `${sizeOf(h.cfg.bytes)} in ${fmt(h.upload.ms / 1000)} s, streamed ${sizeOf(h.cfg.chunk)} chunks (duplex half); ${cpuNote(h.upload, fmt)}`,
    ],
    [
      'HTTP download through the local host (child process)',
      `${fmt(h.download.mbps)} MB/s`,
      `${sizeOf(h.cfg.bytes)} in ${fmt(h.download.ms / 1000)} s; ${cpuNote(h.download, fmt)}`,
    ],
  ];
  if (h.rssBeforeKiB !== undefined && h.hwmUploadKiB !== undefined && h.hwmDownloadKiB !== undefined) {
    const before = mib(h.rssBeforeKiB);
    const peak = Math.max(h.hwmUploadKiB, h.hwmDownloadKiB);
    const what = h.hwmReset ? 'VmHWM reset before each transfer' : 'VmHWM since process start (could not reset)';
    rows.push(
      [
        'child host RSS before the transfers',
        `${fmt(before)} MiB`,
        `VmRSS after start, tenant setup and a ${sizeOf(h.cfg.warmupBytes)} warm-up file`,
      ],
      ['child host peak RSS during the upload', `${fmt(mib(h.hwmUploadKiB))} MiB`, `+${fmt(mib(h.hwmUploadKiB) - before)} MiB; ${what}`],
      [
        'child host peak RSS during the download',
        `${fmt(mib(h.hwmDownloadKiB))} MiB`,
        `+${fmt(mib(h.hwmDownloadKiB) - before)} MiB; RSS after ${fmt(mib(h.rssAfterKiB ?? Number.NaN))} MiB`,
      ],
      [
        `child host peak RSS growth, ${sizeOf(h.cfg.bytes)} file`,
        `${fmt(mib(peak) - before)} MiB`,
        'files go to the folder store; the idle Azurite (backup-tier stand-in) runs inside the host process',
      ],
    );
  } else {
    rows.push(['child host peak RSS growth', 'skipped', `/proc/${h.pid}/status not readable (not Linux?)`]);
  }
  return rows;
}

export function fileRatioRows(r: FileResults, fmt: Fmt): string[][] {
  const q = fileRatios(r);
  const x = (n: number | undefined) => (n === undefined ? 'skipped' : `${fmt(n)}x`);
  return [
    ['encryptStream MB/s / raw AES-256-GCM (64 KiB updates) MB/s', x(q.encryptOverRawGcm64k)],
    ['encryptStream MB/s / raw AES-256-GCM (16 KiB updates) MB/s', x(q.encryptOverRawGcm16k)],
    ['encryptStream MB/s / raw GCM (64 KiB) then SHA-256, one thread', x(q.encryptOverGcmPlusSha)],
    ['encryptStream MB/s / openssl speed aes-256-gcm (16 KiB)', x(q.encryptOverOpenssl)],
    ['raw node:crypto GCM (16 KiB) / openssl speed aes-256-gcm (16 KiB)', x(q.rawGcm16kOverOpenssl)],
    ['decryptStream MB/s / raw AES-256-GCM decrypt (64 KiB) MB/s', x(q.decryptOverRawGcmDecrypt)],
    ['decryptStream + SHA-256 check / decryptStream MB/s', x(q.decryptCheckedOverDecrypt)],
    ['Azurite upload: encrypted / plain MB/s (goal ≥ 0.9)', x(q.azuriteUploadEncOverPlain)],
    ['Azurite download: encrypted / plain MB/s (goal ≥ 0.9)', x(q.azuriteDownloadEncOverPlain)],
    ['folder store upload / raw fs write + fsync MB/s (plain)', x(q.folderUploadOverRawFsWrite)],
    ['folder store download / raw fs read MB/s (plain)', x(q.folderDownloadOverRawFsRead)],
    ['folder store upload / Azurite upload MB/s (plain)', x(q.folderUploadOverAzuriteUpload)],
    ['folder store download / Azurite download MB/s (plain)', x(q.folderDownloadOverAzuriteDownload)],
    ['folder store upload: encrypted / plain MB/s', x(q.folderUploadEncOverPlain)],
    ['folder store download: encrypted / plain MB/s', x(q.folderDownloadEncOverPlain)],
    ['HTTP upload via host / folder store encrypted upload MB/s', x(q.hostUploadOverFolderEncUpload)],
    ['HTTP download via host / folder store encrypted download MB/s', x(q.hostDownloadOverFolderEncDownload)],
  ];
}

export function fileMetrics(r: FileResults): Metric[] {
  const c = r.crypto;
  const b = r.blob;
  const h = r.host;
  const q = fileRatios(r);
  const tp = (name: string, x: Throughput): Metric[] => [
    { name: `${name}_throughput`, value: x.mbps, unit: 'MB/s' },
    ...x.runs.map((v, i) => ({ name: `${name}_throughput_run${i + 1}`, value: v, unit: 'MB/s' })),
    // MiB, not bytes: run.ts keeps 6 significant digits.
    { name: `${name}_processed`, value: x.bytes / MiB, unit: 'MiB' },
    { name: `${name}_duration`, value: x.ms, unit: 'ms' },
  ];
  const out: Metric[] = [
    ...tp('file_source_generate', c.source),
    ...tp('file_encrypt_stream', c.encryptStream),
    ...tp('file_raw_aes_gcm_64k_encrypt', c.rawGcm64k),
    ...tp('file_raw_aes_gcm_16k_encrypt', c.rawGcm16k),
    ...tp('file_raw_sha256', c.rawSha256),
    ...tp('file_decrypt_stream', c.decryptStream),
    ...tp('file_decrypt_stream_sha256_checked', c.decryptStreamChecked),
    ...tp('file_raw_aes_gcm_64k_decrypt', c.rawGcmDecrypt64k),
    ...(r.openssl.ok ? [{ name: 'openssl_speed_aes_256_gcm_16k_throughput', value: r.openssl.mbps, unit: 'MB/s' }] : []),
    ...tp('azurite_plain_upload', b.plainUpload),
    ...tp('azurite_encrypted_upload', b.encryptedUpload),
    ...tp('azurite_plain_download', b.plainDownload),
    ...tp('azurite_encrypted_download', b.encryptedDownload),
    { name: 'azurite_blob_size', value: b.cfg.bytes / MiB, unit: 'MiB' },
    ...tp('folder_plain_upload', b.folder.plainUpload),
    ...tp('folder_encrypted_upload', b.folder.encryptedUpload),
    ...tp('folder_plain_download', b.folder.plainDownload),
    ...tp('folder_encrypted_download', b.folder.encryptedDownload),
    ...tp('raw_fs_write_fsync', b.rawFs.write),
    ...tp('raw_fs_read', b.rawFs.read),
    { name: 'azurite_encrypted_blob_overhead', value: b.storedEncrypted - b.storedPlain, unit: 'bytes' },
    ...(
      [
        ['plain_upload', b.loopCpuMs.plainUpload, b.plainUpload],
        ['encrypted_upload', b.loopCpuMs.encryptedUpload, b.encryptedUpload],
        ['plain_download', b.loopCpuMs.plainDownload, b.plainDownload],
        ['encrypted_download', b.loopCpuMs.encryptedDownload, b.encryptedDownload],
      ] as const
    ).flatMap(([name, ms, x]) => [
      { name: `azurite_${name}_event_loop_thread_cpu`, value: ms ?? Number.NaN, unit: 'ms' },
      { name: `azurite_${name}_event_loop_thread_busy`, value: ms === undefined ? Number.NaN : (100 * ms) / x.ms, unit: '%' },
    ]),
    ...(
      [
        ['upload', h.upload],
        ['download', h.download],
      ] as const
    ).flatMap(([name, x]) => [
      { name: `host_file_${name}_throughput`, value: x.mbps, unit: 'MB/s' },
      { name: `host_file_${name}_duration`, value: x.ms, unit: 'ms' },
      { name: `host_file_${name}_host_cpu`, value: x.hostCpuMs ?? Number.NaN, unit: 'ms' },
      { name: `host_file_${name}_host_event_loop_thread_cpu`, value: x.hostMainThreadCpuMs ?? Number.NaN, unit: 'ms' },
      { name: `host_file_${name}_client_cpu`, value: x.clientCpuMs, unit: 'ms' },
    ]),
    { name: 'host_file_size', value: h.cfg.bytes / MiB, unit: 'MiB' },
    { name: 'host_child_startup', value: h.startupMs, unit: 'ms' },
  ];
  if (h.rssBeforeKiB !== undefined && h.hwmUploadKiB !== undefined && h.hwmDownloadKiB !== undefined) {
    const before = mib(h.rssBeforeKiB);
    out.push(
      { name: 'host_rss_before', value: before, unit: 'MiB' },
      { name: 'host_peak_rss_upload', value: mib(h.hwmUploadKiB), unit: 'MiB' },
      { name: 'host_peak_rss_download', value: mib(h.hwmDownloadKiB), unit: 'MiB' },
      { name: 'host_rss_after', value: mib(h.rssAfterKiB ?? Number.NaN), unit: 'MiB' },
      { name: 'host_peak_rss_growth_upload', value: mib(h.hwmUploadKiB) - before, unit: 'MiB' },
      { name: 'host_peak_rss_growth_download', value: mib(h.hwmDownloadKiB) - before, unit: 'MiB' },
      { name: 'host_peak_rss_growth', value: mib(Math.max(h.hwmUploadKiB, h.hwmDownloadKiB)) - before, unit: 'MiB' },
      { name: 'host_peak_rss_hwm_reset_per_transfer', value: h.hwmReset ? 1 : 0, unit: 'bool' },
    );
  }
  out.push(
    { name: 'ratio_encrypt_stream_over_raw_aes_gcm_64k', value: q.encryptOverRawGcm64k, unit: 'x' },
    { name: 'ratio_encrypt_stream_over_raw_aes_gcm_16k', value: q.encryptOverRawGcm16k, unit: 'x' },
    { name: 'ratio_encrypt_stream_over_raw_gcm_64k_plus_sha256_serial', value: q.encryptOverGcmPlusSha, unit: 'x' },
    ...(q.encryptOverOpenssl !== undefined
      ? [{ name: 'ratio_encrypt_stream_over_openssl_aes_256_gcm_16k', value: q.encryptOverOpenssl, unit: 'x' }]
      : []),
    ...(q.rawGcm16kOverOpenssl !== undefined
      ? [{ name: 'ratio_raw_aes_gcm_16k_over_openssl_aes_256_gcm_16k', value: q.rawGcm16kOverOpenssl, unit: 'x' }]
      : []),
    { name: 'ratio_decrypt_stream_over_raw_aes_gcm_64k_decrypt', value: q.decryptOverRawGcmDecrypt, unit: 'x' },
    { name: 'ratio_decrypt_stream_sha256_checked_over_decrypt_stream', value: q.decryptCheckedOverDecrypt, unit: 'x' },
    { name: 'ratio_azurite_upload_encrypted_over_plain', value: q.azuriteUploadEncOverPlain, unit: 'x' },
    { name: 'ratio_azurite_download_encrypted_over_plain', value: q.azuriteDownloadEncOverPlain, unit: 'x' },
    { name: 'ratio_host_upload_over_folder_encrypted_upload', value: q.hostUploadOverFolderEncUpload, unit: 'x' },
    { name: 'ratio_host_download_over_folder_encrypted_download', value: q.hostDownloadOverFolderEncDownload, unit: 'x' },
    { name: 'ratio_folder_upload_over_raw_fs_write_fsync', value: q.folderUploadOverRawFsWrite, unit: 'x' },
    { name: 'ratio_folder_download_over_raw_fs_read', value: q.folderDownloadOverRawFsRead, unit: 'x' },
    { name: 'ratio_folder_upload_over_azurite_upload', value: q.folderUploadOverAzuriteUpload, unit: 'x' },
    { name: 'ratio_folder_download_over_azurite_download', value: q.folderDownloadOverAzuriteDownload, unit: 'x' },
    { name: 'ratio_folder_upload_encrypted_over_plain', value: q.folderUploadEncOverPlain, unit: 'x' },
    { name: 'ratio_folder_download_encrypted_over_plain', value: q.folderDownloadEncOverPlain, unit: 'x' },
  );
  return out.filter((m) => Number.isFinite(m.value));
}
