/**
 * A tiny local stand-in for the Azure Resource Manager routes that the real
 * `@azure/arm-cosmosdb` CosmosDBManagementClient calls to create and delete SQL containers:
 *
 *   PUT|GET|DELETE /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DocumentDB/
 *                  databaseAccounts/{a}/sqlDatabases/{db}/containers/{c}?api-version=…
 *   GET            /subscriptions/{s}/providers/Microsoft.DocumentDB/locations/{region}/
 *                  operationsStatus/{op}?api-version=…        (the Azure-AsyncOperation URL)
 *
 * It answers the way real ARM answers for Cosmos DB containers (as recorded by the Azure CLI's
 * tests): PUT and DELETE return 202 with `{"status":"Enqueued"}` and both an
 * `Azure-AsyncOperation` and a `Location` header; the operation status then reads `Enqueued`,
 * `Dequeued` and finally `Succeeded` (or `Failed` with an `error`), so an SDK poller
 * (`beginCreateUpdateSqlContainerAndWait` …) runs through non-terminal states. The
 * `Location` URL (`…/containers/{c}/operationResults/{op}`) is sent but not served: with
 * both headers present the SDK polls `Azure-AsyncOperation`. ArmContainerAdmin polls neither:
 * it confirms completion on the data plane and with a GET of the container. The work
 * itself is done on a Cosmos DB server (the in-process test server) with the data-plane
 * client, so the directory then sees the container there.
 *
 * Checks it makes: a bearer token (401 without one, or with another one), `api-version`,
 * the subscription / resource group / account of the configured account id (404 otherwise,
 * the resource group case-insensitively as ARM does), the database (404), and that the PUT
 * body names the container of the URL with a partition key (400). `deny(action)` makes
 * every request that needs that RBAC action answer 403 AuthorizationFailed, with ARM's
 * message, until `allowAll()`; `deny(ARM_ACTIONS.operationStatusRead)` (or the `deny` start
 * option) is the switch for "ARM refuses the Azure-AsyncOperation URL".
 *
 * Timing: by default an accepted operation starts its work at once and the container shows on
 * the data plane milliseconds later. `setOperationDelay(ms)` makes accepted operations wait
 * that long before doing anything (the container appears or disappears only then, as when
 * Azure takes its seconds), and `holdOperations()` makes them wait until `resumeOperations()`
 * (an operation that never completes while held). Their status reads `Dequeued` meanwhile.
 *
 * TLS: the Azure SDK's bearer-token policy refuses plain-HTTP URLs (core-rest-pipeline 1.x
 * has no opt-out for it, unlike Key Vault's challenge policy), so the stand-in serves HTTPS
 * with a throw-away self-signed certificate for 127.0.0.1 made by `openssl`, and hands out
 * `clientOptions.tlsOptions.ca` so that only the client under test trusts it.
 *
 * What it does not show: ARM's real RBAC evaluation (which scope a role is checked at,
 * including for the polling URL), throttling and 'operation in progress' conflicts between
 * concurrent control-plane operations, Azure's real provisioning times and the real time
 * until a new container is visible on the data plane (delays here are only what a test
 * sets), signed polling URLs, and any other property of a
 * container (indexing policy, throughput) beyond its id and partition key.
 */
import { selfSignedCertificate as selfSignedCertificateIn } from '../../host/self-signed';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CosmosClient, PartitionKeyDefinition } from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';

/** The RBAC actions ARM checks for the requests this stand-in serves. */
export const ARM_ACTIONS = {
  containerRead: 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/read',
  containerWrite: 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/write',
  containerDelete: 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/delete',
  operationStatusRead: 'Microsoft.DocumentDB/locations/operationsStatus/read',
} as const;
export type ArmAction = (typeof ARM_ACTIONS)[keyof typeof ARM_ACTIONS];

export interface ArmExchange {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** The Authorization header as received (undefined when absent). */
  authorization: string | undefined;
  /** The RBAC action the request needed (undefined when it was refused before routing). */
  action: ArmAction | undefined;
  status: number;
  /** Operation status reported (operationsStatus polls only). */
  operationStatus?: string;
  /** The request body as received, when there was one (e.g. a container PUT with its `options`). */
  body?: string;
}

export interface ArmCosmosStandInOptions {
  /** Data-plane client of the Cosmos DB server the operations are carried out on. */
  cosmos: CosmosClient;
  subscriptionId?: string;
  resourceGroupName?: string;
  accountName?: string;
  /** Region named in the polling URL. */
  location?: string;
  /** RBAC actions refused from the start (as `deny` does). */
  deny?: ArmAction[];
}

export interface ArmCosmosStandIn {
  /** https://127.0.0.1:<port> */
  endpoint: string;
  /** /subscriptions/…/resourceGroups/…/providers/Microsoft.DocumentDB/databaseAccounts/… */
  accountResourceId: string;
  subscriptionId: string;
  resourceGroupName: string;
  accountName: string;
  /** A stub credential (records the scopes asked for) issuing `token`. */
  credential: TokenCredential;
  token: string;
  /** Client options for the SDK: trust this stand-in's certificate; no retries. */
  clientOptions: { tlsOptions: { ca: string }; retryOptions: { maxRetries: number } };
  /** Every request answered so far, in order. */
  readonly exchanges: ReadonlyArray<ArmExchange>;
  /** Scopes the SDK asked the stub credential for. */
  readonly tokenScopes: ReadonlyArray<string>;
  /** Answer every request that needs `action` with 403 AuthorizationFailed (until allowAll). */
  deny(action: ArmAction): void;
  allowAll(): void;
  /** Accepted operations wait `ms` before doing their work (0: start at once). */
  setOperationDelay(ms: number): void;
  /** Accepted operations (including those waiting now) do nothing until resumeOperations(). */
  holdOperations(): void;
  resumeOperations(): void;
  /** Resolves when every operation started so far has finished its work (resume held ones first). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const API_VERSION_REQUIRED = 'MissingApiVersionParameter';
const CONTAINER_TYPE = 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers';

interface Operation {
  id: string;
  kind: 'create' | 'delete';
  resourcePath: string;
  /** Status polls answered so far: the first two never report the result (Enqueued, Dequeued). */
  polls: number;
  result?: { status: 'Succeeded' } | { status: 'Failed'; error: { code: string; message: string } };
  work: Promise<void>;
}

class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Cosmos DB's ARM 404s carry `{code, message}` at the top level, others `{error: {…}}`. */
    readonly flat = false,
  ) {
    super(message);
  }
}

/** A self-signed certificate for 127.0.0.1 / localhost, valid for two days. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'arm-standin-'));
  try {
    const { key, cert } = selfSignedCertificateIn(dir, 2);
    return { key, cert };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function statusOf(e: unknown): number | undefined {
  const { code, statusCode } = (e ?? {}) as { code?: unknown; statusCode?: unknown };
  return typeof code === 'number' ? code : typeof statusCode === 'number' ? statusCode : undefined;
}

export async function startArmCosmosStandIn(options: ArmCosmosStandInOptions): Promise<ArmCosmosStandIn> {
  const subscriptionId = options.subscriptionId ?? '00000000-0000-0000-0000-0000000000a1';
  const resourceGroupName = options.resourceGroupName ?? 'rg-tenant-ledger';
  const accountName = options.accountName ?? 'cosmos-standin';
  const location = options.location ?? 'westeurope';
  const accountResourceId = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.DocumentDB/databaseAccounts/${accountName}`;
  const token = `arm-standin-${randomUUID()}`;
  const { key, cert } = selfSignedCertificate();

  const exchanges: ArmExchange[] = [];
  const tokenScopes: string[] = [];
  const denied = new Set<ArmAction>(options.deny ?? []);
  let operationDelayMs = 0;
  /** Open when undefined; otherwise held operations wait for it. */
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  const operations = new Map<string, Operation>();
  let base = '';

  const containerBody = (
    resourcePath: string,
    resource: { id: string; partitionKey?: PartitionKeyDefinition; _rid?: string; _ts?: number; _etag?: string; indexingPolicy?: unknown },
  ) => ({
    id: resourcePath,
    name: resource.id,
    type: CONTAINER_TYPE,
    properties: {
      resource: {
        id: resource.id,
        partitionKey: resource.partitionKey,
        ...(resource.indexingPolicy ? { indexingPolicy: resource.indexingPolicy } : {}),
        _rid: resource._rid,
        _ts: resource._ts,
        _etag: resource._etag,
      },
      options: {},
    },
  });

  async function readContainer(db: string, c: string) {
    try {
      const { resource } = await options.cosmos.database(db).container(c).read();
      return resource;
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Starts `work` (as ARM does, whether or not anybody polls: after the configured delay, and
   * once operations are not held) and tracks its outcome.
   */
  function startOperation(kind: Operation['kind'], resourcePath: string, work: () => Promise<void>): Operation {
    const op: Operation = { id: randomUUID(), kind, resourcePath, polls: 0, work: Promise.resolve() };
    const delay = operationDelayMs;
    const waitToStart = async () => {
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      while (gate) await gate.promise;
    };
    op.work = waitToStart()
      .then(work)
      .then(
        () => {
          op.result = { status: 'Succeeded' };
        },
        (e: unknown) => {
          op.result =
            e instanceof ArmError
              ? { status: 'Failed', error: { code: e.code, message: e.message } }
              : { status: 'Failed', error: { code: 'InternalServerError', message: String((e as Error)?.message ?? e) } };
        },
      );
    operations.set(op.id, op);
    return op;
  }

  function asyncHeaders(op: Operation, apiVersion: string): Record<string, string> {
    return {
      'Azure-AsyncOperation': `${base}/subscriptions/${subscriptionId}/providers/Microsoft.DocumentDB/locations/${location}/operationsStatus/${op.id}?api-version=${apiVersion}`,
      Location: `${base}${op.resourcePath}/operationResults/${op.id}?api-version=${apiVersion}`,
    };
  }

  async function route(
    req: IncomingMessage,
    url: URL,
    body: string,
    setAction: (a: ArmAction) => void,
  ): Promise<{ status: number; body?: unknown; headers?: Record<string, string>; operationStatus?: string }> {
    const seg = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const lower = seg.map((s) => s.toLowerCase());
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion)
      throw new ArmError(400, API_VERSION_REQUIRED, 'The api-version query parameter (?api-version=) is required for all requests.');
    if (lower[0] !== 'subscriptions') throw new ArmError(404, 'InvalidResourceType', 'Unknown route.');
    if (seg[1] !== subscriptionId) throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${seg[1]}' could not be found.`);
    const authorize = (action: ArmAction, scope: string) => {
      setAction(action);
      if (denied.has(action)) {
        throw new ArmError(
          403,
          'AuthorizationFailed',
          `The client 'standin-app' with object id '00000000-0000-0000-0000-00000000ab1e' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        );
      }
    };

    // GET /subscriptions/{s}/providers/Microsoft.DocumentDB/locations/{region}/operationsStatus/{op}
    if (
      lower[2] === 'providers' &&
      lower[3] === 'microsoft.documentdb' &&
      lower[4] === 'locations' &&
      lower[6] === 'operationsstatus' &&
      seg.length === 8 &&
      req.method === 'GET'
    ) {
      authorize(ARM_ACTIONS.operationStatusRead, `/subscriptions/${subscriptionId}`);
      const op = operations.get(seg[7]!);
      if (!op) throw new ArmError(404, 'NotFound', 'Operation not found.');
      op.polls += 1;
      // Like real ARM, never done at the first look: the poller sees the non-terminal states.
      if (op.polls > 2 && op.result) return { status: 200, body: op.result, operationStatus: op.result.status };
      const reported = op.polls === 1 ? 'Enqueued' : 'Dequeued';
      return { status: 200, body: { status: reported }, operationStatus: reported };
    }

    // /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DocumentDB/databaseAccounts/{a}/sqlDatabases/{db}/containers/{c}
    const isContainer =
      seg.length === 12 &&
      lower[2] === 'resourcegroups' &&
      lower[4] === 'providers' &&
      lower[5] === 'microsoft.documentdb' &&
      lower[6] === 'databaseaccounts' &&
      lower[8] === 'sqldatabases' &&
      lower[10] === 'containers';
    if (!isContainer) throw new ArmError(404, 'InvalidResourceType', `No route for ${req.method} ${url.pathname}.`);
    if (seg[3]!.toLowerCase() !== resourceGroupName.toLowerCase())
      throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${seg[3]}' could not be found.`);
    if (seg[7] !== accountName)
      throw new ArmError(
        404,
        'ParentResourceNotFound',
        `Can not perform requested operation on nested resource. Parent resource '${seg[7]}' not found.`,
      );
    const db = seg[9]!;
    const c = seg[11]!;
    const resourcePath = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.DocumentDB/databaseAccounts/${accountName}/sqlDatabases/${db}/containers/${c}`;

    const method = req.method ?? 'GET';
    authorize(
      method === 'PUT' ? ARM_ACTIONS.containerWrite : method === 'DELETE' ? ARM_ACTIONS.containerDelete : ARM_ACTIONS.containerRead,
      resourcePath,
    );
    try {
      await options.cosmos.database(db).read();
    } catch (e) {
      if (statusOf(e) === 404) throw new ArmError(404, 'NotFound', `Database '${db}' not found.`, true);
      throw e;
    }

    switch (method) {
      case 'GET': {
        const resource = await readContainer(db, c);
        if (!resource)
          throw new ArmError(
            404,
            'NotFound',
            `Message: {"Errors":["Resource Not Found. Learn more: https://aka.ms/cosmosdb-tsg-not-found"]}`,
            true,
          );
        return { status: 200, body: containerBody(resourcePath, resource) };
      }
      case 'PUT': {
        let parsed: { properties?: { resource?: { id?: unknown; partitionKey?: { paths?: unknown; kind?: unknown; version?: unknown } } } };
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          throw new ArmError(400, 'BadRequest', 'The request body is not JSON.');
        }
        const resource = parsed.properties?.resource;
        if (resource?.id !== c) throw new ArmError(400, 'BadRequest', `properties.resource.id must be '${c}'.`);
        const paths = resource.partitionKey?.paths;
        if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.startsWith('/'))) {
          throw new ArmError(400, 'BadRequest', 'A partition key with at least one path is required.');
        }
        const partitionKey = {
          paths: paths as string[],
          ...(typeof resource.partitionKey?.version === 'number' ? { version: resource.partitionKey.version } : {}),
        } as PartitionKeyDefinition;
        const op = startOperation('create', resourcePath, async () => {
          // Create-or-update: an existing container with the same partition key is left as it is.
          const existing = await readContainer(db, c);
          if (!existing) {
            try {
              await options.cosmos.database(db).containers.create({ id: c, partitionKey });
              return;
            } catch (e) {
              if (statusOf(e) !== 409) throw e;
            }
          }
          const now = existing ?? (await readContainer(db, c));
          if (JSON.stringify(now?.partitionKey?.paths) !== JSON.stringify(paths)) {
            throw new ArmError(400, 'BadRequest', 'Document collection partition key cannot be changed.');
          }
        });
        return { status: 202, body: { status: 'Enqueued' }, headers: asyncHeaders(op, apiVersion) };
      }
      case 'DELETE': {
        if (!(await readContainer(db, c))) return { status: 204 };
        const op = startOperation('delete', resourcePath, async () => {
          try {
            await options.cosmos.database(db).container(c).delete();
          } catch (e) {
            if (statusOf(e) !== 404) throw e;
          }
        });
        return { status: 202, body: { status: 'Enqueued' }, headers: asyncHeaders(op, apiVersion) };
      }
      default:
        throw new ArmError(405, 'MethodNotAllowed', `${method} is not supported here.`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', base);
    const authorization = req.headers.authorization;
    let action: ArmAction | undefined;
    let status: number;
    let payload: unknown;
    let headers: Record<string, string> = {};
    let operationStatus: string | undefined;
    if (!authorization) {
      status = 401;
      payload = { error: { code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." } };
      headers['WWW-Authenticate'] =
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."';
    } else if (authorization !== `Bearer ${token}`) {
      status = 401;
      payload = { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' } };
      headers['WWW-Authenticate'] =
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The access token is invalid."';
    } else {
      try {
        const r = await route(req, url, body, (a) => (action = a));
        status = r.status;
        payload = r.body;
        headers = r.headers ?? {};
        operationStatus = r.operationStatus;
      } catch (e) {
        if (!(e instanceof ArmError)) throw e;
        status = e.status;
        payload = e.flat ? { code: e.code, message: e.message } : { error: { code: e.code, message: e.message } };
      }
    }
    exchanges.push({
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization,
      action,
      status,
      ...(operationStatus ? { operationStatus } : {}),
      ...(body ? { body } : {}),
    });
    const text = payload === undefined ? '' : JSON.stringify(payload);
    if (text) headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['x-ms-request-id'] = randomUUID();
    res.writeHead(status, headers);
    res.end(text);
  }

  const server = createServer({ key, cert }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalServerError', message: String((e as Error)?.message ?? e) } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  base = `https://127.0.0.1:${port}`;

  return {
    endpoint: base,
    accountResourceId,
    subscriptionId,
    resourceGroupName,
    accountName,
    credential: {
      getToken: async (scopes) => {
        tokenScopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
        return { token, expiresOnTimestamp: Date.now() + 3600_000, tokenType: 'Bearer' };
      },
    },
    token,
    clientOptions: { tlsOptions: { ca: cert }, retryOptions: { maxRetries: 0 } },
    exchanges,
    tokenScopes,
    deny: (action) => void denied.add(action),
    allowAll: () => denied.clear(),
    setOperationDelay: (ms) => {
      operationDelayMs = ms;
    },
    holdOperations: () => {
      if (gate) return;
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
    },
    resumeOperations: () => {
      const g = gate;
      gate = undefined;
      g?.open();
    },
    settled: async () => {
      await Promise.all([...operations.values()].map((o) => o.work));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
