import { CosmosTenantDirectory } from '../../shared/adapters/cosmos/cosmos-tenant-directory';
import type { Clock } from '../../shared/ports/runtime';
import type { TenantDirectory, TenantMeta } from '../../shared/ports/tenant-directory';
import { CosmosClient } from '@azure/cosmos';
import { EMULATOR_KEY, startCosmosStandin, type CosmosStandinOptions, type StandinStats } from '../../host/cosmos-standin';

export { EMULATOR_KEY };

export interface CosmosTestServer {
  endpoint: string;
  client: CosmosClient;
  /** True when talking to a real account (COSMOS_ENDPOINT), false for the in-process stand-in. */
  real: boolean;
  /** Change-log counters of the in-process stand-in (undefined for a real account). */
  stats?: () => StandinStats;
  close(): Promise<void>;
}

/**
 * A Cosmos DB endpoint for tests. With COSMOS_ENDPOINT set (and COSMOS_KEY, else the
 * DefaultAzureCredential of @azure/identity), a client for that real account; otherwise the
 * in-process change-feed stand-in (host/cosmos-standin.ts: @vercel/cosmosdb-server plus a
 * change log and several partition key ranges) on 127.0.0.1 and a random port, over plain
 * HTTP, with endpoint discovery off (it would send the SDK to the address the server advertises).
 */
export async function startCosmosServer(options: CosmosStandinOptions = {}): Promise<CosmosTestServer> {
  const realEndpoint = process.env.COSMOS_ENDPOINT;
  if (realEndpoint) {
    const key = process.env.COSMOS_KEY;
    const client = key
      ? new CosmosClient({ endpoint: realEndpoint, key })
      : new CosmosClient({
          endpoint: realEndpoint,
          aadCredentials: new (await import('@azure/identity')).DefaultAzureCredential(),
        });
    return {
      endpoint: realEndpoint,
      client,
      real: true,
      close: async () => client.dispose(),
    };
  }

  const standin = await startCosmosStandin(options);
  const endpoint = standin.endpoint;
  const client = new CosmosClient({
    endpoint,
    key: EMULATOR_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  return {
    endpoint,
    client,
    real: false,
    stats: standin.stats,
    close: async () => {
      client.dispose();
      await standin.close();
    },
  };
}

let counter = 0;
/** A unique, Cosmos-safe resource id for one test run. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** A tenant's meta document as the directory stores it while the tenant is being created. */
export function metaFor(id: string): TenantMeta {
  return {
    id,
    name: `Company ${id}`,
    status: 'creating',
    createdAt: '2024-05-01T10:00:00.000Z',
    keyName: `kek-${id}`,
    signingKey: { keyId: `local:kek-${id}/1`, algorithm: 'A256KW', wrapped: 'AAAA' },
  };
}

let sharedStandin: Promise<CosmosTestServer> | undefined;
/**
 * For test files that run on either store (the `cosmos-e2e` vitest project sets
 * E2E_STORE=cosmos-standin): a CosmosTenantDirectory in a fresh database of one stand-in per
 * test process. Call closeSharedCosmos() in afterAll.
 */
export async function cosmosDirectoryForTests(clock: Clock): Promise<TenantDirectory> {
  sharedStandin ??= startCosmosServer();
  const server = await sharedStandin;
  const { database } = await server.client.databases.create({ id: uniqueId('dir') });
  return new CosmosTenantDirectory(database, clock);
}

export async function closeSharedCosmos(): Promise<void> {
  const s = sharedStandin;
  sharedStandin = undefined;
  if (s) await (await s).close();
}

/**
 * Every document of every container of every database on the Cosmos endpoint `endpoint` (a
 * stand-in: any key) whose JSON holds one of `needles`: `database/container/id` for each. The
 * Cosmos counterpart of scanning a data folder for plaintext (Cosmos documents are not under
 * the tenant key, so what a projection keeps in clear is visible here).
 */
export async function cosmosDocumentsContaining(endpoint: string, needles: string[]): Promise<string[]> {
  const client = new CosmosClient({ endpoint, key: EMULATOR_KEY, connectionPolicy: { enableEndpointDiscovery: false } });
  try {
    const found: string[] = [];
    const { resources: dbs } = await client.databases.readAll().fetchAll();
    for (const db of dbs) {
      const { resources: containers } = await client.database(db.id).containers.readAll().fetchAll();
      for (const c of containers) {
        const { resources: docs } = await client.database(db.id).container(c.id).items.readAll().fetchAll();
        for (const d of docs) {
          const text = JSON.stringify(d);
          if (needles.some((n) => text.includes(n))) found.push(`${db.id}/${c.id}/${String(d.id)}`);
        }
      }
    }
    return found;
  } finally {
    client.dispose();
  }
}

/** Every document of one container on the stand-in at `endpoint` (undefined when the container does not exist). */
export async function cosmosContainerDocuments(endpoint: string, database: string, container: string): Promise<unknown[] | undefined> {
  const client = new CosmosClient({ endpoint, key: EMULATOR_KEY, connectionPolicy: { enableEndpointDiscovery: false } });
  try {
    const { resources: containers } = await client.database(database).containers.readAll().fetchAll();
    if (!containers.some((c) => c.id === container)) return undefined;
    return (await client.database(database).container(container).items.readAll().fetchAll()).resources;
  } finally {
    client.dispose();
  }
}
