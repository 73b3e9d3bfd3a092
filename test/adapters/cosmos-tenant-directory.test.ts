import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@azure/cosmos';
import { ArmContainerAdmin } from '../../shared/adapters/cosmos/arm-container-admin';
import { CosmosTenantDirectory, tenantContainerId } from '../../shared/adapters/cosmos/cosmos-tenant-directory';
import { isAppError } from '../../shared/domain/errors';
import type { AppendMeta } from '../../shared/domain/events';
import { systemClock } from '../../shared/ports/runtime';
import type { TenantMeta } from '../../shared/ports/tenant-directory';
import { ARM_ACTIONS, startArmCosmosStandIn, type ArmCosmosStandIn } from '../support/arm-cosmos-standin';
import { metaFor, startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';
import { tenantDirectoryAbortContract } from '../contracts/tenant-directory.contract';

const appendMeta: AppendMeta = { author: { kind: 'operator', id: 'op-1' }, correlationId: 'c-1' };

/**
 * The same directory behaviour with either way of creating and deleting tenant containers:
 * the data plane (account key; the container create claims the id) and Azure Resource
 * Manager (Entra auth; the real @azure/arm-cosmosdb client against a local ARM stand-in that
 * works on the same Cosmos server; the meta document's create claims the id).
 */
const modes = ['data plane', 'ARM'] as const;

describe.each(modes)(
  `CosmosTenantDirectory (${process.env.COSMOS_ENDPOINT ? 'real account' : 'local server'}), containers via %s`,
  (mode) => {
    let server: CosmosTestServer;
    let database: Database;
    let dir: CosmosTenantDirectory;
    let arm: ArmCosmosStandIn | undefined;

    beforeAll(async () => {
      server = await startCosmosServer();
      ({ database } = await server.client.databases.create({ id: uniqueId('dir-test') }));
      if (mode === 'ARM') {
        // ARM refuses the Azure-AsyncOperation URL throughout (the worst case for a role scoped
        // to the database): the directory must not depend on it.
        arm = await startArmCosmosStandIn({ cosmos: server.client, deny: [ARM_ACTIONS.operationStatusRead] });
        // No `database`: the directory hands the admin its own.
        const admin = new ArmContainerAdmin({
          accountResourceId: arm.accountResourceId,
          databaseId: database.id,
          credential: arm.credential,
          endpoint: arm.endpoint,
          pollIntervalMs: 5,
          completionTimeoutMs: 10_000,
          clientOptions: arm.clientOptions,
        });
        dir = new CosmosTenantDirectory(database, systemClock, undefined, admin);
      } else {
        dir = new CosmosTenantDirectory(database, systemClock);
      }
    });
    afterAll(async () => {
      await dir?.close();
      await arm?.settled();
      await arm?.close();
      await database?.delete().catch(() => undefined);
      await server?.close();
    });

    tenantDirectoryAbortContract(`cosmos, containers via ${mode}`, () => ({ dir, newMeta: async () => metaFor(uniqueId('ab')) }));

    it('creates and deletes tenant containers the configured way', async () => {
      const id = uniqueId('way');
      const from = arm?.exchanges.length ?? 0;
      await dir.create(metaFor(id));
      await dir.destroy(id);
      const seen = arm?.exchanges.slice(from) ?? [];
      if (mode === 'ARM') {
        expect(seen.map((x) => x.method)).toEqual(['PUT', 'GET', 'DELETE']);
        expect(seen.every((x) => x.status < 300)).toBe(true);
      } else expect(seen).toEqual([]);
    });

    it('create → getMeta → conflict → setStatus → event store → destroy', async () => {
      const id = uniqueId('acme');
      const meta = metaFor(id);
      expect(await dir.getMeta(id)).toBeUndefined();

      await dir.create(meta);
      expect(await dir.getMeta(id)).toEqual(meta);

      const err = await dir.create({ ...meta, name: 'Impostor' }).catch((e: unknown) => e);
      expect(isAppError(err) && err.code === 'conflict' && err.status === 409).toBe(true);
      expect((await dir.getMeta(id))?.name).toBe(meta.name);

      await dir.setStatus(id, 'ready');
      expect(await dir.getMeta(id)).toEqual({ ...meta, status: 'ready' });

      const store = await dir.openEventStore(id);
      expect(store.tenantId).toBe(id);
      expect(await dir.openEventStore(id)).toBe(store);
      await store.append('customer-1', 0, [{ type: 'CustomerCreated', data: { name: 'X' } }], appendMeta);
      await store.append('customer-1', 1, [{ type: 'CustomerRenamed', data: { name: 'Y' } }], appendMeta);
      const commits = await store.readStream('customer-1');
      expect(commits.map((c) => [c.version, c.events[0]!.type, c.tenantId])).toEqual([
        [1, 'CustomerCreated', id],
        [2, 'CustomerRenamed', id],
      ]);
      // The meta document shares the container but is not part of any stream.
      expect(await store.streamVersion('$tenant')).toBe(0);
      expect(await store.readStream('$tenant')).toEqual([]);

      await dir.destroy(id);
      expect(await dir.getMeta(id)).toBeUndefined();
      await dir.destroy(id); // a second destroy is harmless
      const openErr = await dir.openEventStore(id).catch((e: unknown) => e);
      expect(isAppError(openErr) && openErr.code === 'not_found').toBe(true);
      const statusErr = await dir.setStatus(id, 'ready').catch((e: unknown) => e);
      expect(isAppError(statusErr) && statusErr.code === 'not_found').toBe(true);
    });

    it('opens one projection store per tenant and lists tenant ids from the containers', async () => {
      const a = uniqueId('lista');
      const b = uniqueId('listb');
      await dir.create(metaFor(a));
      await dir.create(metaFor(b));
      // A container of the database that is not a tenant's is not listed.
      const { container: stray } = await database.containers.create({ id: uniqueId('other'), partitionKey: { paths: ['/streamId'] } });

      const ids = await dir.listTenantIds();
      expect(ids).toEqual(expect.arrayContaining([a, b]));
      expect(ids).not.toContain(stray.id);
      expect(ids.every((id) => !id.startsWith('tenant-'))).toBe(true);

      const projections = await dir.openProjectionStore(a);
      expect(await dir.openProjectionStore(a)).toBe(projections);
      expect(await projections.activeGeneration()).toBe(1);
      const author = { kind: 'operator' as const, id: 'op-1' };
      const t = '2024-05-01T10:00:00.000Z';
      await projections.upsertRecord(1, {
        type: 'customer',
        id: 'r1',
        version: 1,
        data: { n: 1 },
        deleted: false,
        createdAt: t,
        createdBy: author,
        updatedAt: t,
        updatedBy: author,
      });
      // The projections live in the tenant's own container, next to its meta and log.
      expect((await (await dir.openProjectionStore(b)).listRecords(1, { type: 'customer', filters: [], limit: 10 })).items).toEqual([]);
      expect((await projections.listRecords(1, { type: 'customer', filters: [], limit: 10 })).items.map((v) => v.id)).toEqual(['r1']);
      expect((await dir.getMeta(a))?.id).toBe(a);

      await dir.destroy(a);
      expect(await dir.listTenantIds()).not.toContain(a);
      const err = await dir.openProjectionStore(a).catch((e: unknown) => e);
      expect(isAppError(err) && err.code === 'not_found').toBe(true);
      await dir.destroy(b);
      await stray.delete();
    });

    it('two concurrent creates of one id: exactly one succeeds, the other gets a conflict', async () => {
      const id = uniqueId('race');
      const from = arm?.exchanges.length ?? 0;
      const results = await Promise.allSettled([
        dir.create({ ...metaFor(id), name: 'First' }),
        dir.create({ ...metaFor(id), name: 'Second' }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(isAppError(lost[0]!.reason) && lost[0]!.reason.code === 'conflict').toBe(true);
      const winner = results[0]!.status === 'fulfilled' ? 'First' : 'Second';
      expect((await dir.getMeta(id))?.name).toBe(winner);
      if (mode === 'ARM') {
        // Both creators' PUTs succeeded (create-or-update): the meta document decided.
        expect(arm!.exchanges.slice(from).filter((x) => x.method === 'PUT' && x.status === 202)).toHaveLength(2);
      }
      await dir.destroy(id);
    });

    it('a failed meta write gives the id back', async () => {
      const id = uniqueId('broken');
      // A meta whose document cannot be written: a circular value makes serialisation throw.
      const bad = metaFor(id) as TenantMeta & { self?: unknown };
      bad.self = bad;
      await expect(dir.create(bad)).rejects.toThrow();
      expect(await dir.getMeta(id)).toBeUndefined();
      const containers = async () => (await database.containers.readAll().fetchAll()).resources.map((c) => c.id);
      if (mode === 'data plane') {
        // The creator owns the container (its create was the claim) and removes it.
        expect(await containers()).not.toContain(tenantContainerId(id));
      } else {
        // After ARM's create-or-update nobody knows who created the container, so it is not
        // deleted (it could be a concurrent creator's); without meta it is no tenant…
        expect(await containers()).toContain(tenantContainerId(id));
        const err = await dir.openEventStore(id).catch((e: unknown) => e);
        expect(isAppError(err) && err.code === 'not_found').toBe(true);
      }
      // …and the next create of the id succeeds (under ARM: PUT again, then claim it).
      await dir.create(metaFor(id));
      expect((await dir.getMeta(id))?.id).toBe(id);
      await dir.destroy(id);
      expect(await containers()).not.toContain(tenantContainerId(id));
    });

    it('unknown and unusable tenant ids have no meta', async () => {
      expect(await dir.getMeta(uniqueId('nobody'))).toBeUndefined();
      expect(await dir.getMeta('a/b')).toBeUndefined();
      const err = await dir.create(metaFor('a#b')).catch((e: unknown) => e);
      expect(isAppError(err) && err.code === 'validation').toBe(true);
    });

    it.runIf(mode === 'ARM')('ARM: in all of the above, the refused operation status URL was never asked', () => {
      expect(arm!.exchanges.filter((x) => x.method === 'PUT').length).toBeGreaterThan(3);
      expect(arm!.exchanges.filter((x) => x.action === ARM_ACTIONS.operationStatusRead)).toEqual([]);
    });
  },
);
