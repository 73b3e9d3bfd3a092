/**
 * A small, strict parser of the Bicep subset the templates under infra/ use (declarations,
 * object/array literals, strings, `[for ...]`, and expressions kept as raw text). Anything it
 * does not understand fails, so a template cannot silently drift out of what the tests check.
 * test/infra/templates.test.ts inspects the parsed templates; test/infra/bicep-deploy.ts
 * evaluates them for given parameters.
 */
// ---------------------------------------------------------------------------------------
// A tiny Bicep parser
// ---------------------------------------------------------------------------------------

/** An expression kept as source text (references, function calls, interpolated strings). */
export class Expr {
  constructor(readonly raw: string) {}
}
/** `[for header: if (condition) body]` */
export class ForExpr {
  constructor(
    readonly header: string,
    readonly condition: string | undefined,
    readonly body: Value,
  ) {}
}
export type Obj = { [key: string]: Value };
export type Value = string | number | boolean | null | Expr | ForExpr | Value[] | Obj;

export interface Decl {
  kind: 'targetScope' | 'param' | 'var' | 'output' | 'resource' | 'module';
  name: string;
  decorators: string[];
  /** param/output: the type; resource: 'Type@apiVersion'; module: the path. */
  type?: string;
  existing?: boolean;
  condition?: string;
  value?: Value;
}

export interface Template {
  file: string;
  text: string;
  code: string;
  decls: Decl[];
}

export class BicepSyntaxError extends Error {}

/** Replaces // and /* *\/ comments (outside strings) with spaces, keeping newlines. */
export function stripComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    if (src.startsWith("'", i)) {
      const end = scanString(src, i);
      out += src.slice(i, end);
      i = end;
    } else if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') {
        out += ' ';
        i++;
      }
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new BicepSyntaxError('unterminated block comment');
      out += src.slice(i, end + 2).replace(/[^\n]/g, ' ');
      i = end + 2;
    } else {
      out += src[i];
      i++;
    }
  }
  return out;
}

/** Index just past the string literal starting at `start` ('...' with ${} or '''...'''). */
export function scanString(src: string, start: number): number {
  if (src.startsWith("'''", start)) {
    const end = src.indexOf("'''", start + 3);
    if (end < 0) throw new BicepSyntaxError('unterminated multi-line string');
    return end + 3;
  }
  let i = start + 1;
  while (i < src.length) {
    const c = src[i];
    if (c === '\\') i += 2;
    else if (c === "'") return i + 1;
    else if (c === '\n') throw new BicepSyntaxError(`unterminated string at ${start}`);
    else if (src.startsWith('${', i)) i = scanBalanced(src, i + 1);
    else i++;
  }
  throw new BicepSyntaxError(`unterminated string at ${start}`);
}

/** `src[start]` is an opening bracket; returns the index just past its matching closer. */
export function scanBalanced(src: string, start: number): number {
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  const stack: string[] = [];
  let i = start;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "'") {
      i = scanString(src, i);
      continue;
    }
    if (pairs[c]) stack.push(pairs[c]!);
    else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) throw new BicepSyntaxError(`unbalanced '${c}' at ${i}`);
      if (stack.length === 0) return i + 1;
    }
    i++;
  }
  throw new BicepSyntaxError(`unbalanced bracket at ${start}`);
}

export class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  parseFile(): Decl[] {
    const decls: Decl[] = [];
    let decorators: string[] = [];
    for (;;) {
      this.skip(true);
      if (this.pos >= this.src.length) break;
      if (this.peek() === '@') {
        const start = this.pos;
        this.pos++;
        this.ident();
        if (this.peek() === '(') this.pos = scanBalanced(this.src, this.pos);
        decorators.push(this.src.slice(start, this.pos));
        continue;
      }
      const keyword = this.ident();
      const d: Decl = { kind: keyword as Decl['kind'], name: '', decorators };
      decorators = [];
      switch (keyword) {
        case 'targetScope':
          d.name = 'targetScope';
          this.expect('=');
          d.value = this.value();
          break;
        case 'param': {
          d.name = this.ident();
          const rest = /^[ \t]*([^\n=]+?)[ \t]*(=|\n|$)/.exec(this.src.slice(this.pos));
          if (!rest) throw this.error('param type');
          d.type = rest[1];
          this.pos += rest[0].length - rest[2]!.length; // stop before '=' or the newline
          this.skip(false);
          if (this.peek() === '=') {
            this.pos++;
            d.value = this.value();
          }
          break;
        }
        case 'var':
          d.name = this.ident();
          this.expect('=');
          d.value = this.value();
          break;
        case 'output':
          d.name = this.ident();
          this.skip(false);
          d.type = this.ident();
          this.expect('=');
          d.value = this.value();
          break;
        case 'resource':
        case 'module': {
          d.name = this.ident();
          this.skip(false);
          if (this.peek() !== "'") throw this.error(`${keyword} type or path`);
          const end = scanString(this.src, this.pos);
          d.type = this.src.slice(this.pos + 1, end - 1);
          this.pos = end;
          this.skip(false);
          if (this.src.startsWith('existing', this.pos)) {
            d.existing = true;
            this.pos += 'existing'.length;
          }
          this.expect('=');
          this.skip(false);
          if (/^if\s*\(/.test(this.src.slice(this.pos))) {
            this.pos += 2;
            this.skip(false);
            const start = this.pos;
            this.pos = scanBalanced(this.src, this.pos);
            d.condition = this.src.slice(start + 1, this.pos - 1).trim();
          }
          this.skip(false);
          const c = this.peek();
          if (c !== '{' && c !== '[') throw this.error(`${keyword} body`);
          d.value = this.value();
          break;
        }
        default:
          throw this.error(`unsupported statement '${keyword}'`);
      }
      decls.push(d);
      this.skip(false);
      if (this.pos < this.src.length && this.peek() !== '\n') throw this.error('end of line');
    }
    return decls;
  }

  value(): Value {
    this.skip(false);
    const c = this.peek();
    if (c === '{') return this.object();
    if (c === '[') {
      const save = this.pos;
      this.pos++;
      this.skip(true);
      if (/^for\b/.test(this.src.slice(this.pos))) return this.forExpr();
      this.pos = save;
      // An array literal, unless it is followed by more expression (e.g. `[...][0]`).
      const end = scanBalanced(this.src, this.pos);
      if (this.restOfExpressionIsEmpty(end)) return this.array();
      return this.expression();
    }
    if (c === "'") {
      const end = scanString(this.src, this.pos);
      if (this.restOfExpressionIsEmpty(end)) {
        const raw = this.src.slice(this.pos, end);
        this.pos = end;
        if (raw.startsWith("'''")) return raw.slice(3, -3);
        if (raw.includes('${')) return new Expr(raw);
        return raw.slice(1, -1).replace(/\\(.)/g, '$1');
      }
    }
    const e = this.expression();
    if (e.raw === 'true') return true;
    if (e.raw === 'false') return false;
    if (e.raw === 'null') return null;
    if (/^-?\d+$/.test(e.raw)) return Number(e.raw);
    return e;
  }

  private restOfExpressionIsEmpty(end: number): boolean {
    const m = /^[ \t]*(\n|,|\}|\]|$)/.exec(this.src.slice(end));
    return m !== null;
  }

  /** Raw text up to the end of the line, a comma, or a closing bracket, at depth 0. */
  private expression(): Expr {
    const start = this.pos;
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c === "'") this.pos = scanString(this.src, this.pos);
      else if (c === '(' || c === '[' || c === '{') this.pos = scanBalanced(this.src, this.pos);
      else if (c === '\n' || c === ',' || c === ')' || c === ']' || c === '}') break;
      else this.pos++;
    }
    const raw = this.src.slice(start, this.pos).trim();
    if (!raw) throw this.error('expression');
    return new Expr(raw.replace(/\s+/g, ' '));
  }

  private object(): Obj {
    this.pos++; // {
    const obj: Obj = {};
    for (;;) {
      this.skip(true);
      if (this.peek() === '}') {
        this.pos++;
        return obj;
      }
      let key: string;
      if (this.peek() === "'") {
        const end = scanString(this.src, this.pos);
        key = this.src.slice(this.pos + 1, end - 1);
        this.pos = end;
      } else key = this.ident();
      this.expect(':');
      if (Object.hasOwn(obj, key)) throw this.error(`duplicate key '${key}'`);
      obj[key] = this.value();
      this.skip(false);
      const c = this.peek();
      if (c === ',') this.pos++;
      else if (c !== '\n' && c !== '}') throw this.error(`end of property '${key}'`);
    }
  }

  private array(): Value[] {
    this.pos++; // [
    const items: Value[] = [];
    for (;;) {
      this.skip(true);
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === ']') {
        this.pos++;
        return items;
      }
      items.push(this.value());
    }
  }

  private forExpr(): ForExpr {
    this.pos += 3; // for
    const start = this.pos;
    while (this.peek() !== ':') {
      const c = this.peek();
      if (c === undefined) throw this.error('for header');
      if (c === '(' || c === '[') this.pos = scanBalanced(this.src, this.pos);
      else if (c === "'") this.pos = scanString(this.src, this.pos);
      else this.pos++;
    }
    const header = this.src.slice(start, this.pos).trim();
    this.pos++; // :
    this.skip(false);
    let condition: string | undefined;
    if (/^if\s*\(/.test(this.src.slice(this.pos))) {
      this.pos += 2;
      this.skip(false);
      const s = this.pos;
      this.pos = scanBalanced(this.src, this.pos);
      condition = this.src.slice(s + 1, this.pos - 1).trim();
    }
    const body = this.value();
    this.skip(true);
    if (this.peek() !== ']') throw this.error('end of for');
    this.pos++;
    return new ForExpr(header, condition, body);
  }

  private ident(): string {
    this.skip(false);
    const m = /^[A-Za-z_$][\w$]*/.exec(this.src.slice(this.pos));
    if (!m) throw this.error('identifier');
    this.pos += m[0].length;
    return m[0];
  }

  private expect(s: string): void {
    this.skip(false);
    if (!this.src.startsWith(s, this.pos)) throw this.error(`'${s}'`);
    this.pos += s.length;
  }

  private skip(newlines: boolean): void {
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) this.pos++;
      else break;
    }
  }

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private error(what: string): BicepSyntaxError {
    const line = this.src.slice(0, this.pos).split('\n').length;
    const near = this.src.slice(this.pos, this.pos + 40).replace(/\n/g, '\\n');
    return new BicepSyntaxError(`expected ${what} at line ${line} near "${near}"`);
  }
}

export function parseBicep(text: string): Decl[] {
  return new Parser(stripComments(text)).parseFile();
}
