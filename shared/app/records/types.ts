/** Use cases on a tenant's entity types: define (PUT), list and read. */
import { conflict } from '../../domain/errors';
import {
  DEFINITION_UNCHECKED,
  type TypeDefinition,
  type TypeSetCommand,
  TYPES_STREAM,
  typeSchemaToCheck,
  typeSetDecider,
} from '../../domain/type-set';
import { handleCommand } from '../command-handling/handle-command';
import type { OperationOptions } from '../../ports/options';
import type { CommandOptions } from '../request';
import { TenantService, type UserPrincipal } from '../service';
import { checkMarks } from '../erasure/marks';
import { author, projectInline, type RecordsContext } from './context';
import type { DefineTypeInput } from './inputs';
import { withStores } from '../tenants/with-stores';

/** Sets a type's schema: 201 for a new type, 200 for a changed or unchanged one. */
export async function defineType(
  ctx: RecordsContext,
  p: UserPrincipal,
  input: DefineTypeInput,
  options: CommandOptions,
): Promise<{ status: 200 | 201; definition: TypeDefinition }> {
  const { type, schema } = input;
  TenantService.require(p, 'manage');
  const unchecked: TypeSetCommand = { kind: 'setSchema', type, schema, definitionCheck: DEFINITION_UNCHECKED };
  // Personal-data marks (issue 14) are checked first: bad marks are 400, whatever else is wrong.
  checkMarks(schema);
  // Bad names and non-objects are refused before the sandbox compiles anything.
  const definitionCheck = await ctx.schemas.inspectDefinition(p.tenantId, type, typeSchemaToCheck(unchecked));
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events, projections }) => {
      let existed = false;
      const r = await handleCommand(
        events,
        TYPES_STREAM,
        typeSetDecider,
        (types) => {
          existed = types.has(type);
          return { ...unchecked, definitionCheck };
        },
        {
          meta: { author: author(p), correlationId: options.correlationId },
          ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
          load: async (store) => {
            const cache = await ctx.types.load(p.tenantId, store);
            return { state: cache.types, version: cache.version };
          },
          onConflict: () => conflict('Types were changed concurrently; retry.'),
        },
      );
      if (r.commit) await projectInline(ctx, events, projections, r.commit);
      return { status: existed ? 200 : 201, definition: r.state.get(type)! };
    },
    options,
  );
}

export async function listTypes(ctx: RecordsContext, p: UserPrincipal, options: OperationOptions = {}): Promise<TypeDefinition[]> {
  TenantService.require(p, 'read');
  return withStores(
    ctx.stores,
    p.tenantId,
    async ({ events }) => [...(await ctx.types.load(p.tenantId, events)).types.values()].sort((a, b) => a.type.localeCompare(b.type)),
    options,
  );
}

export async function getType(
  ctx: RecordsContext,
  p: UserPrincipal,
  { type }: { type: string },
  options: OperationOptions = {},
): Promise<TypeDefinition> {
  TenantService.require(p, 'read');
  return withStores(ctx.stores, p.tenantId, async ({ events }) => (await ctx.types.requireType(p.tenantId, events, type)).def, options);
}
