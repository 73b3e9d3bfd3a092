/** Given/when/then specification of the type-set decider (shared/domain/type-set.ts): every rule, in its order. */
import { describe, expect, it } from 'vitest';
import type { FieldError } from '../../shared/domain/errors';
import {
  DEFINITION_UNCHECKED,
  type DefinitionCheck,
  type TypeEvent,
  type TypeSetCommand,
  typeSchemaToCheck,
  typeSetDecider,
} from '../../shared/domain/type-set';
import { DeciderSpecification, GIVEN_AUTHOR, GIVEN_TIME } from '../support/decider-specification';

const given = DeciderSpecification.for(typeSetDecider);
const ACCEPTED = { outcome: 'accepted' } as const;
const schemaV1 = { type: 'object', properties: { name: { type: 'string' } } };
const schemaV2 = { type: 'object', properties: { name: { type: 'string', maxLength: 9 } } };
const set = (type: string, schema: unknown, definitionCheck: DefinitionCheck = ACCEPTED): TypeSetCommand => ({
  kind: 'setSchema',
  type,
  schema,
  definitionCheck,
});
const setEvent = (type: string, schema: Record<string, unknown>): TypeEvent => ({
  type: 'TypeSchemaSet',
  data: { type, schema, changes: [] },
});

describe('type-set decider', () => {
  it('a new type: its schema, every leaf as a change under /schema', () =>
    given([])
      .when(set('customer', { type: 'object' }))
      .thenEmits([
        {
          type: 'TypeSchemaSet',
          data: { type: 'customer', schema: { type: 'object' }, changes: [{ path: '/schema/type', new: 'object' }] },
        },
      ]));

  it('a changed schema records only what changed', () =>
    given([setEvent('customer', schemaV1)])
      .when(set('customer', schemaV2))
      .thenEmits([
        {
          type: 'TypeSchemaSet',
          data: { type: 'customer', schema: schemaV2, changes: [{ path: '/schema/properties/name/maxLength', new: 9 }] },
        },
      ]));

  it('the same schema again changes nothing; another type is independent', () => {
    given([setEvent('customer', schemaV1)])
      .when(set('customer', structuredClone(schemaV1)))
      .thenNothing();
    given([setEvent('customer', schemaV1)])
      .when(set('order', schemaV1))
      .thenEmits([
        {
          type: 'TypeSchemaSet',
          data: {
            type: 'order',
            schema: schemaV1,
            changes: [
              { path: '/schema/type', new: 'object' },
              { path: '/schema/properties/name/type', new: 'string' },
            ],
          },
        },
      ]);
  });

  it('refuses a bad type name (400) before anything else', () => {
    for (const name of ['', 'Customer', '1st', 'a'.repeat(41), 'a b', '../x'])
      given([])
        .when(set(name, 'not even a schema', DEFINITION_UNCHECKED))
        .thenThrows({ code: 'validation', message: 'Type names' });
  });

  it('refuses a schema that is not a JSON object (422)', () => {
    for (const schema of [null, [], 'object', 7])
      given([]).when(set('customer', schema)).thenThrows({ code: 'unprocessable', message: 'JSON Schema object' });
  });

  it('refuses a schema the check refused (422), naming the first problem and carrying all of them', () => {
    const problems: FieldError[] = [
      { path: '/properties/a/pattern', message: 'lookahead is not supported' },
      { path: '', message: 'unknown keyword "requred"' },
    ];
    given([])
      .when(set('customer', { type: 'object' }, { outcome: 'refused', problems }))
      .thenThrows(
        (e) =>
          (e as { code?: string }).code === 'unprocessable' &&
          (e as Error).message === 'The schema is refused: /properties/a/pattern: lookahead is not supported (and 1 more, see errors).' &&
          (e as { details: { errors: FieldError[] } }).details.errors === problems,
      );
    // Also when the schema would not change: a stored schema the service now refuses stays refused.
    given([setEvent('customer', schemaV1)])
      .when(set('customer', schemaV1, { outcome: 'refused', problems: [problems[1]!] }))
      .thenThrows({
        code: 'unprocessable',
        message: /^The schema is refused: \(root\): unknown keyword "requred"\.$/,
      });
  });

  it('never decides an unchecked schema (a caller bug, not an AppError)', () =>
    given([])
      .when(set('customer', { type: 'object' }, DEFINITION_UNCHECKED))
      .thenThrows((e) => (e as { name?: string }).name === 'Error' && /without a schema check/.test((e as Error).message)));

  it('evolve: each type at the version, time and author of the commit that last set it, without touching the given state', () => {
    const spec = given([
      setEvent('customer', schemaV1),
      { events: [setEvent('order', schemaV1), setEvent('customer', schemaV2)], version: 2, timestamp: 'T2' },
    ]);
    const types = spec.state();
    expect([...types.keys()].sort()).toEqual(['customer', 'order']);
    expect(types.get('customer')).toEqual({ type: 'customer', schema: schemaV2, version: 2, updatedAt: 'T2', updatedBy: GIVEN_AUTHOR });
    const before = given([setEvent('customer', schemaV1)]).state();
    const after = typeSetDecider.evolve(before, { version: 2, timestamp: GIVEN_TIME, author: GIVEN_AUTHOR, events: [setEvent('x', {})] });
    expect(before.has('x')).toBe(false);
    expect(after.has('x')).toBe(true);
  });

  it('typeSchemaToCheck: the schema the sandbox must check, after the name and object rules', () => {
    expect(typeSchemaToCheck(set('customer', schemaV1, DEFINITION_UNCHECKED))).toBe(schemaV1);
    expect(() => typeSchemaToCheck(set('Bad', schemaV1, DEFINITION_UNCHECKED))).toThrow(/Type names/);
    expect(() => typeSchemaToCheck(set('customer', [], DEFINITION_UNCHECKED))).toThrow(/JSON Schema object/);
  });
});
