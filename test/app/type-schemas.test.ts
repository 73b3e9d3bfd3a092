import { afterAll, describe, expect, it } from 'vitest';
import { compileSchema, run } from '../../shared/app/type-schemas/engine';
import { TypeSchemaSandbox } from '../../shared/app/type-schemas';
import { MAX_KEYWORDS, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_UNIQUE_ITEMS } from '../../shared/app/type-schemas/limits';
import { inspectSchema } from '../../shared/app/type-schemas/rules';
import { rejectionOf } from '../support/rejection';

const messages = (schema: unknown) => inspectSchema(schema).map((p) => `${p.path}: ${p.message}`);

/** Problems of a strict compile, as "path: message" lines ([] = compiled). */
function strictProblems(schema: unknown): string[] {
  const c = compileSchema(schema, 'strict');
  return c.ok ? [] : c.problems.map((p) => `${p.path}: ${p.message}`);
}

function validator(schema: unknown, mode: 'strict' | 'stored' = 'strict') {
  const c = compileSchema(schema, mode);
  if (!c.ok) throw new Error(JSON.stringify(c.problems));
  return (data: unknown) => run(c.validate, data);
}

describe('rules: what a new schema may contain', () => {
  it('accepts an ordinary business schema, including recursion that descends into the data', () => {
    expect(
      messages({
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', pattern: '^[A-Z]' },
          parent: { $ref: '#' },
          tags: { type: 'array', uniqueItems: true, maxItems: 50, items: { $ref: '#/$defs/tag' } },
        },
        $defs: { tag: { type: 'string', maxLength: 20 } },
      }),
    ).toEqual([]);
  });

  it('refuses $async anywhere', () => {
    expect(messages({ $async: true, type: 'object' })).toEqual([expect.stringContaining('/$async: "$async" is not supported')]);
    expect(messages({ properties: { a: { $async: true } } })).toEqual([expect.stringContaining('/properties/a/$async')]);
  });

  it('refuses non-finite numbers (1e400 parses as Infinity), wherever they are', () => {
    expect(messages(JSON.parse('{"type":"number","maximum":1e400}'))).toEqual([
      expect.stringContaining('/maximum: numbers must be finite'),
    ]);
    expect(messages(JSON.parse('{"enum":[1,[-1e999]]}'))).toEqual([expect.stringContaining('/enum/1/0: numbers must be finite')]);
  });

  it('bounds size, keyword count and nesting', () => {
    const big = { type: 'object', description: 'x'.repeat(MAX_SCHEMA_BYTES) };
    expect(messages(big)).toEqual([expect.stringMatching(/^: the schema is \d+ bytes; at most 65536/)]);
    const many = { allOf: Array.from({ length: MAX_KEYWORDS }, () => ({ minimum: 1 })) };
    expect(messages(many)).toEqual([expect.stringContaining(`keywords; at most ${MAX_KEYWORDS}`)]);
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i <= MAX_SCHEMA_DEPTH; i++) deep = { type: 'object', properties: { a: deep } };
    expect(messages(deep)).toEqual([expect.stringContaining(`nested more than ${MAX_SCHEMA_DEPTH} levels`)]);
    let deepValue: unknown = 1;
    for (let i = 0; i < 200; i++) deepValue = [deepValue];
    expect(messages({ const: deepValue })).toEqual([expect.stringContaining('values are nested more than 128 levels')]);
  });

  it('uniqueItems only with a maxItems within the limit', () => {
    expect(messages({ type: 'array', uniqueItems: true })).toEqual([
      expect.stringContaining(`/uniqueItems: "uniqueItems" needs a "maxItems" of at most ${MAX_UNIQUE_ITEMS}`),
    ]);
    expect(messages({ type: 'array', uniqueItems: true, maxItems: MAX_UNIQUE_ITEMS + 1 })).toHaveLength(1);
    expect(messages({ type: 'array', uniqueItems: true, maxItems: MAX_UNIQUE_ITEMS })).toEqual([]);
    expect(messages({ type: 'array', uniqueItems: false })).toEqual([]);
  });

  it('patterns must run on RE2: backreferences and lookaround are refused by name; huge programs too', () => {
    expect(messages({ type: 'string', pattern: '^(a)\\1$' })).toEqual([
      expect.stringMatching(/^\/pattern: pattern "\^\(a\)\\\\1\$" cannot run on the linear-time \(RE2\) engine/),
    ]);
    expect(messages({ type: 'object', patternProperties: { '^(?!x)': {} } })).toEqual([
      expect.stringContaining('/patternProperties/^(?!x): pattern "^(?!x)" cannot run on the linear-time (RE2) engine'),
    ]);
    expect(messages({ type: 'string', pattern: '[a-z]{900}[0-9]{900}' })).toEqual([
      expect.stringContaining('is too large (RE2 program size'),
    ]);
    // Nested quantifiers are fine for RE2 (linear), and ECMAScript spellings are translated.
    expect(messages({ type: 'string', pattern: '^(a+)+$' })).toEqual([]);
    expect(messages({ type: 'string', pattern: '^\\u00e9(?<word>\\w+)\\/$' })).toEqual([]);
  });

  it('$ref cycles that never descend into the data are refused, with the loop', () => {
    expect(messages({ $ref: '#' })).toEqual([expect.stringContaining('refers back to itself (# → #)')]);
    expect(messages({ properties: { a: { $ref: '#/$defs/loop' } }, $defs: { loop: { allOf: [{ $ref: '#/$defs/loop' }] } } })).toEqual([
      expect.stringContaining('(/$defs/loop → /$defs/loop/allOf/0 → /$defs/loop)'),
    ]);
    expect(messages({ $id: 'urn:example:me', anyOf: [{ type: 'string' }, { $ref: 'urn:example:me' }] })).toHaveLength(1);
    expect(messages({ $defs: { a: { $anchor: 'here', not: { $ref: '#here' } } }, $ref: '#here' })).toHaveLength(1);
    expect(messages({ $defs: { a: { $ref: '#/$defs/b' }, b: { if: { $ref: '#/$defs/a' } } } })).toHaveLength(1);
    // Through a descending keyword it is ordinary recursion.
    expect(messages({ $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } }, $ref: '#/$defs/node' })).toEqual(
      [],
    );
  });
});

describe('engine: compiling and running one type', () => {
  it('strict vocabulary: unknown keywords and formats are named, with a suggestion; a wrapped body says so', () => {
    expect(strictProblems({ type: 'object', requred: ['a'] })).toEqual(['/requred: unknown keyword "requred" (did you mean "required"?)']);
    expect(strictProblems({ type: 'object', properties: { n: { type: 'string', minLenght: 1 } } })).toEqual([
      '/properties/n/minLenght: unknown keyword "minLenght" (did you mean "minLength"?)',
    ]);
    expect(strictProblems({ schema: { type: 'object' } })).toEqual([
      expect.stringContaining('/schema: unknown keyword "schema" (send the schema itself as the body'),
    ]);
    expect(strictProblems({ type: 'string', format: 'emial' })).toEqual(['/format: unknown format "emial" (did you mean "email"?)']);
    expect(strictProblems({ type: 'objekt' })).not.toEqual([]);
    expect(strictProblems({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object' })).toEqual([
      expect.stringContaining('only JSON Schema draft 2020-12'),
    ]);
    expect(
      strictProblems({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        title: 't',
        description: 'd',
        default: {},
        examples: [{}],
        $comment: 'c',
        deprecated: false,
        readOnly: false,
      }),
    ).toEqual([]);
  });

  it('patterns run on RE2: a catastrophic pattern for backtracking answers at once, with ECMAScript semantics for ordinary ones', () => {
    const v = validator({ type: 'string', pattern: '^(a+)+$' });
    expect(v(`${'a'.repeat(60)}b`)).toMatchObject({ valid: false, errors: [{ path: '', message: 'must match pattern "^(a+)+$"' }] });
    expect(v('a'.repeat(60))).toEqual({ valid: true });
    const p = validator({ type: 'object', patternProperties: { '^x-\\d+$': { type: 'integer' } } });
    expect(p({ 'x-1': 1, 'y-1': 'free' })).toEqual({ valid: true });
    expect(p({ 'x-12': 'no' })).toMatchObject({ valid: false, errors: [{ path: '/x-12', message: 'must be integer' }] });
    // A pattern is found anywhere in the string unless anchored (as in ECMAScript).
    expect(validator({ type: 'string', pattern: 'b' })('abc')).toEqual({ valid: true });
  });

  it('ownProperties: inherited properties do not satisfy required', () => {
    expect(validator({ type: 'object', required: ['toString'] })({})).toMatchObject({ valid: false, errors: [{ path: '/toString' }] });
  });

  it('uniqueItems compares JSON values (key order does not matter), and skips arrays already over maxItems', () => {
    const v = validator({ type: 'array', uniqueItems: true, maxItems: 1000 });
    expect(
      v([
        { a: 1, b: [1, { c: 2 }] },
        { b: [1, { c: 2 }], a: 1 },
      ]),
    ).toMatchObject({ valid: false, errors: [{ message: 'must NOT have duplicate items (items ## 0 and 1 are identical)' }] });
    expect(v([1, '1', [1], { 1: 1 }, null, true])).toEqual({ valid: true });
    const many = Array.from({ length: 9000 }, (_, i) => ({ i: i % 10 }));
    expect(v(many)).toEqual({ valid: false, errors: [{ path: '', message: 'must NOT have more than 1000 items' }] });
  });

  it('each compile is its own scope: ids of one type are unknown to another, and the same id can be used twice', () => {
    const a = {
      $id: 'https://schemas.example/address',
      type: 'object',
      required: ['secretA'],
      properties: { secretA: { type: 'string', pattern: '^A-[0-9]+$' } },
    };
    expect(strictProblems(a)).toEqual([]);
    expect(strictProblems({ $ref: 'https://schemas.example/address' })).toEqual([
      expect.stringContaining('$ref "https://schemas.example/address" does not resolve inside this type\'s schema'),
    ]);
    const b = validator({ $id: 'https://schemas.example/address', type: 'object', required: ['street'] });
    const out = b({});
    expect(out).toMatchObject({ valid: false, errors: [{ path: '/street' }] });
    expect(JSON.stringify(out)).not.toMatch(/secretA|A-\[0-9\]/);
  });

  it('a result other than true/false is a failure, never valid', () => {
    const fake = Object.assign(() => Promise.resolve(true), { errors: null }) as unknown as Parameters<typeof run>[0];
    expect(run(fake, {})).toEqual({ failed: 'the schema answered neither valid nor invalid' });
    const throwing = Object.assign(
      () => {
        throw new RangeError('Maximum call stack size exceeded');
      },
      { errors: null },
    ) as unknown as Parameters<typeof run>[0];
    expect(run(throwing, {})).toEqual({ failed: 'the schema recursed too deeply on this record' });
  });

  it('stored mode: bounds and vocabulary are relaxed (as the schema ran before), hard problems are not', () => {
    const old = {
      type: 'object',
      requred: ['x'],
      properties: { e: { type: 'string', format: 'emial' }, tags: { type: 'array', uniqueItems: true } },
    };
    expect(strictProblems(old)).toHaveLength(3);
    const v = validator(old, 'stored');
    expect(v({ e: 'anything', tags: [1, 2] })).toEqual({ valid: true });
    expect(v({ e: 5, tags: [1, 1] })).toMatchObject({ valid: false });
    for (const hard of [
      { $async: true, type: 'object' },
      { $ref: '#' },
      { type: 'string', pattern: '(a)\\1' },
      { type: 'number', maximum: null },
    ]) {
      const c = compileSchema(hard, 'stored');
      expect(c.ok, JSON.stringify(hard)).toBe(false);
    }
  });
});

describe('sandbox: schemas compile and run in worker threads', () => {
  const sandbox = new TypeSchemaSandbox();
  afterAll(() => sandbox.close());

  it('a definition is checked in a worker: 422 naming every problem; a good one resolves', async () => {
    await expect(sandbox.checkDefinition('acme', 't', { type: 'object', properties: { n: { type: 'string' } } })).resolves.toBeUndefined();
    const e = await rejectionOf(
      sandbox.checkDefinition('acme', 't', { type: 'object', requred: ['a'], properties: { p: { type: 'string', pattern: '(?=x)' } } }),
    );
    expect(e).toMatchObject({ name: 'AppError', code: 'unprocessable', status: 422 });
    expect((e as Error).message).toMatch(/^The schema is refused: \/requred: unknown keyword "requred"/);
    expect((e as { details: { errors: unknown[] } }).details.errors).toEqual([
      { path: '/requred', message: expect.stringContaining('unknown keyword') },
      { path: '/properties/p/pattern', message: expect.stringContaining('cannot run on the linear-time (RE2) engine') },
    ]);
    expect(sandbox.workersStarted).toBeGreaterThan(0);
  });

  it('validates records: field errors for invalid data; 409 for a stored schema that cannot run', async () => {
    const h = sandbox.handle('acme', 'customer', {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string', pattern: '^(a+)+$' } },
    });
    await expect(sandbox.validate('acme', h, { name: 'aaaa' })).resolves.toBeUndefined();
    const bad = await rejectionOf(sandbox.validate('acme', h, { name: `${'a'.repeat(60)}b` }));
    expect(bad).toMatchObject({
      code: 'unprocessable',
      message: 'The record does not match the schema of its type.',
      details: { errors: [{ path: '/name' }] },
    });
    const old = sandbox.handle('acme', 'old', { $async: true, type: 'object' });
    const e = await rejectionOf(sandbox.validate('acme', old, {}));
    expect(e).toMatchObject({ code: 'conflict', status: 409 });
    expect((e as Error).message).toContain('an administrator redefines the type');
  });

  it('a compile over its budget is stopped (422) and the next task gets a fresh worker', async () => {
    const tight = new TypeSchemaSandbox({ workers: 2, budgets: { defineMs: 30 } });
    try {
      const props = Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`f${i}`, { type: 'string' }]));
      const started = tight.workersStarted;
      const e = await rejectionOf(tight.checkDefinition('slow', 'big', { type: 'object', properties: props }));
      expect(e).toMatchObject({ code: 'unprocessable', message: expect.stringContaining('did not compile within') });
      // Only definitions have the tight budget: a validation (1 s) on a fresh worker succeeds.
      await expect(tight.validate('slow', tight.handle('slow', 'small', { type: 'object' }), {})).resolves.toBeUndefined();
      expect(tight.workersStarted).toBeGreaterThan(started + 1);
    } finally {
      await tight.close();
    }
  });

  it('one tenant keeps at most one of two workers busy: another tenant is served while its compile runs', async () => {
    const s = new TypeSchemaSandbox({ workers: 2 });
    try {
      // Warm both workers.
      await Promise.all([s.checkDefinition('a', 'w', { type: 'object' }), s.checkDefinition('b', 'w', { type: 'object' })]);
      const order: string[] = [];
      const props = Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`f${i}`, { type: 'string' }]));
      const big = s.checkDefinition('a', 'big', { type: 'object', properties: props }).then(() => order.push('a-big'));
      const second = s.checkDefinition('a', 'small', { type: 'object' }).then(() => order.push('a-small'));
      const other = s.validate('b', s.handle('b', 't', { type: 'object' }), {}).then(() => order.push('b'));
      await Promise.all([big, second, other]);
      expect(order).toEqual(['b', 'a-big', 'a-small']);
    } finally {
      await s.close();
    }
  });
});
