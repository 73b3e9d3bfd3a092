import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { BlobServiceClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { isAppError } from '../../shared/domain/errors';
import { AzureBlobStoreFactory, MAX_BLOCK_BYTES, MAX_IN_FLIGHT, MIN_BLOCK_BYTES } from '../../shared/adapters/blob/azure-blob-store';
import { blobStoreContract, withSmallHint } from '../contracts/blob-store.contract';
import { startAzurite } from '../support/azurite';
import type { AzuriteTestServer } from '../support/azurite';
import { rejectionOf } from '../support/rejection';

const MiB = 1024 * 1024;

/** global.gc, switched on at run time when the process was not started with --expose-gc. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const codeOf = (e: unknown) => (isAppError(e) ? e.code : undefined);
const tenantId = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

blobStoreContract('AzureBlobStore (real SDK against Azurite in-process)', async () => {
  const azurite = await startAzurite();
  return {
    factory: AzureBlobStoreFactory.fromConnectionString(azurite.connectionString),
    cleanup: () => azurite.close(),
  };
});

/** The same contract with the `small` hint on every upload (keyring entries carry it): one Put Blob for bodies up to SMALL_BLOB_MAX. */
blobStoreContract('AzureBlobStore, every upload with the small hint', async () => {
  const azurite = await startAzurite();
  const inner = AzureBlobStoreFactory.fromConnectionString(azurite.connectionString);
  return { factory: withSmallHint(inner), cleanup: () => azurite.close() };
});

describe('AzureBlobStore (Azure only)', () => {
  let azurite: AzuriteTestServer;
  let service: BlobServiceClient;
  let factory: AzureBlobStoreFactory;
  beforeAll(async () => {
    azurite = await startAzurite();
    service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  });
  afterAll(async () => {
    await azurite?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const freshFactory = () => (factory = new AzureBlobStoreFactory(service));

  it('an upload with the small hint is one Put Blob (no staged block, no commit); a second one of the name is a conflict', async () => {
    const store = await freshFactory().forTenant(tenantId('small'));
    const put = vi.spyOn(BlockBlobClient.prototype, 'upload');
    const stage = vi.spyOn(BlockBlobClient.prototype, 'stageBlock');
    const commit = vi.spyOn(BlockBlobClient.prototype, 'commitBlockList');
    const once = async function* (b: Buffer) {
      yield b;
    };
    const info = await store.upload('_keyring/s_1', once(Buffer.from('{"keyId":"k_1"}')), { metadata: { a: 'b' }, small: true });
    expect(info).toMatchObject({ name: '_keyring/s_1', size: 15, metadata: { a: 'b' } });
    expect([put.mock.calls.length, stage.mock.calls.length, commit.mock.calls.length]).toEqual([1, 0, 0]);
    expect(codeOf(await rejectionOf(store.upload('_keyring/s_1', once(Buffer.from('x')), { metadata: {}, small: true })))).toBe('conflict');
    const got: Buffer[] = [];
    for await (const c of await store.download('_keyring/s_1')) got.push(Buffer.from(c));
    expect(Buffer.concat(got).toString()).toBe('{"keyId":"k_1"}');
  });

  it('gives each tenant its own private container t-<id>, created once and cached', async () => {
    freshFactory();
    const create = vi.spyOn(ContainerClient.prototype, 'createIfNotExists');
    const id = tenantId('priv');
    const [s1, s2] = await Promise.all([factory.forTenant(id), factory.forTenant(id)]);
    expect(s1).toBe(s2);
    expect(await factory.forTenant(id)).toBe(s1);
    expect(create).toHaveBeenCalledTimes(1);
    const container = service.getContainerClient(`t-${id}`);
    expect(await container.exists()).toBe(true);
    const policy = await container.getAccessPolicy();
    expect(policy.blobPublicAccess).toBeUndefined();
    // A second factory (another instance of the app) opens the same container.
    const other = new AzureBlobStoreFactory(service);
    await (await other.forTenant(id)).upload(
      'x',
      (async function* () {
        yield Buffer.from('hi');
      })(),
      { metadata: {} },
    );
    expect((await container.getBlobClient('x').downloadToBuffer()).toString()).toBe('hi');
  });

  it('rejects tenant ids that cannot name a container (validation)', async () => {
    freshFactory();
    for (const bad of ['a--b', 'abc-', 'ABC', 'a_b', '', 'x'.repeat(62)]) {
      expect(codeOf(await rejectionOf(factory.forTenant(bad))), bad).toBe('validation');
      expect(codeOf(await rejectionOf(factory.deleteTenant(bad))), bad).toBe('validation');
    }
  });

  it('after deleteTenant, forTenant starts over with an empty container', async () => {
    freshFactory();
    const id = tenantId('again');
    const s = await factory.forTenant(id);
    await s.upload(
      'old',
      (async function* () {
        yield Buffer.from('old');
      })(),
      { metadata: {} },
    );
    await factory.deleteTenant(id);
    expect(await service.getContainerClient(`t-${id}`).exists()).toBe(false);
    // A store handed out before the deletion does not bring the container back.
    const late = await rejectionOf(
      s.upload(
        'late',
        (async function* () {
          yield Buffer.alloc(5 * MiB);
        })(),
        { metadata: {} },
      ),
    );
    expect(codeOf(late)).toBe('not_found');
    expect(await service.getContainerClient(`t-${id}`).exists()).toBe(false);
    const s2 = await factory.forTenant(id);
    expect(s2).not.toBe(s);
    expect(await s2.getInfo('old')).toBeUndefined();
  });

  it('stages blocks of 4 MiB..100 MiB (except the last), with fixed-length ids, and commits once with If-None-Match: *', async () => {
    freshFactory();
    const store = await factory.forTenant(tenantId('blocks'));
    const stage = vi.spyOn(BlockBlobClient.prototype, 'stageBlock');
    const commit = vi.spyOn(BlockBlobClient.prototype, 'commitBlockList');
    // One chunk above the 100 MiB block limit, then tiny chunks, then a tail.
    async function* source(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(MAX_BLOCK_BYTES + 5 * MiB, 1);
      for (let i = 0; i < 300; i++) yield Buffer.alloc(16 * 1024, 2);
      yield Buffer.alloc(1000, 3);
    }
    const info = await store.upload('big', source(), { metadata: { a: 'b' } });
    const total = MAX_BLOCK_BYTES + 5 * MiB + 300 * 16 * 1024 + 1000;
    expect(info.size).toBe(total);
    const sizes = stage.mock.calls.map((c) => c[2]);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
    expect(sizes[0]).toBe(MAX_BLOCK_BYTES);
    expect(sizes[1]).toBe(5 * MiB);
    for (const s of sizes.slice(0, -1)) {
      expect(s).toBeGreaterThanOrEqual(MIN_BLOCK_BYTES);
      expect(s).toBeLessThanOrEqual(MAX_BLOCK_BYTES);
    }
    const ids = stage.mock.calls.map((c) => c[0]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map((id) => id.length)).size).toBe(1);
    expect(commit).toHaveBeenCalledTimes(1);
    expect(commit.mock.calls[0]![0]).toEqual(ids);
    expect(commit.mock.calls[0]![1]?.conditions).toEqual({ ifNoneMatch: '*' });
    // What the service committed matches.
    const blob = service.getContainerClient((store as unknown as { containerName: string }).containerName).getBlockBlobClient('big');
    const list = await blob.getBlockList('committed');
    expect(list.committedBlocks?.map((b) => b.size)).toEqual(sizes);
    expect(list.uncommittedBlocks ?? []).toEqual([]);
  });

  it('backpressure: never more than MAX_IN_FLIGHT stages at once, and the source is read at most one block ahead', async () => {
    freshFactory();
    const store = await factory.forTenant(tenantId('bp'));
    let active = 0;
    let maxActive = 0;
    let completed = 0;
    let maxAhead = 0;
    const original = BlockBlobClient.prototype.stageBlock;
    vi.spyOn(BlockBlobClient.prototype, 'stageBlock').mockImplementation(async function (this: BlockBlobClient, ...args) {
      active++;
      maxActive = Math.max(maxActive, active);
      try {
        await new Promise((r) => setTimeout(r, 5)); // a slow network
        return await original.apply(this, args);
      } finally {
        active--;
        completed++;
      }
    });
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 40; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - completed);
        yield Buffer.alloc(4 * MiB, i);
      }
    }
    await store.upload('bp', source(), { metadata: {} });
    expect(maxActive).toBeGreaterThan(1); // stages do overlap
    expect(maxActive).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(maxAhead).toBeLessThanOrEqual(MAX_IN_FLIGHT + 1);
  });

  it('memory stays bounded: 256 MiB from a generator of 4 MiB chunks grows RSS and ArrayBuffers by far less than that', async () => {
    freshFactory();
    const store = await factory.forTenant(tenantId('mem'));
    // Retained memory is what the adapter controls; without collections the numbers would
    // mostly show how lazily V8 frees 4 MiB buffers. So collect every few chunks.
    const gc = exposeGc();
    gc();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakAb = base.arrayBuffers;
    const sample = () => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakAb = Math.max(peakAb, m.arrayBuffers);
    };
    const timer = setInterval(sample, 5);
    const total = 256 * MiB;
    // Chunks the adapter still holds: yielded earlier and not yet collected.
    const yielded: WeakRef<Uint8Array>[] = [];
    let maxAlive = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i * 4 * MiB < total; i++) {
        if (i % 4 === 0) {
          gc();
          maxAlive = Math.max(maxAlive, yielded.filter((r) => r.deref() !== undefined).length);
        }
        sample();
        const chunk = Buffer.allocUnsafe(4 * MiB);
        chunk.fill(i & 0xff);
        yielded.push(new WeakRef(chunk));
        yield chunk;
      }
    }
    try {
      const info = await store.upload('quarter-gib', source(), { metadata: {} });
      expect(info.size).toBe(total);
    } finally {
      clearInterval(timer);
    }
    sample();
    const rssGrowth = (peakRss - base.rss) / MiB;
    const abGrowth = (peakAb - base.arrayBuffers) / MiB;
    // Printed for the record; the assertions are generous bounds, not measurements.
    console.log(
      `256 MiB upload: peak RSS +${rssGrowth.toFixed(0)} MiB, peak ArrayBuffers +${abGrowth.toFixed(0)} MiB, at most ${maxAlive} earlier chunks alive`,
    );
    expect(maxAlive).toBeLessThanOrEqual(MAX_IN_FLIGHT + 1);
    expect(rssGrowth).toBeLessThan(128);
    expect(abGrowth).toBeLessThan(128);
    expect((await store.getInfo('quarter-gib'))?.size).toBe(total);
  });

  it('a failed stage stops the upload: nothing is committed and the error is a sanitized BlobStorageError', async () => {
    freshFactory();
    const store = await factory.forTenant(tenantId('fail'));
    const commit = vi.spyOn(BlockBlobClient.prototype, 'commitBlockList');
    const original = BlockBlobClient.prototype.stageBlock;
    let n = 0;
    vi.spyOn(BlockBlobClient.prototype, 'stageBlock').mockImplementation(async function (this: BlockBlobClient, ...args) {
      if (++n === 3) {
        const e = Object.assign(new Error('Server busy'), {
          name: 'RestError',
          statusCode: 503,
          code: 'ServerBusy',
          request: { headers: { authorization: 'SharedKey secret' } },
        });
        throw e;
      }
      return original.apply(this, args);
    });
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 50; i++) {
        pulled++;
        yield Buffer.alloc(4 * MiB, i);
      }
    }
    const e = await rejectionOf(store.upload('busy', source(), { metadata: {} }));
    expect((e as Error).name).toBe('BlobStorageError');
    expect((e as { statusCode?: number }).statusCode).toBe(503);
    expect((e as { code?: string }).code).toBe('ServerBusy');
    expect(e).not.toHaveProperty('request');
    expect(JSON.stringify(e) + String((e as Error).message)).not.toContain('secret');
    // No block list is committed; the only commit allowed is the empty one that discards the staged blocks.
    expect(commit.mock.calls.map(([ids]) => ids)).toEqual(commit.mock.calls.length ? [[]] : []);
    expect(pulled).toBeLessThan(50);
    expect(await store.getInfo('busy')).toBeUndefined();
  });

  it('an abort while blocks are being staged aborts them and commits nothing', async () => {
    freshFactory();
    const store = await factory.forTenant(tenantId('abrt'));
    const commit = vi.spyOn(BlockBlobClient.prototype, 'commitBlockList');
    const ac = new AbortController();
    const signals: AbortSignal[] = [];
    vi.spyOn(BlockBlobClient.prototype, 'stageBlock').mockImplementation(async (_id, _body, _len, options) => {
      const s = options?.abortSignal as AbortSignal;
      signals.push(s);
      if (signals.length === 2) setTimeout(() => ac.abort(), 5);
      // Hangs until aborted, like a slow upload.
      await new Promise((_, reject) =>
        s.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true }),
      );
      throw new Error('unreachable');
    });
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(4 * MiB, i);
    }
    const e = await rejectionOf(store.upload('abrt', source(), { metadata: {}, abortSignal: ac.signal }));
    expect((e as Error).name).toBe('AbortError');
    expect(signals.length).toBeGreaterThanOrEqual(2);
    expect(signals.length).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(signals.every((s) => s.aborted)).toBe(true);
    // No block list is committed; the only commit allowed is the empty one that discards the staged blocks.
    expect(commit.mock.calls.map(([ids]) => ids)).toEqual(commit.mock.calls.length ? [[]] : []);
    expect(await store.getInfo('abrt')).toBeUndefined();
  });

  it('rejects a source that yields something other than bytes, and blob names Azure cannot address', async () => {
    freshFactory();
    const store = await factory.forTenant(tenantId('types'));
    async function* strings(): AsyncGenerator<Uint8Array> {
      yield 'text' as unknown as Uint8Array;
    }
    expect(await rejectionOf(store.upload('s', strings(), { metadata: {} }))).toBeInstanceOf(TypeError);
    expect(await store.getInfo('s')).toBeUndefined();
    for (const bad of ['', 'ends-with-dot.', 'ends/with/slash/', 'ctl\u0001char', 'x'.repeat(1025)]) {
      expect(codeOf(await rejectionOf(store.getInfo(bad))), JSON.stringify(bad)).toBe('validation');
    }
    expect(codeOf(await rejectionOf(store.setMetadata('x', {}, '')))).toBe('validation');
    expect(codeOf(await rejectionOf(store.setMetadata('x', {}, '*')))).toBe('validation');
    expect(codeOf(await rejectionOf(store.download('x', { offset: -1 })))).toBe('validation');
  });

  it('getInfo exposes metadata as the SDK returns it (names lower-cased from headers)', async () => {
    freshFactory();
    const store = await factory.forTenant(tenantId('case'));
    await store.upload(
      'c',
      (async function* () {
        yield Buffer.from('c');
      })(),
      { metadata: { EncryptionData: '{"A":1}' } },
    );
    expect((await store.getInfo('c'))?.metadata).toEqual({ encryptiondata: '{"A":1}' });
  });

  it('service errors are sanitized: an unreachable account gives a BlobStorageError without the request', async () => {
    const dead = await startAzurite();
    const cs = dead.connectionString;
    await dead.close();
    const f = AzureBlobStoreFactory.fromConnectionString(cs, { retryOptions: { maxTries: 1 } });
    const e = await rejectionOf(f.forTenant(tenantId('dead')));
    expect((e as Error).name).toBe('BlobStorageError');
    expect(e).not.toHaveProperty('request');
    expect(e).not.toHaveProperty('response');
  });

  it('sweepUnfinished discards blocks a crashed upload staged but never committed, once old enough', async () => {
    freshFactory();
    const id = tenantId('sweep');
    const store = await factory.forTenant(id);
    await store.upload(
      'done',
      (async function* () {
        yield randomBytes(100);
      })(),
      { metadata: {} },
    );
    const container = service.getContainerClient(`t-${id}`);
    // What kill -9 in the middle of an upload leaves: staged blocks of a name never committed.
    const crashed = container.getBlockBlobClient('a/b/f_1/uuid');
    await crashed.stageBlock(Buffer.from('blk-000000').toString('base64'), randomBytes(MiB), MiB);
    const names = async (uncommitted: boolean) => {
      const out: string[] = [];
      for await (const b of container.listBlobsFlat({ includeUncommitedBlobs: uncommitted })) out.push(b.name);
      return out.sort();
    };
    expect(await names(true)).toEqual(['a/b/f_1/uuid', 'done']);
    expect(await store.sweepUnfinished({ olderThan: new Date(Date.now() - 3600_000) })).toEqual({ removed: 0, bytes: 0 });
    expect(await names(true)).toEqual(['a/b/f_1/uuid', 'done']);
    expect((await store.sweepUnfinished({ olderThan: new Date(Date.now() + 60_000) })).removed).toBe(1);
    expect(await names(true)).toEqual(['done']);
    expect(await names(false)).toEqual(['done']);
  });

  it('fromAccountUrl builds a factory for a token credential (managed identity)', () => {
    const credential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3600_000 }) };
    const f = AzureBlobStoreFactory.fromAccountUrl('https://example.blob.core.windows.net', credential);
    expect(f).toBeInstanceOf(AzureBlobStoreFactory);
  });
});
