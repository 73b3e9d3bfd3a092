/**
 * COSMOS_CONTAINER_MAX_THROUGHPUT on the data plane: DataPlaneContainerAdmin asks Cosmos DB for
 * autoscale throughput of each new container. What the real @azure/cosmos SDK sends is read
 * off the wire by a recording proxy between it and the in-process Cosmos DB stand-in (which
 * itself keeps no throughput). The ARM path is covered in cosmos-arm-container-admin.test.ts.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CosmosClient, type Database } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlaneContainerAdmin } from '../../shared/adapters/cosmos/container-admin';
import { EMULATOR_KEY, startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';

let server: CosmosTestServer;
let proxy: Server;
let client: CosmosClient;
let database: Database;
/** Container creations seen on the wire: the autoscale header each carried. */
const creations: Array<string | undefined> = [];

beforeAll(async () => {
  server = await startCosmosServer();
  const target = new URL(server.endpoint);
  proxy = createServer((req, res) => {
    if (req.method === 'POST' && /\/colls\/?$/.test(req.url ?? '')) {
      creations.push(req.headers['x-ms-cosmos-offer-autopilot-settings'] as string | undefined);
    }
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  client = new CosmosClient({ endpoint, key: EMULATOR_KEY, connectionPolicy: { enableEndpointDiscovery: false } });
  ({ database } = await client.databases.create({ id: uniqueId('provisioning') }));
});

afterAll(async () => {
  client?.dispose();
  await new Promise((r) => proxy?.close(r));
  await server?.close();
});

describe('DataPlaneContainerAdmin provisioning', () => {
  it('with maxThroughput, each new container is created with that autoscale maximum', async () => {
    const admin = new DataPlaneContainerAdmin(database, { maxThroughput: 2000 });
    const from = creations.length;
    const c = uniqueId('c');
    expect(await admin.create(c, '/streamId')).toBe('created');
    expect(creations.slice(from)).toEqual([JSON.stringify({ maxThroughput: 2000 })]);
    const { resource } = await database.container(c).read();
    expect(resource?.partitionKey?.paths).toEqual(['/streamId']);
  });

  it('without it, containers are created with no throughput of their own (Cosmos DB default)', async () => {
    const from = creations.length;
    expect(await new DataPlaneContainerAdmin(database).create(uniqueId('c'), '/streamId')).toBe('created');
    expect(creations.slice(from)).toEqual([undefined]);
  });
});
