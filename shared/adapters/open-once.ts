/**
 * The store (client, folder, connection) for `key` from `cache`, opened by `open` on the first
 * call and shared by every later one; a failed open is not kept, so the next call tries again.
 * Callers wrap the shared promise with `untilAborted` (abort.ts): one caller's signal must not
 * cancel an open that others wait for.
 */
export function openOnce<T>(cache: Map<string, Promise<T>>, key: string, open: () => Promise<T>): Promise<T> {
  let opened = cache.get(key);
  if (!opened) {
    const p = open();
    opened = p;
    cache.set(key, p);
    p.catch(() => {
      if (cache.get(key) === p) cache.delete(key);
    });
  }
  return opened;
}
