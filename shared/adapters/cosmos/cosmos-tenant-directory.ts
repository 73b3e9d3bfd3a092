import { StatusCodes } from '@azure/cosmos';
import type { Container, CosmosClient, Database } from '@azure/cosmos';
import { conflict, notFound, validation } from '../../domain/errors';
import type { EventStore } from '../../ports/event-store';
import type { ProjectionStore } from '../../ports/projection-store';
import type { Clock } from '../../ports/runtime';
import type { TenantDirectory, TenantMeta, TenantStatus } from '../../ports/tenant-directory';
import { CosmosEventStore, cosmosStatus } from './cosmos-event-store';
import { CosmosProjectionStore } from './cosmos-projection-store';

/** Where a tenant's meta lives inside its own container. */
const META_ID = 'tenant';
const META_PARTITION = '$tenant';

/**
 * The meta document. TenantMeta's own `id` is stored as `tenantId`, because `id` is the
 * document id (`"tenant"`), fixed so that a tenant's container holds exactly one.
 */
interface TenantMetaDocument extends Omit<TenantMeta, 'id'> {
  id: typeof META_ID;
  streamId: typeof META_PARTITION;
  kind: 'tenant-meta';
  tenantId: string;
}

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_attachments', '_ts'] as const;

function toMeta(doc: TenantMetaDocument): TenantMeta {
  const { id: _docId, streamId: _p, kind: _k, tenantId, ...rest } = doc;
  const meta: Record<string, unknown> = { ...rest, id: tenantId };
  for (const f of SYSTEM_FIELDS) delete meta[f];
  return meta as unknown as TenantMeta;
}

const CONTAINER_PREFIX = 'tenant-';

/** The container that holds one tenant: its event streams, projections and users. */
export function tenantContainerId(tenantId: string): string {
  return `${CONTAINER_PREFIX}${tenantId}`;
}

/**
 * Cosmos resource ids may not contain / \ ? # and may not end with a space; 255 chars max.
 * Returns false for ids that cannot name a container (such a tenant cannot exist).
 */
function isUsableTenantId(id: string): boolean {
  return id.length > 0 && tenantContainerId(id).length <= 255 && !/[/\\?#]/.test(id) && !id.endsWith(' ');
}

/**
 * Tenants in Cosmos DB: one container per tenant (`tenant-<id>`, partition key `/streamId`)
 * in one database. There is no table of tenants: creating the container is what claims an id
 * (Cosmos answers 409 to the second create, so concurrent claims of one id have one winner),
 * and the tenant's meta is a document inside its own container.
 *
 * Capacity: an account holds at most 500 databases + containers together, a hard limit that
 * support cannot raise. Beyond that, tenants must be spread over several accounts, and this
 * adapter is the only place that would change: it alone maps a tenant id to where it lives
 * (today: one database of one account; then: e.g. a hash of the id or a routing record
 * choosing the account). Nothing else in the service knows about containers or accounts.
 */
export class CosmosTenantDirectory implements TenantDirectory {
  private readonly stores = new Map<string, CosmosEventStore>();
  private readonly projections = new Map<string, CosmosProjectionStore>();

  /**
   * @param database the database holding the tenant containers (created by infra, not here).
   * @param ownedClient a client this directory owns: disposed by close(). Leave it out when
   *   the caller keeps using the client after the directory is closed.
   */
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly ownedClient?: CosmosClient,
  ) {}

  /** A directory over database `databaseId` of `client`; with `owns`, close() disposes the client. */
  static fromClient(client: CosmosClient, databaseId: string, clock: Clock, owns = false): CosmosTenantDirectory {
    return new CosmosTenantDirectory(client.database(databaseId), clock, owns ? client : undefined);
  }

  private container(id: string): Container {
    return this.database.container(tenantContainerId(id));
  }

  async create(meta: TenantMeta): Promise<void> {
    if (!isUsableTenantId(meta.id)) throw validation('The tenant id cannot be used as a store name.');
    const containerId = tenantContainerId(meta.id);
    try {
      await this.database.containers.create({ id: containerId, partitionKey: { paths: ['/streamId'] } });
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.Conflict) throw conflict(`The tenant id "${meta.id}" is taken.`);
      throw e;
    }
    const { id: tenantId, ...rest } = meta;
    const doc: TenantMetaDocument = { ...rest, tenantId, id: META_ID, streamId: META_PARTITION, kind: 'tenant-meta' };
    try {
      await this.database.container(containerId).items.create(doc);
    } catch (e) {
      // Without its meta the container would be a tenant nobody can open: give the id back.
      await this.database
        .container(containerId)
        .delete()
        .catch(() => undefined);
      throw e;
    }
  }

  async getMeta(id: string): Promise<TenantMeta | undefined> {
    if (!isUsableTenantId(id)) return undefined;
    try {
      const { resource, statusCode } = await this.container(id).item(META_ID, META_PARTITION).read<TenantMetaDocument>();
      if (statusCode === StatusCodes.NotFound || !resource) return undefined;
      return toMeta(resource);
    } catch (e) {
      // 404 = no such container (tenant never created or destroyed) or no meta document.
      if (cosmosStatus(e) === StatusCodes.NotFound) return undefined;
      throw e;
    }
  }

  async setStatus(id: string, status: TenantStatus): Promise<void> {
    if (!isUsableTenantId(id)) throw notFound(`Tenant "${id}" does not exist.`);
    try {
      await this.container(id).item(META_ID, META_PARTITION).patch([{ op: 'set', path: '/status', value: status }]);
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.NotFound) throw notFound(`Tenant "${id}" does not exist.`);
      throw e;
    }
  }

  async openEventStore(id: string): Promise<EventStore> {
    const cached = this.stores.get(id);
    if (cached) return cached;
    if (!(await this.getMeta(id))) throw notFound(`Tenant "${id}" does not exist.`);
    // Re-check: a concurrent open may have cached one meanwhile; keep a single instance.
    const again = this.stores.get(id);
    if (again) return again;
    const store = new CosmosEventStore(id, this.container(id), this.clock);
    this.stores.set(id, store);
    return store;
  }

  async openProjectionStore(id: string): Promise<ProjectionStore> {
    const cached = this.projections.get(id);
    if (cached) return cached;
    if (!(await this.getMeta(id))) throw notFound(`Tenant "${id}" does not exist.`);
    const again = this.projections.get(id);
    if (again) return again;
    const store = new CosmosProjectionStore(this.container(id));
    this.projections.set(id, store);
    return store;
  }

  /**
   * Every container of the database named `tenant-<id>`, whatever its meta says (a tenant
   * still "creating" is listed too; callers check the meta). Containers are listed by the
   * data plane (`readAll` of the database's collections), paged by the SDK.
   */
  async listTenantIds(): Promise<string[]> {
    const { resources } = await this.database.containers.readAll().fetchAll();
    return resources
      .map((c) => c.id)
      .filter((cid) => cid.startsWith(CONTAINER_PREFIX) && cid.length > CONTAINER_PREFIX.length)
      .map((cid) => cid.slice(CONTAINER_PREFIX.length))
      .sort();
  }

  async destroy(id: string): Promise<void> {
    this.stores.delete(id);
    this.projections.delete(id);
    if (!isUsableTenantId(id)) return;
    try {
      await this.container(id).delete();
    } catch (e) {
      if (cosmosStatus(e) !== StatusCodes.NotFound) throw e;
    }
  }

  async close(): Promise<void> {
    this.stores.clear();
    this.projections.clear();
    this.ownedClient?.dispose();
  }
}
