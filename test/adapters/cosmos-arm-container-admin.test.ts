/**
 * ArmContainerAdmin with the real @azure/arm-cosmosdb client against a local ARM stand-in
 * (test/support/arm-cosmos-standin.ts) that carries out each operation on the in-process
 * Cosmos DB server. The directory's own contract runs in both modes in
 * cosmos-tenant-directory.test.ts; this file covers what is particular to ARM.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CosmosDBManagementClient } from '@azure/arm-cosmosdb';
import type { Database } from '@azure/cosmos';
import {
  ArmContainerAdmin,
  ArmContainerAdminError,
  parseCosmosAccountResourceId,
  type ArmContainerAdminOptions,
} from '../../shared/adapters/cosmos/arm-container-admin';
import { CosmosTenantDirectory, tenantContainerId } from '../../shared/adapters/cosmos/cosmos-tenant-directory';
import { LocalKeyProvider } from '../../shared/adapters/embedded/local-key-provider';
import { TenantService } from '../../shared/app/service';
import { isAppError } from '../../shared/domain/errors';
import { systemClock } from '../../shared/ports/runtime';
import { ARM_ACTIONS, startArmCosmosStandIn, type ArmCosmosStandIn } from '../support/arm-cosmos-standin';
import { metaFor, startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';

describe('parseCosmosAccountResourceId', () => {
  it('splits an account resource id (segment names case-insensitive)', () => {
    expect(
      parseCosmosAccountResourceId('/subscriptions/sub-1/resourceGroups/rg-a/providers/Microsoft.DocumentDB/databaseAccounts/acct'),
    ).toEqual({
      subscriptionId: 'sub-1',
      resourceGroupName: 'rg-a',
      accountName: 'acct',
    });
    expect(parseCosmosAccountResourceId('/SUBSCRIPTIONS/s/resourcegroups/r/providers/microsoft.documentdb/databaseaccounts/a')).toEqual({
      subscriptionId: 's',
      resourceGroupName: 'r',
      accountName: 'a',
    });
  });

  it('rejects anything else', () => {
    for (const bad of [
      '',
      '/subscriptions/s/resourceGroups/r',
      '/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a',
      '/subscriptions/s/resourceGroups/r/providers/Microsoft.DocumentDB/databaseAccounts/a/sqlDatabases/db',
    ]) {
      expect(() => parseCosmosAccountResourceId(bad), bad).toThrow(/Cosmos DB account resource id/);
    }
  });
});

describe('ArmContainerAdmin (real @azure/arm-cosmosdb against a local ARM stand-in)', () => {
  let server: CosmosTestServer;
  let database: Database;
  let arm: ArmCosmosStandIn;
  let admin: ArmContainerAdmin;

  const containerIds = async (): Promise<string[]> => (await database.containers.readAll().fetchAll()).resources.map((c) => c.id);
  const adminFor = (accountResourceId: string, more: Partial<ArmContainerAdminOptions> = {}) =>
    new ArmContainerAdmin({
      accountResourceId,
      databaseId: database.id,
      database,
      credential: arm.credential,
      endpoint: arm.endpoint,
      pollIntervalMs: 5,
      completionTimeoutMs: 10_000,
      clientOptions: arm.clientOptions,
      ...more,
    });
  const statusPolls = (from: number) => arm.exchanges.slice(from).filter((x) => x.action === ARM_ACTIONS.operationStatusRead);

  beforeAll(async () => {
    server = await startCosmosServer();
    ({ database } = await server.client.databases.create({ id: uniqueId('arm-test') }));
    arm = await startArmCosmosStandIn({ cosmos: server.client });
    admin = adminFor(arm.accountResourceId);
  });
  afterEach(async () => {
    arm?.allowAll();
    arm?.setOperationDelay(0);
    arm?.resumeOperations();
    await arm?.settled();
  });
  afterAll(async () => {
    await arm?.close();
    await database?.delete().catch(() => undefined);
    await server?.close();
  });

  it('creates a container with one PUT, confirms it on the data plane and with an ARM GET, never reads the operation status; every request carries the bearer token', async () => {
    const c = uniqueId('c');
    const from = arm.exchanges.length;
    expect(await admin.create(c, '/streamId')).toBe('ensured');

    const { resource } = await database.container(c).read();
    expect(resource?.partitionKey?.paths).toEqual(['/streamId']);

    const seen = arm.exchanges.slice(from);
    expect(seen[0]).toMatchObject({ method: 'PUT', status: 202, action: ARM_ACTIONS.containerWrite });
    expect(seen[0]!.path).toBe(`${arm.accountResourceId}/sqlDatabases/${database.id}/containers/${c}`);
    expect(seen[0]!.query['api-version']).toMatch(/^\d{4}-\d{2}-\d{2}/);
    // No Azure-AsyncOperation poll: completion was seen on the data plane, then ARM's GET of
    // the container (its own URL, inside the role's scope) showed it too.
    expect(statusPolls(from)).toEqual([]);
    expect(seen.map((x) => `${x.method} ${x.status}`)).toEqual(['PUT 202', 'GET 200']);
    expect(seen[1]).toMatchObject({ action: ARM_ACTIONS.containerRead, path: seen[0]!.path });
    // Bearer token on every request, asked for the ARM endpoint's scope.
    for (const x of seen) expect(x.authorization, `${x.method} ${x.path}`).toBe(`Bearer ${arm.token}`);
    expect(new Set(arm.tokenScopes)).toEqual(new Set([`${arm.endpoint}/.default`]));

    await admin.delete(c);
  });

  it('maxThroughput (COSMOS_CONTAINER_MAX_THROUGHPUT): the PUT asks for autoscale throughput of the container; without it, no options', async () => {
    const optionsOfPut = async (a: ArmContainerAdmin) => {
      const c = uniqueId('c');
      const from = arm.exchanges.length;
      await a.create(c, '/streamId');
      const put = arm.exchanges.slice(from).find((x) => x.method === 'PUT');
      await a.delete(c);
      return (JSON.parse(put!.body!) as { properties: { options: unknown } }).properties.options;
    };
    expect(await optionsOfPut(adminFor(arm.accountResourceId, { maxThroughput: 4000 }))).toEqual({
      autoscaleSettings: { maxThroughput: 4000 },
    });
    expect(await optionsOfPut(admin)).toEqual({});
  });

  it('create is create-or-update: creating an existing container again succeeds and keeps its items', async () => {
    const c = uniqueId('c');
    await admin.create(c, '/streamId');
    await database.container(c).items.create({ id: 'x', streamId: 's' });
    expect(await admin.create(c, '/streamId')).toBe('ensured');
    const { resource } = await database.container(c).item('x', 's').read();
    expect(resource?.id).toBe('x');
    await admin.delete(c);
  });

  it('delete removes the container (one DELETE, then waits for the data plane to answer 404); deleting a missing container is not an error', async () => {
    const c = uniqueId('c');
    await admin.create(c, '/streamId');
    expect(await containerIds()).toContain(c);
    const from = arm.exchanges.length;
    await admin.delete(c);
    expect(await containerIds()).not.toContain(c);
    const seen = arm.exchanges.slice(from);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'DELETE', status: 202, action: ARM_ACTIONS.containerDelete });
    await admin.delete(c);
    await admin.delete(uniqueId('never'));
  });

  it('creating an existing container with another partition key fails clearly and changes nothing', async () => {
    const c = uniqueId('c');
    await admin.create(c, '/streamId');
    const err = await admin.create(c, '/other').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmContainerAdminError);
    expect(err).toMatchObject({ code: 'PartitionKeyMismatch' });
    expect((err as Error).message).toContain(`create container "${c}"`);
    expect((err as Error).message).toContain('partition key cannot be changed');
    await arm.settled();
    expect((await database.container(c).read()).resource?.partitionKey?.paths).toEqual(['/streamId']);
    await admin.delete(c);
  });

  describe('completion without the operation status URL', () => {
    it('operationsStatus refused (403 AuthorizationFailed): containers are still created and deleted, and that URL is never asked', async () => {
      arm.deny(ARM_ACTIONS.operationStatusRead);
      const c = uniqueId('c');
      const from = arm.exchanges.length;
      expect(await admin.create(c, '/streamId')).toBe('ensured');
      expect(await containerIds()).toContain(c);
      await admin.delete(c);
      expect(await containerIds()).not.toContain(c);
      expect(statusPolls(from)).toEqual([]);
      // The switch works: an SDK poller (what this admin used to be) does fail on it.
      const sdk = new CosmosDBManagementClient(arm.credential, arm.subscriptionId, {
        ...arm.clientOptions,
        endpoint: arm.endpoint,
        $host: arm.endpoint,
      });
      const err = await sdk.sqlResources
        .beginCreateUpdateSqlContainerAndWait(
          arm.resourceGroupName,
          arm.accountName,
          database.id,
          c,
          { resource: { id: c, partitionKey: { paths: ['/streamId'], kind: 'Hash' } } },
          { updateIntervalInMs: 5 },
        )
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
      expect(statusPolls(from).map((x) => x.status)).toEqual([403]);
      await arm.settled();
      await admin.delete(c);
    });

    it('waits for a create and a delete that ARM completes only later', async () => {
      const c = uniqueId('slow');
      const from = arm.exchanges.length;
      const methods = () => arm.exchanges.slice(from).map((x) => x.method);
      // ARM accepts the create but holds its work: the create must still be waiting once ARM
      // has answered, and end only after ARM has made the container.
      arm.holdOperations();
      let created = false;
      const creating = admin.create(c, '/streamId').then((r) => {
        created = true;
        return r;
      });
      await vi.waitFor(() => expect(methods()).toContain('PUT'));
      expect(await containerIds()).not.toContain(c);
      expect(created).toBe(false);
      arm.resumeOperations();
      expect(await creating).toBe('ensured');
      expect((await database.container(c).read()).resource?.id).toBe(c);
      // Likewise for the delete: still waiting while ARM holds it, the container gone once it ends.
      arm.holdOperations();
      let deleted = false;
      const deleting = admin.delete(c).then(() => {
        deleted = true;
      });
      await vi.waitFor(() => expect(methods()).toContain('DELETE'));
      expect(await containerIds()).toContain(c);
      expect(deleted).toBe(false);
      arm.resumeOperations();
      await deleting;
      expect(await containerIds()).not.toContain(c);
      // One request each; the waiting was done on the data plane.
      expect(arm.exchanges.slice(from).map((x) => x.method)).toEqual(['PUT', 'GET', 'DELETE']);
    });

    it('a create that does not complete in time fails with a clear timeout; once ARM completes it, the next create reuses the container', async () => {
      const quick = adminFor(arm.accountResourceId, { completionTimeoutMs: 300 });
      arm.holdOperations();
      const c = uniqueId('stuck');
      const err = await quick.create(c, '/streamId').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArmContainerAdminError);
      expect(err).toMatchObject({ name: 'ArmContainerAdminError', statusCode: undefined, code: 'CompletionTimeout' });
      const message = (err as Error).message;
      expect(message).toContain(`create container "${c}"`);
      expect(message).toContain('accepted the request, but it did not appear on the data plane within 0.3 s');
      expect(message).toContain('completionTimeoutMs');
      expect(await containerIds()).not.toContain(c);

      arm.resumeOperations();
      await arm.settled();
      expect(await containerIds()).toContain(c);
      expect(await quick.create(c, '/streamId')).toBe('ensured');
      await quick.delete(c);
    });

    it('a delete that does not complete in time fails with a clear timeout', async () => {
      const quick = adminFor(arm.accountResourceId, { completionTimeoutMs: 200 });
      const c = uniqueId('stuck');
      await quick.create(c, '/streamId');
      arm.holdOperations();
      const err = await quick.delete(c).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'ArmContainerAdminError', code: 'CompletionTimeout' });
      expect((err as Error).message).toContain(`delete container "${c}"`);
      expect((err as Error).message).toContain('it was still there on the data plane within 0.2 s');
      arm.resumeOperations();
      await arm.settled();
      expect(await containerIds()).not.toContain(c);
      await quick.delete(c);
    });
    it('abortSignal: an aborted create stops waiting at once (AbortError); ARM may still finish it, and the next create reuses the container', async () => {
      const fired = new AbortController();
      fired.abort();
      const from = arm.exchanges.length;
      const pre = uniqueId('pre');
      await expect(admin.create(pre, '/streamId', { abortSignal: fired.signal })).rejects.toMatchObject({ name: 'AbortError' });
      await expect(admin.delete(pre, { abortSignal: fired.signal })).rejects.toMatchObject({ name: 'AbortError' });
      // Refused before anything was sent.
      expect(arm.exchanges.length).toBe(from);

      arm.holdOperations();
      const c = uniqueId('abort');
      const ac = new AbortController();
      const creating = admin.create(c, '/streamId', { abortSignal: ac.signal }).catch((e: unknown) => e);
      // Abort while it polls the data plane for a container ARM has not made yet.
      while (!arm.exchanges.slice(from).some((x) => x.method === 'PUT')) await new Promise((r) => setTimeout(r, 5));
      ac.abort();
      expect(await creating).toMatchObject({ name: 'AbortError' });
      arm.resumeOperations();
      await arm.settled();
      expect(await admin.create(c, '/streamId')).toBe('ensured');
      await admin.delete(c);
    });
  });

  it('needs the data-plane database to confirm on: a clear error without one, and it must be the managed database', async () => {
    const bare = new ArmContainerAdmin({
      accountResourceId: arm.accountResourceId,
      databaseId: database.id,
      credential: arm.credential,
      endpoint: arm.endpoint,
      clientOptions: arm.clientOptions,
    });
    const from = arm.exchanges.length;
    await expect(bare.create(uniqueId('c'), '/streamId')).rejects.toThrow(/no data-plane database to confirm completion on/);
    expect(arm.exchanges.length).toBe(from);
    expect(() => bare.withDatabase(server.client.database('another-db'))).toThrow(/is not the database/);
    const bound = bare.withDatabase(database);
    const c = uniqueId('c');
    expect(await bound.create(c, '/streamId')).toBe('ensured');
    await bound.delete(c);
  });

  it('the stand-in refuses a request without a bearer token with 401', async () => {
    const path = `${arm.accountResourceId}/sqlDatabases/${database.id}/containers/x?api-version=2025-10-15`;
    const status = await new Promise<number>((resolve, reject) => {
      const r = request(`${arm.endpoint}${path}`, { method: 'GET', ca: arm.clientOptions.tlsOptions.ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', reject);
      r.end();
    });
    expect(status).toBe(401);
    expect(arm.exchanges.at(-1)).toMatchObject({ authorization: undefined, status: 401 });
  });

  it('refuses an http:// ARM endpoint up front (the SDK sends bearer tokens over TLS only)', () => {
    expect(
      () =>
        new ArmContainerAdmin({
          accountResourceId: arm.accountResourceId,
          databaseId: 'db',
          credential: arm.credential,
          endpoint: 'http://127.0.0.1:1',
        }),
    ).toThrow(/must use https/);
  });

  it('a resource id that names another resource group: a clear 404 from ARM; a delete is not taken for done while the data plane still has the container', async () => {
    const wrong = adminFor(arm.accountResourceId.replace(`/resourceGroups/${arm.resourceGroupName}/`, '/resourceGroups/rg-other/'));
    const err = await wrong.create(uniqueId('c'), '/streamId').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArmContainerAdminError);
    expect(err).toMatchObject({ name: 'ArmContainerAdminError', statusCode: 404, code: 'ResourceGroupNotFound' });

    const c = uniqueId('c');
    await admin.create(c, '/streamId');
    const delErr = await wrong.delete(c).catch((e: unknown) => e);
    expect(delErr).toMatchObject({ name: 'ArmContainerAdminError', statusCode: 404, code: 'ResourceGroupNotFound' });
    expect((delErr as Error).message).toContain('does exist on the data plane');
    expect(await containerIds()).toContain(c);
    await wrong.delete(uniqueId('never'));
    await admin.delete(c);
  });

  describe('in the tenant directory', () => {
    let dir: CosmosTenantDirectory;
    beforeAll(() => {
      dir = new CosmosTenantDirectory(database, systemClock, undefined, admin);
    });

    it('403 AuthorizationFailed on create: a clear error, no container, no meta; the id is free once access is granted', async () => {
      const id = uniqueId('denied');
      arm.deny(ARM_ACTIONS.containerWrite);
      const err = await dir.create(metaFor(id)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArmContainerAdminError);
      expect(err).toMatchObject({ name: 'ArmContainerAdminError', statusCode: 403, code: 'AuthorizationFailed' });
      const message = (err as Error).message;
      expect(message).toContain(`could not create container "${tenantContainerId(id)}"`);
      expect(message).toContain(ARM_ACTIONS.containerWrite);
      expect(message).toContain('infra/app/rbac.bicep');
      expect(message).not.toContain(arm.token);
      expect(JSON.stringify(err)).not.toContain(arm.token);

      expect(await containerIds()).not.toContain(tenantContainerId(id));
      expect(await dir.getMeta(id)).toBeUndefined();
      expect(await dir.listTenantIds()).not.toContain(id);

      arm.allowAll();
      await dir.create(metaFor(id));
      expect((await dir.getMeta(id))?.id).toBe(id);
      await dir.destroy(id);
      expect(await containerIds()).not.toContain(tenantContainerId(id));
    });

    it('403 on delete: destroy fails clearly and the tenant stays', async () => {
      const id = uniqueId('keep');
      await dir.create(metaFor(id));
      arm.deny(ARM_ACTIONS.containerDelete);
      const err = await dir.destroy(id).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'ArmContainerAdminError', statusCode: 403, code: 'AuthorizationFailed' });
      expect((err as Error).message).toContain(`could not delete container "${tenantContainerId(id)}"`);
      expect((await dir.getMeta(id))?.id).toBe(id);
      arm.allowAll();
      await dir.destroy(id);
      expect(await dir.getMeta(id)).toBeUndefined();
    });

    it('operation status refused (403 on the Azure-AsyncOperation URL): tenants are still created and destroyed', async () => {
      // Whether ARM refuses that URL to a database-scoped role was not tried against Azure
      // (see infra/README.md); the directory does not depend on it either way.
      const id = uniqueId('nopoll');
      arm.deny(ARM_ACTIONS.operationStatusRead);
      const from = arm.exchanges.length;
      await dir.create(metaFor(id));
      expect((await dir.getMeta(id))?.id).toBe(id);
      await dir.destroy(id);
      expect(await dir.getMeta(id)).toBeUndefined();
      expect(await containerIds()).not.toContain(tenantContainerId(id));
      expect(statusPolls(from)).toEqual([]);
    });

    it('a tenant whose container ARM completes only later is created once it is there', async () => {
      arm.setOperationDelay(200);
      const id = uniqueId('slow');
      await dir.create(metaFor(id));
      expect((await dir.getMeta(id))?.id).toBe(id);
      await dir.destroy(id);
      expect(await dir.getMeta(id)).toBeUndefined();
    });

    it('a taken id is refused from its meta, without any ARM request', async () => {
      const id = uniqueId('taken');
      await dir.create(metaFor(id));
      const from = arm.exchanges.length;
      const err = await dir.create({ ...metaFor(id), name: 'Impostor' }).catch((e: unknown) => e);
      expect(isAppError(err) && err.code === 'conflict').toBe(true);
      expect(arm.exchanges.length).toBe(from);
      await dir.destroy(id);
    });
  });

  describe('TenantService.createTenant when ARM refuses', () => {
    let keysDir: string;
    afterAll(() => rmSync(keysDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

    it('fails with the ARM error and leaves nothing behind: no container, no meta, no key', async () => {
      keysDir = mkdtempSync(join(tmpdir(), 'arm-svc-'));
      const keys = new LocalKeyProvider({ dir: join(keysDir, 'keys'), masterKey: randomBytes(32) });
      const directory = new CosmosTenantDirectory(database, systemClock, undefined, admin);
      const svc = new TenantService({ directory, keys, clock: systemClock, tokenTtlSeconds: 600, passwordLogN: 14 });
      const id = `arm${randomBytes(3).toString('hex')}`;
      arm.deny(ARM_ACTIONS.containerWrite);
      const err = await svc
        .createTenant(
          { id: 'operator-key:test' },
          { id, name: 'Denied Ltd', admin: { email: 'admin@denied.test', password: 'a long enough password' } },
          { correlationId: 'c-1' },
        )
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'ArmContainerAdminError', statusCode: 403 });
      expect(await directory.getMeta(id)).toBeUndefined();
      expect(await containerIds()).not.toContain(tenantContainerId(id));
      const keyFiles = existsSync(join(keysDir, 'keys')) ? readdirSync(join(keysDir, 'keys')) : [];
      expect(keyFiles.filter((f) => f.includes(id))).toEqual([]);

      arm.allowAll();
      expect(
        await svc.createTenant(
          { id: 'operator-key:test' },
          { id, name: 'Granted Ltd', admin: { email: 'admin@granted.test', password: 'a long enough password' } },
          { correlationId: 'c-2' },
        ),
      ).toMatchObject({ id, status: 'ready' });
      expect(readdirSync(join(keysDir, 'keys')).filter((f) => f.includes(id)).length).toBeGreaterThan(0);
      await directory.destroy(id);
      await svc.close();
    });
  });
});
