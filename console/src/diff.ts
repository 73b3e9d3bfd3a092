/**
 * Field-level differences between two JSON documents (JSON Pointer paths), and the merge
 * patch (RFC 7396) that turns one into the other.
 */
export interface Difference {
  path: string;
  kind: 'added' | 'removed' | 'changed';
  old?: unknown;
  new?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const pointerToken = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

export function diff(a: unknown, b: unknown, base = ''): Difference[] {
  if (isObject(a) && isObject(b)) {
    const out: Difference[] = [];
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const p = `${base}/${pointerToken(k)}`;
      if (!(k in b)) out.push({ path: p, kind: 'removed', old: a[k] });
      else if (!(k in a)) out.push({ path: p, kind: 'added', new: b[k] });
      else out.push(...diff(a[k], b[k], p));
    }
    return out;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path: base || '/', kind: 'changed', old: a, new: b }];
}

export function mergePatch(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const k of Object.keys(from)) if (!(k in to)) patch[k] = null;
  for (const [k, v] of Object.entries(to)) {
    const old = from[k];
    if (isObject(old) && isObject(v)) {
      const inner = mergePatch(old, v);
      if (Object.keys(inner).length > 0) patch[k] = inner;
    } else if (JSON.stringify(old) !== JSON.stringify(v)) patch[k] = v;
  }
  return patch;
}
