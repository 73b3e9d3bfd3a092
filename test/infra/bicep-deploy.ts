/**
 * What a deployment of the templates under infra/ would create for given parameters, worked
 * out from the parsed templates (test/infra/bicep-parser.ts) without Azure or the Bicep
 * compiler, neither of which can be reached where the tests run.
 *
 * It evaluates the Bicep expressions the templates use (literals, interpolated strings,
 * parameters, variables, `?:`, comparisons, logic, member and index access, the functions
 * listed in FUNCTIONS) and expands resource and module loops and conditions, following module
 * parameters and outputs across files. Values only Azure knows at deployment time (an
 * account's endpoint, an identity's principal id) become `Runtime` placeholders that name the
 * resource and property they come from, so a test can still see which resource a setting
 * points at. Anything else it does not understand throws: a template cannot drift past it.
 * Resource ids follow ARM's shape (…/resourceGroups/<rg>/providers/<type>/<name>/<child>/<name>).
 */
import { createHash } from 'node:crypto';
import { Expr, ForExpr, type Obj, scanBalanced, scanString, type Template, type Value } from './bicep-parser';

/** A value only known once Azure has deployed a resource: `<resource id>#<property path>`. */
export class Runtime {
  constructor(readonly path: string) {}
  toString(): string {
    return `{${this.path}}`;
  }
}

/** One deployed (or skipped) instance of a resource declaration. */
export class ResourceInstance {
  constructor(
    readonly deployment: Deployment,
    readonly symbol: string,
    readonly type: string,
    readonly existing: boolean,
    readonly deployed: boolean,
    readonly locals: Locals,
    readonly body: Obj,
  ) {}
  private cachedName: string | undefined;
  private cachedId: string | undefined;

  get name(): string {
    this.cachedName ??= asString(this.deployment.evaluate(this.body.name, this.locals), `${this.symbol}.name`);
    return this.cachedName;
  }

  get id(): string {
    if (this.cachedId !== undefined) return this.cachedId;
    const d = this.deployment;
    const lastType = this.type.split('/').slice(-1)[0]!;
    if (this.body.parent !== undefined) {
      const parent = d.evaluate(this.body.parent, this.locals);
      if (!(parent instanceof ResourceInstance)) throw new Error(`${this.symbol}: parent is not a resource`);
      this.cachedId = `${parent.id}/${lastType}/${this.name}`;
    } else if (this.type === 'Microsoft.Resources/resourceGroups') {
      this.cachedId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${this.name}`;
    } else if (this.body.scope !== undefined) {
      const scope = d.evaluate(this.body.scope, this.locals);
      if (!(scope instanceof ResourceInstance)) throw new Error(`${this.symbol}: scope is not a resource`);
      this.cachedId = `${scope.id}/providers/${this.type}/${this.name}`;
    } else {
      if (!d.resourceGroup) throw new Error(`${this.symbol}: a resource group resource outside a resource group`);
      this.cachedId = `${d.resourceGroup.id}/providers/${this.type}/${this.name}`;
    }
    return this.cachedId;
  }

  /** The whole body evaluated (names, properties, parent and scope as ids). */
  evaluated(): Record<string, unknown> {
    return plain(this.deployment.evaluate(this.body, this.locals)) as Record<string, unknown>;
  }
}

/** One instance of a module declaration: a nested deployment. */
export class ModuleInstance {
  constructor(
    readonly symbol: string,
    readonly deployed: boolean,
    readonly child: Deployment,
  ) {}
}

type Locals = ReadonlyMap<string, unknown>;
const NO_LOCALS: Locals = new Map();
export const SUBSCRIPTION = '00000000-0000-0000-0000-00000000aaaa';
const TENANT = '00000000-0000-0000-0000-00000000bbbb';

export class Deployment {
  private readonly vars = new Map<string, unknown>();
  private readonly symbols = new Map<string, ResourceInstance | ModuleInstance | (ResourceInstance | ModuleInstance)[]>();
  private readonly paramValues = new Map<string, unknown>();

  constructor(
    readonly templates: ReadonlyMap<string, Template>,
    readonly file: string,
    readonly params: Readonly<Record<string, unknown>>,
    readonly resourceGroup?: { id: string; name: string },
  ) {
    const t = this.template;
    for (const name of Object.keys(params))
      if (!t.decls.some((d) => d.kind === 'param' && d.name === name)) throw new Error(`${file} has no param '${name}'`);
  }

  get template(): Template {
    const t = this.templates.get(this.file);
    if (!t) throw new Error(`infra/${this.file} is missing`);
    return t;
  }

  /** Every resource instance of this deployment and the modules it deploys (skipped ones excluded). */
  resources(type?: string): ResourceInstance[] {
    const out: ResourceInstance[] = [];
    for (const d of this.template.decls) {
      if (d.kind !== 'resource' && d.kind !== 'module') continue;
      if (d.kind === 'resource' && type && d.type?.split('@')[0]?.toLowerCase() !== type.toLowerCase()) continue;
      const found = this.symbol(d.name);
      for (const inst of Array.isArray(found) ? found : [found]) {
        if (!inst.deployed) continue;
        if (inst instanceof ModuleInstance) out.push(...inst.child.resources(type));
        else if (!inst.existing) out.push(inst);
      }
    }
    return out;
  }

  /** The nested deployments of one module declaration (skipped ones excluded). */
  modules(symbol: string): Deployment[] {
    const found = this.symbol(symbol);
    return (Array.isArray(found) ? found : [found]).flatMap((m) => (m instanceof ModuleInstance && m.deployed ? [m.child] : []));
  }

  output(name: string): unknown {
    const d = this.template.decls.find((x) => x.kind === 'output' && x.name === name);
    if (!d) throw new Error(`${this.file} has no output '${name}'`);
    return this.evaluate(d.value, NO_LOCALS);
  }

  param(name: string): unknown {
    if (this.paramValues.has(name)) return this.paramValues.get(name);
    const d = this.template.decls.find((x) => x.kind === 'param' && x.name === name);
    if (!d) throw new Error(`${this.file}: unknown identifier '${name}'`);
    let v: unknown;
    if (Object.hasOwn(this.params, name)) v = this.params[name];
    else if (d.value !== undefined) v = this.evaluate(d.value, NO_LOCALS);
    else throw new Error(`${this.file}: param '${name}' has no value and no default`);
    this.paramValues.set(name, v);
    return v;
  }

  private symbol(name: string): ResourceInstance | ModuleInstance | (ResourceInstance | ModuleInstance)[] {
    const cached = this.symbols.get(name);
    if (cached) return cached;
    const d = this.template.decls.find((x) => (x.kind === 'resource' || x.kind === 'module') && x.name === name);
    if (!d) throw new Error(`${this.file}: unknown symbol '${name}'`);
    const make = (locals: Locals, condition: string | undefined, body: Obj): ResourceInstance | ModuleInstance => {
      const deployed = condition === undefined ? true : asBool(this.expr(condition, locals), `${name} condition`);
      if (d.kind === 'resource') {
        const [type = ''] = (d.type ?? '').split('@');
        return new ResourceInstance(this, name, type, !!d.existing, deployed, locals, body);
      }
      if (!deployed)
        return new ModuleInstance(name, false, new Deployment(this.templates, join(this.file, d.type!), {}, this.resourceGroup));
      const params = (this.evaluate(body.params ?? {}, locals) ?? {}) as Record<string, unknown>;
      let rg = this.resourceGroup;
      if (body.scope !== undefined) {
        const scope = this.evaluate(body.scope, locals);
        if (!(scope instanceof ResourceInstance) || scope.type !== 'Microsoft.Resources/resourceGroups')
          throw new Error(`${name}: module scope is not a resource group`);
        rg = { id: scope.id, name: scope.name };
      }
      return new ModuleInstance(name, true, new Deployment(this.templates, join(this.file, d.type!), params, rg));
    };
    let result: ResourceInstance | ModuleInstance | (ResourceInstance | ModuleInstance)[];
    if (d.value instanceof ForExpr) {
      const loop = d.value;
      result = this.iterate(loop, NO_LOCALS).map((locals) => make(locals, loop.condition, loop.body as Obj));
    } else result = make(NO_LOCALS, d.condition, d.value as Obj);
    this.symbols.set(name, result);
    return result;
  }

  /** The locals of each iteration of a `[for …]`. */
  private iterate(loop: ForExpr, outer: Locals): Locals[] {
    const m = /^(?:\(\s*(\w+)\s*,\s*(\w+)\s*\)|(\w+))\s+in\s+([\s\S]+)$/.exec(loop.header);
    if (!m) throw new Error(`unsupported for header '${loop.header}'`);
    const items = this.expr(m[4]!, outer);
    if (!Array.isArray(items)) throw new Error(`for '${loop.header}': not an array`);
    return items.map((item, i) => {
      const locals = new Map(outer);
      locals.set(m[1] ?? m[3]!, item);
      if (m[2]) locals.set(m[2], i);
      return locals;
    });
  }

  evaluate(v: Value | undefined, locals: Locals): unknown {
    if (v === undefined) return undefined;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
    if (v instanceof Expr) return this.expr(v.raw, locals);
    if (v instanceof ForExpr)
      return this.iterate(v, locals).flatMap((l) =>
        v.condition === undefined || asBool(this.expr(v.condition, l), 'for condition') ? [this.evaluate(v.body, l)] : [],
      );
    if (Array.isArray(v)) return v.map((x) => this.evaluate(x, locals));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const key = k.includes('${') ? asString(this.expr(`'${k}'`, locals), 'object key') : k;
      out[key] = this.evaluate(x, locals);
    }
    return out;
  }

  expr(raw: string, locals: Locals): unknown {
    return this.run(new ExprParser(raw).parseAll(), locals);
  }

  private lookup(name: string, locals: Locals): unknown {
    if (locals.has(name)) return locals.get(name);
    const t = this.template;
    const d = t.decls.find((x) => x.name === name && x.kind !== 'output');
    if (!d) throw new Error(`${this.file}: unknown identifier '${name}'`);
    if (d.kind === 'param') return this.param(name);
    if (d.kind === 'var') {
      if (!this.vars.has(name)) this.vars.set(name, this.evaluate(d.value, NO_LOCALS));
      return this.vars.get(name);
    }
    if (d.kind === 'resource' || d.kind === 'module') return this.symbol(name);
    throw new Error(`${this.file}: '${name}' is not a value`);
  }

  private run(n: Node, locals: Locals): unknown {
    switch (n.k) {
      case 'lit':
        return n.v;
      case 'str':
        return n.parts.map((p) => (typeof p === 'string' ? p : stringify(this.run(p, locals)))).join('');
      case 'id':
        return this.lookup(n.name, locals);
      case 'arr':
        return n.items.map((x) => this.run(x, locals));
      case 'obj':
        return Object.fromEntries(n.props.map(([k, x]) => [k, this.run(x, locals)]));
      case 'member':
        return member(this.run(n.obj, locals), n.name);
      case 'index': {
        const o = this.run(n.obj, locals);
        const i = this.run(n.idx, locals);
        if (o instanceof Runtime) return new Runtime(`${o.path}[${stringify(i)}]`);
        if (Array.isArray(o) && typeof i === 'number') {
          if (i < 0 || i >= o.length) throw new Error(`index ${i} out of range (${o.length})`);
          return o[i];
        }
        if (o !== null && typeof o === 'object' && typeof i === 'string') return member(o, i);
        throw new Error(`cannot index ${stringify(o)} with ${stringify(i)}`);
      }
      case 'call': {
        const f = FUNCTIONS[n.fn];
        if (!f) throw new Error(`${this.file}: unsupported function '${n.fn}'`);
        return f(
          n.args.map((a) => this.run(a, locals)),
          this,
        );
      }
      case 'un': {
        const a = this.run(n.a, locals);
        if (n.op === '!') return !asBool(a, '!');
        return -(a as number);
      }
      case 'cond':
        return asBool(this.run(n.c, locals), 'condition') ? this.run(n.a, locals) : this.run(n.b, locals);
      case 'bin': {
        if (n.op === '&&') return asBool(this.run(n.a, locals), '&&') && asBool(this.run(n.b, locals), '&&');
        if (n.op === '||') return asBool(this.run(n.a, locals), '||') || asBool(this.run(n.b, locals), '||');
        const a = this.run(n.a, locals);
        const b = this.run(n.b, locals);
        if (n.op === '??') return a ?? b;
        if (n.op === '==' || n.op === '!=') {
          if (a instanceof Runtime || b instanceof Runtime)
            throw new Error(`comparison with a deployment-time value ${stringify(a)} ${n.op} ${stringify(b)}`);
          const eq = JSON.stringify(plain(a)) === JSON.stringify(plain(b));
          return n.op === '==' ? eq : !eq;
        }
        if (typeof a !== 'number' || typeof b !== 'number') throw new Error(`'${n.op}' needs numbers`);
        switch (n.op) {
          case '<':
            return a < b;
          case '>':
            return a > b;
          case '<=':
            return a <= b;
          case '>=':
            return a >= b;
          case '+':
            return a + b;
          case '-':
            return a - b;
          case '*':
            return a * b;
          case '/':
            return Math.trunc(a / b);
          case '%':
            return a % b;
          default:
            throw new Error(`unsupported operator ${n.op}`);
        }
      }
      default: {
        const never: never = n;
        throw new Error(`unknown node ${JSON.stringify(never)}`);
      }
    }
  }
}

function join(from: string, path: string): string {
  const dir = from.includes('/') ? from.slice(0, from.lastIndexOf('/') + 1) : '';
  const parts: string[] = [];
  for (const p of `${dir}${path}`.split('/')) {
    if (p === '..') parts.pop();
    else if (p !== '.') parts.push(p);
  }
  return parts.join('/');
}

function member(o: unknown, name: string): unknown {
  if (o instanceof Runtime) return new Runtime(`${o.path}.${name}`);
  if (o instanceof ResourceInstance) {
    if (name === 'id') return o.id;
    if (name === 'name') return o.name;
    if (name === 'type') return o.type;
    return new Runtime(`${o.id}#${name}`);
  }
  if (o instanceof ModuleInstance) {
    if (name === 'outputs') return { [OUTPUTS]: o.child };
    if (name === 'name') return o.symbol;
    throw new Error(`module ${o.symbol} has no '${name}'`);
  }
  if (o !== null && typeof o === 'object' && OUTPUTS in o) return (o as { [OUTPUTS]: Deployment })[OUTPUTS].output(name);
  if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
    if (!Object.hasOwn(o, name)) throw new Error(`no property '${name}' in ${stringify(o)}`);
    return (o as Record<string, unknown>)[name];
  }
  throw new Error(`cannot read '${name}' of ${stringify(o)}`);
}
const OUTPUTS = Symbol('outputs');

/** Resources as their ids, runtime values as placeholders: a value a test can compare. */
export function plain(v: unknown): unknown {
  if (v instanceof ResourceInstance) return v.id;
  if (v instanceof Runtime) return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function stringify(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Runtime) return v.toString();
  return JSON.stringify(plain(v));
}

function asString(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  throw new Error(`${what}: expected a string, got ${stringify(v)}`);
}

function asBool(v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v;
  throw new Error(`${what}: expected a bool known at deployment start, got ${stringify(v)}`);
}

function hash(args: unknown[]): string {
  return createHash('sha256')
    .update(args.map((a) => stringify(a)).join('\u0000'))
    .digest('hex');
}

const FUNCTIONS: Record<string, (args: unknown[], d: Deployment) => unknown> = {
  range: ([start, count]) => Array.from({ length: count as number }, (_x, i) => (start as number) + i),
  length: ([a]) => (Array.isArray(a) || typeof a === 'string' ? a.length : Object.keys(a as object).length),
  empty: ([a]) => (Array.isArray(a) || typeof a === 'string' ? a.length === 0 : a === null || Object.keys(a as object).length === 0),
  join: ([a, sep]) => (a as unknown[]).map(stringify).join(sep as string),
  concat: (args) => (args.every(Array.isArray) ? (args as unknown[][]).flat() : args.map(stringify).join('')),
  union: (args) =>
    args.every(Array.isArray) ? [...new Set((args as unknown[][]).flat())] : Object.assign({}, ...(args as Record<string, unknown>[])),
  split: ([s, sep]) => asString(s, 'split').split(sep as string),
  indexOf: ([a, x]) =>
    Array.isArray(a)
      ? a.findIndex((y) => JSON.stringify(plain(y)) === JSON.stringify(plain(x)))
      : asString(a, 'indexOf').indexOf(x as string),
  contains: ([a, x]) =>
    Array.isArray(a) ? a.includes(x) : typeof a === 'string' ? a.includes(x as string) : Object.hasOwn(a as object, x as string),
  string: ([a]) => stringify(a),
  int: ([a]) => Number.parseInt(stringify(a), 10),
  toLower: ([s]) => (s instanceof Runtime ? s : asString(s, 'toLower').toLowerCase()),
  toUpper: ([s]) => asString(s, 'toUpper').toUpperCase(),
  max: (args) => Math.max(...(args as number[])),
  min: (args) => Math.min(...(args as number[])),
  // Deterministic stand-ins with the real functions' shapes: 13 base-32 characters, a GUID.
  uniqueString: (args) =>
    BigInt(`0x${hash(args).slice(0, 16)}`)
      .toString(32)
      .padStart(13, '0')
      .slice(0, 13),
  guid: (args) => {
    const h = hash(args);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  },
  subscription: () => ({ id: `/subscriptions/${SUBSCRIPTION}`, subscriptionId: SUBSCRIPTION, tenantId: TENANT }),
  tenant: () => ({ tenantId: TENANT }),
  resourceGroup: (_a, d) => {
    if (!d.resourceGroup) throw new Error('resourceGroup() outside a resource group');
    return { ...d.resourceGroup, location: 'westeurope' };
  },
  environment: () => ({
    name: 'AzureCloud',
    resourceManager: 'https://management.azure.com/',
    authentication: { loginEndpoint: 'https://login.microsoftonline.com/' },
    suffixes: { storage: 'core.windows.net', keyvaultDns: '.vault.azure.net' },
  }),
  subscriptionResourceId: ([type, ...names]) =>
    `/subscriptions/${SUBSCRIPTION}/providers/${stringify(type)}/${names.map(stringify).join('/')}`,
};

// ---------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------

type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'str'; parts: (string | Node)[] }
  | { k: 'id'; name: string }
  | { k: 'arr'; items: Node[] }
  | { k: 'obj'; props: [string, Node][] }
  | { k: 'member'; obj: Node; name: string }
  | { k: 'index'; obj: Node; idx: Node }
  | { k: 'call'; fn: string; args: Node[] }
  | { k: 'un'; op: '!' | '-'; a: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'cond'; c: Node; a: Node; b: Node };

const BINARY: string[][] = [['??'], ['||'], ['&&'], ['==', '!='], ['<=', '>=', '<', '>'], ['+', '-'], ['*', '/', '%']];

class ExprParser {
  private pos = 0;
  constructor(private readonly src: string) {}

  parseAll(): Node {
    const n = this.ternary();
    this.ws();
    if (this.pos !== this.src.length) throw this.error('end of expression');
    return n;
  }

  private ternary(): Node {
    const c = this.binary(0);
    this.ws();
    if (this.src[this.pos] === '?' && this.src[this.pos + 1] !== '?' && this.src[this.pos + 1] !== '.') {
      this.pos++;
      const a = this.ternary();
      this.take(':');
      const b = this.ternary();
      return { k: 'cond', c, a, b };
    }
    return c;
  }

  private binary(level: number): Node {
    if (level >= BINARY.length) return this.unary();
    let a = this.binary(level + 1);
    for (;;) {
      this.ws();
      const op = BINARY[level]!.find((o) => this.src.startsWith(o, this.pos) && !(o === '<' && this.src[this.pos + 1] === '='));
      if (!op) return a;
      this.pos += op.length;
      a = { k: 'bin', op, a, b: this.binary(level + 1) };
    }
  }

  private unary(): Node {
    this.ws();
    const c = this.src[this.pos];
    if (c === '!' || c === '-') {
      this.pos++;
      return { k: 'un', op: c, a: this.unary() };
    }
    return this.postfix(this.primary());
  }

  private postfix(n: Node): Node {
    for (;;) {
      if (this.src[this.pos] === '.') {
        this.pos++;
        n = { k: 'member', obj: n, name: this.ident() };
      } else if (this.src[this.pos] === '[') {
        this.pos++;
        const idx = this.ternary();
        this.take(']');
        n = { k: 'index', obj: n, idx };
      } else return n;
    }
  }

  private primary(): Node {
    this.ws();
    const c = this.src[this.pos];
    if (c === "'") return this.string();
    if (c === '(') {
      this.pos++;
      const n = this.ternary();
      this.take(')');
      return n;
    }
    if (c === '[') {
      this.pos++;
      const items: Node[] = [];
      for (;;) {
        this.ws();
        if (this.src[this.pos] === ']') break;
        items.push(this.ternary());
        this.ws();
        if (this.src[this.pos] === ',') this.pos++;
      }
      this.pos++;
      return { k: 'arr', items };
    }
    if (c === '{') {
      this.pos++;
      const props: [string, Node][] = [];
      for (;;) {
        this.ws();
        if (this.src[this.pos] === '}') break;
        let key: string;
        if (this.src[this.pos] === "'") {
          const s = this.string();
          if (s.k !== 'str' || s.parts.some((p) => typeof p !== 'string')) throw this.error('a plain key');
          key = s.parts.join('');
        } else key = this.ident();
        this.take(':');
        props.push([key, this.ternary()]);
        this.ws();
        if (this.src[this.pos] === ',') this.pos++;
      }
      this.pos++;
      return { k: 'obj', props };
    }
    const num = /^\d+/.exec(this.src.slice(this.pos));
    if (num) {
      this.pos += num[0].length;
      return { k: 'lit', v: Number(num[0]) };
    }
    const name = this.ident();
    if (name === 'true' || name === 'false') return { k: 'lit', v: name === 'true' };
    if (name === 'null') return { k: 'lit', v: null };
    this.ws();
    if (this.src[this.pos] === '(') {
      this.pos++;
      const args: Node[] = [];
      for (;;) {
        this.ws();
        if (this.src[this.pos] === ')') break;
        args.push(this.ternary());
        this.ws();
        if (this.src[this.pos] === ',') this.pos++;
        else if (this.src[this.pos] !== ')') throw this.error("',' or ')'");
      }
      this.pos++;
      return { k: 'call', fn: name, args };
    }
    return { k: 'id', name };
  }

  private string(): Node {
    const start = this.pos;
    const end = scanString(this.src, start);
    this.pos = end;
    if (this.src.startsWith("'''", start)) return { k: 'str', parts: [this.src.slice(start + 3, end - 3)] };
    const body = this.src.slice(start + 1, end - 1);
    const parts: (string | Node)[] = [];
    let text = '';
    let i = 0;
    while (i < body.length) {
      const ch = body[i]!;
      if (ch === '\\') {
        const e = body[i + 1]!;
        text += ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e;
        i += 2;
      } else if (body.startsWith('${', i)) {
        const close = scanBalanced(body, i + 1);
        if (text) parts.push(text);
        text = '';
        parts.push(new ExprParser(body.slice(i + 2, close - 1)).parseAll());
        i = close;
      } else {
        text += ch;
        i++;
      }
    }
    if (text || parts.length === 0) parts.push(text);
    return { k: 'str', parts };
  }

  private ident(): string {
    this.ws();
    const m = /^[A-Za-z_][\w]*/.exec(this.src.slice(this.pos));
    if (!m) throw this.error('an identifier');
    this.pos += m[0].length;
    return m[0];
  }

  private take(s: string): void {
    this.ws();
    if (!this.src.startsWith(s, this.pos)) throw this.error(`'${s}'`);
    this.pos += s.length;
  }

  private ws(): void {
    while (/\s/.test(this.src[this.pos] ?? '')) this.pos++;
  }

  private error(what: string): Error {
    return new Error(`expression: expected ${what} at ${this.pos} in "${this.src}"`);
  }
}
