import type { BackupTarget } from '../../shared/ports/backup-target';

/**
 * `inner` with every call made on it noted in `calls`, as `<prefix><method> <key or prefix>`
 * (tests of what a backup run touches on a tier: nothing at all for an idle tenant).
 */
export function notingTier(inner: BackupTarget, calls: string[], prefix = ''): BackupTarget {
  const note = (what: string) => calls.push(`${prefix}${what}`);
  return {
    name: inner.name,
    put: (k, b, o) => {
      note(`put ${k}`);
      return inner.put(k, b, o);
    },
    get: (k, o) => {
      note(`get ${k}`);
      return inner.get(k, o);
    },
    putStream: (k, c, n, o) => {
      note(`putStream ${k}`);
      return inner.putStream(k, c, n, o);
    },
    getStream: (k, o) => {
      note(`getStream ${k}`);
      return inner.getStream(k, o);
    },
    list: (p, o) => {
      note(`list ${p}`);
      return inner.list(p, o);
    },
    delete: (k, o) => {
      note(`delete ${k}`);
      return inner.delete(k, o);
    },
  };
}

/** `inner` with some calls replaced (a tier that fails or misbehaves in one way). */
export function tierWith(inner: BackupTarget, over: Partial<Omit<BackupTarget, 'name'>>): BackupTarget {
  return {
    name: inner.name,
    put: (k, b, o) => inner.put(k, b, o),
    get: (k, o) => inner.get(k, o),
    putStream: (k, c, n, o) => inner.putStream(k, c, n, o),
    getStream: (k, o) => inner.getStream(k, o),
    list: (p, o) => inner.list(p, o),
    delete: (k, o) => inner.delete(k, o),
    ...over,
  };
}
