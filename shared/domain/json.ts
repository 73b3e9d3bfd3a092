/** JSON helpers shared by the domain: merge patch (RFC 7396), leaf diffs with JSON Pointers (RFC 6901). */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property only: `o["__proto__"]` must never reach the prototype. */
function own(o: Record<string, unknown>, k: string): unknown {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

/** Defines an own data property, so a key named "__proto__" stays data and never sets a prototype. */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** RFC 7396 JSON Merge Patch. Returns a new value; inputs are not modified. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, unknown> = {};
  if (isPlainObject(target)) for (const [k, v] of Object.entries(target)) put(result, k, v);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else put(result, k, applyMergePatch(own(result, k), v));
  }
  return result;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(own(a, k), own(b, k)));
  }
  return false;
}

export const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** One changed leaf. `old` is absent for added leaves, `new` for removed ones. */
export interface Change {
  path: string;
  old?: unknown;
  new?: unknown;
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return (Array.isArray(v) && v.length > 0) || (isPlainObject(v) && Object.keys(v).length > 0);
}

function leaves(value: unknown, path: string, side: 'old' | 'new', out: Change[]): void {
  if (isContainer(value)) {
    const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    for (const [k, v] of entries) leaves(v, `${path}/${escapePointer(k)}`, side, out);
  } else {
    out.push(side === 'old' ? { path, old: value } : { path, new: value });
  }
}

/**
 * Every changed leaf between two JSON values, with JSON Pointer paths: nested objects and
 * arrays are compared element by element; added and removed subtrees list each leaf.
 */
export function diff(oldValue: unknown, newValue: unknown, path = ''): Change[] {
  const out: Change[] = [];
  walk(oldValue, newValue, path, out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: Change[]): void {
  if (a === undefined && b === undefined) return;
  if (a === undefined) {
    leaves(b, path, 'new', out);
    return;
  }
  if (b === undefined) {
    leaves(a, path, 'old', out);
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) walk(own(a, k), own(b, k), `${path}/${escapePointer(k)}`, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], `${path}/${i}`, out);
    return;
  }
  if (!deepEqual(a, b)) out.push({ path, old: a, new: b });
}
