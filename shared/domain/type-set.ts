/**
 * The entity types of a tenant (its type set), event-sourced on one stream: pure decide/evolve.
 * A type is a name and a JSON Schema its records must match; setting the same schema again
 * changes nothing.
 */
import type { CommitOf, Decider } from './decider';
import { type FieldError, unprocessable } from './errors';
import { assertNever, type Author, type NewEvent } from './events';
import { type Change, diff, isPlainObject } from './json';
import { assertTypeName } from './records';

export const TYPES_STREAM = 'types';

export type TypeEvent = NewEvent<'TypeSchemaSet', { type: string; schema: Record<string, unknown>; changes: Change[] }>;

export interface TypeDefinition {
  type: string;
  schema: Record<string, unknown>;
  /** Version of the types stream that last set it. */
  version: number;
  updatedAt: string;
  updatedBy: Author;
}

/** The type set: definitions by type name. */
export type TypeSet = ReadonlyMap<string, TypeDefinition>;

/**
 * The outcome of checking a schema before it is accepted (compiled under limits in the worker
 * sandbox, shared/app/type-schemas): the application runs the check and passes the outcome in.
 * `unchecked`: {@link typeSchemaToCheck} said there was nothing to check.
 */
export type DefinitionCheck = { outcome: 'accepted' } | { outcome: 'refused'; problems: FieldError[] } | { outcome: 'unchecked' };
export const DEFINITION_UNCHECKED: DefinitionCheck = { outcome: 'unchecked' };

export type TypeSetCommand = { kind: 'setSchema'; type: string; schema: unknown; definitionCheck: DefinitionCheck };

/**
 * The type-set decider. Order of the checks: type name (400) → the schema is a JSON object
 * (422) → the schema check (422, naming every problem) → unchanged schema (no events).
 */
export function decideTypeSet(cmd: TypeSetCommand, types: TypeSet): TypeEvent[] {
  switch (cmd.kind) {
    case 'setSchema': {
      const schema = typeSchemaToCheck(cmd);
      const check = cmd.definitionCheck;
      switch (check.outcome) {
        case 'accepted':
          break;
        case 'refused':
          throw definitionRefusal(check.problems);
        case 'unchecked':
          // A caller bug, not bad input: the schema was never checked.
          throw new Error(`type "${cmd.type}" decided without a schema check`);
        default:
          return assertNever(check, 'definition check');
      }
      const changes = diff(types.get(cmd.type)?.schema, schema, '/schema');
      return changes.length === 0 ? [] : [{ type: 'TypeSchemaSet', data: { type: cmd.type, schema, changes } }];
    }
    default:
      return assertNever(cmd.kind, 'type set command');
  }
}

/**
 * The schema the sandbox must check for `cmd`; throws what the command is refused for before
 * any check (a bad type name, a schema that is not a JSON object).
 */
export function typeSchemaToCheck(cmd: TypeSetCommand): Record<string, unknown> {
  assertTypeName(cmd.type);
  if (!isPlainObject(cmd.schema)) throw unprocessable('A type schema is a JSON Schema object.');
  return cmd.schema;
}

/** The error for a schema the check refused: the first problem in the message, all of them in `errors`. */
export function definitionRefusal(problems: FieldError[]): ReturnType<typeof unprocessable> {
  const first = problems[0] ? `${problems[0].path || '(root)'}: ${problems[0].message}` : 'unknown problem';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more, see errors)` : '';
  return unprocessable(`The schema is refused: ${first}${more}.`, problems);
}

/** Folds one commit of the types stream into `types`, in place (for loaders that own their map). */
export function evolveTypes(types: Map<string, TypeDefinition>, commit: CommitOf): Map<string, TypeDefinition> {
  for (const e of commit.events as TypeEvent[]) {
    if (e.type === 'TypeSchemaSet') {
      types.set(e.data.type, {
        type: e.data.type,
        schema: e.data.schema,
        version: commit.version,
        updatedAt: commit.timestamp,
        updatedBy: commit.author,
      });
    }
  }
  return types;
}

export const typeSetDecider: Decider<TypeSetCommand, TypeEvent, TypeSet> = {
  decide: decideTypeSet,
  evolve: (types, commit) => evolveTypes(new Map(types), commit),
  initialState: () => new Map(),
};
