/**
 * The webhook delivery-position contract on both stores: the embedded directory (a table in
 * the tenant's encrypted database) and the Cosmos directory against the in-process change-feed
 * stand-in (or a real account with COSMOS_ENDPOINT): a document per subscription, etag leases.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '@azure/cosmos';
import { afterAll } from 'vitest';
import { CosmosTenantDirectory } from '../../shared/adapters/cosmos/cosmos-tenant-directory';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { systemClock } from '../../shared/ports/runtime';
import { deliveryPositionsContract } from '../contracts/delivery-positions.contract';
import { type CosmosTestServer, metaFor, startCosmosServer, uniqueId } from '../support/cosmos-server';

const dataDir = mkdtempSync(join(tmpdir(), 'positions-'));
const keys = new LocalKeyProvider({ dir: join(dataDir, 'keys'), masterKey: randomBytes(32) });
const embedded = new EmbeddedTenantDirectory(dataDir, keys, systemClock);

async function embeddedTenant(): Promise<string> {
  const meta = metaFor(`t-${randomBytes(5).toString('hex')}`);
  await keys.createKey(meta.keyName);
  await embedded.create(meta);
  return meta.id;
}

let cosmos: Promise<{ server: CosmosTestServer; database: Database; dir: CosmosTenantDirectory }> | undefined;
function cosmosDir() {
  cosmos ??= (async () => {
    const server = await startCosmosServer();
    const { database } = await server.client.databases.create({ id: uniqueId('positions') });
    return { server, database, dir: new CosmosTenantDirectory(database, systemClock) };
  })();
  return cosmos;
}

afterAll(async () => {
  await embedded.close();
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  if (!cosmos) return;
  const { server, database, dir } = await cosmos;
  await dir.close();
  await database.delete().catch(() => undefined);
  await server.close();
});

deliveryPositionsContract('embedded (a table in the tenant database)', async () => {
  const [a, b] = [await embeddedTenant(), await embeddedTenant()];
  return {
    store: await embedded.openDeliveryPositions(a),
    other: await embedded.openDeliveryPositions(b),
    // Another directory over the same folder: its own connection to the same database file.
    reopen: async () => new EmbeddedTenantDirectory(dataDir, keys, systemClock).openDeliveryPositions(a),
    cleanup: async () => {
      await embedded.destroy(a);
      await embedded.destroy(b);
    },
  };
});

deliveryPositionsContract(process.env.COSMOS_ENDPOINT ? 'cosmos (real account)' : 'cosmos (local stand-in)', async () => {
  const { dir, database } = await cosmosDir();
  const ids = [uniqueId('t'), uniqueId('t')];
  for (const id of ids) await dir.create(metaFor(id));
  return {
    store: await dir.openDeliveryPositions(ids[0]!),
    other: await dir.openDeliveryPositions(ids[1]!),
    // Another instance: its own directory over the same database.
    reopen: async () => new CosmosTenantDirectory(database, systemClock).openDeliveryPositions(ids[0]!),
    cleanup: async () => {
      for (const id of ids) await dir.destroy(id);
    },
  };
});
