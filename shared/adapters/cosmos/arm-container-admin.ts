import { CosmosDBManagementClient } from '@azure/arm-cosmosdb';
import type { CosmosDBManagementClientOptionalParams, SqlContainerCreateUpdateParameters } from '@azure/arm-cosmosdb';
import type { TokenCredential } from '@azure/identity';
import type { ContainerAdmin, ContainerCreateOutcome } from './container-admin';

/** The parts of a Cosmos DB account's ARM resource id. */
export interface CosmosAccountRef {
  subscriptionId: string;
  resourceGroupName: string;
  accountName: string;
}

const ACCOUNT_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.DocumentDB\/databaseAccounts\/([^/]+)\/?$/i;

/**
 * Splits `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DocumentDB/databaseAccounts/{a}`
 * (segment names case-insensitive, as ARM treats them). Throws on anything else.
 */
export function parseCosmosAccountResourceId(resourceId: string): CosmosAccountRef {
  const m = ACCOUNT_ID.exec(resourceId.trim());
  if (!m) {
    throw new Error('Not a Cosmos DB account resource id: expected /subscriptions/<id>/resourceGroups/<name>/providers/Microsoft.DocumentDB/databaseAccounts/<name>.');
  }
  return { subscriptionId: decodeURIComponent(m[1]!), resourceGroupName: decodeURIComponent(m[2]!), accountName: decodeURIComponent(m[3]!) };
}

export interface ArmContainerAdminOptions {
  /** ARM resource id of the Cosmos DB account (COSMOS_ACCOUNT_RESOURCE_ID). */
  accountResourceId: string;
  /** The database that holds the containers (created by infra/, not here). */
  databaseId: string;
  /** Entra credential of the app (DefaultAzureCredential, i.e. the managed identity, in Azure). */
  credential: TokenCredential;
  /**
   * Azure Resource Manager endpoint (COSMOS_ARM_ENDPOINT); default https://management.azure.com.
   * Must be https: the Azure SDK's bearer-token policy refuses to send a token over plain
   * HTTP, whatever `allowInsecureConnection` says (core-rest-pipeline 1.x), so a local
   * stand-in has to serve TLS too (and be trusted through `clientOptions.tlsOptions.ca`).
   * The token is requested for `<endpoint>/.default`.
   */
  endpoint?: string;
  /**
   * How often to poll a running create/delete. Default: the SDK's (2 s, or the server's
   * Retry-After). Real container operations take seconds; tests against a local stand-in
   * set a few milliseconds.
   */
  updateIntervalInMs?: number;
  /** Further client options, e.g. `tlsOptions` (a test CA) or `retryOptions`. */
  clientOptions?: Omit<CosmosDBManagementClientOptionalParams, 'endpoint' | '$host' | 'baseUri' | 'credentialScopes'>;
}

/** An ARM request for a container failed: `statusCode`/`code` are ARM's (e.g. 403 AuthorizationFailed). */
export class ArmContainerAdminError extends Error {
  override readonly name = 'ArmContainerAdminError';
  constructor(
    message: string,
    readonly statusCode: number | undefined,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const DEFAULT_ARM_ENDPOINT = 'https://management.azure.com';
/** ARM error messages can be kilobytes of diagnostics; errors and logs get the start. */
const MAX_MESSAGE = 600;

/**
 * Creates and deletes SQL containers through Azure Resource Manager
 * (`PUT`/`DELETE …/databaseAccounts/{a}/sqlDatabases/{db}/containers/{c}`), which is what
 * Entra (managed identity) auth allows: Cosmos DB data-plane RBAC has no container
 * create/delete, and infra/ sets `disableLocalAuth` so there is no key to fall back to.
 *
 * Both calls are long-running operations: ARM answers 202 with an `Azure-AsyncOperation`
 * status URL, which the SDK polls until `Succeeded` (or `Failed`), then (for PUT) reads the
 * container back. The identity needs `…/sqlDatabases/containers/{read,write,delete}` and
 * `…/containers/operationResults/read` (infra/app/rbac.bicep).
 *
 * ARM's PUT is create-or-update, so `create` cannot report who created a container: it
 * returns `ensured`, never `created` or `exists`. CosmosTenantDirectory claims a tenant id
 * with a data-plane document instead (see there).
 */
export class ArmContainerAdmin implements ContainerAdmin {
  private readonly client: CosmosDBManagementClient;
  private readonly account: CosmosAccountRef;

  constructor(private readonly options: ArmContainerAdminOptions) {
    this.account = parseCosmosAccountResourceId(options.accountResourceId);
    const endpoint = (options.endpoint ?? DEFAULT_ARM_ENDPOINT).replace(/\/+$/, '');
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new Error(`The Azure Resource Manager endpoint "${endpoint}" is not a URL.`);
    }
    if (url.protocol !== 'https:') {
      throw new Error(`The Azure Resource Manager endpoint must use https (bearer tokens are only sent over TLS); got "${endpoint}".`);
    }
    // `endpoint` is the base URL of every request and the token scope (`<endpoint>/.default`);
    // `$host` is the generated client's own copy of it.
    this.client = new CosmosDBManagementClient(options.credential, this.account.subscriptionId, {
      ...options.clientOptions,
      endpoint,
      $host: endpoint,
    });
  }

  async create(containerId: string, partitionKeyPath: string): Promise<ContainerCreateOutcome> {
    const parameters: SqlContainerCreateUpdateParameters = {
      // Version 2 (large partition keys) is what Microsoft recommends for new containers.
      resource: { id: containerId, partitionKey: { paths: [partitionKeyPath], kind: 'Hash', version: 2 } },
      options: {},
    };
    const { resourceGroupName, accountName } = this.account;
    try {
      await this.client.sqlResources.beginCreateUpdateSqlContainerAndWait(resourceGroupName, accountName, this.options.databaseId, containerId, parameters, this.pollOptions());
    } catch (e) {
      throw this.wrap(e, 'create', containerId);
    }
    return 'ensured';
  }

  async delete(containerId: string): Promise<void> {
    const { resourceGroupName, accountName } = this.account;
    try {
      await this.client.sqlResources.beginDeleteSqlContainerAndWait(resourceGroupName, accountName, this.options.databaseId, containerId, this.pollOptions());
    } catch (e) {
      if (statusOf(e) === 404) return;
      throw this.wrap(e, 'delete', containerId);
    }
  }

  private pollOptions(): { updateIntervalInMs?: number } {
    return this.options.updateIntervalInMs === undefined ? {} : { updateIntervalInMs: this.options.updateIntervalInMs };
  }

  /**
   * A clear error from whatever the SDK threw (a RestError for an HTTP error, a plain Error
   * for an operation that ended `Failed`). Only status, ARM code and message are kept: the
   * SDK's error also carries the request, whose Authorization header must not travel on.
   */
  private wrap(e: unknown, verb: 'create' | 'delete', containerId: string): ArmContainerAdminError {
    const statusCode = statusOf(e);
    const code = typeof (e as { code?: unknown })?.code === 'string' ? ((e as { code: string }).code) : undefined;
    const raw = String((e as { message?: unknown })?.message ?? e).replace(/\s+/g, ' ').trim();
    const detail = raw.length > MAX_MESSAGE ? `${raw.slice(0, MAX_MESSAGE)}…` : raw;
    const what = [statusCode, code].filter((x) => x !== undefined).join(' ');
    const hint =
      statusCode === 401 || statusCode === 403
        ? ' The app identity needs the tenant container role on the database (infra/app/rbac.bicep).'
        : '';
    return new ArmContainerAdminError(
      `Azure Resource Manager could not ${verb} container "${containerId}" in database "${this.options.databaseId}" of Cosmos DB account "${this.account.accountName}"${what ? ` (${what})` : ''}: ${detail}${hint}`,
      statusCode,
      code,
    );
  }
}

function statusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' ? s : undefined;
}
