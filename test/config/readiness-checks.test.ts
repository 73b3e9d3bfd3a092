/**
 * The readiness checks the composition root builds (shared/config/readiness-checks.ts) with
 * tenants spread over several Cosmos DB accounts: every account of the directory is checked,
 * each under its own name, so one account that does not answer makes the instance not ready.
 * Two in-process Cosmos DB stand-ins play the accounts, read by the real SDK.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '@azure/cosmos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkReadiness } from '../../shared/app/readiness/readiness';
import { loadConfig } from '../../shared/config';
import { readinessChecks } from '../../shared/config/readiness-checks';
import type { TenantDirectory } from '../../shared/ports/tenant-directory';
import { startCosmosServer, uniqueId, type CosmosTestServer } from '../support/cosmos-server';

let servers: CosmosTestServer[] = [];
let databases: Database[] = [];
const dir = mkdtempSync(join(tmpdir(), 'readiness-checks-'));

beforeAll(async () => {
  servers = await Promise.all([startCosmosServer(), startCosmosServer()]);
  const id = uniqueId('tenants');
  databases = await Promise.all(servers.map(async (s) => (await s.client.databases.create({ id })).database));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
  rmSync(dir, { recursive: true, force: true });
});

/** Never asked when the tenant store is Cosmos: the accounts themselves are. */
const directory = new Proxy({} as TenantDirectory, {
  get: () => () => {
    throw new Error('the directory is not how Cosmos readiness is checked');
  },
});

describe('readiness with several Cosmos DB accounts', () => {
  const config = () =>
    loadConfig({
      DATA_DIR: dir,
      STORE: 'cosmos',
      COSMOS_ENDPOINT: servers.map((s) => s.endpoint).join(','),
      COSMOS_KEY: servers.map(() => 'k').join(','),
      BACKUP_LOCAL_FALLBACK: 'off',
    });

  it('checks every account, each by its position in COSMOS_ENDPOINT, and is ready when all answer', async () => {
    const checks = readinessChecks({
      config: config(),
      directory,
      targets: [],
      credential: async () => never(),
      cosmosDatabases: databases,
    });
    expect(checks.filter((c) => c.kind === 'cosmos').map((c) => c.name)).toEqual(['tenant-store:1', 'tenant-store:2']);
    const report = await checkReadiness(checks, { timeoutMs: 5000 });
    expect(report.checks.filter((c) => c.kind === 'cosmos').map((c) => [c.name, c.ok])).toEqual([
      ['tenant-store:1', true],
      ['tenant-store:2', true],
    ]);
    expect(report.ready).toBe(true);
  });

  it('one account that does not answer makes the instance not ready, naming that account only', async () => {
    await servers[1]!.close();
    const log: string[] = [];
    const checks = readinessChecks({
      config: config(),
      directory,
      targets: [],
      credential: async () => never(),
      cosmosDatabases: databases,
    });
    const report = await checkReadiness(checks, { timeoutMs: 3000, log: (l) => log.push(l) });
    expect(report.ready).toBe(false);
    expect(report.checks.filter((c) => c.kind === 'cosmos').map((c) => [c.name, c.ok])).toEqual([
      ['tenant-store:1', true],
      ['tenant-store:2', false],
    ]);
    expect(log.some((l) => l.startsWith('tenant-store:2 (cosmos)'))).toBe(true);
  });
});

function never(): never {
  throw new Error('no Azure credential is needed here');
}
