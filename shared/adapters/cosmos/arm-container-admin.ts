import { CosmosDBManagementClient } from '@azure/arm-cosmosdb';
import type { CosmosDBManagementClientOptionalParams } from '@azure/arm-cosmosdb';
import type { ContainerDefinition, Database } from '@azure/cosmos';
// The Azure SDK's HTTP core, the one @azure/arm-cosmosdb itself runs on (its dependency).
import { createPipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import type { ContainerAdmin, ContainerCreateOutcome, ContainerProvisioning } from './container-admin';
import { cosmosStatus } from './cosmos-event-store';
import { httpStatusOf } from '../sdk-errors';
import type { OperationOptions } from '../../ports/options';
import { abortError, isAbortError, throwIfAborted } from '../abort';

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
    throw new Error(
      'Not a Cosmos DB account resource id: expected /subscriptions/<id>/resourceGroups/<name>/providers/Microsoft.DocumentDB/databaseAccounts/<name>.',
    );
  }
  return {
    subscriptionId: decodeURIComponent(m[1]!),
    resourceGroupName: decodeURIComponent(m[2]!),
    accountName: decodeURIComponent(m[3]!),
  };
}

export interface ArmContainerAdminOptions extends ContainerProvisioning {
  /** ARM resource id of the Cosmos DB account (COSMOS_ACCOUNT_RESOURCE_ID). */
  accountResourceId: string;
  /** The database that holds the containers (created by infra/, not here). */
  databaseId: string;
  /** Entra credential of the app (DefaultAzureCredential, i.e. the managed identity, in Azure). */
  credential: TokenCredential;
  /**
   * The same database on the data plane (Entra auth, Cosmos DB Built-in Data Contributor),
   * where completion of a create or delete is confirmed. Its id must be `databaseId`.
   * CosmosTenantDirectory supplies its own database (see `withDatabase`), so this is only
   * needed when the admin is used on its own.
   */
  database?: Database;
  /**
   * Azure Resource Manager endpoint (COSMOS_ARM_ENDPOINT); default https://management.azure.com.
   * Must be https: the Azure SDK's bearer-token policy refuses to send a token over plain
   * HTTP, whatever `allowInsecureConnection` says (core-rest-pipeline 1.x), so a local
   * stand-in has to serve TLS too (and be trusted through `clientOptions.tlsOptions.ca`).
   * The token is requested for `<endpoint>/.default`.
   */
  endpoint?: string;
  /**
   * How long a create or delete that ARM accepted may take until it shows on the data plane
   * (and, for a create, in ARM's GET of the container). Default 120 s; then the call fails
   * with an ArmContainerAdminError (code `CompletionTimeout`). Real container operations
   * take seconds.
   */
  completionTimeoutMs?: number;
  /** How often to look while waiting. Default 1 s; tests against a local stand-in use a few ms. */
  pollIntervalMs?: number;
  /** Further client options, e.g. `tlsOptions` (a test CA) or `retryOptions`. */
  clientOptions?: Omit<CosmosDBManagementClientOptionalParams, 'endpoint' | '$host' | 'baseUri' | 'credentialScopes'>;
}

/**
 * A container operation failed: `statusCode`/`code` are ARM's (e.g. 403 AuthorizationFailed)
 * when ARM refused the request; `code` is `CompletionTimeout` when ARM accepted it but it did
 * not complete in time, `PartitionKeyMismatch` when the container exists with another
 * partition key, and `DataPlaneReadFailed` (with the data plane's status) when completion
 * could not be checked on the data plane.
 */
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
const DEFAULT_COMPLETION_TIMEOUT_MS = 120_000;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
/** ARM error messages can be kilobytes of diagnostics; errors and logs get the start. */
const MAX_MESSAGE = 600;

type Verb = 'create' | 'delete';

/**
 * Creates and deletes SQL containers through Azure Resource Manager
 * (`PUT`/`DELETE …/databaseAccounts/{a}/sqlDatabases/{db}/containers/{c}`), which is what
 * Entra (managed identity) auth allows: Cosmos DB data-plane RBAC has no container
 * create/delete, and infra/ sets `disableLocalAuth` so there is no key to fall back to.
 *
 * ## Completion is confirmed on the data plane, not by polling ARM's operation status
 *
 * Both requests are long-running: ARM answers 202 with an `Azure-AsyncOperation` URL,
 * which for Cosmos DB is subscription-level:
 * `/subscriptions/{s}/providers/Microsoft.DocumentDB/locations/{region}/operationsStatus/{id}`.
 * Reading it is its own RBAC action, `Microsoft.DocumentDB/locations/operationsStatus/read`
 * ("Reads Status of Asynchronous Operations", Azure permissions reference, Databases,
 * Microsoft.DocumentDB). The app's role is assigned on the tenants database, and Microsoft's
 * "Track asynchronous Azure operations" (learn.microsoft.com/azure/azure-resource-manager/
 * management/async-operations, section "Permission for tracking async status") says: with
 * permission at the resource level only, "you can start the operation but you can't track its
 * status", because the status URL is not scoped to the resource. ARM does check RBAC on
 * Cosmos DB's polling URLs (a deployment failing with AuthorizationFailed on
 * `…/sqlRoleAssignments/operationResults/read`: github.com/Azure/bicep/issues/14976). The
 * built-in roles are no counter-evidence: Cosmos DB Operator and DocumentDB Account
 * Contributor grant `Microsoft.DocumentDb/databaseAccounts/*`, which does not cover
 * `Microsoft.DocumentDB/locations/...` either (Azure built-in roles, Databases). Whether ARM
 * refuses the poll for this exact role and scope was not tried against Azure here; it
 * does not need to be, because nothing below reads that URL:
 *
 * - The PUT/DELETE is sent through the management client's own pipeline (bearer token,
 *   retries, TLS options), not with `beginCreateUpdateSqlContainer`/`beginDeleteSqlContainer`:
 *   those (arm-cosmosdb 16.4.0 on core-lro 2.7) send the request AND poll once before they
 *   even return the poller, so a refused poll would fail them.
 * - An error answer (403 AuthorizationFailed, 404, 409, 400 …) fails the call at once with
 *   ARM's status, code and message, as before.
 * - Accepted (2xx): create waits until the container can be read on the data plane
 *   (`GET /dbs/{db}/colls/{c}`, data-plane `readMetadata`, which the app's data role has),
 *   checks its partition key, then reads it back through ARM (`GET` of the container's own
 *   URL, `…/containers/read`, inside the role's scope) until ARM shows it too. Delete waits
 *   until the data plane answers 404. Both are bounded by `completionTimeoutMs`.
 *
 * What this cannot see: an update that ARM accepts and then fails without any visible change
 * (nothing in `create` updates more than the id and partition key, so the only such case,
 * another partition key, is checked explicitly).
 *
 * ARM's PUT is create-or-update, so `create` cannot report who created a container: it
 * returns `ensured`, never `created` or `exists`. CosmosTenantDirectory claims a tenant id
 * with a data-plane document instead (see there).
 */
export class ArmContainerAdmin implements ContainerAdmin {
  private readonly client: CosmosDBManagementClient;
  private readonly account: CosmosAccountRef;
  private readonly endpoint: string;

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
    if (options.database && options.database.id !== options.databaseId) {
      throw new Error(
        `The data-plane database "${options.database.id}" is not the database "${options.databaseId}" whose containers this admin manages.`,
      );
    }
    for (const [name, value] of [
      ['completionTimeoutMs', options.completionTimeoutMs],
      ['pollIntervalMs', options.pollIntervalMs],
    ] as const) {
      if (value !== undefined && !(Number.isFinite(value) && value >= 0))
        throw new Error(`${name} must be a non-negative number of milliseconds.`);
    }
    this.endpoint = endpoint;
    // `endpoint` is the base URL of every request and the token scope (`<endpoint>/.default`);
    // `$host` is the generated client's own copy of it.
    this.client = new CosmosDBManagementClient(options.credential, this.account.subscriptionId, {
      ...options.clientOptions,
      endpoint,
      $host: endpoint,
    });
  }

  /** This admin confirming its operations on `database` (CosmosTenantDirectory passes its own). */
  withDatabase(database: Database): ArmContainerAdmin {
    return new ArmContainerAdmin({ ...this.options, database });
  }

  async create(containerId: string, partitionKeyPath: string, options: OperationOptions = {}): Promise<ContainerCreateOutcome> {
    const { abortSignal } = options;
    const database = this.dataPlane('create', containerId);
    throwIfAborted(abortSignal);
    // The body the SDK would send for SqlContainerCreateUpdateParameters. Partition key
    // version 2 (large partition keys) is what Microsoft recommends for new containers.
    // With maxThroughput the container gets its own autoscale throughput (options.autoscaleSettings).
    const { maxThroughput } = this.options;
    const body = {
      properties: {
        resource: { id: containerId, partitionKey: { paths: [partitionKeyPath], kind: 'Hash', version: 2 } },
        options: maxThroughput !== undefined ? { autoscaleSettings: { maxThroughput } } : {},
      },
    };
    await this.send('PUT', containerId, 'create', { body, abortSignal });

    const deadline = Date.now() + this.timeoutMs();
    const resource = await this.waitUntil(
      { deadline, verb: 'create', containerId, notYet: 'it did not appear on the data plane', abortSignal },
      () => this.readOnDataPlane(database, 'create', containerId, abortSignal),
    );
    const paths = resource.partitionKey?.paths ?? [];
    if (paths.length !== 1 || paths[0] !== partitionKeyPath) {
      throw new ArmContainerAdminError(
        `${this.subject('create', containerId)}: it exists with partition key ${JSON.stringify(paths)}, not ["${partitionKeyPath}"], and a container's partition key cannot be changed.`,
        undefined,
        'PartitionKeyMismatch',
      );
    }
    const { resourceGroupName, accountName } = this.account;
    await this.waitUntil(
      { deadline, verb: 'create', containerId, notYet: 'Azure Resource Manager did not show it', abortSignal },
      async () => {
        try {
          return await this.client.sqlResources.getSqlContainer(resourceGroupName, accountName, this.options.databaseId, containerId, {
            abortSignal,
          });
        } catch (e) {
          if (httpStatusOf(e) === 404) return undefined;
          throw this.wrap(e, 'create', containerId);
        }
      },
    );
    return 'ensured';
  }

  async delete(containerId: string, options: OperationOptions = {}): Promise<void> {
    const { abortSignal } = options;
    const database = this.dataPlane('delete', containerId);
    throwIfAborted(abortSignal);
    try {
      await this.send('DELETE', containerId, 'delete', { abortSignal });
    } catch (e) {
      // ARM: no such container. Believe it only if the data plane agrees; otherwise the
      // account id names another account (or resource group) than the data plane's.
      if (!(e instanceof ArmContainerAdminError && e.statusCode === 404)) throw e;
      if (!(await this.readOnDataPlane(database, 'delete', containerId, abortSignal))) return;
      throw new ArmContainerAdminError(
        `${e.message} The container does exist on the data plane: COSMOS_ACCOUNT_RESOURCE_ID may name another account than COSMOS_ENDPOINT.`,
        e.statusCode,
        e.code,
      );
    }
    const deadline = Date.now() + this.timeoutMs();
    await this.waitUntil(
      { deadline, verb: 'delete', containerId, notYet: 'it was still there on the data plane', abortSignal },
      async () => ((await this.readOnDataPlane(database, 'delete', containerId, abortSignal)) ? undefined : true),
    );
  }

  /**
   * Sends the initial PUT/DELETE through the management client's pipeline (bearer token for
   * `<endpoint>/.default`, the client's retry and TLS options) and returns its status if ARM
   * accepted it (2xx). Nothing follows the `Azure-AsyncOperation`/`Location` headers.
   */
  private async send(
    method: 'PUT' | 'DELETE',
    containerId: string,
    verb: Verb,
    { body, abortSignal }: { body?: unknown; abortSignal?: AbortSignal | undefined },
  ): Promise<number> {
    const { subscriptionId, resourceGroupName, accountName } = this.account;
    const path = [
      'subscriptions',
      subscriptionId,
      'resourceGroups',
      resourceGroupName,
      'providers',
      'Microsoft.DocumentDB',
      'databaseAccounts',
      accountName,
      'sqlDatabases',
      this.options.databaseId,
      'containers',
      containerId,
    ]
      .map(encodeURIComponent)
      .join('/');
    const request = createPipelineRequest({
      url: `${this.endpoint}/${path}?api-version=${encodeURIComponent(this.client.apiVersion)}`,
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(abortSignal ? { abortSignal } : {}),
    });
    request.headers.set('Accept', 'application/json');
    if (body !== undefined) request.headers.set('Content-Type', 'application/json; charset=utf-8');
    let response: PipelineResponse;
    try {
      response = await this.client.sendRequest(request);
    } catch (e) {
      throw this.wrap(e, verb, containerId);
    }
    if (response.status >= 200 && response.status < 300) return response.status;
    throw this.wrap({ statusCode: response.status, ...armError(response.bodyAsText) }, verb, containerId);
  }

  /** The container as the data plane has it, or undefined when it answers 404. */
  private async readOnDataPlane(
    database: Database,
    verb: Verb,
    containerId: string,
    abortSignal: AbortSignal | undefined,
  ): Promise<ContainerDefinition | undefined> {
    try {
      const { resource } = await database.container(containerId).read({ abortSignal });
      return resource ?? undefined;
    } catch (e) {
      if (cosmosStatus(e) === 404) return undefined;
      if (abortSignal?.aborted) throw abortError(abortSignal);
      const status = cosmosStatus(e);
      const raw = String((e as { message?: unknown })?.message ?? e)
        .replace(/\s+/g, ' ')
        .trim();
      throw new ArmContainerAdminError(
        `${this.subject(verb, containerId)}: Azure Resource Manager accepted the request, but reading the container on the data plane to confirm it failed${status === undefined ? '' : ` (${status})`}: ${clip(raw)}`,
        status,
        'DataPlaneReadFailed',
      );
    }
  }

  /** Calls `probe` until it returns a value, every `pollIntervalMs`, until `deadline` (or until `abortSignal` fires). */
  private async waitUntil<T>(
    wait: { deadline: number; verb: Verb; containerId: string; notYet: string; abortSignal: AbortSignal | undefined },
    probe: () => Promise<T | undefined>,
  ): Promise<T> {
    const { deadline, verb, containerId, notYet, abortSignal } = wait;
    const interval = this.options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    for (;;) {
      throwIfAborted(abortSignal);
      const value = await probe();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seconds = Math.round(this.timeoutMs() / 100) / 10;
        throw new ArmContainerAdminError(
          `${this.subject(verb, containerId)}: Azure Resource Manager accepted the request, but ${notYet} within ${seconds} s (completionTimeoutMs). ` +
            (verb === 'create'
              ? 'It may still complete; creating the tenant again reuses the container (the PUT is create-or-update).'
              : 'It may still complete; deleting again is safe.'),
          undefined,
          'CompletionTimeout',
        );
      }
      await sleep(Math.min(interval, left), abortSignal);
    }
  }

  private dataPlane(verb: Verb, containerId: string): Database {
    const database = this.options.database;
    if (!database) {
      throw new Error(
        `${this.subject(verb, containerId)}: no data-plane database to confirm completion on (ArmContainerAdmin needs options.database, or use it through CosmosTenantDirectory).`,
      );
    }
    return database;
  }

  private timeoutMs(): number {
    return this.options.completionTimeoutMs ?? DEFAULT_COMPLETION_TIMEOUT_MS;
  }

  private subject(verb: Verb, containerId: string): string {
    return `Could not ${verb} container "${containerId}" in database "${this.options.databaseId}" of Cosmos DB account "${this.account.accountName}"`;
  }

  /**
   * A clear error from an ARM error answer or whatever the SDK threw (a RestError). Only
   * status, ARM code and message are kept: the SDK's error also carries the request, whose
   * Authorization header must not travel on.
   */
  private wrap(e: unknown, verb: Verb, containerId: string): Error {
    if (isAbortError(e)) return abortError();
    const statusCode = httpStatusOf(e);
    const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : undefined;
    const raw = String((e as { message?: unknown })?.message ?? e)
      .replace(/\s+/g, ' ')
      .trim();
    const what = [statusCode, code].filter((x) => x !== undefined).join(' ');
    const hint =
      statusCode === 401 || statusCode === 403
        ? ' The app identity needs the tenant container role on the database (infra/app/rbac.bicep).'
        : '';
    return new ArmContainerAdminError(
      `Azure Resource Manager could not ${verb} container "${containerId}" in database "${this.options.databaseId}" of Cosmos DB account "${this.account.accountName}"${what ? ` (${what})` : ''}: ${clip(raw)}${hint}`,
      statusCode,
      code,
    );
  }
}

/** ARM's error body: `{"error":{"code","message"}}`, or (Cosmos DB's 404s) `{"code","message"}`. */
function armError(text: string | null | undefined): { code?: string; message: string } {
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    return { message: text ?? '' };
  }
  const obj = (parsed ?? {}) as { error?: { code?: unknown; message?: unknown }; code?: unknown; message?: unknown };
  const inner = obj.error && typeof obj.error === 'object' ? obj.error : obj;
  return {
    ...(typeof inner.code === 'string' ? { code: inner.code } : {}),
    message: typeof inner.message === 'string' ? inner.message : (text ?? '').trim() || 'no error body',
  };
}

/** Waits `ms`, or rejects with an AbortError as soon as the signal fires. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s;
}
