import { createReadStream, createWriteStream } from 'node:fs';
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
export class FolderBackupTarget implements BackupTarget {
  constructor(
    readonly name: string,
    private readonly root: string,
  ) {}

  /** Keys map to one flat folder of percent-encoded names, so "a" and "a/b" can coexist. */
  private path(key: string): string {
    checkKey(key);
    return join(this.root, encodeURIComponent(key));
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
    const file = this.path(key);
    await mkdirDurably(this.root);
    const tmp = join(this.root, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      await write(tmp);
      const handle = await open(tmp, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await link(tmp, file);
      await syncDirectory(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw conflict(`Backup object ${key} already exists.`);
      throw e;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  async getStream(key: string, options?: CallOptions): Promise<AsyncIterable<Uint8Array> | undefined> {
    throwIfAborted(options?.abortSignal);
    const file = this.path(key);
    try {
      await stat(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return createReadStream(file, signalOf(options));
  }

  async get(key: string, options?: CallOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.abortSignal);
    try {
      return new Uint8Array(await readFile(this.path(key), signalOf(options)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async *list(prefix: string, options?: CallOptions): AsyncIterable<BackupObject> {
    throwIfAborted(options?.abortSignal);
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const keys = names
      .filter((n) => !n.startsWith(TEMP_PREFIX))
      .map((n) => decodeURIComponent(n))
      .filter((k) => k.startsWith(prefix))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const key of keys) {
      throwIfAborted(options?.abortSignal);
      const s = await stat(this.path(key));
      yield { key, size: s.size, lastModified: s.mtime };
    }
  }

  async delete(key: string, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.abortSignal);
    await rm(this.path(key), { force: true });
  }
}

const signalOf = (o: CallOptions): { signal?: AbortSignal } => (o?.abortSignal ? { signal: o.abortSignal } : {});
