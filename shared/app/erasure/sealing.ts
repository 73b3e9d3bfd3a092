/**
 * Record commands on types with personal marks (issue 14): the event store a command appends
 * through seals personal values under their subject's key first (codec.ts). The state the
 * command loaded says whose values the `old` side of each change is.
 */
import { AppError } from '../../domain/errors';
import type { RecordEvent, RecordState, SchemaCheck } from '../../domain/records';
import type { EventStore } from '../../ports/event-store';
import { isErased, sealRecordEvents } from './codec';
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
  const keys = {
    refOf: (subjectId: string) => vault.subjectRef(events, subjectId),
    current: async (ref: string, isNew: boolean) =>
      (await vault.keyring(events.tenantId)).currentOrNew(ref, vault.erasedCheck(events), { isNew }),
  };
  const append: EventStore['append'] = async (streamId, expectedVersion, evs, meta, options) =>
    events.append(
      streamId,
      expectedVersion,
      await sealRecordEvents(evs as RecordEvent[], { streamId, version: expectedVersion + 1 }, marks, before, keys),
      meta,
      options,
    );
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
