import { StatusCodes } from '@azure/cosmos';
import type { Container, CosmosClient, Database } from '@azure/cosmos';
import { conflict, isAppError, notFound, validation } from '../../domain/errors';
import type { EventStore } from '../../ports/event-store';
import type { ProjectionStore } from '../../ports/projection-store';
import type { Clock } from '../../ports/runtime';
import type {
  CreateTenantStoreOptions,
  LogFingerprintOptions,
  TenantDirectory,
  TenantMeta,
  TenantStatus,
} from '../../ports/tenant-directory';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';
import { DataPlaneContainerAdmin, type ContainerAdmin } from './container-admin';
import { CosmosEventStore, cosmosStatus } from './cosmos-event-store';
import { CosmosProjectionStore } from './cosmos-projection-store';
import { CosmosDeliveryPositions } from './cosmos-delivery-positions';
import type { DeliveryPositionStore } from '../../ports/delivery-positions';

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

/** System fields, and `claimed` (the multi-account claim's mark, never part of TenantMeta). */
const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_attachments', '_ts', 'claimed'] as const;

function toMeta(doc: TenantMetaDocument): TenantMeta {
  const { id: _docId, streamId: _p, kind: _k, tenantId, ...rest } = doc;
  const meta: Record<string, unknown> = { ...rest, id: tenantId };
  for (const f of SYSTEM_FIELDS) delete meta[f];
  return meta as unknown as TenantMeta;
}

const CONTAINER_PREFIX = 'tenant-';
const PARTITION_KEY_PATH = '/streamId';

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
 * in one database. There is no table of tenants: the tenant's meta is a document inside its
 * own container, and containers are created and deleted by a ContainerAdmin: the data plane
 * (account key, emulator, local server) or Azure Resource Manager (Entra auth in Azure).
 *
 * How an id is claimed atomically (concurrent creates of one id: exactly one wins):
 * - Data plane: creating the container is the claim. Cosmos answers 409 to the second
 *   create, so the creator owns the container and alone may delete it again if writing the
 *   meta fails.
 * - ARM: a PUT is create-or-update, so two concurrent PUTs both "succeed" and neither
 *   learns who created the container. The claim is the meta document instead: it has a
 *   fixed id (`tenant`, partition `$tenant`) and is written with a data-plane `create`,
 *   which data-plane RBAC allows and to which Cosmos answers 409 if it exists. Of concurrent
 *   creators, both PUTs end with the container in place and exactly one meta create
 *   succeeds; the others get 409 = "taken". No shared container or registry of tenant ids is
 *   needed, so tenants stay isolated. Because no creator knows it owns the container, a
 *   failed meta write does NOT delete it (it might be another creator's just-claimed
 *   tenant): the empty container has no meta, so it is not a tenant (getMeta → undefined,
 *   open* → not_found), and the next create of that id reuses it (PUT again, then claim).
 *   Before any ARM call, the meta is read: an id that is taken gets its 409 at once, and a
 *   live tenant's container receives no PUT (only a creator racing another creator's
 *   first seconds can PUT the same, unchanged definition again, which ARM treats as an
 *   update with nothing to change).
 *
 * A container of the database without meta (a create that failed or crashed halfway) is
 * listed by listTenantIds; callers check the meta.
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
  private readonly containers: ContainerAdmin;

  /**
   * @param database the database holding the tenant containers (created by infra, not here).
   * @param ownedClient a client this directory owns: disposed by close(). Leave it out when
   *   the caller keeps using the client after the directory is closed.
   * @param containers creates and deletes tenant containers; default: the data plane of
   *   `database` (an ArmContainerAdmin under Entra auth, which is given `database` to confirm
   *   its operations on).
   */
  constructor(
    private readonly database: Database,
    private readonly clock: Clock,
    private readonly ownedClient?: CosmosClient,
    containers: ContainerAdmin = new DataPlaneContainerAdmin(database),
  ) {
    this.containers = containers.withDatabase?.(database) ?? containers;
  }

  /** A directory over database `databaseId` of `client`; with `owns`, close() disposes the client. */
  static fromClient(client: CosmosClient, databaseId: string, clock: Clock, owns = false): CosmosTenantDirectory {
    return new CosmosTenantDirectory(client.database(databaseId), clock, owns ? client : undefined);
  }

  private container(id: string): Container {
    return this.database.container(tenantContainerId(id));
  }

  async create(meta: TenantMeta, options: CreateTenantStoreOptions = {}): Promise<void> {
    if (!isUsableTenantId(meta.id)) throw validation('The tenant id cannot be used as a store name.');
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    const containerId = tenantContainerId(meta.id);
    const taken = () => conflict(`The tenant id "${meta.id}" is taken.`);
    // Fast path, not the claim: a taken id fails here without touching the control plane.
    if (await this.getMeta(meta.id, { abortSignal })) throw taken();
    const outcome = await this.containers.create(containerId, PARTITION_KEY_PATH, { abortSignal });
    // Data plane: the container create was the claim, and someone else made it.
    if (outcome === 'exists') throw taken();
    const { id: tenantId, ...rest } = meta;
    const doc: TenantMetaDocument = { ...rest, tenantId, id: META_ID, streamId: META_PARTITION, kind: 'tenant-meta' };
    try {
      // 'created': cannot conflict (the container is ours). 'ensured' (ARM): this is the claim.
      throwIfAborted(abortSignal);
      await this.database.container(containerId).items.create(doc, { abortSignal });
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.Conflict) throw taken();
      // Without its meta the container would be a tenant nobody can open: give the id back.
      // Only the container's creator may delete it; after an ARM create-or-update nobody
      // knows who that is, so the container stays, meta-less, for the next create to reuse.
      if (outcome === 'created') await this.containers.delete(containerId).catch(() => undefined);
      throw e;
    }
    if (!options.populate) return;
    // The id is ours: fill the store, then mark it ready. A crash in between leaves a
    // "creating" tenant, which a later create of the id reclaims (TenantService).
    try {
      await options.populate(await this.openEventStore(meta.id, { abortSignal }));
      await this.setStatus(meta.id, 'ready', { abortSignal });
    } catch (e) {
      await this.destroy(meta.id).catch(() => undefined);
      throw e;
    }
  }

  async getMeta(id: string, options: OperationOptions = {}): Promise<TenantMeta | undefined> {
    if (!isUsableTenantId(id)) return undefined;
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      const { resource, statusCode } = await this.container(id).item(META_ID, META_PARTITION).read<TenantMetaDocument>({ abortSignal });
      if (statusCode === StatusCodes.NotFound || !resource) return undefined;
      return toMeta(resource);
    } catch (e) {
      // 404 = no such container (tenant never created or destroyed) or no meta document.
      if (cosmosStatus(e) === StatusCodes.NotFound) return undefined;
      throw e;
    }
  }

  /**
   * Multi-account claims (multi-account-directory.ts): where this account stands on `id`:
   * no meta, a meta whose cross-account check is still running, or a meta marked claimed.
   */
  async claimState(id: string, options: OperationOptions = {}): Promise<'absent' | 'pending' | 'claimed'> {
    if (!isUsableTenantId(id)) return 'absent';
    throwIfAborted(options.abortSignal);
    try {
      const { resource } = await this.container(id)
        .item(META_ID, META_PARTITION)
        .read<TenantMetaDocument & { claimed?: boolean }>({ abortSignal: options.abortSignal });
      if (!resource) return 'absent';
      // A tenant past "creating" finished its claim (also one from before claims were marked).
      return resource.claimed === true || resource.status !== 'creating' ? 'claimed' : 'pending';
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.NotFound) return 'absent';
      throw e;
    }
  }

  /** Marks this account's meta of `id` as the winner of the cross-account claim. */
  async markClaimed(id: string, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    await this.container(id)
      .item(META_ID, META_PARTITION)
      .patch([{ op: 'set', path: '/claimed', value: true }], { abortSignal: options.abortSignal });
  }

  async setStatus(id: string, status: TenantStatus, options: OperationOptions = {}): Promise<void> {
    if (!isUsableTenantId(id)) throw notFound(`Tenant "${id}" does not exist.`);
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      await this.container(id)
        .item(META_ID, META_PARTITION)
        .patch([{ op: 'set', path: '/status', value: status }], { abortSignal });
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.NotFound) throw notFound(`Tenant "${id}" does not exist.`);
      throw e;
    }
  }

  async openEventStore(id: string, options: OperationOptions = {}): Promise<EventStore> {
    throwIfAborted(options.abortSignal);
    const cached = this.stores.get(id);
    if (cached) return cached;
    if (!(await this.getMeta(id, options))) throw notFound(`Tenant "${id}" does not exist.`);
    // Re-check: a concurrent open may have cached one meanwhile; keep a single instance.
    const again = this.stores.get(id);
    if (again) return again;
    const store = new CosmosEventStore(id, this.container(id), this.clock);
    this.stores.set(id, store);
    return store;
  }

  async openProjectionStore(id: string, options: OperationOptions = {}): Promise<ProjectionStore> {
    throwIfAborted(options.abortSignal);
    const cached = this.projections.get(id);
    if (cached) return cached;
    if (!(await this.getMeta(id, options))) throw notFound(`Tenant "${id}" does not exist.`);
    const again = this.projections.get(id);
    if (again) return again;
    const store = new CosmosProjectionStore(this.container(id));
    this.projections.set(id, store);
    return store;
  }

  async openDeliveryPositions(id: string, options: OperationOptions = {}): Promise<DeliveryPositionStore> {
    throwIfAborted(options.abortSignal);
    if (!(await this.getMeta(id, options))) throw notFound(`Tenant "${id}" does not exist.`);
    return new CosmosDeliveryPositions(this.container(id));
  }

  /**
   * The tenant's change-feed position at its end now (CosmosEventStore.feedFingerprint): an
   * unchanged tenant costs one 304 per partition key range and no document read, so the
   * projector's sweep and incremental backups skip it as on the embedded store. Undefined
   * when the tenant has no container or meta.
   */
  async logFingerprint(id: string, options: LogFingerprintOptions = {}): Promise<string | undefined> {
    if (!isUsableTenantId(id)) return undefined;
    try {
      await this.openEventStore(id, options);
      const store = this.stores.get(id);
      return store ? await store.feedFingerprint(options) : undefined;
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.NotFound || (isAppError(e) && e.code === 'not_found')) return undefined;
      throw e;
    }
  }

  /**
   * Every container of the database named `tenant-<id>`, whatever its meta says (a tenant
   * still "creating" is listed too; callers check the meta). Containers are listed by the
   * data plane (`readAll` of the database's collections), paged by the SDK.
   */
  async listTenantIds(options: OperationOptions = {}): Promise<string[]> {
    throwIfAborted(options.abortSignal);
    const { resources } = await this.database.containers.readAll({ abortSignal: options.abortSignal }).fetchAll();
    return resources
      .map((c) => c.id)
      .filter((cid) => cid.startsWith(CONTAINER_PREFIX) && cid.length > CONTAINER_PREFIX.length)
      .map((cid) => cid.slice(CONTAINER_PREFIX.length))
      .sort();
  }

  async destroy(id: string, options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    this.stores.delete(id);
    this.projections.delete(id);
    if (!isUsableTenantId(id)) return;
    await this.containers.delete(tenantContainerId(id), options);
  }

  async close(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.abortSignal);
    this.stores.clear();
    this.projections.clear();
    this.ownedClient?.dispose();
  }
}
