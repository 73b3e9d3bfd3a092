/**
 * Static checks of a tenant type schema, before any compiler sees it: bounds, `$async`,
 * non-finite numbers, `uniqueItems` without a small `maxItems`, patterns the linear-time
 * engine cannot run, and `$ref` cycles that never descend into the data (`{"$ref":"#"}`),
 * which would recurse forever on every record. Pure and iterative (no recursion, so a deep
 * schema cannot overflow the stack here).
 */
import { compilePattern } from './patterns';
import { MAX_JSON_DEPTH, MAX_KEYWORDS, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_UNIQUE_ITEMS } from './limits';

export interface SchemaProblem {
  /** JSON Pointer into the schema ("" = the whole schema). */
  path: string;
  message: string;
  /**
   * `hard`: the schema cannot be run safely or correctly at all. Other problems are bounds
   * that new schemas must meet; a schema stored before these rules still runs (sandboxed).
   */
  hard: boolean;
}

/** Keywords whose value is one subschema applied to the same instance. */
const IN_PLACE_ONE = ['not', 'if', 'then', 'else'] as const;
/** Keywords whose value is an array of subschemas applied to the same instance. */
const IN_PLACE_MANY = ['allOf', 'anyOf', 'oneOf'] as const;
/** Keywords whose value is a map of subschemas applied to the same instance. */
const IN_PLACE_MAP = ['dependentSchemas'] as const;
/** Keywords whose subschemas apply to parts of the instance (they descend into the data). */
const DESCEND_ONE = [
  'items',
  'additionalItems',
  'contains',
  'additionalProperties',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
] as const;
const DESCEND_MANY = ['prefixItems'] as const;
const DESCEND_MAP = ['properties', 'patternProperties'] as const;
/** Subschemas that apply only where referenced. */
const DEFS_MAP = ['$defs', 'definitions'] as const;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type SchemaObject = Record<string, unknown>;

const DEFAULT_BASE = 'https://tenant-ledger.invalid/type-schema';
const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
const isObject = (v: unknown): v is SchemaObject => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Node {
  schema: SchemaObject;
  path: string;
  /** Absolute URI of the schema resource this subschema belongs to (without fragment). */
  base: string;
  /** The object of that resource. */
  resource: SchemaObject;
  inPlace: SchemaObject[];
}

/** What the compiler knows: unknown keywords and formats are named with their place (not hard). */
export interface Vocabulary {
  keywords: readonly string[];
  formats: readonly string[];
}

/** Every problem of a schema; empty when it passes. */
export function inspectSchema(schema: unknown, vocabulary?: Vocabulary): SchemaProblem[] {
  const knownKeywords = new Set(vocabulary?.keywords);
  const knownFormats = new Set(vocabulary?.formats);
  const problems: SchemaProblem[] = [];
  if (!isObject(schema)) return [{ path: '', message: 'a type schema is a JSON Schema object', hard: true }];
  checkValues(schema, problems);
  if (problems.some((p) => p.hard)) return problems;
  const bytes = Buffer.byteLength(JSON.stringify(schema), 'utf8');
  if (bytes > MAX_SCHEMA_BYTES)
    problems.push({ path: '', message: `the schema is ${bytes} bytes; at most ${MAX_SCHEMA_BYTES} are allowed`, hard: false });

  const nodes = new Map<SchemaObject, Node>();
  const ids = new Map<string, SchemaObject>();
  const anchors = new Map<string, SchemaObject>();
  let keywords = 0;
  const rootBase = idOf(schema, DEFAULT_BASE) ?? DEFAULT_BASE;
  ids.set(rootBase, schema);
  const stack: Array<{ s: unknown; path: string; depth: number; base: string; resource: SchemaObject }> = [
    { s: schema, path: '', depth: 0, base: rootBase, resource: schema },
  ];
  while (stack.length > 0) {
    const { s, path, depth, base: parentBase, resource: parentResource } = stack.pop()!;
    if (!isObject(s) || nodes.has(s)) continue;
    if (depth > MAX_SCHEMA_DEPTH) {
      problems.push({ path, message: `subschemas are nested more than ${MAX_SCHEMA_DEPTH} levels deep`, hard: false });
      continue;
    }
    const own = idOf(s, parentBase);
    const base = own ?? parentBase;
    const resource = own ? s : parentResource;
    if (own) ids.set(own, s);
    if (typeof s.$anchor === 'string') anchors.set(`${base}#${s.$anchor}`, s);
    if (typeof s.$dynamicAnchor === 'string') anchors.set(`${base}#${s.$dynamicAnchor}`, s);
    const node: Node = { schema: s, path, base, resource, inPlace: [] };
    nodes.set(s, node);
    keywords += Object.keys(s).length;

    if (vocabulary) {
      for (const k of Object.keys(s)) {
        if (knownKeywords.has(k)) continue;
        const wrapped = path === '' && k === 'schema' && isObject(s[k]);
        const hint = wrapped ? ' (send the schema itself as the body, not wrapped in {"schema": …})' : suggest(k, vocabulary.keywords);
        problems.push({ path: `${path}/${esc(k)}`, message: `unknown keyword ${JSON.stringify(k)}${hint}`, hard: false });
      }
      if (typeof s.format === 'string' && !knownFormats.has(s.format)) {
        problems.push({
          path: `${path}/format`,
          message: `unknown format ${JSON.stringify(s.format)}${suggest(s.format, vocabulary.formats)}`,
          hard: false,
        });
      }
    }
    if ('$async' in s)
      problems.push({
        path: `${path}/$async`,
        message: '"$async" is not supported: a type schema must answer valid or invalid at once',
        hard: true,
      });
    if (s.uniqueItems === true && !(typeof s.maxItems === 'number' && s.maxItems <= MAX_UNIQUE_ITEMS)) {
      problems.push({
        path: `${path}/uniqueItems`,
        message: `"uniqueItems" needs a "maxItems" of at most ${MAX_UNIQUE_ITEMS} beside it`,
        hard: false,
      });
    }
    if (typeof s.pattern === 'string') checkPattern(s.pattern, `${path}/pattern`, problems);
    if (isObject(s.patternProperties))
      for (const p of Object.keys(s.patternProperties)) checkPattern(p, `${path}/patternProperties/${esc(p)}`, problems);

    const push = (child: unknown, childPath: string, inPlace: boolean) => {
      if (inPlace && isObject(child)) node.inPlace.push(child);
      stack.push({ s: child, path: childPath, depth: depth + 1, base, resource });
    };
    for (const k of IN_PLACE_ONE) if (k in s) push(s[k], `${path}/${k}`, true);
    for (const k of IN_PLACE_MANY)
      if (Array.isArray(s[k])) for (const [i, c] of (s[k] as unknown[]).entries()) push(c, `${path}/${k}/${i}`, true);
    for (const k of IN_PLACE_MAP)
      if (isObject(s[k])) for (const [n, c] of Object.entries(s[k] as SchemaObject)) push(c, `${path}/${k}/${esc(n)}`, true);
    for (const k of DESCEND_ONE) if (isObject(s[k])) push(s[k], `${path}/${k}`, false);
    for (const k of DESCEND_MANY)
      if (Array.isArray(s[k])) for (const [i, c] of (s[k] as unknown[]).entries()) push(c, `${path}/${k}/${i}`, false);
    if (Array.isArray(s.items)) for (const [i, c] of (s.items as unknown[]).entries()) push(c, `${path}/items/${i}`, false);
    for (const k of [...DESCEND_MAP, ...DEFS_MAP])
      if (isObject(s[k])) for (const [n, c] of Object.entries(s[k] as SchemaObject)) push(c, `${path}/${k}/${esc(n)}`, false);
  }
  if (keywords > MAX_KEYWORDS)
    problems.push({ path: '', message: `the schema has ${keywords} keywords; at most ${MAX_KEYWORDS} are allowed`, hard: false });

  // $ref / $dynamicRef edges, then a cycle that never descends into the data.
  const resolve = (ref: unknown, node: Node): SchemaObject | undefined => {
    if (typeof ref !== 'string') return undefined;
    let abs: string;
    try {
      abs = new URL(ref, node.base).href;
    } catch {
      return undefined;
    }
    const hash = abs.indexOf('#');
    const doc = hash < 0 ? abs : abs.slice(0, hash);
    const frag = hash < 0 ? '' : decodeURIComponent(abs.slice(hash + 1));
    const resource = ids.get(doc);
    if (!resource) return undefined;
    if (frag === '') return resource;
    if (!frag.startsWith('/')) return anchors.get(`${doc}#${frag}`);
    let at: unknown = resource;
    for (const part of frag.slice(1).split('/')) {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      at = Array.isArray(at) ? at[Number(key)] : isObject(at) ? at[key] : undefined;
    }
    return isObject(at) && nodes.has(at) ? at : undefined;
  };
  for (const node of nodes.values()) {
    for (const k of ['$ref', '$dynamicRef'] as const) {
      const target = resolve(node.schema[k], node);
      if (target) node.inPlace.push(target);
    }
  }
  const cycle = findCycle(nodes);
  if (cycle) {
    problems.push({
      path: cycle.path,
      message: `the schema refers back to itself (${cycle.via}) without descending into the data, so validating any record would never end`,
      hard: true,
    });
  }
  return problems;
}

/** ` (did you mean "required"?)` when a known word is at most two edits away. */
function suggest(word: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    if (Math.abs(k.length - word.length) >= bestD) continue;
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best === undefined ? '' : ` (did you mean ${JSON.stringify(best)}?)`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Absolute `$id` of a schema object, resolved against its parent's base; fragments dropped. */
function idOf(s: SchemaObject, base: string): string | undefined {
  if (typeof s.$id !== 'string') return undefined;
  try {
    const u = new URL(s.$id, base).href;
    const hash = u.indexOf('#');
    return hash < 0 ? u : u.slice(0, hash);
  } catch {
    return undefined;
  }
}

function checkPattern(pattern: string, path: string, problems: SchemaProblem[]): void {
  const r = compilePattern(pattern);
  if (!r.ok) problems.push({ path, message: r.message, hard: r.hard });
}

/** Non-finite numbers (JSON's 1e400 parses as Infinity and would be stored as null) and over-deep values. */
function checkValues(root: SchemaObject, problems: SchemaProblem[]): void {
  const stack: Array<{ v: Json | unknown; path: string; depth: number }> = [{ v: root, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'number') {
      if (!Number.isFinite(v))
        problems.push({ path, message: 'numbers must be finite (this one is too large for a 64-bit float)', hard: true });
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      problems.push({ path, message: `values are nested more than ${MAX_JSON_DEPTH} levels deep`, hard: false });
      continue;
    }
    if (Array.isArray(v)) for (const [i, c] of v.entries()) stack.push({ v: c, path: `${path}/${i}`, depth: depth + 1 });
    else for (const [k, c] of Object.entries(v)) stack.push({ v: c, path: `${path}/${esc(k)}`, depth: depth + 1 });
  }
}

/** A cycle of in-place edges (allOf/anyOf/…/$ref), found by an iterative depth-first search. */
function findCycle(nodes: Map<SchemaObject, Node>): { path: string; via: string } | undefined {
  const state = new Map<SchemaObject, 1 | 2>(); // 1 = on the current path, 2 = done
  for (const start of nodes.keys()) {
    if (state.has(start)) continue;
    const stack: Array<{ s: SchemaObject; next: number }> = [{ s: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const node = nodes.get(top.s)!;
      if (top.next < node.inPlace.length) {
        const child = node.inPlace[top.next++]!;
        const st = state.get(child);
        if (st === 1) {
          const from = stack.findIndex((f) => f.s === child);
          const via = stack
            .slice(from)
            .map((f) => nodes.get(f.s)!.path || '#')
            .concat(nodes.get(child)!.path || '#')
            .join(' → ');
          return { path: node.path, via };
        }
        if (st === undefined && nodes.has(child)) {
          state.set(child, 1);
          stack.push({ s: child, next: 0 });
        }
      } else {
        state.set(top.s, 2);
        stack.pop();
      }
    }
  }
  return undefined;
}

/** Problems as one sentence each, for error details. */
export const describeProblems = (problems: SchemaProblem[]) => problems.map((p) => ({ path: p.path, message: p.message }));
