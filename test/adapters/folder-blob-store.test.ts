import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/domain/errors';
import { type FolderBlobStore, FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import { blobStoreContract } from '../contracts/blob-store.contract';
import { rejectionOf } from '../support/rejection';

const MiB = 1024 * 1024;
const codeOf = (e: unknown) => (isAppError(e) ? e.code : undefined);

blobStoreContract('FolderBlobStore (embedded default, DATA_DIR/files)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'folder-blobs-'));
  return {
    factory: new FolderBlobStoreFactory(dir),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

async function* chunks(data: Buffer, size = MiB): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield Buffer.from(data.subarray(o, o + size));
}

/** Every file under a folder, relative paths. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? d.path, d.name).slice(dir.length + 1))
    .sort();
}

const hoursAgo = (path: string, h: number) => {
  const t = new Date(Date.now() - h * 3600_000);
  utimesSync(path, t, t);
};

describe('FolderBlobStore (folder only)', () => {
  let root: string;
  let factory: FolderBlobStoreFactory;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'folder-blobs-'));
    factory = new FolderBlobStoreFactory(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keeps each tenant in its own folder; a committed blob is one index entry and one data file, and tmp/ is empty', async () => {
    const store = (await factory.forTenant('acme')) as FolderBlobStore;
    expect(store.dir).toBe(join(root, 'acme'));
    const data = randomBytes(3 * MiB + 7);
    await store.upload('rec/r_1/f_1/uuid', chunks(data), { metadata: { encryptiondata: 'x' } });
    const files = filesUnder(join(root, 'acme'));
    expect(files.filter((f) => f.startsWith('tmp'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const dataFiles = files.filter((f) => f.endsWith('.data'));
    expect(dataFiles).toHaveLength(1);
    expect(statSync(join(root, 'acme', dataFiles[0]!)).size).toBe(data.length);
    // Blob names never become paths: the name is hashed.
    expect(files.join('\n')).not.toContain('r_1');
    expect((await factory.forTenant('globex')) as FolderBlobStore).not.toBe(store);
    expect(existsSync(join(root, 'globex', 'tmp'))).toBe(true);
  });

  it('refuses tenant ids that are not plain folder names', async () => {
    for (const bad of ['..', '../x', 'a/b', 'A', '', '-a', 'a--b']) {
      expect(codeOf(await rejectionOf(factory.forTenant(bad))), bad).toBe('validation');
    }
    expect(readdirSync(root)).toEqual([]);
  });

  it('an upload that fails midway removes its temp file at once', async () => {
    const store = await factory.forTenant('acme');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(8 * MiB);
      throw new Error('client went away');
    }
    await rejectionOf(store.upload('x', failing(), { metadata: {} }));
    expect(filesUnder(join(root, 'acme'))).toEqual([]);
  });

  it('sweepUnfinished removes what a crash left (temp files, bytes no index entry names) once old enough, and nothing else', async () => {
    const store = await factory.forTenant('acme');
    const keep = randomBytes(2 * MiB);
    await store.upload('kept', chunks(keep), { metadata: {} });
    const before = filesUnder(join(root, 'acme'));
    // What kill -9 leaves: a half-written upload in tmp/, an index entry never linked, and
    // bytes renamed into objects/ whose index entry was never linked.
    const tmpData = join(root, 'acme', 'tmp', 'aaaa.data');
    const tmpIndex = join(root, 'acme', 'tmp', 'aaaa.json');
    writeFileSync(tmpData, randomBytes(3 * MiB));
    writeFileSync(tmpIndex, '{"v":1');
    const keptData = before.find((f) => f.endsWith('.data'))!;
    const orphan = join(root, 'acme', keptData.replace(/\.[0-9a-f]+\.data$/, '.0123abcd.data'));
    writeFileSync(orphan, randomBytes(1000));

    // Too young: left alone (an upload may still be writing).
    expect(await store.sweepUnfinished({ olderThan: new Date(Date.now() - 3600_000) })).toEqual({ removed: 0, bytes: 0 });
    for (const f of [tmpData, tmpIndex, orphan, join(root, 'acme', keptData)]) hoursAgo(f, 2);
    const swept = await store.sweepUnfinished({ olderThan: new Date(Date.now() - 3600_000) });
    expect(swept).toEqual({ removed: 3, bytes: 3 * MiB + 6 + 1000 });
    expect(filesUnder(join(root, 'acme'))).toEqual(before);
    const got: Buffer[] = [];
    for await (const c of await store.download('kept')) got.push(Buffer.from(c));
    expect(Buffer.concat(got).equals(keep)).toBe(true);
  });

  it('a second factory on the same folder (a restarted process) sees every committed blob', async () => {
    const data = randomBytes(MiB + 3);
    await (await factory.forTenant('acme')).upload('a/b', chunks(data), { metadata: { k: 'v' } });
    const again = await new FolderBlobStoreFactory(root).forTenant('acme');
    const info = await again.getInfo('a/b');
    expect(info?.size).toBe(data.length);
    expect(info?.metadata).toEqual({ k: 'v' });
  });
});
