import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@azure/cosmos';
import { CosmosTenantDirectory, tenantContainerId } from '../../shared/adapters/cosmos/cosmos-tenant-directory';
import { MultiAccountTenantDirectory, type CosmosAccount } from '../../shared/adapters/cosmos/multi-account-directory';
import { isAppError } from '../../shared/domain/errors';
import type { AppendMeta } from '../../shared/domain/events';
import { systemClock } from '../../shared/ports/runtime';
import { metaFor, startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';
import { tenantDirectoryAbortContract } from '../contracts/tenant-directory.contract';

// The multi-account directory over two (and, when an account is added, three) change-feed
// stand-ins: each a separate Cosmos "account" (its own server), each with its own database.
const appendMeta: AppendMeta = { author: { kind: 'operator', id: 'op-1' }, correlationId: 'c-1' };

let servers: CosmosTestServer[] = [];
let databases: Database[] = [];
beforeAll(async () => {
  servers = await Promise.all([startCosmosServer(), startCosmosServer(), startCosmosServer()]);
  databases = await Promise.all(servers.map(async (s) => (await s.client.databases.create({ id: uniqueId('multi') })).database));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A directory over the first `n` accounts, in the given order, with `perAccount` tenants each. */
function directory(order: number[], perAccount: number): MultiAccountTenantDirectory {
  const accounts: CosmosAccount[] = order.map((i) => ({
    name: servers[i]!.endpoint,
    directory: new CosmosTenantDirectory(databases[i]!, systemClock),
  }));
  return new MultiAccountTenantDirectory(accounts, { tenantsPerAccount: perAccount, claimWaitMs: 5_000, pollMs: 10 });
}

async function containersIn(i: number): Promise<string[]> {
  const { resources } = await databases[i]!.containers.readAll().fetchAll();
  return resources.map((c) => c.id).sort();
}

async function freshDatabases(): Promise<void> {
  await Promise.all(databases.map((d) => d.delete().catch(() => undefined)));
  databases = await Promise.all(servers.map(async (s) => (await s.client.databases.create({ id: uniqueId('multi') })).database));
}

function isConflict(e: unknown): boolean {
  return isAppError(e) && e.status === 409;
}

describe('MultiAccountTenantDirectory over two stand-in accounts', () => {
  // The cases every TenantDirectory shares, on a directory over two accounts whose first one is
  // full (one tenant per account, a filler there): the contract's tenants live in the second
  // account and every lookup asks both.
  let filled: Promise<void> | undefined;
  tenantDirectoryAbortContract('multi-account over two stand-in accounts', () => {
    const dir = directory([0, 1], 1);
    return {
      dir,
      newMeta: async () => {
        filled ??= dir.create(metaFor(uniqueId('filler')));
        await filled;
        return metaFor(uniqueId('ab'));
      },
    };
  });

  it('places new tenants in the first account with room, then the next; finds each where it is', async () => {
    await freshDatabases();
    const dir = directory([0, 1], 2);
    const ids = ['t-a', 't-b', 't-c', 't-d'];
    for (const id of ids) await dir.create(metaFor(id));
    expect(await containersIn(0)).toEqual([tenantContainerId('t-a'), tenantContainerId('t-b')]);
    expect(await containersIn(1)).toEqual([tenantContainerId('t-c'), tenantContainerId('t-d')]);
    expect(await dir.listTenantIds()).toEqual(ids);
    // Every operation reaches the tenant in its own account, from a fresh directory too.
    const other = directory([0, 1], 2);
    for (const id of ids) {
      expect(await other.getMeta(id)).toEqual(metaFor(id));
      await other.setStatus(id, 'ready');
      const events = await other.openEventStore(id);
      await events.append('s', 0, [{ type: 'E', data: id }], appendMeta);
      expect((await events.readStream('s'))[0]!.events[0]!.data).toBe(id);
      const feed = await events.readFeed(undefined);
      expect(feed.commits.map((c) => c.events[0]!.data)).toEqual([id]);
    }
    expect((await other.getMeta('t-d'))!.status).toBe('ready');
    expect(await other.getMeta('t-none')).toBeUndefined();
    await expect(other.openEventStore('t-none')).rejects.toMatchObject({ status: 404 });
    // A taken id is refused wherever it lives.
    expect(isConflict(await other.create(metaFor('t-c')).catch((e: unknown) => e))).toBe(true);
    expect(isConflict(await other.create(metaFor('t-a')).catch((e: unknown) => e))).toBe(true);
    await expect(directory([0, 1], 2).create(metaFor('t-e'))).rejects.toMatchObject({ status: 409 });
  });

  it('adding an account moves no tenant: old tenants stay where they are, new ones go to the new account', async () => {
    await freshDatabases();
    const two = directory([0, 1], 1);
    await two.create(metaFor('old-1'));
    await two.create(metaFor('old-2'));
    const before = [await containersIn(0), await containersIn(1)];
    const three = directory([0, 1, 2], 1);
    expect(await three.getMeta('old-1')).toEqual(metaFor('old-1'));
    expect(await three.getMeta('old-2')).toEqual(metaFor('old-2'));
    await three.create(metaFor('new-1'));
    expect([await containersIn(0), await containersIn(1)]).toEqual(before);
    expect(await containersIn(2)).toEqual([tenantContainerId('new-1')]);
    expect(await three.listTenantIds()).toEqual(['new-1', 'old-1', 'old-2']);
  });

  it('going from one account to two (infra: cosmosAccountCount 1 → 2): tenants the single-account directory created are found, read and kept; new ones go where there is room', async () => {
    await freshDatabases();
    // As deployed with one account: COSMOS_ENDPOINT names one account, the service uses that
    // account's directory alone (no cross-account claim marks on its tenants).
    const single = new CosmosTenantDirectory(databases[0]!, systemClock);
    for (const id of ['solo-1', 'solo-2']) {
      await single.create(metaFor(id), {
        populate: async (events) => {
          await events.append('first', 0, [{ type: 'Created', data: id }], appendMeta);
        },
      });
      await single.setStatus(id, 'ready');
    }
    await single.create(metaFor('solo-3')); // never populated: still 'creating' when the list grows
    const before = await containersIn(0);
    // The account is appended to COSMOS_ENDPOINT; this one is full at 3 tenants.
    const two = directory([0, 1], 3);
    for (const id of ['solo-1', 'solo-2']) {
      expect((await two.getMeta(id))!.status).toBe('ready');
      expect((await two.accountOf(id))!.name).toBe(servers[0]!.endpoint);
      const events = await two.openEventStore(id);
      expect((await events.readStream('first'))[0]!.events[0]!.data).toBe(id);
      await events.append('first', 1, [{ type: 'Changed', data: id }], appendMeta);
    }
    // An id the single account holds is taken, also for a creator that would place it in the new account.
    expect(
      isConflict(
        await directory([1, 0], 3)
          .create(metaFor('solo-1'))
          .catch((e: unknown) => e),
      ),
    ).toBe(true);
    expect(
      isConflict(
        await directory([1, 0], 3)
          .create(metaFor('solo-3'))
          .catch((e: unknown) => e),
      ),
    ).toBe(true);
    await two.create(metaFor('next-1'));
    expect(await containersIn(0)).toEqual(before);
    expect(await containersIn(1)).toEqual([tenantContainerId('next-1')]);
    expect(await two.listTenantIds()).toEqual(['next-1', 'solo-1', 'solo-2', 'solo-3']);
    // A fresh process over the two accounts finds every tenant in its own account.
    const restarted = directory([0, 1], 3);
    for (const [id, account] of [
      ['solo-1', 0],
      ['solo-2', 0],
      ['next-1', 1],
    ] as const)
      expect((await restarted.accountOf(id))!.name, id).toBe(servers[account]!.endpoint);
    expect(await (await restarted.openEventStore('solo-2')).readStream('first')).toHaveLength(2);
  });

  it('races for one id across accounts: creators that place it in different accounts, exactly one wins', async () => {
    await freshDatabases();
    for (let round = 0; round < 6; round++) {
      const id = `race-${round}`;
      // Two instances with the accounts in opposite order: each places the id in "its" first account.
      const creators = [directory([0, 1], 100), directory([1, 0], 100), directory([0, 1], 100), directory([1, 0], 100)];
      const results = await Promise.allSettled(creators.map((d) => d.create(metaFor(id))));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won, `round ${round}`).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isConflict(r.reason), String(r.reason)).toBe(true);
      // Exactly one container for the id across both accounts, and everyone finds that one.
      const holders = [await containersIn(0), await containersIn(1)].filter((c) => c.includes(tenantContainerId(id)));
      expect(holders, `round ${round}`).toHaveLength(1);
      expect(await directory([1, 0], 100).getMeta(id)).toEqual(metaFor(id));
    }
  });

  it('races for one id with populate: the winner is complete and ready, the losers left nothing', async () => {
    await freshDatabases();
    const creators = [directory([0, 1], 100), directory([1, 0], 100)];
    const results = await Promise.allSettled(
      creators.map((d, i) =>
        d.create(metaFor('pop'), {
          populate: async (events) => {
            await events.append('first', 0, [{ type: 'Created', data: i }], appendMeta);
          },
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const dir = directory([0, 1], 100);
    expect((await dir.getMeta('pop'))!.status).toBe('ready');
    expect(await (await dir.openEventStore('pop')).readStream('first')).toHaveLength(1);
    expect(await dir.listTenantIds()).toEqual(['pop']);
  });
});
