import { afterAll } from 'vitest';
import type { Database } from '@azure/cosmos';
import { CosmosEventStore } from '../../shared/adapters/cosmos/cosmos-event-store';
import type { Clock } from '../../shared/ports/runtime';
import { eventStoreContract } from '../contracts/event-store.contract';
import { startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';

// One server (or real account) and one database per file, started lazily by the first
// fixture; every fixture gets its own fresh container, i.e. its own tenant.
let started: Promise<{ server: CosmosTestServer; database: Database }> | undefined;
function shared() {
  started ??= (async () => {
    const server = await startCosmosServer();
    const { database } = await server.client.databases.create({ id: uniqueId('es-test') });
    return { server, database };
  })();
  return started;
}

afterAll(async () => {
  if (!started) return;
  const { server, database } = await started;
  await database.delete().catch(() => undefined);
  await server.close();
});

eventStoreContract(
  process.env.COSMOS_ENDPOINT ? 'cosmos (real account)' : 'cosmos (change-feed stand-in, 3 partition key ranges)',
  async () => {
    const { database } = await shared();
    const { container } = await database.containers.create({ id: uniqueId('tenant'), partitionKey: { paths: ['/streamId'] } });
    let fixed: Date | undefined;
    const clock: Clock = { now: () => fixed ?? new Date() };
    return {
      store: new CosmosEventStore(uniqueId('t'), container, clock),
      setNow: (d) => {
        fixed = d;
      },
      cleanup: async () => {
        await container.delete().catch(() => undefined);
      },
    };
  },
  // The stand-in (host/cosmos-standin.ts) answers the SDK's change-feed requests, so the feed
  // cases run here too. Change-feed continuation tokens cannot be counted: feedLag reports commits: null.
  { feed: true, countsFeedLag: false },
);
