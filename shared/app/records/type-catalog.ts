/**
 * The entity types of each tenant, folded from its `types` stream and cached: the stream is
 * re-read only when it moved. Also caches the sandbox handle of each type's schema.
 */
import { notFound } from '../../domain/errors';
import { assertTypeName } from '../../domain/records';
import { evolveTypes, TYPES_STREAM, type TypeDefinition } from '../../domain/type-set';
import type { EventStore } from '../../ports/event-store';
import { readStreamPages } from '../record-reader';
import type { SchemaHandle, TypeSchemaSandbox } from '../type-schemas';

export interface TypesCache {
  version: number;
  types: Map<string, TypeDefinition>;
  validators: Map<string, SchemaHandle>;
}

export class TypeCatalog {
  private readonly cache = new Map<string, TypesCache>();

  constructor(private readonly schemas: TypeSchemaSandbox) {}

  /** Drops the cached types of a tenant (after a scratch tenant is removed). */
  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  /** Types of a tenant, folded from the `types` stream; re-read only when it moved. */
  async load(tenantId: string, events: EventStore): Promise<TypesCache> {
    const version = await events.streamVersion(TYPES_STREAM);
    let cache = this.cache.get(tenantId);
    if (cache && cache.version === version) return cache;
    const from = cache && cache.version < version ? cache.version + 1 : 1;
    const types = from === 1 ? new Map<string, TypeDefinition>() : new Map(cache!.types);
    const validators = from === 1 ? new Map<string, SchemaHandle>() : new Map(cache!.validators);
    let last = version;
    for await (const page of readStreamPages(events, TYPES_STREAM, { fromVersion: from })) {
      for (const c of page) {
        evolveTypes(types, c);
        for (const e of c.events) validators.delete((e.data as { type: string }).type);
        last = c.version;
      }
    }
    cache = { version: last, types, validators };
    this.cache.set(tenantId, cache);
    return cache;
  }

  /** A type of the tenant with its schema handle; 404 for a type that is not defined. */
  require(cache: TypesCache, type: string, tenantId: string): { def: TypeDefinition; schema: SchemaHandle } {
    assertTypeName(type);
    const def = cache.types.get(type);
    if (!def) throw notFound(`Unknown type "${type}".`);
    let schema = cache.validators.get(type);
    if (!schema) {
      schema = this.schemas.handle(tenantId, type, def.schema);
      cache.validators.set(type, schema);
    }
    return { def, schema };
  }

  /** `require` after loading the tenant's types. */
  async requireType(tenantId: string, events: EventStore, type: string): Promise<{ def: TypeDefinition; schema: SchemaHandle }> {
    return this.require(await this.load(tenantId, events), type, tenantId);
  }
}
