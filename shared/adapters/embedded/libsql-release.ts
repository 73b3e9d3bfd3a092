import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * libsql 0.5.29 (the newest release) does not release a database's files on `close()` while
 * statements prepared on it still exist: the connection stays open, holding its three file
 * descriptors (db, -wal, -shm), until the garbage collector finalizes every statement
 * (tursodatabase/libsql-js#228, #230; fixed on their main branch by #236, not released yet).
 * A closed tenant's statements are unreachable at once, but they live in the old generation,
 * which a quiet process collects rarely: closed tenants kept their files for minutes, so file
 * descriptors grew with the tenants ever opened rather than with the open ones (issue 11).
 *
 * So after databases are closed, a full collection runs once the closes have settled (at most
 * one per `everyMs`), which finalizes those statements and closes the files. Remove this when
 * a libsql release with #236 is pinned.
 */
export class ClosedDatabaseRelease {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastMs = 0;

  constructor(
    private readonly everyMs = 2000,
    private readonly collect: (() => void) | undefined = fullCollection(),
  ) {}

  /** A database was closed: its files are released within about `everyMs`. */
  closed(): void {
    if (!this.collect || this.timer) return;
    const wait = Math.max(0, this.lastMs + this.everyMs - Date.now());
    this.timer = setTimeout(() => this.now(), Math.max(wait, 50));
    this.timer.unref?.();
  }

  /** Collects now (and cancels a pending collection). */
  now(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.lastMs = Date.now();
    this.collect?.();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Releases the files of every database closed so far, now (tests). */
export function releaseClosedDatabasesNow(): void {
  new ClosedDatabaseRelease().now();
}

/** V8's full collection: `gc` when the process was started with --expose-gc, else exposed now; undefined where neither works. */
function fullCollection(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return () => exposed();
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}
