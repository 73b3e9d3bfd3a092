import { randomBytes } from 'node:crypto';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { isAppError } from '../../shared/domain/errors';
import type { BlobInfo, BlobStore, BlobStoreFactory } from '../../shared/ports/blob-store';
import { rejectionOf } from '../support/rejection';
import { abortedSignal, drain, expectAborted } from './abort';

export interface BlobStoreFixture {
  factory: BlobStoreFactory;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Resolves to the rejection reason, or fails the test if the promise resolved. */
const codeOf = (e: unknown) => (isAppError(e) ? e.code : undefined);
const nameOf = (e: unknown) => (e instanceof Error ? e.name : undefined);
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A tenant id no other test (or run, against a shared account) uses. */
const tenantId = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

async function bytesOf(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) {
    expect(c).toBeInstanceOf(Uint8Array);
    parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  }
  return Buffer.concat(parts);
}

async function downloaded(store: BlobStore, name: string, options?: { offset?: number; count?: number }): Promise<Buffer> {
  return bytesOf(await store.download(name, options));
}

async function listed(store: BlobStore, prefix?: string): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const b of store.list(prefix)) out.push(b);
  return out;
}

/** The data in chunks of the given sizes, cycling through them (fresh buffers: sources do not reuse them). */
async function* chunked(data: Uint8Array, sizes: number[] = [data.length]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    yield Buffer.from(data.subarray(offset, offset + n));
    offset += n;
  }
}

async function* noChunks(): AsyncGenerator<Uint8Array> {
  // an empty stream
}

/** Metadata with names folded to lower case (readers compare names case-insensitively). */
function folded(md: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(md).map(([k, v]) => [k.toLowerCase(), v]));
}

const sameBytes = (a: Buffer, b: Uint8Array) => {
  expect(a.length).toBe(b.length);
  expect(a.equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true);
};

/** The blob metadata this service really writes: Azure client-side encryption v2 (JSON, mixed case). */
const ENCRYPTION_DATA = JSON.stringify({
  WrappedContentKey: { KeyId: 'https://kv.example/keys/t/1', EncryptedKey: randomBytes(40).toString('base64'), Algorithm: 'A256KW' },
  EncryptionAgent: { Protocol: '2.0', EncryptionAlgorithm: 'AES_GCM_256' },
  EncryptedRegionInfo: { DataLength: 4194304, NonceLength: 12 },
  KeyWrappingMetadata: { EncryptionLibrary: 'Js 1.0.0' },
  EncryptionMode: 'FullBlob',
});

/** The stores of `inner` with the `small` hint on every upload (keyring entries carry it). */
export function withSmallHint(inner: BlobStoreFactory): BlobStoreFactory {
  return {
    forTenant: async (id, o) => {
      const store = await inner.forTenant(id, o);
      return new Proxy(store, {
        get(target, prop) {
          if (prop === 'upload')
            return ((name, body, options) => target.upload(name, body, { ...options, small: true })) as BlobStore['upload'];
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
    deleteTenant: (id, o) => inner.deleteTenant(id, o),
  };
}

/** One suite, every BlobStore adapter. */
export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fx: BlobStoreFixture;
    let factory: BlobStoreFactory;
    let store: BlobStore;
    beforeEach(async () => {
      fx = await make();
      factory = fx.factory;
      store = await factory.forTenant(tenantId('ta'));
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe('upload then download returns the same bytes', () => {
      const sizes: [string, number][] = [
        ['0 bytes', 0],
        ['1 byte', 1],
        ['4 MiB - 1', 4 * MiB - 1],
        ['4 MiB', 4 * MiB],
        ['4 MiB + 1', 4 * MiB + 1],
      ];
      for (const [label, size] of sizes) {
        it(`${label}, sent as one chunk`, async () => {
          const data = randomBytes(size);
          const info = await store.upload(`one/${size}`, size === 0 ? noChunks() : chunked(data), { metadata: {} });
          expect(info.name).toBe(`one/${size}`);
          expect(info.size).toBe(size);
          sameBytes(await downloaded(store, `one/${size}`), data);
          const got = await store.getInfo(`one/${size}`);
          expect(got?.size).toBe(size);
        });
      }

      it('~13 MiB sent as uneven chunks (tiny, odd, larger than a block)', async () => {
        const data = randomBytes(13 * MiB + 12345);
        const info = await store.upload('uneven', chunked(data, [1, 1000, 3 * MiB + 7, 5 * MiB + 3, 17, 4 * MiB + 28, 65536]), {
          metadata: {},
        });
        expect(info.size).toBe(data.length);
        sameBytes(await downloaded(store, 'uneven'), data);
      });

      it('~9 MiB sent as many 16 KiB chunks', async () => {
        const data = randomBytes(9 * MiB + 5);
        await store.upload('small-chunks', chunked(data, [16 * 1024]), { metadata: {} });
        sameBytes(await downloaded(store, 'small-chunks'), data);
      });

      it('a region-sized stream (4 MiB + 28 per chunk, as the file encryption sends)', async () => {
        const data = randomBytes(3 * (4 * MiB + 28) + 100);
        const info = await store.upload('regions', chunked(data, [4 * MiB + 28]), { metadata: {} });
        expect(info.size).toBe(data.length);
        sameBytes(await downloaded(store, 'regions'), data);
      });

      it('names with slashes, spaces and non-ASCII characters', async () => {
        const names = ['files/2026/11/report 1.pdf', 'ž/ščř-ü.bin', 'a+b=c&d?e#f'];
        for (const n of names) {
          const data = randomBytes(100);
          await store.upload(n, chunked(data), { metadata: {} });
          sameBytes(await downloaded(store, n), data);
          expect((await store.getInfo(n))?.name).toBe(n);
        }
        expect((await listed(store)).map((b) => b.name).sort()).toEqual([...names].sort());
      });
    });

    it('upload returns the info getInfo and list report (size, etag, createdOn, metadata)', async () => {
      const before = Date.now();
      const info = await store.upload('info', chunked(randomBytes(1234)), { metadata: { kind: 'test' } });
      expect(info.size).toBe(1234);
      expect(typeof info.etag).toBe('string');
      expect(info.etag.length).toBeGreaterThan(0);
      expect(info.createdOn).toBeInstanceOf(Date);
      // Storage timestamps have one-second resolution.
      expect(info.createdOn.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 60_000);
      const got = await store.getInfo('info');
      expect(got).toBeDefined();
      expect(got!.name).toBe('info');
      expect(got!.etag).toBe(info.etag);
      expect(got!.size).toBe(1234);
      expect(got!.createdOn).toBeInstanceOf(Date);
      const [item] = await listed(store, 'info');
      expect(item?.etag).toBe(info.etag);
      expect(item?.size).toBe(1234);
      expect(folded(item!.metadata)).toEqual({ kind: 'test' });
    });

    it('round-trips metadata: names case-insensitively, values exactly (JSON included)', async () => {
      const metadata = {
        encryptiondata: ENCRYPTION_DATA,
        ContentType: 'application/pdf',
        originalName: 'R%C3%A9sum%C3%A9%202026.pdf',
        with_spaces: 'a b  c',
      };
      const info = await store.upload('md', chunked(randomBytes(10)), { metadata });
      expect(folded(info.metadata)).toEqual(folded(metadata));
      const got = await store.getInfo('md');
      expect(folded(got!.metadata)).toEqual(folded(metadata));
      expect(JSON.parse(folded(got!.metadata).encryptiondata!)).toEqual(JSON.parse(ENCRYPTION_DATA));
      const [item] = await listed(store, 'md');
      expect(folded(item!.metadata)).toEqual(folded(metadata));
    });

    it('rejects metadata a blob cannot carry (validation) before reading the stream', async () => {
      let pulled = false;
      async function* source(): AsyncGenerator<Uint8Array> {
        pulled = true;
        yield new Uint8Array(1);
      }
      const bad: Record<string, string>[] = [
        { 'not-an-identifier': 'x' },
        { '1st': 'x' },
        { ok: 'line\nbreak' },
        { ok: '' },
        { a: 'x', A: 'y' },
      ];
      for (const metadata of bad) {
        const e = await rejectionOf(store.upload('bad-md', source(), { metadata }));
        expect(codeOf(e), JSON.stringify(metadata)).toBe('validation');
      }
      expect(pulled).toBe(false);
      expect(await store.getInfo('bad-md')).toBeUndefined();
    });

    describe('range downloads', () => {
      // Three 4 MiB chunks and a short tail: any block boundaries fall at multiples of 4 MiB.
      const size = 12 * MiB + 5;
      let data: Buffer;
      beforeEach(async () => {
        data = randomBytes(size);
        await store.upload('ranged', chunked(data, [4 * MiB]), { metadata: {} });
      });

      const cases: [string, number | undefined, number | undefined][] = [
        ['the first byte', 0, 1],
        ['the last byte of the first block', 4 * MiB - 1, 1],
        ['the first byte of the second block', 4 * MiB, 1],
        ['two bytes across a boundary', 4 * MiB - 1, 2],
        ['exactly the second block', 4 * MiB, 4 * MiB],
        ['a range spanning three blocks', 4 * MiB - 10, 8 * MiB + 12],
        ['from an offset to the end', 8 * MiB + 3, undefined],
        ['from a block boundary to the end', 12 * MiB, undefined],
        ['a count beyond the end (truncated)', size - 3, 100],
        ['the whole blob with count', 0, size],
        ['offset 0, no count', 0, undefined],
        ['count only', undefined, 10],
      ];
      for (const [label, offset, count] of cases) {
        it(label, async () => {
          const got = await downloaded(store, 'ranged', {
            ...(offset !== undefined ? { offset } : {}),
            ...(count !== undefined ? { count } : {}),
          });
          const from = offset ?? 0;
          const to = count === undefined ? size : Math.min(size, from + count);
          sameBytes(got, data.subarray(from, to));
        });
      }

      it('count 0 and an offset at the end yield no bytes', async () => {
        expect((await downloaded(store, 'ranged', { offset: 100, count: 0 })).length).toBe(0);
        expect((await downloaded(store, 'ranged', { offset: size })).length).toBe(0);
      });
    });

    it('download of a missing blob fails with not_found', async () => {
      expect(codeOf(await rejectionOf(store.download('missing')))).toBe('not_found');
      expect(codeOf(await rejectionOf(store.download('missing', { offset: 10, count: 0 })))).toBe('not_found');
      expect(await store.getInfo('missing')).toBeUndefined();
    });

    it('an upload to an existing name fails with conflict and leaves the original unchanged', async () => {
      const original = randomBytes(5 * MiB + 3);
      const first = await store.upload('taken', chunked(original, [MiB]), { metadata: { v: '1' } });
      const e = await rejectionOf(store.upload('taken', chunked(randomBytes(6 * MiB), [MiB]), { metadata: { v: '2' } }));
      expect(codeOf(e)).toBe('conflict');
      const empty = await rejectionOf(store.upload('taken', noChunks(), { metadata: { v: '3' } }));
      expect(codeOf(empty)).toBe('conflict');
      sameBytes(await downloaded(store, 'taken'), original);
      const info = await store.getInfo('taken');
      expect(info?.etag).toBe(first.etag);
      expect(folded(info!.metadata)).toEqual({ v: '1' });
    });

    it('two concurrent uploads of one name: exactly one wins, and its bytes are stored intact', async () => {
      const a = randomBytes(9 * MiB + 1);
      const b = randomBytes(9 * MiB + 2);
      const results = await Promise.allSettled([
        store.upload('race', chunked(a, [MiB]), { metadata: { who: 'a' } }),
        store.upload('race', chunked(b, [MiB]), { metadata: { who: 'b' } }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won.length).toBe(1);
      expect(lost.length).toBe(1);
      expect(codeOf(lost[0]!.reason)).toBe('conflict');
      const winner = results[0]!.status === 'fulfilled' ? a : b;
      sameBytes(await downloaded(store, 'race'), winner);
      expect(folded((await store.getInfo('race'))!.metadata)).toEqual({ who: winner === a ? 'a' : 'b' });
    });

    it('a source that throws midway: upload rejects with its error and no blob exists', async () => {
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(4 * MiB);
        yield randomBytes(4 * MiB);
        yield randomBytes(100);
        throw new Error('source broke');
      }
      const e = await rejectionOf(store.upload('broken', failing(), { metadata: { a: 'b' } }));
      expect(messageOf(e)).toBe('source broke');
      expect(await store.getInfo('broken')).toBeUndefined();
      expect((await listed(store)).map((b) => b.name)).not.toContain('broken');
      expect(codeOf(await rejectionOf(store.download('broken')))).toBe('not_found');
      // The name is still free.
      const data = randomBytes(10);
      await store.upload('broken', chunked(data), { metadata: {} });
      sameBytes(await downloaded(store, 'broken'), data);
    });

    it('a failed or aborted upload leaves nothing unfinished behind (no staged blocks, no temp files)', async () => {
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(4 * MiB);
        yield randomBytes(4 * MiB + 5);
        throw new Error('source broke');
      }
      expect(messageOf(await rejectionOf(store.upload('half', failing(), { metadata: {} })))).toBe('source broke');
      const ac = new AbortController();
      async function* aborting(): AsyncGenerator<Uint8Array> {
        yield randomBytes(4 * MiB);
        ac.abort();
        yield randomBytes(4 * MiB);
      }
      expect(nameOf(await rejectionOf(store.upload('half-aborted', aborting(), { metadata: {}, abortSignal: ac.signal })))).toBe(
        'AbortError',
      );
      // Everything the two uploads staged is already gone: a sweep that takes anything finds nothing.
      expect(await store.sweepUnfinished({ olderThan: new Date(Date.now() + 60_000) })).toEqual({ removed: 0, bytes: 0 });
      expect(await listed(store)).toEqual([]);
    });

    it('sweepUnfinished leaves committed blobs alone', async () => {
      const data = randomBytes(5 * MiB + 1);
      await store.upload('kept', chunked(data, [MiB]), { metadata: { a: 'b' } });
      expect((await store.sweepUnfinished({ olderThan: new Date(Date.now() + 60_000) })).removed).toBe(0);
      sameBytes(await downloaded(store, 'kept'), data);
      expect(folded((await store.getInfo('kept'))!.metadata)).toEqual({ a: 'b' });
    });

    it('a source that throws before its first chunk leaves no blob either', async () => {
      // biome-ignore lint/correctness/useYield: a source that fails before yielding anything is the case under test
      async function* failing(): AsyncGenerator<Uint8Array> {
        throw new Error('nothing to read');
      }
      expect(messageOf(await rejectionOf(store.upload('broken0', failing(), { metadata: {} })))).toBe('nothing to read');
      expect(await store.getInfo('broken0')).toBeUndefined();
    });

    it('an aborted upload (AbortController) rejects with AbortError and leaves no blob', async () => {
      const ac = new AbortController();
      let finished = false;
      async function* source(): AsyncGenerator<Uint8Array> {
        try {
          yield randomBytes(4 * MiB);
          yield randomBytes(4 * MiB);
          ac.abort();
          yield randomBytes(4 * MiB);
          yield randomBytes(4 * MiB);
        } finally {
          finished = true;
        }
      }
      const e = await rejectionOf(store.upload('aborted', source(), { metadata: {}, abortSignal: ac.signal }));
      expect(nameOf(e)).toBe('AbortError');
      expect(await store.getInfo('aborted')).toBeUndefined();
      expect((await listed(store)).map((b) => b.name)).not.toContain('aborted');
      // The source was told to stop (its finally ran).
      await new Promise((r) => setTimeout(r, 10));
      expect(finished).toBe(true);
    });

    it('an abort while the source is stalled rejects promptly; an already aborted signal uploads nothing', async () => {
      const ac = new AbortController();
      async function* stalled(): AsyncGenerator<Uint8Array> {
        yield randomBytes(4 * MiB + 5);
        setTimeout(() => ac.abort(), 20);
        await new Promise(() => undefined); // never resolves
      }
      const e = await rejectionOf(store.upload('stalled', stalled(), { metadata: {}, abortSignal: ac.signal }));
      expect(nameOf(e)).toBe('AbortError');
      expect(await store.getInfo('stalled')).toBeUndefined();

      let pulled = false;
      async function* source(): AsyncGenerator<Uint8Array> {
        pulled = true;
        yield new Uint8Array(10);
      }
      const pre = new AbortController();
      pre.abort();
      expect(nameOf(await rejectionOf(store.upload('pre-aborted', source(), { metadata: {}, abortSignal: pre.signal })))).toBe(
        'AbortError',
      );
      expect(pulled).toBe(false);
      expect(await store.getInfo('pre-aborted')).toBeUndefined();
    });

    it('an already-aborted signal is refused by every method with an AbortError, and nothing changes', async () => {
      const data = randomBytes(1000);
      const up = await store.upload('ab', chunked(data), { metadata: { v: '1' } });
      const abortSignal = abortedSignal();
      await expectAborted(store.getInfo('ab', { abortSignal }));
      await expectAborted(store.download('ab', { abortSignal }));
      await expectAborted(store.setMetadata('ab', { v: '2' }, up.etag, { abortSignal }));
      await expectAborted(store.delete('ab', { abortSignal }));
      await expectAborted(drain(store.list(undefined, { abortSignal })));
      await expectAborted(drain(store.list('a', { abortSignal })));
      await expectAborted(store.sweepUnfinished({ olderThan: new Date(Date.now() + 60_000), abortSignal }));
      const otherId = tenantId('tab');
      await expectAborted(factory.forTenant(otherId, { abortSignal }));
      await expectAborted(factory.deleteTenant(otherId, { abortSignal }));
      // The blob is exactly as it was.
      const info = await store.getInfo('ab');
      expect(info?.etag).toBe(up.etag);
      expect(folded(info!.metadata)).toEqual({ v: '1' });
      sameBytes(await downloaded(store, 'ab'), data);
      expect((await listed(store)).map((b) => b.name)).toEqual(['ab']);
      // The refused deleteTenant removed nothing: a tenant set up after it still works.
      const other = await factory.forTenant(otherId);
      await other.upload('x', chunked(Buffer.from('kept')), { metadata: {} });
      await expectAborted(factory.deleteTenant(otherId, { abortSignal }));
      expect((await downloaded(other, 'x')).toString()).toBe('kept');
      // A signal that has not fired changes nothing.
      const live = new AbortController().signal;
      expect((await store.getInfo('ab', { abortSignal: live }))?.size).toBe(1000);
      expect((await drain(store.list(undefined, { abortSignal: live }))).length).toBe(1);
    });

    it('a download aborted midway ends with an AbortError instead of more bytes', async () => {
      const data = randomBytes(9 * MiB);
      await store.upload('big', chunked(data, [MiB]), { metadata: {} });
      const ac = new AbortController();
      const chunks = await store.download('big', { abortSignal: ac.signal });
      let received = 0;
      const err = await (async () => {
        for await (const c of chunks) {
          received += c.length;
          ac.abort();
        }
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(nameOf(err)).toBe('AbortError');
      expect(received).toBeGreaterThan(0);
      expect(received).toBeLessThan(data.length);
      // The blob itself is untouched.
      sameBytes(await downloaded(store, 'big'), data);
    });

    it('setMetadata with the current etag replaces the metadata; a stale etag fails with precondition_failed', async () => {
      const up = await store.upload('md-cas', chunked(randomBytes(100)), { metadata: { v: '1', keep: 'no' } });
      await store.setMetadata('md-cas', { v: '2', EncryptionData: ENCRYPTION_DATA }, up.etag);
      const after = await store.getInfo('md-cas');
      expect(folded(after!.metadata)).toEqual({ v: '2', encryptiondata: ENCRYPTION_DATA });
      expect(after!.etag).not.toBe(up.etag);

      const e = await rejectionOf(store.setMetadata('md-cas', { v: '3' }, up.etag));
      expect(codeOf(e)).toBe('precondition_failed');
      expect(folded((await store.getInfo('md-cas'))!.metadata)).toEqual({ v: '2', encryptiondata: ENCRYPTION_DATA });

      await store.setMetadata('md-cas', { v: '4' }, after!.etag);
      expect(folded((await store.getInfo('md-cas'))!.metadata)).toEqual({ v: '4' });
      // The content is untouched by metadata writes.
      expect((await store.getInfo('md-cas'))!.size).toBe(100);
    });

    it('setMetadata on a missing blob fails (not_found or precondition_failed)', async () => {
      const e = await rejectionOf(store.setMetadata('nope', { v: '1' }, '"0x8D000000000000"'));
      expect(['not_found', 'precondition_failed']).toContain(codeOf(e));
      expect(await store.getInfo('nope')).toBeUndefined();
    });

    it('delete is idempotent', async () => {
      await store.upload('gone', chunked(randomBytes(10)), { metadata: {} });
      await store.upload('stays', chunked(randomBytes(10)), { metadata: {} });
      await store.delete('gone');
      expect(await store.getInfo('gone')).toBeUndefined();
      expect(codeOf(await rejectionOf(store.download('gone')))).toBe('not_found');
      await store.delete('gone');
      await store.delete('never-existed');
      expect((await listed(store)).map((b) => b.name)).toEqual(['stays']);
      // The name can be used again.
      await store.upload('gone', chunked(Buffer.from('again')), { metadata: {} });
      expect((await downloaded(store, 'gone')).toString()).toBe('again');
    });

    it('lists by prefix, with size and metadata', async () => {
      for (const n of ['a/1', 'a/2', 'ab', 'b/1']) {
        await store.upload(n, chunked(Buffer.from(n)), { metadata: { Name: n } });
      }
      expect((await listed(store)).map((b) => b.name).sort()).toEqual(['a/1', 'a/2', 'ab', 'b/1']);
      const a = await listed(store, 'a/');
      expect(a.map((b) => b.name).sort()).toEqual(['a/1', 'a/2']);
      for (const b of a) {
        expect(b.size).toBe(b.name.length);
        expect(folded(b.metadata)).toEqual({ name: b.name });
        expect(b.createdOn).toBeInstanceOf(Date);
        expect(b.etag.length).toBeGreaterThan(0);
      }
      expect((await listed(store, 'a')).map((b) => b.name).sort()).toEqual(['a/1', 'a/2', 'ab']);
      expect(await listed(store, 'zzz')).toEqual([]);
    });

    it('keeps tenants apart: one name in two tenants is two blobs', async () => {
      const ida = tenantId('tx');
      const idb = tenantId('ty');
      const a = await factory.forTenant(ida);
      const b = await factory.forTenant(idb);
      const da = randomBytes(1000);
      const db = randomBytes(2000);
      await a.upload('same', chunked(da), { metadata: { owner: 'a' } });
      expect(await b.getInfo('same')).toBeUndefined();
      await b.upload('same', chunked(db), { metadata: { owner: 'b' } });
      await a.upload('only-a', chunked(da), { metadata: {} });
      sameBytes(await downloaded(a, 'same'), da);
      sameBytes(await downloaded(b, 'same'), db);
      expect(folded((await b.getInfo('same'))!.metadata)).toEqual({ owner: 'b' });
      expect(await b.getInfo('only-a')).toBeUndefined();
      expect(codeOf(await rejectionOf(b.download('only-a')))).toBe('not_found');
      expect((await listed(b)).map((x) => x.name)).toEqual(['same']);
      // An etag of a's blob does not let b write b's.
      const ea = (await a.getInfo('same'))!.etag;
      if (ea !== (await b.getInfo('same'))!.etag) {
        expect(codeOf(await rejectionOf(b.setMetadata('same', { owner: 'x' }, ea)))).toBe('precondition_failed');
      }
      await b.delete('only-a'); // not b's: a no-op
      await b.delete('same');
      sameBytes(await downloaded(a, 'same'), da);
      expect((await listed(a)).map((x) => x.name).sort()).toEqual(['only-a', 'same']);
      // A tenant's store obtained again sees the same blobs.
      expect((await listed(await factory.forTenant(ida))).map((x) => x.name).sort()).toEqual(['only-a', 'same']);
    });

    it("deleteTenant removes all of that tenant's blobs and no one else's; it is idempotent", async () => {
      const doomedId = tenantId('td');
      const doomed = await factory.forTenant(doomedId);
      await doomed.upload('x', chunked(randomBytes(10)), { metadata: {} });
      await doomed.upload('dir/y', chunked(randomBytes(5 * MiB)), { metadata: {} });
      await store.upload('x', chunked(Buffer.from('survivor')), { metadata: {} });
      await factory.deleteTenant(doomedId);
      expect(await doomed.getInfo('x')).toBeUndefined();
      expect(await doomed.getInfo('dir/y')).toBeUndefined();
      expect(await listed(doomed)).toEqual([]);
      expect(codeOf(await rejectionOf(doomed.download('x')))).toBe('not_found');
      await doomed.delete('x'); // still idempotent
      await factory.deleteTenant(doomedId);
      await factory.deleteTenant(tenantId('never'));
      expect((await downloaded(store, 'x')).toString()).toBe('survivor');
    });
  });
}
