/**
 * Every environment variable the service reads, with its default and meaning. This table
 * is the single source for configuration: `loadConfig` reads only these names and the
 * README's configuration table is checked against it.
 */
export interface Setting {
  default?: string;
  description: string;
  values?: readonly string[];
  secret?: boolean;
}

export const SETTINGS = {
  DATA_DIR: {
    default: './.data',
    description: 'Folder of the embedded stores, local keys, operator key, files (DATA_DIR/files) and Azurite data.',
  },
  DURABILITY: {
    default: 'full',
    values: ['full', 'fast'],
    description:
      'What an acknowledged write survives (embedded stores). `full`: every commit is fsynced before it is acknowledged (SQLite synchronous=FULL in WAL mode), so a power cut loses nothing acknowledged. `fast`: SQLite synchronous=NORMAL, the log is fsynced only at checkpoints: a crash of the process loses nothing, but a power cut or OS crash can lose the last acknowledged commits (the file stays consistent). Files the service writes are always fsynced.',
  },
  PORT: { default: '7071', description: 'Port of the local host (`npm start`); 0 picks a free port.' },
  STORE: {
    default: 'embedded',
    values: ['embedded', 'cosmos', 'cosmos-standin'],
    description:
      'Tenant stores: one encrypted libSQL file per tenant, or one Cosmos DB container per tenant. `cosmos-standin`: the Cosmos adapter against the change-feed stand-in that the local host starts in its own process on 127.0.0.1:COSMOS_STANDIN_PORT (in memory: its data is gone when the host stops), so every endpoint, timer and CLI command runs on the Azure data path on a laptop.',
  },
  COSMOS_STANDIN_PORT: {
    default: '8081',
    description: 'Port of the in-process Cosmos change-feed stand-in (STORE=cosmos-standin).',
  },
  COSMOS_ENDPOINT: {
    description:
      'Cosmos DB account endpoint (STORE=cosmos), or a comma-separated list of accounts: new tenants go to the first account with room (COSMOS_TENANTS_PER_ACCOUNT), existing ones are found by asking the accounts; append new accounts at the end (nothing moves).',
  },
  COSMOS_KEY: {
    description:
      'Cosmos DB account key (one per COSMOS_ENDPOINT entry, comma-separated); when unset the managed identity (DefaultAzureCredential) is used.',
    secret: true,
  },
  COSMOS_TENANTS_PER_ACCOUNT: {
    default: '499',
    description:
      'Tenant containers one Cosmos DB account takes before new tenants go to the next (an account holds at most 500 databases + containers).',
  },
  COSMOS_DATABASE: { default: 'tenants', description: 'Database that holds the `tenant-<id>` containers.' },
  COSMOS_CONTAINER_MAX_THROUGHPUT: {
    description:
      "Autoscale throughput of each new tenant container: its maximum RU/s (1000–1000000, a multiple of 1000); it scales between 10 % of that and the maximum and is billed by the hour for the highest it reached. Unset: the container gets Cosmos DB's default (400 RU/s manual, or the database's shared throughput if the database has one). Existing containers are not changed. Set by infra/ (tenantContainerMaxThroughput).",
  },
  COSMOS_ACCOUNT_RESOURCE_ID: {
    description:
      'ARM resource id of the Cosmos DB account (/subscriptions/…/resourceGroups/…/providers/Microsoft.DocumentDB/databaseAccounts/…; one per COSMOS_ENDPOINT entry, comma-separated). When set, tenant containers are created and deleted through Azure Resource Manager with the managed identity, because Cosmos DB data-plane RBAC cannot create containers. Required with STORE=cosmos and no COSMOS_KEY.',
  },
  COSMOS_ARM_ENDPOINT: {
    default: 'https://management.azure.com',
    description: 'Azure Resource Manager endpoint used with COSMOS_ACCOUNT_RESOURCE_ID (another cloud, or a local stand-in in tests).',
  },
  KEY_PROVIDER: {
    default: 'local',
    values: ['local', 'keyvault'],
    description: 'Where tenant keys live: local key files under DATA_DIR, or Azure Key Vault.',
  },
  KEY_VAULT_URL: { description: 'Key Vault URL, e.g. https://myvault.vault.azure.net (KEY_PROVIDER=keyvault).' },
  KEY_VAULT_KEY_TYPE: {
    default: 'RSA',
    values: ['RSA', 'RSA-HSM'],
    description:
      'Type of new tenant keys in Key Vault: software-protected, or HSM-protected (needs a Premium vault; infra parameter keyVaultSku=premium sets it).',
  },
  LOCAL_MASTER_KEY: {
    description:
      'Master key protecting local tenant keys (32 bytes, base64 or hex). Generated into DATA_DIR/master.key (mode 0600) when unset.',
    secret: true,
  },
  OPERATOR_AUTH: {
    default: 'key',
    values: ['key', 'oidc'],
    description: 'How operator endpoints authenticate: a bearer key, or OpenID Connect (Microsoft Entra ID) tokens with an app role.',
  },
  OPERATOR_KEY: {
    description: 'Operator bearer key (≥ 32 characters). Generated into DATA_DIR/operator.key (mode 0600) when unset.',
    secret: true,
  },
  OPERATOR_OIDC_ISSUER: { description: 'OIDC issuer, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0 (OPERATOR_AUTH=oidc).' },
  OPERATOR_OIDC_AUDIENCE: { description: 'Expected `aud` of operator tokens (the API app registration).' },
  OPERATOR_OIDC_ROLE: { default: 'Tenants.Operate', description: 'App role an operator token must carry in its `roles` claim.' },
  CORS_ALLOWED_ORIGINS: {
    description:
      "Browser origins allowed to call the API (CORS), comma-separated, each exactly `scheme://host[:port]`, e.g. `https://app.example.com,http://localhost:5173`. Empty: no origin (preflights are refused, no CORS headers). `*` is not accepted. In Azure the Function App's CORS applies it (infra parameter corsAllowedOrigins sets both); the local host answers preflights itself.",
  },
  TOKEN_TTL_SECONDS: { default: '3600', description: 'Lifetime of user access tokens.' },
  CLIENT_ADDRESS_HOPS: {
    default: '1',
    description:
      'Which `X-Forwarded-For` entry, counted from the right, is the caller (sign-in throttling and fair password hashing count per caller). 1 = the entry the platform front end appends (Azure Functions/App Service, and the local host); add 1 for each trusted proxy in front that appends too (e.g. 2 behind Azure Front Door). Entries further left are written by the caller and ignored.',
  },
  PASSWORD_SCRYPT_LOG_N: { default: '15', description: 'scrypt cost (log2 N) for new password hashes; 14–20.' },
  MAX_JSON_BODY_BYTES: { default: '65536', description: 'Largest accepted JSON request body; larger bodies get 413.' },
  BLOB_ACCOUNT_URL: {
    description:
      'Blob endpoint of the files storage account, e.g. https://acct.blob.core.windows.net (managed identity). Default (neither this nor BLOB_CONNECTION_STRING): files in folders under DATA_DIR/files, fsynced before an upload answers.',
  },
  BLOB_CONNECTION_STRING: { description: 'Connection string of the files storage account (instead of BLOB_ACCOUNT_URL).', secret: true },
  MAX_FILE_BYTES: {
    default: '5368709120',
    description: 'Largest accepted file upload (5 GiB); larger uploads get 413 and leave nothing behind.',
  },
  FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: {
    description:
      "Largest request body in bytes that the Functions host lets through to the app; larger ones get 413 before any function runs. Azure's host refuses bodies over 100 MB when it is unset, so infra/ sets it to MAX_FILE_BYTES, and the local host enforces it the same way (unset: MAX_FILE_BYTES). At least MAX_FILE_BYTES and MAX_JSON_BODY_BYTES. In Azure an HTTP request must also be answered within 230 s (see infra/README.md, Limits).",
  },
  BACKUP_OWN_CLOUD_S3_ENDPOINT: {
    description:
      'S3-compatible endpoint of backup tier 1 "own cloud", e.g. https://s3.eu-central-1.example.com. Unset: a local folder under DATA_DIR/backups (when BACKUP_LOCAL_FALLBACK=on) or no such tier.',
  },
  BACKUP_OWN_CLOUD_S3_BUCKET: { description: 'Bucket of backup tier 1 "own cloud".' },
  BACKUP_OWN_CLOUD_S3_REGION: { default: 'eu-central-1', description: 'Region of backup tier 1 "own cloud".' },
  BACKUP_OWN_CLOUD_S3_ACCESS_KEY_ID: {
    description: 'Access key id for backup tier 1 "own cloud" (unset: the AWS SDK default credential chain).',
    secret: true,
  },
  BACKUP_OWN_CLOUD_S3_SECRET_ACCESS_KEY: { description: 'Secret access key for backup tier 1 "own cloud".', secret: true },
  BACKUP_EU_CLOUD_S3_ENDPOINT: {
    description:
      'S3-compatible endpoint of backup tier 2 "external EU cloud", e.g. https://s3.eu-central-1.example.com. Unset: a local folder under DATA_DIR/backups (when BACKUP_LOCAL_FALLBACK=on) or no such tier.',
  },
  BACKUP_EU_CLOUD_S3_BUCKET: { description: 'Bucket of backup tier 2 "external EU cloud".' },
  BACKUP_EU_CLOUD_S3_REGION: { default: 'eu-central-1', description: 'Region of backup tier 2 "external EU cloud".' },
  BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID: {
    description: 'Access key id for backup tier 2 "external EU cloud" (unset: the AWS SDK default credential chain).',
    secret: true,
  },
  BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY: { description: 'Secret access key for backup tier 2 "external EU cloud".', secret: true },
  BACKUP_AZURE_BLOB_URL: {
    description:
      'Blob endpoint of the separate backup storage account (tier 3, managed identity), e.g. https://bkp.blob.core.windows.net. Unset: a local folder under BACKUP_LOCAL_DIR (when BACKUP_LOCAL_FALLBACK=on), or the local Azurite when LOCAL_BLOB=azurite.',
  },
  BACKUP_AZURE_CONNECTION_STRING: {
    description: 'Connection string of the backup storage account (instead of BACKUP_AZURE_BLOB_URL).',
    secret: true,
  },
  BACKUP_AZURE_CONTAINER: { default: 'backups', description: 'Container of the Azure backup tier (give it an immutability policy).' },
  BACKUP_RETENTION: {
    default: 'daily=14,weekly=8,monthly=12',
    description:
      'Backup chains kept by the daily full run on every tier: the newest per day, ISO week and month for that many days, weeks and months (the newest chain is always kept).',
  },
  RECOVERY_PUBLIC_KEY: {
    description:
      'Operator recovery public key (PEM text, or the path of a PEM file; RSA ≥ 3072 bits, made by `tenant-ledger recovery keygen`). With local keys, every backup run escrows the tenant keys to each tier encrypted to it; its private half, kept offline, restores from the tiers alone. Unset: DATA_DIR/recovery-public.pem when that file exists, else no escrow.',
  },
  BACKUP_LOCAL_DIR: {
    description:
      'Folder of the local folder tiers (BACKUP_LOCAL_FALLBACK=on), one subfolder per tier. Unset: DATA_DIR/backups. Put it outside the data folder (another disk) so the tiers outlive it.',
  },
  BACKUP_LOCAL_FALLBACK: {
    default: 'on',
    values: ['on', 'off'],
    description:
      'Tiers without settings use local stand-ins (folders under DATA_DIR/backups, or Azurite for the Azure tier with LOCAL_BLOB=azurite) so that `npm start` runs backups and drills.',
  },
  BACKUP_CONNECT_TIMEOUT_SECONDS: { default: '10', description: 'Connect timeout of every request to an S3 backup tier (1–300).' },
  BACKUP_REQUEST_TIMEOUT_SECONDS: {
    default: '60',
    description:
      'A request to a backup tier fails when it got no answer (no bytes) for this long: one try on the Azure tier, an idle socket on S3 tiers (1–3600). Each call is tried at most 3 times.',
  },
  BACKUP_TIER_DEADLINE_SECONDS: {
    default: '900',
    description:
      "Deadline of one tenant's backup (or restore drill) on one tier (10–86400). A run that passes it is aborted and reported failed; the next run continues from the last manifest. Within one timer run, a tier that timed out is skipped for the remaining tenants.",
  },
  BACKUP_FULL_REBASE_DAYS: {
    default: '7',
    description:
      "The daily full run starts a new chain for a tenant on a tier whose log has not moved since that chain's base was written, and which holds nothing but that base, only when the base is this many days old (0–365). An idle tenant is thus read whole once per period instead of daily. 0: every daily run starts a new chain for every tenant.",
  },
  BACKUP_DRILL_REPROOF_DAYS: {
    default: '7',
    description:
      "The drill timer restores a tenant's latest backup on a tier again only when it changed since the last drill that proved it (a new segment or chain), or when that proof is this many days old (0–365). An idle tenant is thus drilled once per period instead of daily. 0: every drill run restores every tenant.",
  },
  BACKUP_CONCURRENCY: {
    default: '4',
    description: 'Tenants backed up at once on each tier by a backup run (1–64). Tiers run independently of each other.',
  },
  BACKUP_STATUS_TIMEOUT_SECONDS: {
    default: '15',
    description: 'GET …/backups waits at most this long for each tier (1–600); a tier that has not answered is shown as failed.',
  },
  TENANT_DELETION_GRACE_DAYS: {
    default: '14',
    description:
      'Grace period of a scheduled tenant deletion (`DELETE /api/tenants/{tenant}`), in days (0–3650): the tenant is suspended at once and can be restored by cancelling the deletion until it ends; then the shredTenants timer destroys its key and removes its store, files and backup objects. 0: shredded at the next timer run.',
  },
  OFFBOARDING_RECEIPTS_DIR: {
    description:
      'Folder of deletion receipts and of the shredding journal (one folder per deleted tenant; no tenant data, only ids, instants, counts and hashes). Unset: BACKUP_LOCAL_DIR/receipts (DATA_DIR/backups/receipts), beside the local tiers, so receipts outlive the data folder. Each finished receipt is also copied to every backup tier under receipts/<tenant>/.',
  },
  TENANT_CACHE_MAX: {
    default: '256',
    description:
      'Most tenants kept open at once by one instance (their keys unwrapped, embedded databases open: 3 file descriptors and about 0.35 MB each). Beyond it the least recently used tenant is closed; a tenant in use by a request or a background run is never closed under it (1–100000).',
  },
  TENANT_CACHE_IDLE_SECONDS: {
    default: '300',
    description: 'A tenant not used for this long is closed (its keys zeroed, its database closed with its WAL truncated) (5–86400).',
  },
  PROJECTOR_SWEEP_SECONDS: {
    default: '300',
    description:
      "Every tenant's log is looked at once per this period for writes this process was not told about (another process, another instance); writes made here are projected within a fraction of a second. Each tenant's look has a fixed place in the period (hash of its id). Embedded: an unchanged tenant costs two stats, and the change journal finds other processes' writes at the next pass, so the sweep runs once a day as a safety net (its first round this long after a start); Cosmos: one change-feed read from the last position (a 304 per partition key range) per period (60–86400).",
  },
  RESOURCE_WARN_PERCENT: {
    default: '80',
    description:
      'Health turns degraded (and the log says which limit) when open file descriptors reach this share of the process limit (RLIMIT_NOFILE), before EMFILE makes requests fail (10–99).',
  },
  READINESS_TIMEOUT_SECONDS: {
    default: '5',
    description:
      'Time limit of each dependency check of GET /api/health/ready (1–60); the checks run at once, so the answer takes at most about this long.',
  },
  FEED_MAX_WAIT_SECONDS: {
    default: '30',
    description:
      'Longest long poll of the change feed (`GET /api/t/{tenant}/changes?wait=`): a request asking for more waits this long at most (0–120).',
  },
  FEED_RECHECK_SECONDS: {
    default: '2',
    description:
      "While a change-feed request waits, the tenant's log is read again at least this often: appends made by this process wake it at once, appends by other instances (Cosmos) are seen within this period (1–60).",
  },
  WEBHOOK_TIMEOUT_SECONDS: {
    default: '10',
    description: 'Longest a webhook delivery may take, connect included; after it the attempt counts as failed and is retried (1–120).',
  },
  WEBHOOK_MAX_ATTEMPTS: {
    default: '8',
    description:
      'Attempts per commit and subscription before the commit is parked (shown in the subscription status) and delivery goes on (1–50).',
  },
  WEBHOOK_RETRY_BASE_MS: {
    default: '1000',
    description: 'Delay before the first retry of a failed delivery; each further retry waits twice as long, at most an hour (10–600000).',
  },
  WEBHOOK_TENANT_CONCURRENCY: {
    default: '4',
    description:
      "Webhook deliveries one tenant may have in flight at once (each subscription delivers one commit at a time, in order); a hanging endpoint holds only its own subscription's turn (1–64).",
  },
  WEBHOOK_INSTANCE_CONCURRENCY: {
    default: '128',
    description:
      'Webhook deliveries one instance may have in flight at once, all tenants together (each is one outgoing connection, bounded by WEBHOOK_TIMEOUT_SECONDS): thousands of tenants with a slow receiver hold at most this many sockets. When it is reached, a freed slot goes to the waiting tenants in turn, so every tenant keeps progressing (1–10000).',
  },
  WEBHOOK_ALLOW_HTTP: {
    default: 'off',
    values: ['on', 'off'],
    description: 'Local development only: `on` accepts http:// webhook URLs. Off: https only.',
  },
  WEBHOOK_ALLOW_PRIVATE_TARGETS: {
    default: 'off',
    values: ['on', 'off'],
    description:
      'Local development only: `on` lets webhooks reach loopback, private and link-local addresses. Off: such addresses are refused, checked after DNS resolution when connecting.',
  },
  APPLICATIONINSIGHTS_CONNECTION_STRING: {
    description:
      'Application Insights connection string. When set, requests, timer runs and logs (with their correlation ids) are exported through OpenTelemetry (Azure Monitor). Unset: structured JSON logs on stdout only.',
  },
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: {
    description:
      'Entra authentication for telemetry ingestion when the Application Insights resource has local auth disabled: `Authorization=AAD` (system-assigned identity) or `Authorization=AAD;ClientId=<client id>` (user-assigned). Set by infra/.',
  },
  LOCAL_BLOB: {
    default: 'off',
    values: ['azurite', 'off'],
    description:
      'Whether the local host starts Azurite (Blob) under DATA_DIR/azurite and puts the local Azure backup tier on it, to run the Blob adapter locally. Off: that tier is a folder under BACKUP_LOCAL_DIR, durable like the others. Azurite saves its blob index only every 5 s, so a backup it holds can be lost by a crash in that window.',
  },
  AZURITE_BLOB_PORT: { default: '10000', description: 'Blob port of the Azurite the local host starts.' },
  TEST_FAULT_HOOKS: {
    default: 'off',
    values: ['on', 'off'],
    description:
      'Test only, never in production: `on` registers `GET /api/test/faults/{kind}`, an endpoint that makes its own invocation fail outside the request (a rejected promise or an exception thrown after or instead of answering), so tests can check that the host logs it and keeps serving.',
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
