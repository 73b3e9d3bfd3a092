/**
 * How personal values sit in the log (issue 14). A record event of a type with personal marks
 * is stored with those values taken out of `data`/`patch` and out of the `old`/`new` of its
 * `changes`, and put into `sealed`: one envelope per data subject, AES-256-GCM under that
 * subject's key, bound to the stream, version, event and envelope (associated data).
 *
 *   { "type": "RecordCreated", "data": { "type": "customer", "id": "r_…", "data": { "tier": "gold" },
 *     "changes": [{ "path": "/email" }, { "path": "/tier", "new": "gold" }],
 *     "sealed": [{ "s": "s_…", "k": "k_…", "f": ["email"], "c": [[0, 2]], "iv": "…", "ct": "…" }] } }
 *
 * `f` (field names) and `c` (change index, 1 old / 2 new / 3 both) are in clear so that a
 * reader whose key is gone knows where to put the {@link ERASED} marker. Opening puts the values
 * back, or the marker when the subject key was destroyed. Snapshots of such records are sealed
 * whole ({@link SEALED_SNAPSHOT}) and ignored once their key is gone (the reader then replays).
 */
import { applyMergePatch, type Change, isPlainObject } from '../../domain/json';
import type { RecordEvent, RecordState } from '../../domain/records';
import { openJson, type SealedValue, sealJson } from '../../crypto';
import { type PersonalMarks, subjectIdOf } from './marks';

/** What every read shows in place of an erased personal value (documented in the README). */
export const ERASED: { readonly $erased: true } = Object.freeze({ $erased: true });
const erased = () => ({ $erased: true as const });
export const isErased = (v: unknown): boolean => isPlainObject(v) && v.$erased === true && Object.keys(v).length === 1;

export interface Envelope extends SealedValue {
  /** Subject reference. */
  s: string;
  /** Subject key id. */
  k: string;
  /** Fields of `data`/`patch` it holds. */
  f?: string[];
  /** Changes it holds: [index, 1 old | 2 new | 3 both]. */
  c?: Array<[number, number]>;
}

interface Plain {
  d?: Record<string, unknown>;
  c?: Record<string, { o?: unknown; n?: unknown }>;
}

/** Keys for sealing: the subject's current key (created when needed) — the caller resolves refs and keys. */
export interface SealKeys {
  refOf(subjectId: string): Promise<string>;
  /** The current key of a subject; `isNew`: the subject cannot have one yet (skip the lookup). */
  current(subjectRef: string, isNew: boolean): Promise<{ keyId: string; key: Buffer }>;
}

/** Looks up a key for opening; undefined when it was destroyed (erased). */
export type OpenKeys = (subjectRef: string, keyId: string) => Promise<Buffer | undefined>;

const topField = (path: string) => (path.split('/')[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
const aadOf = (streamId: string, version: number, event: number, envelope: number) =>
  `tenant-ledger personal/1\u0000${streamId}\u0000${version}\u0000${event}\u0000${envelope}`;
const snapshotAad = (streamId: string, version: number) => `tenant-ledger personal-snapshot/1\u0000${streamId}\u0000${version}`;

/**
 * The events to append, personal values sealed. `before`: the record before the command (for
 * the subject of old values); `version`: the version the commit will get.
 */
export async function sealRecordEvents(
  events: readonly RecordEvent[],
  at: { streamId: string; version: number },
  marks: PersonalMarks,
  before: RecordState | undefined,
  keys: SealKeys,
): Promise<RecordEvent[]> {
  const personal = new Set(marks.personal);
  const out: RecordEvent[] = [];
  let state = before;
  for (const [i, e] of events.entries()) {
    if (e.type !== 'RecordCreated' && e.type !== 'RecordUpdated' && e.type !== 'RecordDeleted' && e.type !== 'RecordReverted') {
      out.push(e);
      continue;
    }
    const id = e.data.id;
    const beforeData = state && !state.deleted ? state.data : undefined;
    const afterData =
      e.type === 'RecordCreated'
        ? e.data.data
        : e.type === 'RecordUpdated'
          ? (applyMergePatch(beforeData ?? {}, e.data.patch) as Record<string, unknown>)
          : e.type === 'RecordReverted'
            ? (e.data.data ?? beforeData)
            : undefined;
    const oldSubject = beforeData ? subjectIdOf(marks, id, beforeData) : undefined;
    const newSubject = afterData ? subjectIdOf(marks, id, afterData) : undefined;
    // Per subject: what goes into its envelope.
    const groups = new Map<string, { fields: Record<string, unknown>; changes: Record<string, { o?: unknown; n?: unknown }> }>();
    const group = (subject: string) => {
      let g = groups.get(subject);
      if (!g) {
        g = { fields: {}, changes: {} };
        groups.set(subject, g);
      }
      return g;
    };
    const body =
      e.type === 'RecordCreated'
        ? e.data.data
        : e.type === 'RecordUpdated'
          ? e.data.patch
          : e.type === 'RecordReverted'
            ? e.data.data
            : undefined;
    const strippedBody: Record<string, unknown> | undefined = body ? {} : undefined;
    if (body && strippedBody) {
      for (const [k, v] of Object.entries(body)) {
        if (personal.has(k) && newSubject !== undefined) group(newSubject).fields[k] = v;
        else Object.defineProperty(strippedBody, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
    }
    const changes: Change[] = e.data.changes.map((c, ci) => {
      if (!personal.has(topField(c.path))) return c;
      const { old, new: nu, ...rest } = c;
      if ('old' in c && oldSubject !== undefined) group(oldSubject).changes[ci] = { ...group(oldSubject).changes[ci], o: old };
      if ('new' in c && newSubject !== undefined) group(newSubject).changes[ci] = { ...group(newSubject).changes[ci], n: nu };
      return rest;
    });
    if (groups.size === 0) {
      out.push(e);
    } else {
      const sealed: Envelope[] = [];
      for (const [subject, g] of groups) {
        const ref = await keys.refOf(subject);
        // A created record that is its own subject is a new subject: no key can exist yet.
        const isNew = e.type === 'RecordCreated' && subject === id;
        const { keyId, key } = await keys.current(ref, isNew);
        const f = Object.keys(g.fields).sort();
        const c = Object.entries(g.changes).map(([ci, v]) => [Number(ci), ('o' in v ? 1 : 0) + ('n' in v ? 2 : 0)] as [number, number]);
        const plain: Plain = { ...(f.length ? { d: g.fields } : {}), ...(c.length ? { c: g.changes } : {}) };
        // Synchronous from here: the key is used before anything else can evict it.
        const value = sealJson(key, aadOf(at.streamId, at.version, i, sealed.length), plain);
        sealed.push({ s: ref, k: keyId, ...(f.length ? { f } : {}), ...(c.length ? { c } : {}), ...value });
      }
      const data = { ...e.data, changes, sealed } as Record<string, unknown>;
      if (e.type === 'RecordCreated' || (e.type === 'RecordReverted' && strippedBody)) data.data = strippedBody;
      if (e.type === 'RecordUpdated') data.patch = strippedBody;
      out.push({ type: e.type, data } as RecordEvent);
    }
    state = evolvePlain(state, e);
  }
  return out;
}

/** Minimal fold for the subject of later events in the same commit (data only). */
function evolvePlain(s: RecordState | undefined, e: RecordEvent): RecordState | undefined {
  if (e.type === 'RecordCreated')
    return { ...(s ?? ({} as RecordState)), type: e.data.type, id: e.data.id, data: e.data.data, deleted: false };
  if (e.type === 'RecordUpdated' && s) return { ...s, data: applyMergePatch(s.data, e.data.patch) as Record<string, unknown> };
  if (e.type === 'RecordDeleted' && s) return { ...s, deleted: true };
  if (e.type === 'RecordReverted' && s)
    return { ...s, data: e.data.outcome === 'deleted' ? s.data : (e.data.data ?? s.data), deleted: e.data.outcome === 'deleted' };
  return s;
}

/** True when a stored event carries sealed personal values. */
export function hasSealed(e: { data?: unknown }): boolean {
  return isPlainObject(e.data) && Array.isArray(e.data.sealed);
}

/** The event as it was before sealing, with {@link ERASED} where a key is gone. Events without `sealed` are returned as they are. */
export async function openEvent<E extends { type: string; data: unknown }>(
  e: E,
  at: { streamId: string; version: number; index: number },
  keys: OpenKeys,
): Promise<E> {
  if (!hasSealed(e)) return e;
  const { sealed, ...rest } = e.data as Record<string, unknown> & { sealed: Envelope[]; changes?: Change[] };
  const data = { ...rest } as Record<string, unknown>;
  const bodyKey = e.type === 'RecordUpdated' ? 'patch' : 'data';
  const body: Record<string, unknown> | undefined = isPlainObject(data[bodyKey]) ? { ...(data[bodyKey] as object) } : undefined;
  const changes: Change[] | undefined = Array.isArray(data.changes) ? (data.changes as Change[]).map((c) => ({ ...c })) : undefined;
  for (const [j, env] of sealed.entries()) {
    const key = await keys(env.s, env.k);
    let plain: Plain | undefined;
    if (key) plain = openJson(key, aadOf(at.streamId, at.version, at.index, j), env) as Plain;
    for (const f of env.f ?? []) {
      if (body) put(body, f, plain ? plain.d?.[f] : erased());
    }
    for (const [ci, which] of env.c ?? []) {
      const c = changes?.[ci];
      if (!c) continue;
      const v = plain?.c?.[String(ci)];
      if (which & 1) c.old = plain ? v?.o : erased();
      if (which & 2) c.new = plain ? v?.n : erased();
    }
  }
  if (body) data[bodyKey] = body;
  if (changes) data.changes = changes;
  return { ...e, data };
}

/** Snapshot state of a record with personal values: sealed whole under its subject's key. */
export const SEALED_SNAPSHOT = '$sealedSnapshot';
export type SealedSnapshotState = { [SEALED_SNAPSHOT]: Envelope };

export function isSealedSnapshot(state: unknown): state is SealedSnapshotState {
  return isPlainObject(state) && isPlainObject(state[SEALED_SNAPSHOT]);
}

export function sealSnapshot(
  state: RecordState,
  at: { streamId: string; version: number },
  key: { ref: string; keyId: string; key: Buffer },
): SealedSnapshotState {
  return { [SEALED_SNAPSHOT]: { s: key.ref, k: key.keyId, ...sealJson(key.key, snapshotAad(at.streamId, at.version), state) } };
}

/** The snapshot's state, or undefined when its key is gone (the reader replays the log instead). */
export async function openSnapshot(
  state: SealedSnapshotState,
  at: { streamId: string; version: number },
  keys: OpenKeys,
): Promise<RecordState | undefined> {
  const env = state[SEALED_SNAPSHOT];
  const key = await keys(env.s, env.k);
  return key ? (openJson(key, snapshotAad(at.streamId, at.version), env) as RecordState) : undefined;
}

function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}
