/**
 * Record commands on types with personal marks (issue 14): the event store a command appends
 * through seals personal values under their subject's key first (codec.ts). The state the
 * command loaded says whose values the `old` side of each change is.
 *
 * A record created as its own subject needs a new key. Where the log keeps a table of subject
 * keys (the embedded store), that key is made here and stored in the same transaction as the
 * commit that first seals under it: a create of a type with personal fields then costs the one
 * fsync of its commit, and the key is durable exactly when the values are. Elsewhere (Cosmos)
 * the key is uploaded to the keyring first, then the commit is appended.
 */
import { AppError } from '../../domain/errors';
import type { RecordEvent, RecordState, SchemaCheck } from '../../domain/records';
import type { EventStore } from '../../ports/event-store';
import { isErased, type SealKeys, sealRecordEvents } from './codec';
import { marksOf, type PersonalMarks } from './marks';
import type { PersonalDataVault } from './vault';

const marksCache = new WeakMap<object, PersonalMarks | null>();

/** The marks of a schema, cached per schema object. */
export function cachedMarks(schema: Record<string, unknown>): PersonalMarks | undefined {
  let m = marksCache.get(schema);
  if (m === undefined) {
    m = marksOf(schema) ?? null;
    marksCache.set(schema, m);
  }
  return m ?? undefined;
}

/**
 * For a type with personal marks: the store to append through and the hook that tells it the
 * loaded state; undefined for types without marks. Refuses (503) when the service has no
 * keyring for personal data.
 */
export function sealingFor(
  ctx: { personal?: PersonalDataVault },
  events: EventStore,
  schema: Record<string, unknown>,
): { events: EventStore; loaded: (state: RecordState | undefined) => void } | undefined {
  const marks = cachedMarks(schema);
  if (!marks) return undefined;
  const vault = ctx.personal;
  if (!vault) throw new AppError('unavailable', 'This type has personal data, and this service has no keyring for it configured.');
  let before: RecordState | undefined;
  const append: EventStore['append'] = async (streamId, expectedVersion, evs, meta, options) => {
    const ring = await vault.keyring(events);
    // Keys made for subjects new in this commit: stored with it (one transaction), not before.
    const fresh = new Map<string, Awaited<ReturnType<typeof ring.fresh>>>();
    const keys: SealKeys = {
      refOf: (subjectId) => vault.subjectRef(events, subjectId),
      current: async (ref, isNew) => {
        const made = fresh.get(ref);
        if (made) return made;
        if (isNew && ring.storesWithCommits) {
          const k = await ring.fresh(ref);
          fresh.set(ref, k);
          return k;
        }
        return ring.currentOrNew(ref, vault.erasedCheck(events), { isNew });
      },
    };
    try {
      const sealed = await sealRecordEvents(evs as RecordEvent[], { streamId, version: expectedVersion + 1 }, marks, before, keys);
      const r = await events.append(
        streamId,
        expectedVersion,
        sealed,
        meta,
        fresh.size > 0 ? { ...options, subjectKeys: [...fresh.values()].map((k) => k.row) } : options,
      );
      for (const [ref, k] of fresh) ring.adopt(ref, k.keyId, k.key);
      fresh.clear();
      return r;
    } finally {
      // Not stored (the append failed): this key sealed nothing anyone can read.
      for (const k of fresh.values()) k.key.fill(0);
    }
  };
  const sealed = new Proxy(events, {
    get(target, prop) {
      if (prop === 'append') return append;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { events: sealed, loaded: (s) => (before = s) };
}

/**
 * A schema check of data that holds erased markers: errors at an erased field do not count
 * (the marker stands where a value was; the record stays writable in its other fields).
 */
export function ignoreErased(check: SchemaCheck, data: Record<string, unknown>): SchemaCheck {
  if (check.outcome !== 'invalid') return check;
  const erasedAt = (path: string) => {
    const top = (path.split('/')[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
    return top !== '' && Object.hasOwn(data, top) && isErased(data[top]);
  };
  const errors = check.errors.filter((e) => !erasedAt(e.path));
  return errors.length === 0 ? { outcome: 'valid' } : { ...check, errors };
}
