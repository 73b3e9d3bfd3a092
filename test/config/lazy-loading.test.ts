/**
 * The composition root loads each adapter (and its SDK) only when the configuration selects
 * it. Each case runs the compiled entry point in a fresh child process
 * (dist/bench/cold-start-probe.js: `@azure/functions-core` provided as the worker does, then
 * `require('dist/functions/index.js')`, then the services created from the environment) and
 * checks which packages ended up in require.cache. (The Cosmos cases create the services but
 * send no query: the app's Cosmos client uses endpoint discovery, which the in-process
 * Cosmos server cannot serve over plain HTTP. The embedded case lists its tenants.)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../bench/cold-start-probe';
import { startAzurite, type AzuriteTestServer } from '../support/azurite';
import { EMULATOR_KEY, startCosmosServer, type CosmosTestServer } from '../support/cosmos-server';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../support/keyvault-standin';

const root = join(__dirname, '..', '..');
const PROBE = join(root, 'dist', 'bench', 'cold-start-probe.js');

let cosmos: CosmosTestServer;
let azurite: AzuriteTestServer;
let vault: KeyVaultStandIn;
let dataDir: string;

beforeAll(async () => {
  [cosmos, azurite, vault] = await Promise.all([startCosmosServer(), startAzurite(), startKeyVaultStandIn()]);
  dataDir = mkdtempSync(join(tmpdir(), 'lazy-loading-'));
});

afterAll(async () => {
  await Promise.all([cosmos?.close(), azurite?.close(), vault?.close()]);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The Azure configuration of infra/app/api.bicep, pointed at the local stand-ins. */
function azureEnv(): Record<string, string> {
  return {
    DATA_DIR: dataDir,
    STORE: 'cosmos',
    COSMOS_ENDPOINT: cosmos.endpoint,
    COSMOS_KEY: EMULATOR_KEY,
    COSMOS_DATABASE: `lazy${process.pid}`,
    KEY_PROVIDER: 'keyvault',
    KEY_VAULT_URL: vault.vaultUrl,
    BLOB_CONNECTION_STRING: azurite.connectionString,
    OPERATOR_AUTH: 'oidc',
    OPERATOR_OIDC_ISSUER: 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0',
    OPERATOR_OIDC_AUDIENCE: 'api://tenant-ledger',
    BACKUP_LOCAL_FALLBACK: 'off',
    BACKUP_AZURE_CONNECTION_STRING: azurite.connectionString,
    LOCAL_BLOB: 'off',
  };
}

/** Runs the probe (asynchronously: the stand-ins answer from this process's event loop). */
async function probe(env: Record<string, string>, args: string[]): Promise<ProbeResult> {
  const res = await new Promise<{ stdout: string; stderr: string; status: number | null }>((resolve) => {
    execFile(
      process.execPath,
      [PROBE, ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 },
      (error, stdout, stderr) => resolve({ stdout, stderr, status: error ? ((error.code as number | null) ?? null) : 0 }),
    );
  });
  const last = res.stdout.trim().split('\n').pop() ?? '';
  let out: ProbeResult;
  try {
    out = JSON.parse(last) as ProbeResult;
  } catch {
    throw new Error(`probe printed no result (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
  expect(out.error, res.stderr).toBeUndefined();
  return out;
}

const SDKS = {
  libsql: 'libsql',
  aws: '@aws-sdk/client-s3',
  cosmos: '@azure/cosmos',
  arm: '@azure/arm-cosmosdb',
  keyvault: '@azure/keyvault-keys',
  identity: '@azure/identity',
  blob: '@azure/storage-blob',
  azurite: 'azurite',
  monitor: '@azure/monitor-opentelemetry-exporter',
  distro: '@azure/monitor-opentelemetry',
  ajv: 'ajv',
};

describe('loading only what the configuration uses', () => {
  it('loading the entry point loads no adapter SDK at all, whatever the configuration', async () => {
    const r = await probe(azureEnv(), []);
    expect(r.functions).toBeGreaterThan(30);
    for (const sdk of Object.values(SDKS)) expect(r.packages, sdk).not.toContain(sdk);
  });

  it('an Azure configuration (Cosmos, Key Vault, Blob) never loads libsql, the AWS SDK, Azurite or ARM', async () => {
    const r = await probe(azureEnv(), ['--services']);
    const loaded = r.servicesPackages ?? [];
    for (const sdk of [SDKS.cosmos, SDKS.keyvault, SDKS.blob]) expect(loaded, sdk).toContain(sdk);
    for (const sdk of [SDKS.libsql, SDKS.aws, SDKS.azurite, SDKS.arm, SDKS.monitor]) expect(loaded, sdk).not.toContain(sdk);
  });

  it('an Azure configuration works where the libsql binary is missing (a package built on another platform)', async () => {
    const r = await probe(azureEnv(), ['--services', '--block=libsql,@libsql']);
    expect(r.functions).toBeGreaterThan(30);
    expect(r.servicesPackages).toContain(SDKS.cosmos);
  });

  it('the managed-identity Cosmos configuration loads ARM (container creation) and @azure/identity', async () => {
    const env = azureEnv();
    delete env.COSMOS_KEY;
    env.COSMOS_ACCOUNT_RESOURCE_ID = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/acct';
    const loaded = (await probe(env, ['--services'])).servicesPackages ?? [];
    for (const sdk of [SDKS.cosmos, SDKS.arm, SDKS.identity]) expect(loaded, sdk).toContain(sdk);
    expect(loaded).not.toContain(SDKS.libsql);
  });

  it('the embedded configuration without Azure tiers loads libsql and no Azure or AWS SDK', async () => {
    const loaded = (
      await probe({ DATA_DIR: join(dataDir, 'embedded'), BACKUP_LOCAL_FALLBACK: 'off', LOCAL_BLOB: 'off' }, ['--services', '--list'])
    ).servicesPackages;
    expect(loaded).toContain(SDKS.libsql);
    for (const sdk of [SDKS.cosmos, SDKS.arm, SDKS.keyvault, SDKS.identity, SDKS.blob, SDKS.aws, SDKS.azurite])
      expect(loaded, sdk).not.toContain(sdk);
  });

  it('Application Insights loads the exporter and the minimal OpenTelemetry SDK at start, never the distro or sdk-node', async () => {
    const r = await probe(
      {
        ...azureEnv(),
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/',
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
      },
      [],
    );
    for (const p of [
      SDKS.monitor,
      '@opentelemetry/sdk-trace-base',
      '@opentelemetry/sdk-logs',
      '@azure/opentelemetry-instrumentation-azure-sdk',
    ])
      expect(r.packages, p).toContain(p);
    for (const p of [SDKS.distro, '@opentelemetry/sdk-node', '@opentelemetry/instrumentation-http', SDKS.libsql, SDKS.aws])
      expect(r.packages, p).not.toContain(p);
  });

  it('an S3 backup tier loads the AWS SDK, and only then', async () => {
    const loaded = (
      await probe(
        {
          ...azureEnv(),
          BACKUP_EU_CLOUD_S3_ENDPOINT: 'http://127.0.0.1:9',
          BACKUP_EU_CLOUD_S3_BUCKET: 'backups',
          BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID: 'id',
          BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY: 'secret',
        },
        ['--services'],
      )
    ).servicesPackages;
    expect(loaded).toContain(SDKS.aws);
    expect(loaded).not.toContain(SDKS.libsql);
  });
});
