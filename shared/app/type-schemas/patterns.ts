/**
 * `pattern` and `patternProperties` of tenant schemas run on RE2 (re2js, a pure JavaScript
 * port): matching time is linear in the input, whatever the pattern. JavaScript's own
 * backtracking engine needs seconds to forever for `^(a+)+$` on 30–60 characters.
 * RE2 has no backreferences and no lookaround; such patterns are refused by name.
 */
import { RE2JS } from 're2js';
import type { RegExpEngine } from 'ajv/dist/types';
import { MAX_PATTERN_PROGRAM } from './limits';

export type PatternCheck = { ok: true; re: RE2JS } | { ok: false; message: string; hard: boolean };

export function compilePattern(pattern: string, opts: { maxProgram?: number } = {}): PatternCheck {
  let re: RE2JS;
  try {
    // translateRegExp maps ECMAScript spellings RE2 writes differently (\u00e9, \u{1F600}, (?<name>…), "/").
    re = RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (e) {
    const why = (e as Error).message.replace(/^error parsing regexp: /, '');
    return {
      ok: false,
      hard: true,
      message: `pattern ${JSON.stringify(pattern)} cannot run on the linear-time (RE2) engine: ${why}. Backreferences and lookaround are not supported`,
    };
  }
  const size = re.programSize();
  const max = opts.maxProgram ?? MAX_PATTERN_PROGRAM;
  if (size > max) {
    return {
      ok: false,
      hard: false,
      message: `pattern ${JSON.stringify(pattern)} is too large (RE2 program size ${size}; at most ${max})`,
    };
  }
  return { ok: true, re };
}

/** Ajv's `code.regExp`: every pattern Ajv compiles (the tenant's and the meta-schema's) goes through RE2. */
export const re2Engine: RegExpEngine = Object.assign(
  (pattern: string): { test(s: string): boolean; toString(): string } => {
    // The size bound is checked by the rules for new schemas; stored schemas keep theirs.
    const r = compilePattern(pattern, { maxProgram: Infinity });
    if (!r.ok) throw new Error(r.message);
    const re = r.re;
    // Ajv keys its compiled-pattern cache by toString(): it must be the pattern itself.
    return { test: (s: string) => re.test(s), toString: () => `re2:${pattern}` };
  },
  { code: 'tenant-ledger re2js engine (no standalone code)' },
);
