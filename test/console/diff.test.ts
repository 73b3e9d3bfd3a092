import { describe, expect, it } from 'vitest';
import { diff, mergePatch } from '../../console/src/diff';

describe('console diff and merge patch', () => {
  it('lists field-level differences at JSON Pointer paths', () => {
    expect(diff({ a: 1, b: { c: 'x', 'd/e': 1 }, gone: true }, { a: 2, b: { c: 'x', 'd/e': 2 }, added: [1] })).toEqual([
      { path: '/a', kind: 'changed', old: 1, new: 2 },
      { path: '/added', kind: 'added', new: [1] },
      { path: '/b/d~1e', kind: 'changed', old: 1, new: 2 },
      { path: '/gone', kind: 'removed', old: true },
    ]);
    expect(diff({ a: [1, 2] }, { a: [1, 2] })).toEqual([]);
  });

  it('builds the RFC 7396 merge patch from one state to another', () => {
    const from = { name: 'A', vip: false, address: { city: 'Brno', zip: '60200' }, note: 'x' };
    const to = { name: 'A', vip: true, address: { city: 'Praha', zip: '60200' } };
    const patch = mergePatch(from, to);
    expect(patch).toEqual({ vip: true, address: { city: 'Praha' }, note: null });
    // applying it (RFC 7396) gives the target
    const apply = (t: any, p: any): any => {
      if (typeof p !== 'object' || p === null || Array.isArray(p)) return p;
      const out = typeof t === 'object' && t !== null && !Array.isArray(t) ? { ...t } : {};
      for (const [k, v] of Object.entries(p))
        if (v === null) delete out[k];
        else out[k] = apply(out[k], v);
      return out;
    };
    expect(apply(from, patch)).toEqual(to);
  });
});
