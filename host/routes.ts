/**
 * Azure Functions route templates (`tenants/{tenant}`, `{id:int}`, `{name?}`, `{*rest}`)
 * matched against request paths, as the Functions host does (literal segments are
 * case-insensitive).
 */
interface Segment {
  literal?: string;
  param?: string;
  optional?: boolean;
  catchAll?: boolean;
  constraint?: string;
}

export interface CompiledRoute {
  template: string;
  segments: Segment[];
}

export function compileRoute(template: string): CompiledRoute {
  const segments = template
    .split('/')
    .filter((s) => s.length > 0)
    .map((s): Segment => {
      const m = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+)(?:\([^)]*\))?)?(\?)?\}$/.exec(s);
      if (!m) return { literal: s.toLowerCase() };
      return { param: m[2]!, catchAll: !!m[1], optional: !!m[4], ...(m[3] ? { constraint: m[3] } : {}) };
    });
  return { template, segments };
}

const constraints: Record<string, (v: string) => boolean> = {
  int: (v) => /^-?\d+$/.test(v),
  long: (v) => /^-?\d+$/.test(v),
  bool: (v) => /^(true|false)$/i.test(v),
  alpha: (v) => /^[A-Za-z]+$/.test(v),
  guid: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
};

/** A request path split into its segments, each decoded once (and lower-cased for the literal segments). */
export interface SplitPath {
  parts: string[];
  lower: string[];
}

/** Splits and decodes `path` (without prefix) once, to match it against every route with {@link matchSplit}. */
export function splitPath(path: string): SplitPath {
  const parts = path
    .split('/')
    .filter((s) => s.length > 0)
    .map(decode);
  return { parts, lower: parts.map((p) => p.toLowerCase()) };
}

/** Route parameters when `path` (without prefix, no leading slash) matches, else undefined. */
export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  return matchSplit(route, splitPath(path));
}

/** {@link matchRoute} for a path split once ({@link splitPath}). */
export function matchSplit(route: CompiledRoute, path: SplitPath): Record<string, string> | undefined {
  const { parts, lower } = path;
  const params: Record<string, string> = {};
  let i = 0;
  for (const seg of route.segments) {
    if (seg.catchAll) {
      params[seg.param!] = parts.slice(i).join('/');
      return params;
    }
    const value = parts[i];
    if (value === undefined) {
      if (seg.optional) continue;
      return undefined;
    }
    if (seg.literal !== undefined) {
      if (lower[i] !== seg.literal) return undefined;
    } else {
      const check = seg.constraint ? constraints[seg.constraint] : undefined;
      if (check && !check(value)) return undefined;
      params[seg.param!] = value;
    }
    i++;
  }
  return i === parts.length ? params : undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
