import { resolve } from 'node:path';
import { EMULATOR_KEY } from '../adapters/cosmos/emulator-key';
import { SETTINGS, type SettingName } from './schema';

export interface Config {
  dataDir: string;
  /** What an acknowledged write of the embedded stores survives (see SETTINGS.DURABILITY). */
  durability: 'full' | 'fast';
  port: number;
  store:
    | { kind: 'embedded' }
    | {
        kind: 'cosmos';
        endpoint: string;
        key?: string;
        database: string;
        arm?: { accountResourceId: string; endpoint: string };
        /**
         * Present when COSMOS_ENDPOINT lists several accounts: all of them, the first being the
         * one above (tenants spread over them: shared/adapters/cosmos/multi-account-directory.ts).
         */
        accounts?: Array<{ endpoint: string; key?: string; arm?: { accountResourceId: string; endpoint: string } }>;
        tenantsPerAccount?: number;
        /** Autoscale maximum RU/s given to each new tenant container (COSMOS_CONTAINER_MAX_THROUGHPUT); unset: Cosmos DB's default. */
        containerMaxThroughput?: number;
        /** STORE=cosmos-standin: the local host starts the change-feed stand-in on this port. */
        standin?: { port: number };
      };
  keys: { kind: 'local'; masterKey?: string } | { kind: 'keyvault'; vaultUrl: string; keyType: 'RSA' | 'RSA-HSM' };
  /** Application Insights connection string: OpenTelemetry export on when set; `entra` when ingestion needs a managed-identity token. */
  telemetry?: {
    connectionString: string;
    entra?: { clientId?: string };
    /**
     * Cloud role name and instance shown by Application Insights: the Function App's
     * (WEBSITE_SITE_NAME, WEBSITE_INSTANCE_ID, set by the platform), else defaults.
     */
    role?: { name?: string; instance?: string };
    /** OTEL_TRACES_SAMPLER is set: the OpenTelemetry SDK samples as it says (else at most 5 traces/s). */
    samplerFromEnvironment?: boolean;
  };
  operatorAuth: { kind: 'key'; key?: string } | { kind: 'oidc'; issuer: string; audience: string; role: string };
  tokenTtlSeconds: number;
  /** Time limit of each readiness check (READINESS_TIMEOUT_SECONDS). */
  readinessTimeoutMs: number;
  /** Browser origins allowed to call the API (CORS_ALLOWED_ORIGINS), exact `scheme://host[:port]`. */
  corsAllowedOrigins: string[];
  /** Which X-Forwarded-For entry from the right is the caller (CLIENT_ADDRESS_HOPS). */
  clientAddressHops: number;
  passwordLogN: number;
  maxJsonBodyBytes: number;
  /** Largest request body the Functions host (and the local host) lets through (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT). */
  requestBodyLimitBytes: number;
  localBlob: { enabled: boolean; port: number };
  /** Test only: registers the fault-injection endpoint (functions/test-faults.ts). */
  testFaultHooks: boolean;
  /**
   * Functions the local host leaves out, as the Functions host does for the app setting
   * `AzureWebJobs.<name>.Disabled` = true (or 1); also read as `AzureWebJobs__<name>__Disabled`,
   * the form an environment variable can always carry. A disabled timer is not scheduled; a
   * disabled HTTP function is not routed (404).
   */
  disabledFunctions: string[];
  backups: BackupTierConfig[];
  /** RECOVERY_PUBLIC_KEY as given (PEM text or a file path); unset: DATA_DIR/recovery-public.pem if present. */
  recoveryPublicKey?: string;
  backupRetention: { daily: number; weekly: number; monthly: number };
  /** BACKUP_DRILL_REPROOF_DAYS: the drill timer does not restore a backup a drill proved within this period again (0: always). */
  backupDrillReproofMs: number;
  /** BACKUP_FULL_REBASE_DAYS: the daily full run leaves a chain that is only the base of an unchanged log, younger than this, as it is (0: never). */
  backupFullRebaseMs: number;
  /** Time limits and concurrency of backup runs (see the BACKUP_*_SECONDS settings). */
  backupLimits: BackupLimits;
  /** Tenants kept open per instance (LRU and idle time) and the projector's sweep period (issue 11). */
  scale: { tenantCacheMax: number; tenantCacheIdleMs: number; projectorSweepMs: number; resourceWarnPercent: number };
  /** The change feed's long poll (issue 19). */
  feed: { maxWaitMs: number; recheckMs: number };
  /** Tenant offboarding: grace period of a scheduled deletion, and where receipts and the shredding journal live. */
  offboarding: { graceMs: number; receiptsDir: string };
  /** Webhook delivery (issue 19). */
  webhooks: {
    timeoutMs: number;
    maxAttempts: number;
    retryBaseMs: number;
    tenantConcurrency: number;
    instanceConcurrency: number;
    allowHttp: boolean;
    allowPrivate: boolean;
  };
  files: {
    blob: { kind: 'folder'; path: string } | { kind: 'connectionString'; value: string } | { kind: 'accountUrl'; url: string };
    maxFileBytes: number;
  };
}

export interface BackupLimits {
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  tierDeadlineMs: number;
  concurrency: number;
  statusTimeoutMs: number;
}

export type BackupTierConfig =
  | {
      tier: 'own-cloud' | 'eu-cloud';
      kind: 's3';
      endpoint: string;
      bucket: string;
      region: string;
      credentials?: { accessKeyId: string; secretAccessKey: string };
    }
  | { tier: 'own-cloud' | 'eu-cloud' | 'azure'; kind: 'folder'; path: string }
  | { tier: 'azure'; kind: 'blob-url'; url: string; container: string }
  | { tier: 'azure'; kind: 'blob-connection-string'; connectionString: string; container: string }
  | { tier: 'azure'; kind: 'azurite'; container: string };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The functions an `AzureWebJobs.<name>.Disabled` (or `AzureWebJobs__<name>__Disabled`) setting turns off (Config.disabledFunctions). */
function disabledFunctions(env: NodeJS.ProcessEnv): string[] {
  const names: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    const m = /^AzureWebJobs(?:\.|__)([A-Za-z0-9_-]+)(?:\.|__)Disabled$/i.exec(key);
    if (m && /^(true|1)$/i.test((value ?? '').trim())) names.push(m[1]!);
  }
  return names.sort();
}

/** The one place that reads the environment. Validates everything and fails with clear messages. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const get = (name: SettingName): string | undefined => {
    const v = env[name];
    const s = SETTINGS[name] as { default?: string; values?: readonly string[] };
    const value = v === undefined || v === '' ? s.default : v;
    if (value !== undefined && s.values && !s.values.includes(value)) problems.push(`${name} must be one of ${s.values.join(', ')}`);
    return value;
  };
  const required = (name: SettingName, because: string): string => {
    const v = get(name);
    if (!v) problems.push(`${name} is required when ${because}`);
    return v ?? '';
  };
  const int = (name: SettingName, min: number, max: number): number => {
    const raw = get(name) ?? '';
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${name} must be an integer between ${min} and ${max}`);
    return n;
  };

  const store = get('STORE');
  const keys = get('KEY_PROVIDER');
  const op = get('OPERATOR_AUTH');
  const config: Config = {
    dataDir: resolve(get('DATA_DIR')!),
    durability: get('DURABILITY') as 'full' | 'fast',
    port: int('PORT', 0, 65535),
    store:
      store === 'cosmos'
        ? cosmosAccounts(
            {
              endpoints: required('COSMOS_ENDPOINT', 'STORE=cosmos'),
              keys: get('COSMOS_KEY'),
              resourceIds: get('COSMOS_KEY')
                ? undefined
                : required('COSMOS_ACCOUNT_RESOURCE_ID', 'STORE=cosmos uses the managed identity (no COSMOS_KEY)'),
              database: get('COSMOS_DATABASE')!,
              armEndpoint: get('COSMOS_ARM_ENDPOINT')!,
              tenantsPerAccount: int('COSMOS_TENANTS_PER_ACCOUNT', 1, 499),
            },
            problems,
          )
        : store === 'cosmos-standin'
          ? (() => {
              const port = int('COSMOS_STANDIN_PORT', 1, 65535);
              return {
                kind: 'cosmos' as const,
                endpoint: `http://127.0.0.1:${port}`,
                key: EMULATOR_KEY,
                database: get('COSMOS_DATABASE')!,
                standin: { port },
              };
            })()
          : { kind: 'embedded' },
    keys:
      keys === 'keyvault'
        ? {
            kind: 'keyvault',
            vaultUrl: required('KEY_VAULT_URL', 'KEY_PROVIDER=keyvault'),
            keyType: get('KEY_VAULT_KEY_TYPE') as 'RSA' | 'RSA-HSM',
          }
        : { kind: 'local', ...(get('LOCAL_MASTER_KEY') ? { masterKey: get('LOCAL_MASTER_KEY')! } : {}) },
    operatorAuth:
      op === 'oidc'
        ? {
            kind: 'oidc',
            issuer: required('OPERATOR_OIDC_ISSUER', 'OPERATOR_AUTH=oidc'),
            audience: required('OPERATOR_OIDC_AUDIENCE', 'OPERATOR_AUTH=oidc'),
            role: get('OPERATOR_OIDC_ROLE')!,
          }
        : { kind: 'key', ...(get('OPERATOR_KEY') ? { key: get('OPERATOR_KEY')! } : {}) },
    tokenTtlSeconds: int('TOKEN_TTL_SECONDS', 60, 86_400),
    readinessTimeoutMs: int('READINESS_TIMEOUT_SECONDS', 1, 60) * 1000,
    corsAllowedOrigins: parseOrigins(get('CORS_ALLOWED_ORIGINS') ?? '', problems),
    clientAddressHops: int('CLIENT_ADDRESS_HOPS', 1, 10),
    passwordLogN: int('PASSWORD_SCRYPT_LOG_N', 14, 20),
    maxJsonBodyBytes: int('MAX_JSON_BODY_BYTES', 1024, 16 * 1024 * 1024),
    requestBodyLimitBytes: 0, // below: defaults to MAX_FILE_BYTES
    localBlob: { enabled: get('LOCAL_BLOB') === 'azurite', port: int('AZURITE_BLOB_PORT', 1, 65535) },
    testFaultHooks: get('TEST_FAULT_HOOKS') === 'on',
    disabledFunctions: disabledFunctions(env),
    backups: [],
    backupRetention: parseRetention(get('BACKUP_RETENTION')!, problems),
    backupDrillReproofMs: int('BACKUP_DRILL_REPROOF_DAYS', 0, 365) * 86_400_000,
    backupFullRebaseMs: int('BACKUP_FULL_REBASE_DAYS', 0, 365) * 86_400_000,
    backupLimits: {
      connectTimeoutMs: int('BACKUP_CONNECT_TIMEOUT_SECONDS', 1, 300) * 1000,
      requestTimeoutMs: int('BACKUP_REQUEST_TIMEOUT_SECONDS', 1, 3600) * 1000,
      tierDeadlineMs: int('BACKUP_TIER_DEADLINE_SECONDS', 10, 86_400) * 1000,
      concurrency: int('BACKUP_CONCURRENCY', 1, 64),
      statusTimeoutMs: int('BACKUP_STATUS_TIMEOUT_SECONDS', 1, 600) * 1000,
    },
    scale: {
      tenantCacheMax: int('TENANT_CACHE_MAX', 1, 100_000),
      tenantCacheIdleMs: int('TENANT_CACHE_IDLE_SECONDS', 5, 86_400) * 1000,
      projectorSweepMs: int('PROJECTOR_SWEEP_SECONDS', 60, 86_400) * 1000,
      resourceWarnPercent: int('RESOURCE_WARN_PERCENT', 10, 99),
    },
    feed: {
      maxWaitMs: int('FEED_MAX_WAIT_SECONDS', 0, 120) * 1000,
      recheckMs: int('FEED_RECHECK_SECONDS', 1, 60) * 1000,
    },
    offboarding: {
      graceMs: int('TENANT_DELETION_GRACE_DAYS', 0, 3650) * 86_400_000,
      receiptsDir: resolve(
        get('OFFBOARDING_RECEIPTS_DIR') ?? resolve(get('BACKUP_LOCAL_DIR') ?? resolve(get('DATA_DIR')!, 'backups'), 'receipts'),
      ),
    },
    webhooks: {
      timeoutMs: int('WEBHOOK_TIMEOUT_SECONDS', 1, 120) * 1000,
      maxAttempts: int('WEBHOOK_MAX_ATTEMPTS', 1, 50),
      retryBaseMs: int('WEBHOOK_RETRY_BASE_MS', 10, 600_000),
      tenantConcurrency: int('WEBHOOK_TENANT_CONCURRENCY', 1, 64),
      instanceConcurrency: int('WEBHOOK_INSTANCE_CONCURRENCY', 1, 10_000),
      allowHttp: get('WEBHOOK_ALLOW_HTTP') === 'on',
      allowPrivate: get('WEBHOOK_ALLOW_PRIVATE_TARGETS') === 'on',
    },
    files: {
      blob: get('BLOB_CONNECTION_STRING')
        ? { kind: 'connectionString', value: get('BLOB_CONNECTION_STRING')! }
        : get('BLOB_ACCOUNT_URL')
          ? { kind: 'accountUrl', url: get('BLOB_ACCOUNT_URL')! }
          : { kind: 'folder', path: resolve(get('DATA_DIR')!, 'files') },
      maxFileBytes: int('MAX_FILE_BYTES', 1, Number.MAX_SAFE_INTEGER),
    },
  };
  if (get('APPLICATIONINSIGHTS_CONNECTION_STRING')) {
    // Platform variables (not settings of this app): read for the telemetry resource only.
    const platform = (name: string): string | undefined => env[name] || undefined;
    const roleName = platform('WEBSITE_SITE_NAME');
    const roleInstance = platform('WEBSITE_INSTANCE_ID');
    config.telemetry = {
      connectionString: get('APPLICATIONINSIGHTS_CONNECTION_STRING')!,
      ...(roleName || roleInstance
        ? { role: { ...(roleName ? { name: roleName } : {}), ...(roleInstance ? { instance: roleInstance } : {}) } }
        : {}),
      ...(platform('OTEL_TRACES_SAMPLER') ? { samplerFromEnvironment: true } : {}),
    };
    const auth = get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
    if (auth) {
      const m = /^Authorization=AAD(?:;ClientId=([0-9a-fA-F-]{36}))?;?$/.exec(auth.trim());
      if (!m)
        problems.push('APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be Authorization=AAD or Authorization=AAD;ClientId=<client id>');
      else config.telemetry.entra = m[1] ? { clientId: m[1] } : {};
    }
  }
  if (config.store.kind === 'cosmos' && get('COSMOS_CONTAINER_MAX_THROUGHPUT')) {
    const max = int('COSMOS_CONTAINER_MAX_THROUGHPUT', 1000, 1_000_000);
    // Autoscale maxima come in steps of 1000 RU/s.
    if (max % 1000 !== 0) problems.push('COSMOS_CONTAINER_MAX_THROUGHPUT must be a multiple of 1000');
    config.store.containerMaxThroughput = max;
  }
  config.requestBodyLimitBytes = get('FUNCTIONS_REQUEST_BODY_SIZE_LIMIT')
    ? int('FUNCTIONS_REQUEST_BODY_SIZE_LIMIT', 1024, Number.MAX_SAFE_INTEGER)
    : config.files.maxFileBytes;
  // A host limit below what the app accepts would refuse promised uploads (or JSON bodies)
  // with the host's own 413 before the app sees them.
  if (config.requestBodyLimitBytes < Math.max(config.files.maxFileBytes, config.maxJsonBodyBytes))
    problems.push(
      `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (${config.requestBodyLimitBytes}) must be at least MAX_FILE_BYTES (${config.files.maxFileBytes}) and MAX_JSON_BODY_BYTES (${config.maxJsonBodyBytes})`,
    );
  if (get('RECOVERY_PUBLIC_KEY')) config.recoveryPublicKey = get('RECOVERY_PUBLIC_KEY')!;
  const fallback = get('BACKUP_LOCAL_FALLBACK') === 'on';
  const localBackupDir = get('BACKUP_LOCAL_DIR') ?? resolve(config.dataDir, 'backups');
  for (const [tier, p] of [
    ['own-cloud', 'BACKUP_OWN_CLOUD_S3_'],
    ['eu-cloud', 'BACKUP_EU_CLOUD_S3_'],
  ] as const) {
    const endpoint = get(`${p}ENDPOINT` as SettingName);
    if (endpoint) {
      const id = get(`${p}ACCESS_KEY_ID` as SettingName);
      const secret = get(`${p}SECRET_ACCESS_KEY` as SettingName);
      if (!!id !== !!secret) problems.push(`${p}ACCESS_KEY_ID and ${p}SECRET_ACCESS_KEY are set together`);
      config.backups.push({
        tier,
        kind: 's3',
        endpoint,
        bucket: required(`${p}BUCKET` as SettingName, `${p}ENDPOINT is set`),
        region: get(`${p}REGION` as SettingName)!,
        ...(id && secret ? { credentials: { accessKeyId: id, secretAccessKey: secret } } : {}),
      });
    } else if (fallback) {
      config.backups.push({ tier, kind: 'folder', path: resolve(localBackupDir, tier) });
    }
  }
  const container = get('BACKUP_AZURE_CONTAINER')!;
  if (get('BACKUP_AZURE_CONNECTION_STRING'))
    config.backups.push({
      tier: 'azure',
      kind: 'blob-connection-string',
      connectionString: get('BACKUP_AZURE_CONNECTION_STRING')!,
      container,
    });
  else if (get('BACKUP_AZURE_BLOB_URL'))
    config.backups.push({ tier: 'azure', kind: 'blob-url', url: get('BACKUP_AZURE_BLOB_URL')!, container });
  // Locally the Azure tier is a durable folder unless Azurite is asked for: Azurite saves its
  // blob index only every 5 s, so a backup reported done could be lost by a crash (issue 10).
  else if (fallback && config.localBlob.enabled) config.backups.push({ tier: 'azure', kind: 'azurite', container });
  else if (fallback) config.backups.push({ tier: 'azure', kind: 'folder', path: resolve(localBackupDir, 'azure') });

  if (problems.length) throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return config;
}

const COSMOS_ACCOUNT_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.DocumentDB\/databaseAccounts\/[^/]+$/i;

/**
 * COSMOS_ENDPOINT (and COSMOS_KEY or COSMOS_ACCOUNT_RESOURCE_ID) as comma-separated lists of
 * the same length: one entry per account, in placement order (append new accounts at the end).
 */
function cosmosAccounts(
  v: {
    endpoints: string;
    keys: string | undefined;
    resourceIds: string | undefined;
    database: string;
    armEndpoint: string;
    tenantsPerAccount: number;
  },
  problems: string[],
): Extract<Config['store'], { kind: 'cosmos' }> {
  const list = (x: string) => x.split(',').map((e) => e.trim());
  const endpoints = list(v.endpoints);
  const keys = v.keys === undefined ? undefined : list(v.keys);
  const ids = v.resourceIds === undefined ? undefined : list(v.resourceIds);
  if (endpoints.some((e) => !e)) problems.push('COSMOS_ENDPOINT has an empty entry');
  if (new Set(endpoints).size !== endpoints.length) problems.push('COSMOS_ENDPOINT lists an account twice');
  if (keys && keys.length !== endpoints.length) problems.push('COSMOS_KEY must list one key per COSMOS_ENDPOINT entry');
  if (ids && ids.length !== endpoints.length) problems.push('COSMOS_ACCOUNT_RESOURCE_ID must list one id per COSMOS_ENDPOINT entry');
  const accounts = endpoints.map((endpoint, i) => ({
    endpoint,
    ...(keys?.[i] ? { key: keys[i] } : {}),
    ...(ids ? { arm: { accountResourceId: cosmosResourceId(ids[i] ?? '', problems), endpoint: v.armEndpoint } } : {}),
  }));
  const first = accounts[0]!;
  return {
    kind: 'cosmos',
    ...first,
    database: v.database,
    ...(accounts.length > 1 ? { accounts, tenantsPerAccount: v.tenantsPerAccount } : {}),
  };
}

function cosmosResourceId(v: string, problems: string[]): string {
  if (v && !COSMOS_ACCOUNT_ID.test(v))
    problems.push(
      'COSMOS_ACCOUNT_RESOURCE_ID must look like /subscriptions/<id>/resourceGroups/<name>/providers/Microsoft.DocumentDB/databaseAccounts/<name>',
    );
  return v;
}

/** `a,b,…` of exact origins (what a browser sends in `Origin`): no path, no wildcard. */
function parseOrigins(v: string, problems: string[]): string[] {
  const out: string[] = [];
  for (const part of v.split(',')) {
    const o = part.trim();
    if (!o) continue;
    let origin: string | undefined;
    try {
      const u = new URL(o);
      if ((u.protocol === 'https:' || u.protocol === 'http:') && !u.hostname.includes('*')) origin = u.origin;
    } catch {
      /* reported below */
    }
    if (origin !== o) {
      problems.push(
        `CORS_ALLOWED_ORIGINS: "${o}" is not an origin like https://app.example.com (scheme, host and port only; no * or path)`,
      );
      continue;
    }
    out.push(origin);
  }
  return out;
}

function parseRetention(v: string, problems: string[]): { daily: number; weekly: number; monthly: number } {
  const out = { daily: 14, weekly: 8, monthly: 12 };
  for (const part of v.split(',')) {
    const m = /^\s*(daily|weekly|monthly)\s*=\s*(\d{1,4})\s*$/.exec(part);
    if (!m) {
      problems.push('BACKUP_RETENTION must look like daily=14,weekly=8,monthly=12');
      return out;
    }
    out[m[1] as keyof typeof out] = Number(m[2]);
  }
  return out;
}
