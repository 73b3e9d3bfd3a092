import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config';
import { SETTINGS } from '../shared/config/schema';

describe('configuration', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.store).toEqual({ kind: 'embedded' });
    expect(c.keys).toEqual({ kind: 'local' });
    expect(c.operatorAuth).toEqual({ kind: 'key' });
    expect(c.port).toBe(7071);
    expect(c.dataDir.endsWith('.data')).toBe(true);
  });
  it('selects the Azure adapters and requires their settings', () => {
    expect(() => loadConfig({ STORE: 'cosmos' })).toThrow(/COSMOS_ENDPOINT is required/);
    expect(() => loadConfig({ KEY_PROVIDER: 'keyvault' })).toThrow(/KEY_VAULT_URL is required/);
    expect(() => loadConfig({ OPERATOR_AUTH: 'oidc' })).toThrow(/OPERATOR_OIDC_ISSUER is required[\s\S]*OPERATOR_OIDC_AUDIENCE/);
    expect(() => loadConfig({ STORE: 'cosmos', COSMOS_ENDPOINT: 'https://x.documents.azure.com' })).toThrow(
      /COSMOS_ACCOUNT_RESOURCE_ID is required/,
    );
    const armId =
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/acct';
    const c = loadConfig({
      STORE: 'cosmos',
      COSMOS_ENDPOINT: 'https://x.documents.azure.com',
      COSMOS_ACCOUNT_RESOURCE_ID: armId,
      KEY_PROVIDER: 'keyvault',
      KEY_VAULT_URL: 'https://v.vault.azure.net',
    });
    expect(c.store).toEqual({
      kind: 'cosmos',
      endpoint: 'https://x.documents.azure.com',
      database: 'tenants',
      arm: { accountResourceId: armId, endpoint: 'https://management.azure.com' },
    });
    expect(c.keys).toEqual({ kind: 'keyvault', vaultUrl: 'https://v.vault.azure.net', keyType: 'RSA' });
    expect(c.telemetry).toBeUndefined();
    // With an account key the data plane can create containers itself: no ARM needed.
    const withKey = loadConfig({ STORE: 'cosmos', COSMOS_ENDPOINT: 'https://x.documents.azure.com', COSMOS_KEY: 'k' });
    expect(withKey.store).toEqual({ kind: 'cosmos', endpoint: 'https://x.documents.azure.com', key: 'k', database: 'tenants' });
    expect(() => loadConfig({ STORE: 'cosmos', COSMOS_ENDPOINT: 'https://x', COSMOS_ACCOUNT_RESOURCE_ID: 'acct' })).toThrow(
      /COSMOS_ACCOUNT_RESOURCE_ID must look like/,
    );
    expect(loadConfig({ KEY_PROVIDER: 'keyvault', KEY_VAULT_URL: 'https://v', KEY_VAULT_KEY_TYPE: 'RSA-HSM' }).keys).toMatchObject({
      keyType: 'RSA-HSM',
    });
    expect(() => loadConfig({ KEY_PROVIDER: 'keyvault', KEY_VAULT_URL: 'https://v', KEY_VAULT_KEY_TYPE: 'EC' })).toThrow(
      /KEY_VAULT_KEY_TYPE must be one of RSA, RSA-HSM/,
    );
    expect(loadConfig({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x' }).telemetry).toEqual({
      connectionString: 'InstrumentationKey=x',
    });
    const clientId = '11111111-2222-3333-4444-555555555555';
    expect(
      loadConfig({
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x',
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `Authorization=AAD;ClientId=${clientId}`,
      }).telemetry,
    ).toEqual({
      connectionString: 'InstrumentationKey=x',
      entra: { clientId },
    });
    expect(
      loadConfig({
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x',
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD',
      }).telemetry?.entra,
    ).toEqual({});
    expect(() =>
      loadConfig({
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x',
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=Key',
      }),
    ).toThrow(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be/);
  });
  it('files: folders under DATA_DIR/files by default; Azure Blob when a connection string or account URL is set', () => {
    expect(loadConfig({ DATA_DIR: '/srv/data' }).files.blob).toEqual({ kind: 'folder', path: '/srv/data/files' });
    expect(loadConfig({ BLOB_CONNECTION_STRING: 'UseDevelopmentStorage=true' }).files.blob).toEqual({
      kind: 'connectionString',
      value: 'UseDevelopmentStorage=true',
    });
    expect(loadConfig({ BLOB_ACCOUNT_URL: 'https://a.blob.core.windows.net' }).files.blob).toEqual({
      kind: 'accountUrl',
      url: 'https://a.blob.core.windows.net',
    });
  });
  it('backup tiers: local stand-ins by default, S3 and Blob from settings, retention parsed', () => {
    const local = loadConfig({});
    expect(local.backups.map((b) => `${b.tier}:${b.kind}`)).toEqual(['own-cloud:folder', 'eu-cloud:folder', 'azure:folder']);
    expect(local.localBlob.enabled).toBe(false);
    // The Azure tier's folder sits beside the others (BACKUP_LOCAL_DIR): durable, unlike Azurite's 5 s index.
    const dirs = loadConfig({ BACKUP_LOCAL_DIR: '/srv/bk' }).backups.map((b) => (b.kind === 'folder' ? b.path : b.kind));
    expect(dirs).toEqual(['/srv/bk/own-cloud', '/srv/bk/eu-cloud', '/srv/bk/azure']);
    // Azurite only when asked for.
    expect(loadConfig({ LOCAL_BLOB: 'azurite' }).backups.map((b) => `${b.tier}:${b.kind}`)).toEqual([
      'own-cloud:folder',
      'eu-cloud:folder',
      'azure:azurite',
    ]);
    expect(local.backupRetention).toEqual({ daily: 14, weekly: 8, monthly: 12 });
    const cloud = loadConfig({
      BACKUP_LOCAL_FALLBACK: 'off',
      BACKUP_EU_CLOUD_S3_ENDPOINT: 'https://s3.example.eu',
      BACKUP_EU_CLOUD_S3_BUCKET: 'bkp',
      BACKUP_AZURE_BLOB_URL: 'https://bkp.blob.core.windows.net',
      BACKUP_RETENTION: 'daily=7,weekly=4,monthly=6',
    });
    expect(cloud.backups).toEqual([
      { tier: 'eu-cloud', kind: 's3', endpoint: 'https://s3.example.eu', bucket: 'bkp', region: 'eu-central-1' },
      { tier: 'azure', kind: 'blob-url', url: 'https://bkp.blob.core.windows.net', container: 'backups' },
    ]);
    expect(cloud.backupRetention).toEqual({ daily: 7, weekly: 4, monthly: 6 });
    expect(() => loadConfig({ BACKUP_RETENTION: 'forever' })).toThrow(/BACKUP_RETENTION/);
    expect(() => loadConfig({ BACKUP_OWN_CLOUD_S3_ENDPOINT: 'https://x' })).toThrow(/BACKUP_OWN_CLOUD_S3_BUCKET is required/);
  });

  it('the host body limit defaults to MAX_FILE_BYTES and may not be below what the app accepts', () => {
    expect(loadConfig({}).requestBodyLimitBytes).toBe(5_368_709_120);
    expect(loadConfig({ MAX_FILE_BYTES: '1048576' }).requestBodyLimitBytes).toBe(1_048_576);
    expect(loadConfig({ FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '6000000000' }).requestBodyLimitBytes).toBe(6_000_000_000);
    // Azure's default host limit (100 MB) under the default MAX_FILE_BYTES (5 GiB).
    expect(() => loadConfig({ FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '104857600' })).toThrow(
      /FUNCTIONS_REQUEST_BODY_SIZE_LIMIT \(104857600\) must be at least MAX_FILE_BYTES \(5368709120\)/,
    );
    expect(() => loadConfig({ MAX_FILE_BYTES: '2048', FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '4096' })).toThrow(
      /MAX_JSON_BODY_BYTES \(65536\)/,
    );
  });

  it('tenant container throughput: autoscale maximum in steps of 1000 with STORE=cosmos; unset by default', () => {
    const cosmos = { STORE: 'cosmos', COSMOS_ENDPOINT: 'https://x.documents.azure.com', COSMOS_KEY: 'k' };
    expect(loadConfig(cosmos).store).not.toHaveProperty('containerMaxThroughput');
    expect(loadConfig({ ...cosmos, COSMOS_CONTAINER_MAX_THROUGHPUT: '4000' }).store).toMatchObject({ containerMaxThroughput: 4000 });
    for (const bad of ['999', '1500', '2000000', 'x'])
      expect(() => loadConfig({ ...cosmos, COSMOS_CONTAINER_MAX_THROUGHPUT: bad }), bad).toThrow(/COSMOS_CONTAINER_MAX_THROUGHPUT/);
  });

  it('CORS origins: exact origins only, trimmed; none by default', () => {
    expect(loadConfig({}).corsAllowedOrigins).toEqual([]);
    expect(loadConfig({ CORS_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsAllowedOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    for (const bad of [
      '*',
      'https://app.example.com/',
      'https://app.example.com/path',
      'app.example.com',
      'ftp://x.example',
      'https://*.example.com',
    ])
      expect(() => loadConfig({ CORS_ALLOWED_ORIGINS: bad }), bad).toThrow(/CORS_ALLOWED_ORIGINS/);
  });

  it('rejects bad values with every problem listed, never echoing secrets', () => {
    let msg = '';
    try {
      loadConfig({ STORE: 'mongo', PORT: 'x', TOKEN_TTL_SECONDS: '5', OPERATOR_KEY: 'super-secret-value' });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/STORE must be one of embedded, cosmos/);
    expect(msg).toMatch(/PORT must be an integer/);
    expect(msg).toMatch(/TOKEN_TTL_SECONDS/);
    expect(msg).not.toContain('super-secret-value');
  });
  it('COSMOS_ENDPOINT may list several accounts, each with its key or ARM id', () => {
    const two = loadConfig({
      STORE: 'cosmos',
      COSMOS_ENDPOINT: 'https://a.documents.azure.com, https://b.documents.azure.com',
      COSMOS_KEY: 'ka,kb',
    });
    expect(two.store).toEqual({
      kind: 'cosmos',
      endpoint: 'https://a.documents.azure.com',
      key: 'ka',
      database: 'tenants',
      accounts: [
        { endpoint: 'https://a.documents.azure.com', key: 'ka' },
        { endpoint: 'https://b.documents.azure.com', key: 'kb' },
      ],
      tenantsPerAccount: 499,
    });
    const arm = (n: string) =>
      `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/${n}`;
    const viaArm = loadConfig({
      STORE: 'cosmos',
      COSMOS_ENDPOINT: 'https://a,https://b',
      COSMOS_ACCOUNT_RESOURCE_ID: `${arm('a')},${arm('b')}`,
      COSMOS_TENANTS_PER_ACCOUNT: '200',
    });
    expect(viaArm.store).toMatchObject({
      accounts: [{ arm: { accountResourceId: arm('a') } }, { arm: { accountResourceId: arm('b') } }],
      tenantsPerAccount: 200,
    });
    expect(() => loadConfig({ STORE: 'cosmos', COSMOS_ENDPOINT: 'https://a,https://b', COSMOS_KEY: 'ka' })).toThrow(/one key per/);
    expect(() => loadConfig({ STORE: 'cosmos', COSMOS_ENDPOINT: 'https://a,https://a', COSMOS_KEY: 'k,k' })).toThrow(/twice/);
    expect(() => loadConfig({ STORE: 'cosmos', COSMOS_ENDPOINT: 'https://a', COSMOS_KEY: 'k', COSMOS_TENANTS_PER_ACCOUNT: '500' })).toThrow(
      /COSMOS_TENANTS_PER_ACCOUNT must be an integer between 1 and 499/,
    );
  });
  it('STORE=cosmos-standin: the Cosmos adapter against the local stand-in on COSMOS_STANDIN_PORT', () => {
    const c = loadConfig({ STORE: 'cosmos-standin' });
    expect(c.store).toMatchObject({ kind: 'cosmos', endpoint: 'http://127.0.0.1:8081', database: 'tenants', standin: { port: 8081 } });
    expect(loadConfig({ STORE: 'cosmos-standin', COSMOS_STANDIN_PORT: '18081' }).store).toMatchObject({
      endpoint: 'http://127.0.0.1:18081',
      standin: { port: 18081 },
    });
    expect(() => loadConfig({ STORE: 'cosmos-standin', COSMOS_STANDIN_PORT: 'x' })).toThrow(/COSMOS_STANDIN_PORT must be an integer/);
  });
  it('AzureWebJobs.<name>.Disabled (or AzureWebJobs__<name>__Disabled) = true or 1 disables a function; none by default', () => {
    expect(loadConfig({}).disabledFunctions).toEqual([]);
    expect(
      loadConfig({
        'AzureWebJobs.backupIncremental.Disabled': 'true',
        AzureWebJobs__backupDrill__Disabled: '1',
        'AzureWebJobs.backupFull.Disabled': 'TRUE ',
        'AzureWebJobs.projectFeeds.Disabled': 'false',
        'AzureWebJobs.shredTenants.Disabled': '',
        'AzureWebJobs..Disabled': 'true',
        'AzureWebJobs.a.b.Disabled': 'true',
      }).disabledFunctions,
    ).toEqual(['backupDrill', 'backupFull', 'backupIncremental']);
  });
  it('the README configuration table lists exactly the settings the code reads, with their defaults', () => {
    const readme = readFileSync('README.md', 'utf8');
    const rows = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
    expect(rows.map((r) => r[0]).sort()).toEqual(Object.keys(SETTINGS).sort());
    for (const [name, def] of rows) {
      const expected = (SETTINGS as Record<string, { default?: string }>)[name]!.default;
      expect(def, name).toBe(expected === undefined ? '—' : `\`${expected}\``);
    }
  });
});
