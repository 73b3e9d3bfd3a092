import type { TenantMeta } from '../../shared/ports/tenant-directory';
import type { AddressInfo } from 'node:net';
import { CosmosClient } from '@azure/cosmos';
import { createHttpServer } from '@vercel/cosmosdb-server';

/** The documented, public key of the Cosmos DB emulator; the local server accepts any key. */
export const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

export interface CosmosTestServer {
  endpoint: string;
  client: CosmosClient;
  /** True when talking to a real account (COSMOS_ENDPOINT), false for the in-process server. */
  real: boolean;
  close(): Promise<void>;
}

/**
 * A Cosmos DB endpoint for tests. With COSMOS_ENDPOINT set (and COSMOS_KEY, else the
 * DefaultAzureCredential of @azure/identity), a client for that real account; otherwise an
 * in-process @vercel/cosmosdb-server on 127.0.0.1 and a random port. That server's bundled
 * HTTPS certificate expired in 2021, so it is started over plain HTTP, and endpoint discovery
 * is off (it would send the SDK to the address the server advertises).
 */
export async function startCosmosServer(): Promise<CosmosTestServer> {
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

  const server = createHttpServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new CosmosClient({
    endpoint,
    key: EMULATOR_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  return {
    endpoint,
    client,
    real: false,
    close: async () => {
      client.dispose();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
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
