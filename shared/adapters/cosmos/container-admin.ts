import { StatusCodes } from '@azure/cosmos';
import type { Database } from '@azure/cosmos';
import type { OperationOptions } from '../../ports/options';
import { throwIfAborted } from '../abort';
import { cosmosStatus } from './cosmos-event-store';

/**
 * What creating a container achieved:
 * - `created`: this call created it, and of concurrent calls for one id only one can get
 *   `created` (the Cosmos data plane answers 409 to the others): an atomic claim;
 * - `exists`: it was there before this call;
 * - `ensured`: it exists now, but the call cannot tell whether it created it (Azure Resource
 *   Manager's PUT is create-or-update, so two concurrent calls both succeed): not a claim.
 */
export type ContainerCreateOutcome = 'created' | 'exists' | 'ensured';

/** How new containers are provisioned. */
export interface ContainerProvisioning {
  /**
   * Autoscale throughput of each new container: its maximum RU/s (it scales between 10 % of
   * it and the maximum). Unset: Cosmos DB's default for a container created with no options.
   */
  maxThroughput?: number;
}

/**
 * Creates and deletes the containers of one Cosmos DB database. Two implementations:
 * the data plane (account key, local server, emulator) and Azure Resource Manager (Entra
 * auth: data-plane RBAC cannot create or delete containers, that is control plane).
 * Either way, when `create` resolves the container can be used on the data plane, and when
 * `delete` resolves it is gone there. With `abortSignal`, a call stops (AbortError) as soon as
 * it fires; what was already sent may still complete (a later create reuses the container, a
 * later delete is safe).
 */
export interface ContainerAdmin {
  /** Creates container `containerId` with a hash partition key on `partitionKeyPath`. */
  create(containerId: string, partitionKeyPath: string, options?: OperationOptions): Promise<ContainerCreateOutcome>;
  /** Deletes the container with everything in it; a missing container is not an error. */
  delete(containerId: string, options?: OperationOptions): Promise<void>;
  /**
   * For an admin that confirms its work by reading the container on the data plane
   * (ArmContainerAdmin): the same admin confirming on `database`. CosmosTenantDirectory calls
   * it with its own database, so the confirmation reads exactly what the directory then uses.
   */
  withDatabase?(database: Database): ContainerAdmin;
}

/**
 * The data plane (`POST /dbs/{db}/colls`, `DELETE /dbs/{db}/colls/{id}`): works with an
 * account key, the emulator and the local test server. Refused under Entra auth, and in
 * Azure with `disableKeyBasedMetadataWriteAccess` even with a key.
 */
export class DataPlaneContainerAdmin implements ContainerAdmin {
  constructor(
    private readonly database: Database,
    private readonly provisioning: ContainerProvisioning = {},
  ) {}

  async create(containerId: string, partitionKeyPath: string, options: OperationOptions = {}): Promise<ContainerCreateOutcome> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      const { maxThroughput } = this.provisioning;
      await this.database.containers.create(
        { id: containerId, partitionKey: { paths: [partitionKeyPath] }, ...(maxThroughput !== undefined ? { maxThroughput } : {}) },
        { abortSignal },
      );
      return 'created';
    } catch (e) {
      if (cosmosStatus(e) === StatusCodes.Conflict) return 'exists';
      throw e;
    }
  }

  async delete(containerId: string, options: OperationOptions = {}): Promise<void> {
    const { abortSignal } = options;
    throwIfAborted(abortSignal);
    try {
      await this.database.container(containerId).delete({ abortSignal });
    } catch (e) {
      if (cosmosStatus(e) !== StatusCodes.NotFound) throw e;
    }
  }
}
