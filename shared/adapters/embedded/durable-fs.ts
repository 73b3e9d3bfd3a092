/**
 * The few file-system steps that make a local write durable before it is acknowledged:
 * write, fsync the file, rename (or link) it into place, fsync the directory that now names it.
 * Without the last step a power cut can forget the new directory entry even though the bytes
 * reached the disk.
 */
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory, so that entries created, renamed or removed in it survive a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates `dir` (and missing parents) and fsyncs the parent of every folder it created, so the
 * new folders survive a power cut. Returns whether anything was created.
 */
export async function mkdirDurable(dir: string): Promise<boolean> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return false;
  // Every folder from `first` down to `dir` is new: fsync each one's parent.
  const created: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    created.push(d);
    if (d === first || dirname(d) === d) break;
  }
  for (const d of created) await fsyncDir(dirname(d));
  return true;
}
