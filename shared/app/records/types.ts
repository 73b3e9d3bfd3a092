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
import { type RequestInfo, TenantService, type UserPrincipal } from '../service';
import { author, projectInline, type RecordsContext } from './context';

/** Sets a type's schema: 201 for a new type, 200 for a changed or unchanged one. */
export async function defineType(
  ctx: RecordsContext,
  p: UserPrincipal,
  type: string,
  schema: unknown,
  req: RequestInfo,
): Promise<{ status: 200 | 201; definition: TypeDefinition }> {
  TenantService.require(p, 'manage');
  const unchecked: TypeSetCommand = { kind: 'setSchema', type, schema, definitionCheck: DEFINITION_UNCHECKED };
  // Bad names and non-objects are refused before the sandbox compiles anything.
  const definitionCheck = await ctx.schemas.inspectDefinition(p.tenantId, type, typeSchemaToCheck(unchecked));
  const { events, projections } = await ctx.tenants.stores(p.tenantId);
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
      meta: { author: author(p), correlationId: req.correlationId },
      load: async (store) => {
        const cache = await ctx.types.load(p.tenantId, store);
        return { state: cache.types, version: cache.version };
      },
      onConflict: () => conflict('Types were changed concurrently; retry.'),
    },
  );
  if (r.commit) await projectInline(ctx, events, projections, r.commit);
  return { status: existed ? 200 : 201, definition: r.state.get(type)! };
}

export async function listTypes(ctx: RecordsContext, p: UserPrincipal): Promise<TypeDefinition[]> {
  TenantService.require(p, 'read');
  const { events } = await ctx.tenants.stores(p.tenantId);
  return [...(await ctx.types.load(p.tenantId, events)).types.values()].sort((a, b) => a.type.localeCompare(b.type));
}

export async function getType(ctx: RecordsContext, p: UserPrincipal, type: string): Promise<TypeDefinition> {
  TenantService.require(p, 'read');
  const { events } = await ctx.tenants.stores(p.tenantId);
  return (await ctx.types.requireType(p.tenantId, events, type)).def;
}
