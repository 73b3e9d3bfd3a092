/**
 * The world of the service-level tests that run on both real stores: a clock the test moves,
 * and the two tenant directories (embedded on a temporary folder, Cosmos on the local
 * server). `storeBackends` starts the Cosmos server for the calling test file (beforeAll) and
 * stops it after (afterAll); each Cosmos directory gets a database of its own.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { CosmosTenantDirectory } from '../../shared/adapters/cosmos/cosmos-tenant-directory';
import { EmbeddedTenantDirectory } from '../../shared/adapters/embedded/embedded-tenant-directory';
import type { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import type { Clock } from '../../shared/ports/runtime';
import type { TenantDirectory } from '../../shared/ports/tenant-directory';
import { type CosmosTestServer, startCosmosServer } from './cosmos-server';

export class TestClock implements Clock {
  constructor(public t = Date.parse('2026-11-20T10:00:00.000Z')) {}
  now() {
    return new Date(this.t);
  }
  tick(ms = 1000) {
    this.t += ms;
  }
}

export type MakeDirectory = (keys: LocalKeyProvider, clock: Clock, dir: string) => Promise<TenantDirectory>;

/** [name, make] for the embedded store and Cosmos (local server); `prefix` names the Cosmos databases. */
export function storeBackends(prefix: string): Array<[string, MakeDirectory]> {
  let cosmos: CosmosTestServer | undefined;
  beforeAll(async () => {
    cosmos = await startCosmosServer();
  });
  afterAll(async () => {
    await cosmos?.close();
  });
  return [
    ['embedded', async (keys, clock, dir) => new EmbeddedTenantDirectory(dir, keys, clock)],
    [
      'cosmos (local server)',
      async (_keys, clock) => {
        if (!cosmos) throw new Error('the Cosmos test server is not started (storeBackends registers it in beforeAll)');
        const { database } = await cosmos.client.databases.createIfNotExists({ id: `${prefix}-${randomBytes(4).toString('hex')}` });
        return new CosmosTenantDirectory(database, clock);
      },
    ],
  ];
}
