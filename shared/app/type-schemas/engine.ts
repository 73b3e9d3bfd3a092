/**
 * Compiles and runs one tenant type schema. Each compile gets its own Ajv instance: a
 * schema's `$id`s and `$ref`s live and resolve only inside that one type, so no tenant can
 * reference, read or squat another type's ids. Runs inside the sandbox worker (worker.ts);
 * plain functions so it can also be tested directly.
 */
import Ajv2020, { type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { FieldError } from '../../domain/errors';
import { MAX_REPORTED_ERRORS } from './limits';
import { re2Engine } from './patterns';
import { inspectSchema, type SchemaProblem } from './rules';

/** `strict`: a new definition. `stored`: a schema already in a tenant's log (see compileStored). */
export type CompileMode = 'strict' | 'stored';

export type Compiled = { ok: true; validate: ValidateFunction; warnings: SchemaProblem[] } | { ok: false; problems: SchemaProblem[] };

export type Verdict = { valid: true } | { valid: false; errors: FieldError[] } | { failed: string };

const options = (strict: boolean) =>
  ({
    allErrors: true,
    // Unknown keywords and unknown formats are errors that name them (strict), or ignored (stored).
    strictSchema: strict,
    strictNumbers: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    // `required: ["toString"]` must not be met by Object.prototype.
    ownProperties: true,
    $data: false,
    // Nothing is ever fetched: a $ref that does not resolve inside the schema is an error.
    loadSchema: undefined,
    validateSchema: false, // done once, by the meta-schema instance below
    meta: false,
    logger: false,
    code: { regExp: re2Engine },
  }) as const;

const DRAFT_2020 = 'https://json-schema.org/draft/2020-12/schema';

/** Validates schemas against the draft 2020-12 meta-schema. Holds no tenant schema. */
let metaAjv: Ajv2020 | undefined;
function metaValidator(): Ajv2020 {
  metaAjv ??= addFormats(new Ajv2020({ allErrors: true, strict: false, logger: false, code: { regExp: re2Engine } }));
  return metaAjv;
}

function newScope(strict: boolean): Ajv2020 {
  const ajv = addFormats(new Ajv2020(options(strict)));
  // Ajv's uniqueItems compares every pair, even when maxItems already failed (allErrors): 9,000
  // objects took 2.3 s. This one hashes a canonical form of each item: linear in the array.
  ajv.removeKeyword('uniqueItems');
  // Personal-data marks (issue 14, shared/app/erasure/marks.ts): annotations, no validation.
  ajv.addKeyword({ keyword: 'x-personal', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: 'x-subject', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', errors: true, validate: uniqueItems });
  return ajv;
}

/**
 * `strict`: every rule applies. `stored`: a schema accepted by an earlier version of the
 * service. It still runs on RE2 in its own scope in the worker, but the bounds and the
 * vocabulary rules (unknown keywords and formats were ignored then) are relaxed so that a
 * tenant's existing type stays writable; only hard problems ($async, $ref loops, patterns RE2
 * cannot run, invalid schemas) make it need a redefinition.
 */
export function compileSchema(schema: unknown, mode: CompileMode): Compiled {
  const scope = newScope(mode === 'strict');
  const found = inspectSchema(schema, { keywords: Object.keys(scope.RULES.keywords), formats: Object.keys(scope.formats) });
  const blocking = found.filter((p) => p.hard || mode === 'strict');
  if (blocking.length > 0) return { ok: false, problems: blocking };
  const declared = (schema as { $schema?: unknown }).$schema;
  if (declared !== undefined && declared !== DRAFT_2020 && declared !== `${DRAFT_2020}#`) {
    return {
      ok: false,
      problems: [{ path: '/$schema', message: `only JSON Schema draft 2020-12 (${DRAFT_2020}) is supported`, hard: true }],
    };
  }
  const meta = metaValidator();
  if (!meta.validateSchema(schema as object)) {
    return {
      ok: false,
      problems: (meta.errors ?? [])
        .slice(0, MAX_REPORTED_ERRORS)
        .map((e) => ({ path: e.instancePath, message: `${e.message ?? 'is invalid'}`, hard: true })),
    };
  }
  let validate: ValidateFunction;
  try {
    validate = scope.compile(schema as object);
  } catch (e) {
    return { ok: false, problems: [{ path: '', message: compileMessage(e), hard: true }] };
  }
  if ((validate as { $async?: unknown }).$async)
    return { ok: false, problems: [{ path: '/$async', message: '"$async" is not supported', hard: true }] };
  // A backstop for loops the static check cannot see: probe one value of every JSON type.
  for (const probe of [null, true, 0, '', [], {}]) {
    const v = run(validate, probe);
    if ('failed' in v) return { ok: false, problems: [{ path: '', message: v.failed, hard: true }] };
  }
  return { ok: true, validate, warnings: found };
}

/** Runs a validator; anything but `true` / `false` (a promise, a throw) is a failure, never "valid". */
export function run(validate: ValidateFunction, data: unknown): Verdict {
  let r: unknown;
  try {
    r = validate(data);
  } catch (e) {
    return {
      failed:
        e instanceof RangeError
          ? 'the schema recursed too deeply on this record'
          : `the schema could not be evaluated (${(e as Error)?.name ?? 'error'})`,
    };
  }
  if (r === true) return { valid: true };
  if (r === false) return { valid: false, errors: (validate.errors ?? []).slice(0, MAX_REPORTED_ERRORS).map(fieldError) };
  if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(undefined, () => undefined);
  return { failed: 'the schema answered neither valid nor invalid' };
}

function fieldError(e: ErrorObject): FieldError {
  return {
    path:
      e.keyword === 'required' ? `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}` : e.instancePath || '',
    message: e.message ?? 'is invalid',
  };
}

function compileMessage(e: unknown): string {
  const err = e as { message?: string; missingRef?: string };
  if (typeof err.missingRef === 'string')
    return `$ref ${JSON.stringify(err.missingRef)} does not resolve inside this type's schema (references reach only this schema's own $defs and $ids)`;
  if (e instanceof RangeError) return 'the schema is nested too deeply to compile';
  return (err.message ?? 'the schema does not compile')
    .replace(/^strict mode: /, '')
    .replace(/^(unknown format "[^"]*") ignored in schema at path "([^"]*)"$/, '$1 at $2');
}

function uniqueItems(schema: unknown, data: unknown, parentSchema?: AnySchemaObject): boolean {
  const self = uniqueItems as unknown as { errors?: Array<Partial<ErrorObject>> | null };
  self.errors = null;
  if (schema !== true || !Array.isArray(data)) return true;
  // Past maxItems the array is invalid anyway (maxItems reports it); don't spend time on it.
  if (typeof parentSchema?.maxItems === 'number' && data.length > parentSchema.maxItems) return true;
  const seen = new Map<string, number>();
  for (let i = 0; i < data.length; i++) {
    const key = canonical(data[i]);
    const j = seen.get(key);
    if (j !== undefined) {
      self.errors = [
        { keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`, params: { i: j, j: i } },
      ];
      return false;
    }
    seen.set(key, i);
  }
  return true;
}

/** JSON with object keys sorted: equal JSON values (JSON Schema equality) give equal strings. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}
