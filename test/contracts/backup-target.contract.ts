import { randomBytes } from 'node:crypto';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { isAppError } from '../../shared/domain/errors';
import type { BackupObject, BackupTarget } from '../../shared/ports/backup-target';
import { rejectionOf } from '../support/rejection';
import { abortedSignal, drain, expectAborted } from './abort';

export interface BackupTargetFixture {
  target: BackupTarget;
  /**
   * The page size the target lists with, when the adapter lets the fixture set one: the
   * listing test then checks that more keys than one page hold are listed across pages.
   */
  listPageSize?: number;
  /**
   * Known defects of a local stand-in (never of the adapter): the tests they break are
   * reported as skipped for that fixture.
   * - 'misorders-key-and-its-children': s3rver lists `a/b/1` before `a/b` (it walks its
   *   folders) and then skips keys across pages; S3 and Azure list `a/b` < `a/b.` < `a/b/1` < `a/b0`.
   * - 'stores-truncated-body': s3rver stores what arrived of a PUT whose client gave up before
   *   Content-Length bytes (S3 refuses such a request with IncompleteBody and stores nothing).
   */
  quirks?: ReadonlyArray<'misorders-key-and-its-children' | 'stores-truncated-body'>;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

const codeOf = (e: unknown) => (isAppError(e) ? e.code : undefined);
const nameOf = (e: unknown) => (e instanceof Error ? e.name : (e as { name?: unknown } | null)?.name);

async function listed(target: BackupTarget, prefix: string): Promise<BackupObject[]> {
  const out: BackupObject[] = [];
  for await (const o of target.list(prefix)) out.push(o);
  return out;
}

const bytes = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Fisher–Yates with a fixed seed, so a failure reproduces. */
function shuffled<T>(xs: T[]): T[] {
  const out = [...xs];
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * The BackupTarget port's contract. `make` is called once for the suite; every test works
 * under its own random key prefix, so the tests do not see each other's objects.
 */
export function backupTargetContract(name: string, make: () => Promise<BackupTargetFixture>): void {
  describe(`BackupTarget contract: ${name}`, () => {
    let fx: BackupTargetFixture;
    let target: BackupTarget;
    const fresh = (label: string) => `${label}-${randomBytes(6).toString('hex')}/`;

    beforeAll(async () => {
      fx = await make();
      target = fx.target;
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    it('has a tier name', () => {
      expect(typeof target.name).toBe('string');
      expect(target.name.length).toBeGreaterThan(0);
    });

    it.each([
      ['0 bytes', 0],
      ['1 byte', 1],
      ['5 MiB', 5 * MiB],
    ])('round-trips %s exactly', async (_label, size) => {
      const key = `${fresh('rt')}object.bin`;
      const body = randomBytes(size);
      await target.put(key, body);
      const got = await target.get(key);
      expect(got).toBeInstanceOf(Uint8Array);
      expect(got!.byteLength).toBe(size);
      expect(bytes(got)!.equals(body)).toBe(true);
      const [info] = await listed(target, key);
      expect(info?.key).toBe(key);
      expect(info?.size).toBe(size);
    });

    it('accepts a Uint8Array that is a view into a larger buffer', async () => {
      const key = `${fresh('view')}object.bin`;
      const backing = randomBytes(100);
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 10, 50);
      await target.put(key, view);
      expect(bytes(await target.get(key))!.equals(backing.subarray(10, 60))).toBe(true);
    });

    it('streams large objects in and out (putStream/getStream), immutable like put', async () => {
      const key = `${fresh('stream')}big.bin`;
      const parts = Array.from({ length: 9 }, () => randomBytes(1024 * 1024 + 7));
      async function* chunks() {
        for (const p of parts) yield p;
      }
      const size = parts.reduce((n, p) => n + p.length, 0);
      await target.putStream(key, chunks(), size);
      const back: Buffer[] = [];
      for await (const c of (await target.getStream(key))!) back.push(Buffer.from(c));
      expect(Buffer.concat(back).equals(Buffer.concat(parts))).toBe(true);
      expect(await target.getStream(`${fresh('stream')}missing.bin`)).toBeUndefined();
      const again = await target.putStream(key, chunks(), size).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((again as { code?: string })?.code).toBe('conflict');
      const empty = `${fresh('stream')}empty.bin`;
      await target.putStream(empty, (async function* () {})(), 0);
      expect((await target.get(empty))?.length).toBe(0);
    });

    it('answers undefined for a key that does not exist', async () => {
      const p = fresh('missing');
      expect(await target.get(`${p}nothing-here`)).toBeUndefined();
      await target.put(`${p}other`, randomBytes(3));
      expect(await target.get(`${p}nothing-here`)).toBeUndefined();
      expect(await target.get(`${p}othe`)).toBeUndefined();
    });

    it('refuses to overwrite: put of an existing key fails with conflict and the original bytes stay', async () => {
      const key = `${fresh('immutable')}manifest.json`;
      const original = randomBytes(1000);
      await target.put(key, original);
      for (const replacement of [randomBytes(1000), randomBytes(10), new Uint8Array(0)]) {
        const e = await rejectionOf(target.put(key, replacement));
        expect(codeOf(e)).toBe('conflict');
        expect(isAppError(e) && e.status).toBe(409);
      }
      expect(bytes(await target.get(key))!.equals(original)).toBe(true);
      const objs = await listed(target, key);
      expect(objs.map((o) => [o.key, o.size])).toEqual([[key, 1000]]);
    });

    it('lists exactly the keys under a prefix, in lexicographic order, with size and lastModified', async () => {
      const root = fresh('list');
      const prefix = `${root}seg/`;
      const keys = Array.from({ length: 30 }, (_, i) => `${prefix}${String(i).padStart(4, '0')}-${i % 3 === 0 ? 'z' : 'a'}`);
      const before = Date.now();
      // Written out of order, plus neighbours that must not be listed.
      for (const k of shuffled(keys)) await target.put(k, randomBytes(k.length % 7));
      await target.put(`${root}seg0`, randomBytes(1)); // shares the characters "seg"
      await target.put(`${root}sef/0000-a`, randomBytes(1)); // sorts before "seg/"
      await target.put(`${root}other/0000-a`, randomBytes(1));
      await target.put(`${root}SEG/0000-a`, randomBytes(1)); // case matters

      const objs = await listed(target, prefix);
      const sorted = [...keys].sort();
      expect(objs.map((o) => o.key)).toEqual(sorted);
      for (const o of objs) {
        expect(o.size).toBe(o.key.length % 7);
        expect(o.lastModified).toBeInstanceOf(Date);
        // Server clocks have second precision; allow generous skew, never assert on timing.
        expect(Math.abs(o.lastModified.getTime() - before)).toBeLessThan(10 * 60_000);
      }
      if (fx.listPageSize !== undefined) expect(keys.length).toBeGreaterThan(fx.listPageSize * 2);

      // A partial segment name is a prefix too; the whole root lists everything, still sorted.
      expect((await listed(target, `${prefix}000`)).map((o) => o.key)).toEqual(sorted.filter((k) => k.startsWith(`${prefix}000`)));
      const all = (await listed(target, root)).map((o) => o.key);
      expect(all).toHaveLength(34);
      expect(all).toEqual([...all].sort());
      expect(await listed(target, `${root}nothing/`)).toEqual([]);
    });

    // Backup layouts can have a manifest `x` next to segments `x/…`; the order must still be binary.
    it('lists a key, its siblings and the keys under it as a folder in binary order, across pages', async (ctx) => {
      if (fx.quirks?.includes('misorders-key-and-its-children')) ctx.skip();
      const root = fresh('keyfolder');
      const keys = [
        `${root}m`,
        `${root}m.`,
        `${root}m0`,
        `${root}m-`,
        ...Array.from({ length: 20 }, (_, i) => `${root}m/${String(i).padStart(2, '0')}`),
      ];
      for (const k of shuffled(keys)) await target.put(k, randomBytes(1));
      expect((await listed(target, root)).map((o) => o.key)).toEqual([...keys].sort());
      expect((await listed(target, `${root}m`)).map((o) => o.key)).toEqual([...keys].sort());
      expect((await listed(target, `${root}m/`)).map((o) => o.key)).toEqual(keys.filter((k) => k.startsWith(`${root}m/`)).sort());
    });

    it('keeps keys with slashes as they are (no directories, no normalisation)', async () => {
      const root = fresh('slash');
      const keys = [`${root}a/b/c/d.bin`, `${root}a/b/e.bin`, `${root}a/x`];
      for (const k of keys) await target.put(k, Buffer.from(k));
      for (const k of keys) expect(bytes(await target.get(k))!.toString()).toBe(k);
      expect((await listed(target, `${root}a/b/`)).map((o) => o.key)).toEqual([`${root}a/b/c/d.bin`, `${root}a/b/e.bin`]);
      expect(await target.get(`${root}a/b`)).toBeUndefined();
      expect(await target.get(`${root}a/b/c`)).toBeUndefined();
    });

    it('deletes idempotently', async () => {
      const p = fresh('delete');
      const key = `${p}old-segment`;
      await target.put(key, randomBytes(10));
      await target.put(`${p}keep`, randomBytes(10));
      await target.delete(key);
      expect(await target.get(key)).toBeUndefined();
      await target.delete(key); // again
      await target.delete(`${p}never-existed`);
      expect((await listed(target, p)).map((o) => o.key)).toEqual([`${p}keep`]);
    });

    it('rejects an empty key with a validation error', async () => {
      expect(codeOf(await rejectionOf(target.put('', randomBytes(1))))).toBe('validation');
      expect(codeOf(await rejectionOf(target.get('')))).toBe('validation');
      expect(codeOf(await rejectionOf(target.delete('')))).toBe('validation');
    });

    it('honours an aborted signal: put rejects with AbortError and writes nothing', async () => {
      const key = `${fresh('abort')}object.bin`;
      const ac = new AbortController();
      ac.abort();
      expect(nameOf(await rejectionOf(target.put(key, randomBytes(100), { abortSignal: ac.signal })))).toBe('AbortError');
      expect(await target.get(key)).toBeUndefined();
      await target.put(key, randomBytes(100));
      expect(nameOf(await rejectionOf(target.get(key, { abortSignal: ac.signal })))).toBe('AbortError');
    });

    it('an already-aborted signal (with a reason) is refused by every method with an AbortError, and nothing changes', async () => {
      const p = fresh('abort-all');
      const kept = randomBytes(100);
      await target.put(`${p}kept.bin`, kept);
      const abortSignal = abortedSignal();
      async function* one() {
        yield randomBytes(10);
      }
      await expectAborted(target.put(`${p}new.bin`, randomBytes(10), { abortSignal }));
      await expectAborted(target.putStream(`${p}new-stream.bin`, one(), 10, { abortSignal }));
      await expectAborted(target.get(`${p}kept.bin`, { abortSignal }));
      await expectAborted(target.getStream(`${p}kept.bin`, { abortSignal }));
      await expectAborted(drain(target.list(p, { abortSignal })));
      await expectAborted(target.delete(`${p}kept.bin`, { abortSignal }));
      expect((await listed(target, p)).map((o) => o.key)).toEqual([`${p}kept.bin`]);
      expect(bytes(await target.get(`${p}kept.bin`))?.equals(kept)).toBe(true);
    });

    it('a large putStream aborted midway rejects with an AbortError and leaves no object', async (ctx) => {
      if (fx.quirks?.includes('stores-truncated-body')) ctx.skip();
      const key = `${fresh('abort-mid')}big.bin`;
      const ac = new AbortController();
      const size = 9 * (1024 * 1024 + 7);
      async function* chunks() {
        for (let i = 0; i < 9; i++) {
          if (i === 3) ac.abort();
          yield randomBytes(1024 * 1024 + 7);
        }
      }
      await expectAborted(target.putStream(key, chunks(), size, { abortSignal: ac.signal }));
      expect(await target.get(key)).toBeUndefined();
      // The key was never taken: it can be written now.
      await target.put(key, randomBytes(10));
      expect((await target.get(key))?.length).toBe(10);
    });
  });
}
