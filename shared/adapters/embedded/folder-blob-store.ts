/**
 * The embedded default BlobStore: each tenant's files in its own folder under
 * `DATA_DIR/files/<tenant>/`, written so that an upload that answered is on disk.
 *
 * Why not Azurite: Azurite's default metadata store (Loki) saves its blob index to disk every
 * 5 s, so a process killed within that window loses blobs that were already acknowledged.
 * Here an upload returns only after its bytes and its index entry are fsynced and named by an
 * fsynced directory.
 *
 * Layout of one tenant:
 *
 *   tmp/<upload>.data, tmp/<upload>.json   an upload in progress (removed when it fails;
 *                                          left by a crash until `sweepUnfinished`)
 *   objects/<h2>/<h>.<upload>.data         a blob's bytes (h = SHA-256 of the blob name,
 *                                          h2 its first two hex digits)
 *   objects/<h2>/<h>.json                  the blob's index entry: name, size, createdOn,
 *                                          etag, metadata and which .data file holds it
 *                                          (or, for a small upload — the `small` hint, at
 *                                          most SMALL_BLOB_MAX bytes — the entry as one JSON
 *                                          line with `inline: true`, then "\n" and the bytes)
 *
 * Upload: bytes → tmp file, fdatasync, rename into objects/<h2>/; the index entry → tmp file,
 * fsync, then link()ed to `<h>.json`, which fails if the name exists (a conflict, even across
 * processes), then objects/<h2>/ is fsynced. The link is the commit point: before it the blob
 * does not exist, after it the blob is complete. A crash leaves at most files in tmp/ and a
 * .data file no index entry points to, which `sweepUnfinished` removes. A small upload skips the
 * .data file: its index file (header line and bytes) goes to tmp/, is fsynced, link()ed into
 * place and the folder fsynced — one file and two fsyncs instead of two files and three, with the
 * same commit point (the link) and the same durability when it answers (subject keys are written
 * this way before the first value sealed under them is appended; issue 14).
 *
 * setMetadata and delete are serialised per blob name inside this process (the etag check is
 * a read-compare-rename); one host process per DATA_DIR, as for the embedded databases.
 *
 * `abortSignal` is checked before any file is touched, between chunks of uploads, downloads and
 * listings, and between the files a sweep removes. Writes check it for the last time before their
 * commit point (the link of the index entry, the rename of a metadata change, the index unlink).
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, conflict, isAppError, notFound, validation } from '../../domain/errors';
import type {
  BlobInfo,
  BlobStore,
  BlobStoreFactory,
  DownloadOptions,
  SweepUnfinishedOptions,
  UnfinishedSweep,
  UploadOptions,
} from '../../ports/blob-store';
import type { OperationOptions } from '../../ports/options';
import { abortError, throwIfAborted, untilAborted } from '../abort';
import { openOnce } from '../open-once';
import { checkBlobName, checkEtag, checkMetadata, checkRange, takeSmallBody } from '../blob-rules';
import { mkdirDurably as mkdirDurable, syncDirectory as fsyncDir } from '../durable-files';

const TENANT_FOLDER = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,62}$/;
const READ_CHUNK = 1024 * 1024;

interface IndexEntry {
  v: 1;
  name: string;
  size: number;
  createdOn: string;
  etag: string;
  metadata: Record<string, string>;
  /** File name of the bytes, in the same folder ("" when inline). */
  data: string;
  /** The bytes follow the entry's JSON line in the index file itself (small uploads). */
  inline?: true;
}

/** An index entry as read: for an inline entry, its bytes. */
type ReadEntry = IndexEntry & { bytes?: Buffer };

/** The index file's content: the entry's JSON, and for an inline entry "\n" and the bytes (JSON.stringify never writes a raw newline). */
function indexFileContent(entry: IndexEntry, bytes?: Uint8Array): Buffer {
  const head = Buffer.from(JSON.stringify(entry), 'utf8');
  return entry.inline ? Buffer.concat([head, Buffer.from('\n'), bytes ?? Buffer.alloc(0)]) : head;
}

const isErrno = (e: unknown, code: string) => typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;

function tenantFolder(tenantId: string): string {
  if (typeof tenantId !== 'string' || !TENANT_FOLDER.test(tenantId)) {
    throw validation('This tenant id cannot name a file folder: use a-z, 0-9 and single "-" between them.', [
      { path: '/id', message: 'invalid tenant id' },
    ]);
  }
  return tenantId;
}

const newEtag = () => `"0x${randomBytes(8).toString('hex').toUpperCase()}"`;

async function* emptyIterable(): AsyncGenerator<Uint8Array> {
  // nothing
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}

/** Writes a small file with O_EXCL and fsyncs it (not its folder). */
async function writeSynced(path: string, content: string | Buffer): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await writeAll(fh, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The commit point of an upload: the fsynced temp index file `tmpIndex` is link()ed to `index`
 * (which fails if the name exists: a conflict, even across processes), then `folder` is fsynced
 * and the temp name removed. The abort signal is checked for the last time just before the link.
 * `onCommitted` runs as soon as the link succeeds, before the fsync, so a caller whose cleanup
 * runs on a later failure knows the blob exists and must not remove its files.
 */
async function commitIndexOnce(
  name: string,
  tmpIndex: string,
  index: string,
  folder: string,
  signal: AbortSignal | undefined,
  onCommitted: () => void,
): Promise<void> {
  if (signal?.aborted) throw abortError(signal);
  try {
    await link(tmpIndex, index);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) throw conflict(`A blob named "${name}" already exists.`);
    throw e;
  }
  onCommitted();
  await fsyncDir(folder);
  await unlink(tmpIndex).catch(() => undefined);
}

export class FolderBlobStore implements BlobStore {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly objects: string;
  private readonly tmp: string;
  /** objects/ and its 256 hash folders, made by the first upload (makeHashFolders). */
  private hashFolders: Promise<void> | undefined;

  constructor(readonly dir: string) {
    this.objects = join(dir, 'objects');
    this.tmp = join(dir, 'tmp');
  }

  /**
   * objects/ and its hash folders exist once anything was uploaded: made by the first upload,
   * not when the store is opened. A tenant that never stored a file has no objects/ folder, so
   * listing it (backups, the orphan sweep, the keyring) is one failed readdir instead of 257,
   * and it holds 2 folders on disk instead of 259 (~1 MB; issue 11).
   */
  private ensureHashFolders(): Promise<void> {
    if (!this.hashFolders) {
      const p = (async () => {
        await mkdirDurable(this.objects);
        await makeHashFolders(this.objects);
      })();
      this.hashFolders = p;
      p.catch(() => {
        if (this.hashFolders === p) this.hashFolders = undefined;
      });
    }
    return this.hashFolders;
  }

  private paths(name: string): { folder: string; hash: string; index: string } {
    const hash = createHash('sha256').update(name, 'utf8').digest('hex');
    const folder = join(this.objects, hash.slice(0, 2));
    return { folder, hash, index: join(folder, `${hash}.json`) };
  }

  /** The tenant's folder was removed (deleteTenant): writes answer not_found, reads see nothing. */
  private async gone(): Promise<boolean> {
    try {
      await stat(this.tmp);
      return false;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return true;
      throw e;
    }
  }

  private async readIndex(path: string): Promise<ReadEntry | undefined> {
    let raw: Buffer;
    try {
      raw = await readFile(path);
    } catch (e) {
      if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return undefined;
      throw e;
    }
    const nl = raw.indexOf(0x0a);
    const entry = JSON.parse(raw.subarray(0, nl < 0 ? raw.length : nl).toString('utf8')) as ReadEntry;
    if (entry?.v !== 1 || typeof entry.name !== 'string' || typeof entry.data !== 'string')
      throw new Error(`Unreadable blob index entry ${path}.`);
    if (entry.inline) {
      const bytes = nl < 0 ? undefined : raw.subarray(nl + 1);
      if (!bytes || bytes.length !== entry.size) throw new Error(`Unreadable blob index entry ${path}.`);
      entry.bytes = bytes;
    }
    return entry;
  }

  /** A small upload: the entry and its bytes in one index file (see the layout above). */
  private async uploadInline(name: string, bytes: Buffer, metadata: Record<string, string>, signal?: AbortSignal): Promise<BlobInfo> {
    const { folder, hash, index } = this.paths(name);
    // Named after the blob, so a delete can find a second name a crash left (see delete).
    const tmpIndex = join(this.tmp, `${hash}.${randomBytes(6).toString('hex')}.inline`);
    const entry: IndexEntry = {
      v: 1,
      name,
      size: bytes.length,
      createdOn: new Date().toISOString(),
      etag: newEtag(),
      metadata,
      data: '',
      inline: true,
    };
    let committed = false;
    try {
      await writeSynced(tmpIndex, indexFileContent(entry, bytes));
      await this.ensureHashFolders();
      await mkdirDurable(folder);
      await commitIndexOnce(name, tmpIndex, index, folder, signal, () => {
        committed = true;
      });
      return { name, size: entry.size, createdOn: new Date(entry.createdOn), etag: entry.etag, metadata };
    } catch (e) {
      if (!committed) await unlink(tmpIndex).catch(() => undefined);
      if (isErrno(e, 'ENOENT') && (await this.gone())) throw notFound("The tenant's file folder does not exist.");
      throw e;
    }
  }

  private withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }

  async upload(name: string, chunks: AsyncIterable<Uint8Array>, options: UploadOptions): Promise<BlobInfo> {
    checkBlobName(name);
    const metadata = { ...(options.metadata ?? {}) };
    checkMetadata(metadata);
    const signal = options.abortSignal;
    if (signal?.aborted) throw abortError(signal);
    const { folder, hash, index } = this.paths(name);
    if (await this.readIndex(index)) throw conflict(`A blob named "${name}" already exists.`);
    if (await this.gone()) throw notFound("The tenant's file folder does not exist.");
    if (options.small) {
      // A body that fits goes inline, a larger one the usual way.
      const taken = await takeSmallBody(chunks);
      if (signal?.aborted) throw abortError(signal);
      if (taken.body) return this.uploadInline(name, taken.body, metadata, signal);
      chunks = taken.rest;
    }

    const upload = randomBytes(12).toString('hex');
    const tmpData = join(this.tmp, `${upload}.data`);
    const tmpIndex = join(this.tmp, `${upload}.json`);
    const dataName = `${hash}.${upload}.data`;
    const finalData = join(folder, dataName);
    let fh: FileHandle | undefined;
    let movedData = false;
    let committed = false;
    let iterator: AsyncIterator<Uint8Array> | undefined;
    let sourceDone = false;
    /** The write of the previous chunk while the source makes the next one (see the loop). */
    let writing: Promise<void> | undefined;

    // The source's next chunk, or AbortError as soon as the signal fires (a source may stall).
    const nextChunk = () =>
      new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        if (signal?.aborted) return reject(abortError(signal));
        const onAbort = () => reject(abortError(signal));
        signal?.addEventListener('abort', onAbort, { once: true });
        iterator ??= chunks[Symbol.asyncIterator]();
        iterator.next().then(
          (r) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(r);
          },
          (e: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        );
      });

    try {
      fh = await open(tmpData, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      let size = 0;
      // One chunk of read-ahead: the source makes its next chunk (an encrypted upload encrypts
      // and hashes it on the event loop) while the previous one is written by libuv's thread
      // pool, instead of one after the other. The write of a chunk is always awaited before
      // the next write starts, so chunks land in order; a source must not reuse a chunk's
      // buffer once it has yielded it (the request body and encryptStream never do).
      for (;;) {
        const next = await nextChunk();
        await writing;
        writing = undefined;
        if (next.done) {
          sourceDone = true;
          break;
        }
        const chunk: unknown = next.value;
        if (!(chunk instanceof Uint8Array)) throw new TypeError('upload: the source must yield Uint8Array chunks.');
        writing = writeAll(fh, chunk);
        // Handled where it is awaited (above, or in the cleanup below), never unhandled meanwhile.
        writing.catch(() => undefined);
        size += chunk.length;
        if (signal?.aborted) throw abortError(signal);
      }
      await fh.datasync();
      await fh.close();
      fh = undefined;
      if (signal?.aborted) throw abortError(signal);

      await this.ensureHashFolders();
      await mkdirDurable(folder);
      await rename(tmpData, finalData);
      movedData = true;
      const entry: IndexEntry = { v: 1, name, size, createdOn: new Date().toISOString(), etag: newEtag(), metadata, data: dataName };
      await writeSynced(tmpIndex, JSON.stringify(entry));
      await commitIndexOnce(name, tmpIndex, index, folder, signal, () => {
        committed = true;
      });
      return { name, size, createdOn: new Date(entry.createdOn), etag: entry.etag, metadata };
    } catch (e) {
      if (iterator && !sourceDone) {
        const source = iterator;
        // Not awaited: a source stuck in next() would hold its return() forever.
        Promise.resolve()
          .then(() => source.return?.())
          .catch(() => undefined);
      }
      // A write still running finishes before its file is closed and unlinked.
      await writing?.catch(() => undefined);
      await fh?.close().catch(() => undefined);
      if (!committed) {
        await unlink(tmpData).catch(() => undefined);
        if (movedData) await unlink(finalData).catch(() => undefined);
        await unlink(tmpIndex).catch(() => undefined);
      }
      if (isErrno(e, 'ENOENT') && (await this.gone())) throw notFound("The tenant's file folder does not exist.");
      if (!isAppError(e) && (e as { name?: string })?.name !== 'AbortError' && signal?.aborted) throw abortError(signal);
      throw e;
    }
  }

  async download(name: string, options: DownloadOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    checkBlobName(name);
    checkRange(options.offset, 'offset');
    checkRange(options.count, 'count');
    if (options.abortSignal?.aborted) throw abortError(options.abortSignal);
    const { folder, index } = this.paths(name);
    const entry = await this.readIndex(index);
    if (!entry) throw notFound(`No blob named "${name}".`);
    if (entry.bytes) {
      const from = options.offset ?? 0;
      const to = options.count === undefined ? entry.size : Math.min(entry.size, from + options.count);
      const slice = entry.bytes.subarray(Math.min(from, entry.size), Math.max(from, to));
      return (async function* inline(): AsyncGenerator<Uint8Array> {
        if (slice.length > 0) yield slice;
      })();
    }
    let fh: FileHandle;
    try {
      fh = await open(join(folder, entry.data), constants.O_RDONLY);
    } catch (e) {
      // Deleted between reading the index entry and opening its bytes.
      if (isErrno(e, 'ENOENT')) throw notFound(`No blob named "${name}".`);
      throw e;
    }
    const offset = options.offset ?? 0;
    const end = options.count === undefined ? entry.size : Math.min(entry.size, offset + options.count);
    if (offset >= end) {
      await fh.close();
      return emptyIterable();
    }
    const signal = options.abortSignal;
    return (async function* read(): AsyncGenerator<Uint8Array> {
      try {
        let pos = offset;
        while (pos < end) {
          if (signal?.aborted) throw abortError(signal);
          const n = Math.min(READ_CHUNK, end - pos);
          const buf = Buffer.allocUnsafe(n);
          const { bytesRead } = await fh.read(buf, 0, n, pos);
          if (bytesRead === 0) throw new Error(`Blob "${name}" is shorter on disk than its index entry says.`);
          pos += bytesRead;
          yield bytesRead === n ? buf : buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    })();
  }

  async getInfo(name: string, options: OperationOptions = {}): Promise<BlobInfo | undefined> {
    checkBlobName(name);
    throwIfAborted(options.abortSignal);
    const entry = await this.readIndex(this.paths(name).index);
    return entry && infoOf(entry);
  }

  async setMetadata(name: string, metadata: Record<string, string>, etag: string, options: OperationOptions = {}): Promise<void> {
    checkBlobName(name);
    const md = { ...(metadata ?? {}) };
    checkMetadata(md);
    checkEtag(etag);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const { folder, index } = this.paths(name);
    await this.withLock(name, async () => {
      throwIfAborted(abortSignal);
      const entry = await this.readIndex(index);
      if (!entry) throw notFound(`No blob named "${name}".`);
      if (entry.etag !== etag) throw new AppError('precondition_failed', `Blob "${name}" has changed (or is gone) since etag ${etag}.`);
      const tmpIndex = join(this.tmp, `${randomBytes(12).toString('hex')}.json`);
      try {
        const { bytes, ...stored } = entry;
        await writeSynced(tmpIndex, indexFileContent({ ...stored, etag: newEtag(), metadata: md }, bytes));
        throwIfAborted(abortSignal);
        await rename(tmpIndex, index);
      } catch (e) {
        await unlink(tmpIndex).catch(() => undefined);
        throw e;
      }
      await fsyncDir(folder);
    });
  }

  async delete(name: string, options: OperationOptions = {}): Promise<void> {
    checkBlobName(name);
    throwIfAborted(options.abortSignal);
    const { folder, index } = this.paths(name);
    await this.withLock(name, async () => {
      throwIfAborted(options.abortSignal);
      const entry = await this.readIndex(index);
      if (!entry) return;
      await unlink(index).catch((e: unknown) => {
        if (!isErrno(e, 'ENOENT')) throw e;
      });
      await fsyncDir(folder);
      // A crash here leaves bytes no index entry names: sweepUnfinished removes them.
      if (!entry.inline) await unlink(join(folder, entry.data)).catch(() => undefined);
      // An inline entry's bytes are in the index file; a crash between its link and the unlink
      // of its temp name left a second name of it in tmp/: removed here too, so a deleted small
      // blob (a destroyed subject key) has no copy left.
      else
        for (const f of await readdirOrEmpty(this.tmp))
          if (f.startsWith(`${this.paths(name).hash}.`) && f.endsWith('.inline')) await unlink(join(this.tmp, f)).catch(() => undefined);
    });
  }

  async *list(prefix?: string, options: OperationOptions = {}): AsyncIterable<BlobInfo> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const found: BlobInfo[] = [];
    for (const folder of await readdirOrEmpty(this.objects)) {
      const dir = join(this.objects, folder);
      for (const f of await readdirOrEmpty(dir)) {
        if (!f.endsWith('.json')) continue;
        throwIfAborted(abortSignal);
        const entry = await this.readIndex(join(dir, f));
        if (entry && (prefix === undefined || entry.name.startsWith(prefix))) found.push(infoOf(entry));
      }
    }
    // Azure lists in name order (by UTF-8 bytes, as does Buffer.compare).
    found.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    for (const info of found) {
      throwIfAborted(abortSignal);
      yield info;
    }
  }

  async sweepUnfinished(options: SweepUnfinishedOptions): Promise<UnfinishedSweep> {
    throwIfAborted(options.abortSignal);
    const cutoff = options.olderThan.getTime();
    const out: UnfinishedSweep = { removed: 0, bytes: 0 };
    const remove = async (path: string) => {
      throwIfAborted(options.abortSignal);
      let s;
      try {
        s = await stat(path);
      } catch {
        return;
      }
      if (s.mtimeMs > cutoff) return;
      try {
        await unlink(path);
        out.removed++;
        out.bytes += s.size;
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
      }
    };
    for (const f of await readdirOrEmpty(this.tmp)) await remove(join(this.tmp, f));
    for (const folder of await readdirOrEmpty(this.objects)) {
      const dir = join(this.objects, folder);
      const files = await readdirOrEmpty(dir);
      for (const f of files) {
        const m = /^([0-9a-f]{64})\.[0-9a-f]+\.data$/.exec(f);
        if (!m) continue;
        // Bytes no index entry names: an upload that crashed between rename and link, or a
        // delete that crashed between its two unlinks. (An upload in progress renames its bytes
        // here only after their last write, so their mtime is recent.)
        const entry = await this.readIndex(join(dir, `${m[1]}.json`));
        if (entry?.data !== f) await remove(join(dir, f));
      }
    }
    return out;
  }
}

function infoOf(e: IndexEntry): BlobInfo {
  return { name: e.name, size: e.size, createdOn: new Date(e.createdOn), etag: e.etag, metadata: { ...e.metadata } };
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return [];
    throw e;
  }
}

/**
 * The 256 hash folders objects/00 … objects/ff, made once with one fsync of objects/ (ff last:
 * its presence says all are there), so an upload never pays a folder creation and its fsync
 * (a tenant's first few hundred small uploads would: its subject keys; issue 14).
 */
async function makeHashFolders(objects: string): Promise<void> {
  try {
    await stat(join(objects, 'ff'));
    return;
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  for (let i = 0; i < 256; i++) {
    await mkdir(join(objects, i.toString(16).padStart(2, '0')), { mode: 0o700 }).catch((e: unknown) => {
      if (!isErrno(e, 'EEXIST')) throw e;
    });
  }
  await fsyncDir(objects);
}

/** One folder per tenant under `root` (DATA_DIR/files). */
export class FolderBlobStoreFactory implements BlobStoreFactory {
  private readonly stores = new Map<string, Promise<FolderBlobStore>>();

  constructor(readonly root: string) {}

  /** The first call per tenant creates its folders; concurrent callers share that work, which one caller's signal does not cancel. */
  async forTenant(tenantId: string, options: OperationOptions = {}): Promise<BlobStore> {
    const folder = tenantFolder(tenantId);
    throwIfAborted(options.abortSignal);
    const store = openOnce(this.stores, folder, async () => {
      const s = new FolderBlobStore(join(this.root, folder));
      // objects/ and its hash folders come with the first upload (FolderBlobStore.ensureHashFolders).
      await mkdirDurable(join(s.dir, 'tmp'));
      return s;
    });
    return untilAborted(store, options.abortSignal);
  }

  /** Once the folder is renamed away the tenant's files are gone; an abort after that only leaves a .deleted-* folder for the next call. */
  async deleteTenant(tenantId: string, options: OperationOptions = {}): Promise<void> {
    const folder = tenantFolder(tenantId);
    throwIfAborted(options.abortSignal);
    this.stores.delete(folder);
    const dir = join(this.root, folder);
    // Renamed away first, so the tenant's files vanish at once even if removing them is slow
    // or interrupted (a leftover .deleted-* folder is removed by the next deleteTenant).
    const trash = join(this.root, `.deleted-${folder}-${randomBytes(6).toString('hex')}`);
    try {
      await rename(dir, trash);
      await fsyncDir(this.root);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    for (const f of await readdirOrEmpty(this.root)) {
      if (!f.startsWith('.deleted-')) continue;
      throwIfAborted(options.abortSignal);
      await rm(join(this.root, f), { recursive: true, force: true });
    }
  }
}
