/**
 * Durable file writes: the one way the service writes a file it later relies on (tenant
 * meta, key files, the operator key, local backup objects, key escrow).
 *
 * A write is acknowledged only once it would survive a power cut: the content goes to a
 * temporary file in the same folder, which is fsynced, then moved into place (rename to
 * replace, hard link to create exactly once), and the folder itself is fsynced so the new
 * name is on disk too. Readers never see a half-written file.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { throwIfAborted } from './abort';

export interface DurableWriteOptions {
  /** File mode of the new file (default 0600: everything the service writes is private). */
  mode?: number;
  /**
   * Checked before the temp file is opened, between the chunks of streamed content and once
   * more just before the file is moved into place: an abort up to then removes the temp file
   * and rejects with an AbortError, leaving `file` as it was. Once moved, the write stands.
   */
  abortSignal?: AbortSignal;
}

type Content = string | Uint8Array | AsyncIterable<Uint8Array>;

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** Temp files start with this prefix, so a folder scan can skip (and a sweep remove) them. */
export const TEMP_PREFIX = '.tmp-';

function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `${TEMP_PREFIX}${path.basename(file).slice(0, 80)}.${randomBytes(6).toString('hex')}`);
}

/** fsyncs a folder, so names created, renamed or removed in it survive a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(dir, 'r');
  } catch (e) {
    // Platforms that cannot open folders (Windows) have no folder fsync to do.
    if (isErrno(e, 'EISDIR') || isErrno(e, 'EPERM') || isErrno(e, 'EACCES')) return;
    throw e;
  }
  try {
    await handle.sync();
  } catch (e) {
    if (!isErrno(e, 'EINVAL') && !isErrno(e, 'ENOTSUP') && !isErrno(e, 'EBADF')) throw e;
  } finally {
    await handle.close();
  }
}

/** Writes `content` to a new temp file next to `file` and fsyncs it; returns its path. */
async function writeTemp(file: string, content: Content, mode: number, signal: AbortSignal | undefined): Promise<string> {
  throwIfAborted(signal);
  const tmp = tempNameFor(file);
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    if (typeof content === 'string' || content instanceof Uint8Array) await handle.writeFile(content);
    else {
      for await (const chunk of content) {
        throwIfAborted(signal);
        await handle.write(chunk);
      }
    }
    await handle.sync();
    await handle.close();
    // The last moment an abort can still leave everything as it was (the catch removes the temp file).
    throwIfAborted(signal);
  } catch (e) {
    await handle.close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    throw e;
  }
  return tmp;
}

/** Replaces (or creates) `file` with `content`, durably and atomically. */
export async function writeFileDurably(file: string, content: Content, options: DurableWriteOptions = {}): Promise<void> {
  const tmp = await writeTemp(file, content, options.mode ?? 0o600, options.abortSignal);
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(path.dirname(file));
}

/**
 * Creates `file` with `content` only if it does not exist, durably and atomically: the
 * complete temp file is hard-linked into place (the link fails with EEXIST like
 * `open(…, 'wx')`). Throws the EEXIST error when the file exists. File systems without hard
 * links fall back to `open(file, 'wx')` + fsync.
 */
export async function createFileDurably(file: string, content: Content, options: DurableWriteOptions = {}): Promise<void> {
  const mode = options.mode ?? 0o600;
  const tmp = await writeTemp(file, content, mode, options.abortSignal);
  try {
    await fs.link(tmp, file);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) throw e;
    if (!isErrno(e, 'EPERM') && !isErrno(e, 'ENOTSUP') && !isErrno(e, 'EOPNOTSUPP') && !isErrno(e, 'EXDEV') && !isErrno(e, 'ENOSYS'))
      throw e;
    // No hard links here: copy the finished temp file into an exclusively created one.
    const handle = await fs.open(file, 'wx', mode);
    try {
      await handle.writeFile(await fs.readFile(tmp));
      await handle.sync();
    } finally {
      await handle.close();
    }
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
  await syncDirectory(path.dirname(file));
}

/** Renames a file or folder and fsyncs both folders involved. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await fs.rename(from, to);
  await syncDirectory(path.dirname(to));
  if (path.dirname(from) !== path.dirname(to)) await syncDirectory(path.dirname(from));
}

/** `mkdir -p` whose new folders survive a power cut (each new name's parent is fsynced); returns whether it created any. */
export async function mkdirDurably(dir: string, mode = 0o700): Promise<boolean> {
  const first = await fs.mkdir(dir, { recursive: true, mode });
  if (first === undefined) return false;
  const target = path.resolve(dir);
  let current = path.resolve(first);
  await syncDirectory(path.dirname(current));
  while (current !== target) {
    await syncDirectory(current);
    const rest = path.relative(current, target).split(path.sep)[0]!;
    current = path.join(current, rest);
  }
  return true;
}

/**
 * Replaces (or creates) `file` atomically (temp file + rename) but without any fsync: for files
 * in a folder nobody has been told about yet (a tenant being built), made durable together by
 * syncFolderContents before the folder is moved into place.
 */
export async function writeFileDeferred(file: string, content: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const tmp = tempNameFor(file);
  try {
    await fs.writeFile(tmp, content, { mode: options.mode ?? 0o600, flag: 'wx' });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * fsyncs every regular file directly in `dir` (in parallel), then `dir` itself: after this,
 * whatever the folder holds survives a power cut, so it can be renamed into place durably.
 * One fsync per file instead of two per write (file and folder) while it was being built.
 */
export async function syncFolderContents(dir: string): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  await Promise.all(
    entries
      .filter((e) => e.isFile())
      .map(async (e) => {
        let handle: fs.FileHandle;
        try {
          handle = await fs.open(path.join(dir, e.name), 'r');
        } catch (err) {
          // Gone meanwhile (SQLite removes its -shm/-wal files on close): nothing to keep.
          if (isErrno(err, 'ENOENT')) return;
          throw err;
        }
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }),
  );
  await syncDirectory(dir);
}
