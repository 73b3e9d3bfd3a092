import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/domain/errors';
import { type FolderBlobStore, FolderBlobStoreFactory } from '../../shared/adapters/embedded/folder-blob-store';
import { blobStoreContract, withSmallHint } from '../contracts/blob-store.contract';
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

/**
 * The same contract with the `small` hint on every upload (keyring entries carry it): bodies of
 * at most SMALL_BLOB_MAX bytes are kept inline in their index file, larger ones the usual way,
 * and nothing a caller can see differs.
 */
blobStoreContract('FolderBlobStore, every upload with the small hint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'folder-blobs-small-'));
  const inner = new FolderBlobStoreFactory(dir);
  return { factory: withSmallHint(inner), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
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

  it('a small upload is one index file (entry line, then the bytes), no data file; delete leaves no copy, not even a temp name a crash left', async () => {
    const store = (await factory.forTenant('acme')) as FolderBlobStore;
    const body = Buffer.from('{"v":1,"subjectRef":"s_x","keyId":"k_SMALL-MARK"}');
    await store.upload('_keyring/s_x', chunks(body), { metadata: {}, small: true });
    const files = filesUnder(join(root, 'acme'));
    expect(files.filter((f) => !f.startsWith('objects'))).toEqual([]);
    const index = files.filter((f) => f.endsWith('.json'));
    expect(index).toHaveLength(1);
    expect(files.filter((f) => f.endsWith('.data'))).toEqual([]);
    const raw = readFileSync(join(root, 'acme', index[0]!));
    const nl = raw.indexOf(0x0a);
    expect(JSON.parse(raw.subarray(0, nl).toString())).toMatchObject({ name: '_keyring/s_x', size: body.length, inline: true });
    expect(raw.subarray(nl + 1).equals(body)).toBe(true);
    // Read by a restarted process, ranges included; metadata changes keep the bytes.
    const again = await new FolderBlobStoreFactory(root).forTenant('acme');
    const part: Buffer[] = [];
    for await (const c of await again.download('_keyring/s_x', { offset: 2, count: 5 })) part.push(Buffer.from(c));
    expect(Buffer.concat(part).toString()).toBe(body.subarray(2, 7).toString());
    const info = (await again.getInfo('_keyring/s_x'))!;
    await again.setMetadata('_keyring/s_x', { k: 'v' }, info.etag);
    const all: Buffer[] = [];
    for await (const c of await again.download('_keyring/s_x')) all.push(Buffer.from(c));
    expect(Buffer.concat(all).equals(body)).toBe(true);
    // A crash between the link and the unlink of the temp name leaves a second name of the
    // index file in tmp/ (made here by hand): deleting the blob removes that one too.
    const tmpName = join(
      root,
      'acme',
      'tmp',
      `${index[0]!
        .split('/')
        .pop()!
        .replace(/\.json$/, '')}.0badc0ffee00.inline`,
    );
    linkSync(join(root, 'acme', index[0]!), tmpName);
    await again.delete('_keyring/s_x');
    expect(filesUnder(join(root, 'acme'))).toEqual([]);
    // Over SMALL_BLOB_MAX the hint is ignored: an index entry and a data file.
    await store.upload('big', chunks(randomBytes(4097), 1000), { metadata: {}, small: true });
    expect(filesUnder(join(root, 'acme')).filter((f) => f.endsWith('.data'))).toHaveLength(1);
  });

  it.skipIf(spawnSync('strace', ['-V']).status !== 0)(
    'a small upload fsyncs its one file, then the folder that names it: two fsyncs, against three for the same body without the hint (strace)',
    () => {
      const repo = resolve(__dirname, '..', '..');
      const traced = (small: boolean) => {
        const d = mkdtempSync(join(root, 'traced-'));
        const log = join(root, `strace-${small}.log`);
        const script = `const { FolderBlobStoreFactory } = require('./dist/shared/adapters/embedded/folder-blob-store');
          (async () => {
            const s = await new FolderBlobStoreFactory(${JSON.stringify(d)}).forTenant('acme');
            // The same name first, then deleted: its hash folder exists (a new one costs a folder fsync more).
            await s.upload('_keyring/s_1', (async function* () { yield Buffer.from('w'); })(), { metadata: {}, small: ${small} });
            await s.delete('_keyring/s_1');
            process.stdout.write('MARK');
            await s.upload('_keyring/s_1', (async function* () { yield Buffer.from('{"keyId":"k_1"}'); })(), { metadata: {}, small: ${small} });
          })();`;
        execFileSync('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,write', '-o', log, process.execPath, '-e', script], {
          cwd: repo,
          stdio: 'pipe',
        });
        const lines = readFileSync(log, 'utf8').split('\n');
        const after = lines.slice(lines.findIndex((l) => l.includes('"MARK"')) + 1);
        return after.filter((l) => /\b(fsync|fdatasync)\(/.test(l) && l.includes(d) && / = 0$/.test(l.trim()));
      };
      const small = traced(true);
      expect(small, small.join('\n')).toHaveLength(2);
      expect(small[0]).toMatch(/tmp\/[0-9a-f]{64}\.[0-9a-f]+\.inline>/);
      expect(small[1]).toMatch(/objects\/[0-9a-f]{2}>\)/);
      expect(traced(false).length).toBe(3);
    },
  );
});
