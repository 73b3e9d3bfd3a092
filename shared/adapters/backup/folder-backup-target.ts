import { createReadStream, createWriteStream, type Dirent, type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { link, open, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict } from '../../domain/errors';
import type { BackupObject, BackupTarget } from '../../ports/backup-target';
import { checkKey } from './errors';
import { mkdirDurably, syncDirectory, TEMP_PREFIX } from '../durable-files';
import { throwIfAborted } from '../abort';

type CallOptions = { abortSignal?: AbortSignal } | undefined;

/**
 * A backup target in a local folder: the default tiers of `npm start` when no cloud target
 * is configured, and a stand-in for a mounted share. Objects are written to a temporary file,
 * fsynced, hard-linked into place and the folder fsynced (as shared/adapters/durable-files.ts
 * does), so a key is created at most once, never half-written, and on disk before put returns.
 *
 * Every call honours its abort signal (file reads, writes and streams are given it), so a
 * mounted share that stops answering fails with the engine's per-tier deadline; the engine
 * also stops waiting at the deadline when the file system ignores the signal.
 */
/**
 * Folders that group objects by the first two segments of their keys start with this. No
 * object's file name does: encodeURIComponent writes "%" only before two hex digits.
 */
const GROUP = '%g';

export class FolderBackupTarget implements BackupTarget {
  constructor(
    readonly name: string,
    private readonly root: string,
  ) {}

  /**
   * Where a key lives: a percent-encoded file name (so "a" and "a/b" can coexist), in a folder
   * per first and second key segment for keys of three or more segments
   * (`%gtenants/%g<id>/tenants%2F<id>%2F…`), so listing one tenant's objects reads that
   * tenant's folder only, not one flat folder holding every tenant's objects (issue 11: that
   * made each list grow with the tenant count). Shorter keys, and objects written by versions
   * that kept every key in the root folder (`legacy`), are in the root folder; they are still
   * read, listed and deleted there.
   */
  private location(key: string): { dir: string; file: string; legacy?: string } {
    checkKey(key);
    return folderTierLocation(this.root, key);
  }

  async put(key: string, body: Uint8Array, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.abortSignal);
    await this.create(key, (tmp) => writeFile(tmp, body, { mode: 0o600, ...signalOf(options) }));
  }

  async putStream(key: string, chunks: AsyncIterable<Uint8Array>, _size: number, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.abortSignal);
    await this.create(key, (tmp) => pipeline(Readable.from(chunks), createWriteStream(tmp, { mode: 0o600 }), signalOf(options)));
  }

  /** Writes a temporary file, fsyncs it, hard-links it into place, fsyncs the folder: created once, never half-written, durable. */
  private async create(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const { dir, file, legacy } = this.location(key);
    if (legacy && (await exists(legacy))) throw conflict(`Backup object ${key} already exists.`);
    await mkdirDurably(dir);
    const tmp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      await write(tmp);
      const handle = await open(tmp, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await link(tmp, file);
      await syncDirectory(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw conflict(`Backup object ${key} already exists.`);
      throw e;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** The key's file: its place, or where older versions put it. */
  private async existing(key: string): Promise<string | undefined> {
    const { file, legacy } = this.location(key);
    if (await exists(file)) return file;
    if (legacy && (await exists(legacy))) return legacy;
    return undefined;
  }

  async getStream(key: string, options?: CallOptions): Promise<AsyncIterable<Uint8Array> | undefined> {
    throwIfAborted(options?.abortSignal);
    const file = await this.existing(key);
    return file === undefined ? undefined : createReadStream(file, signalOf(options));
  }

  async get(key: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.abortSignal);
    const { file, legacy } = this.location(key);
    for (const f of legacy ? [file, legacy] : [file]) {
      try {
        return new Uint8Array(await readFile(f, signalOf(options)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return undefined;
  }

  /**
   * Keys under `prefix`, in byte order: only the group folders the prefix can reach are read
   * (one tenant's folder for `tenants/<id>/…`), plus the root folder's own files.
   */
  async *list(prefix: string, options?: CallOptions): AsyncIterable<BackupObject> {
    throwIfAborted(options?.abortSignal);
    const found: Array<{ key: string; file: string }> = [];
    const files = async (dir: string) => {
      for (const d of await entries(dir)) {
        if (!d.isFile() || d.name.startsWith(TEMP_PREFIX) || d.name.startsWith(GROUP)) continue;
        const key = decodeURIComponent(d.name);
        if (key.startsWith(prefix)) found.push({ key, file: join(dir, d.name) });
      }
    };
    /** Group folders in `dir` whose segment is `exact`, or starts with `start`. */
    const groups = async (dir: string, exact: string | undefined, start: string) => {
      if (exact !== undefined) return [join(dir, GROUP + encodeURIComponent(exact))];
      return (await entries(dir))
        .filter((d) => d.isDirectory() && d.name.startsWith(GROUP) && decodeURIComponent(d.name.slice(GROUP.length)).startsWith(start))
        .map((d) => join(dir, d.name));
    };
    await files(this.root);
    const parts = prefix.split('/');
    for (const first of await groups(this.root, parts.length >= 2 ? parts[0] : undefined, parts[0] ?? '')) {
      for (const second of await groups(first, parts.length >= 3 ? parts[1] : undefined, parts.length === 2 ? parts[1]! : '')) {
        throwIfAborted(options?.abortSignal);
        await files(second);
      }
    }
    found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    for (const { key, file } of found) {
      throwIfAborted(options?.abortSignal);
      let s: Stats;
      try {
        s = await stat(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted meanwhile
        throw e;
      }
      yield { key, size: s.size, lastModified: s.mtime };
    }
  }

  async delete(key: string, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.abortSignal);
    const { file, legacy } = this.location(key);
    await rm(file, { force: true });
    if (legacy) await rm(legacy, { force: true });
  }
}

/** Where a folder tier under `root` keeps the object `key` (see FolderBackupTarget.location). */
function folderTierLocation(root: string, key: string): { dir: string; file: string; legacy?: string } {
  const name = encodeURIComponent(key);
  const parts = key.split('/');
  if (parts.length < 3) return { dir: root, file: join(root, name) };
  const dir = join(root, GROUP + encodeURIComponent(parts[0]!), GROUP + encodeURIComponent(parts[1]!));
  return { dir, file: join(dir, name), legacy: join(root, name) };
}

/** The file a folder tier under `root` writes the object `key` to (for tests and tools that read a tier's files). */
export function folderTierFile(root: string, key: string): string {
  checkKey(key);
  return folderTierLocation(root, key).file;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** A folder's entries; none when it does not exist. */
async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

const signalOf = (o: CallOptions): { signal?: AbortSignal } => (o?.abortSignal ? { signal: o.abortSignal } : {});
