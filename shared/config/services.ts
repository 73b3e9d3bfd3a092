import { assertNever } from '../domain/events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { HashingGate } from '../app/auth/hashing-gate';
import { BackupService } from '../app/backup';
import { TenantOffboarding } from '../app/offboarding';
import { shreddedTenantError } from '../app/offboarding/schedule';
import { FileService } from '../app/files';
import { RevertService } from '../app/revert';
import { StoredFileCheck } from '../app/file-check';
import { RecordService } from '../app/records';
import { PersonalDataDirectory } from '../app/erasure/directory';
import { ErasureService } from '../app/erasure/erase-subject';
import { PersonalDataVault } from '../app/erasure/vault';
import { TypeSchemaSandbox } from '../app/type-schemas';
import { TenantService } from '../app/service';
import { TenantHealth } from '../app/tenant-health';
import { TenantCache } from '../app/tenants/tenant-cache';
import { TenantCacheLimits } from '../app/tenants/cache-limits';
import { errorMessage, redact } from '../redact';
import { ChangeSignal, SignallingDirectory } from '../app/changes/change-signal';
import { ChangeDrivenProjector, PROJECTOR_TICK_MS } from '../app/changes/change-driven-projector';
import { SpreadSchedule } from '../app/changes/spread';
import { watchResourceLimits } from '../app/resource-limits';
import { ChangeFeed } from '../app/feed/change-feed';
import { WebhookSubscriptions } from '../app/webhooks/subscriptions';
import { WebhookWorker } from '../app/webhooks/worker';
import type { KeyCustody } from '../app/recovery/custody-notice';
import type { KeyEscrowService } from '../app/recovery/key-escrow';
import { RECOVERY_PUBLIC_KEY_FILE } from '../app/recovery/recovery-key';
import type { BackupTarget } from '../ports/backup-target';
import type { BlobStoreFactory } from '../ports/blob-store';
import type { KeyProvider } from '../ports/key-provider';
import type { OperatorAuthenticator } from '../ports/operator-auth';
import { systemClock, type Clock } from '../ports/runtime';
import type { TenantDirectory } from '../ports/tenant-directory';
import type { TenantStores } from '../ports/tenant-stores';
import type { DependencyCheck } from '../app/readiness/readiness';
import { loadConfig, type Config } from './index';
import { readinessChecks } from './readiness-checks';

// Adapters are loaded only when the configuration selects them (`await import` inside each
// branch below): a Cosmos configuration never loads libsql, no S3 tier means no AWS SDK, no
// Key Vault means no Key Vault SDK. That keeps cold starts short and lets a package run
// without the native libsql binary where it is not used. test/config/lazy-loading.test.ts
// checks it; `npm run bench` measures the cold start.

export interface Services {
  config: Config;
  tenants: TenantService;
  /** The tenants' stores behind the ready-check, as leases (the tenant cache). */
  tenantStores: TenantStores;
  records: RecordService;
  /** Erasure of data subjects (issue 14). */
  erasure: ErasureService;
  /** Subject keyrings and sealing of personal values (issue 14). */
  personal: PersonalDataVault;
  files: FileService;
  /** Undo to an instant: record and tenant-wide reverts (shared/app/revert). */
  revert: RevertService;
  /** Start-up check that every attached file still has its stored object (reports per tenant). */
  fileCheck: StoredFileCheck;
  backups: BackupService;
  /** Tenant offboarding: scheduled deletions, crypto-shredding, receipts (shared/app/offboarding/). */
  offboarding: TenantOffboarding;
  directory: TenantDirectory;
  /** The tenants' key-encryption keys (local files or Key Vault). */
  keys: KeyProvider;
  /** Appends made in this process (the projector and other background work listen). */
  changes: ChangeSignal;
  /** The tenants' change feeds for their apps (pull, long poll). */
  changeFeed: ChangeFeed;
  /** Webhook subscriptions (admin use cases) and their delivery worker. */
  webhooks: WebhookSubscriptions;
  webhookWorker: WebhookWorker;
  /** Projects signalled tenants at once and sweeps the rest slowly (the projectFeeds timer runs its passes). */
  projector: ChangeDrivenProjector;
  /**
   * Per-tenant timer work spread over its period (shared/app/changes/spread.ts): restore drills
   * over a day, the orphan-file sweep over an hour; each run takes the tenants due since the last.
   */
  spread: { drills: SpreadSchedule; orphanSweep: SpreadSchedule };
  clock: Clock;
  operatorAuth: OperatorAuthenticator;
  /** What keeps the tenant keys, and what the operator must keep safe (the local host says it at start). */
  custody: KeyCustody;
  /** One check per configured dependency, for readiness (shared/app/readiness). */
  readiness: DependencyCheck[];
  /** Set when the operator key was generated on this start (the local host prints where). */
  generatedOperatorKeyPath?: string;
  close(): Promise<void>;
}

/**
 * The services' own log lines (warnings and errors of background work, tiers, projections):
 * one place, so every line has the usual carriers of secrets masked (redact.ts), whichever
 * dependency's error text it quotes (an SDK error can carry a SAS URL or a key).
 */
const logWarning = (m: string): void => console.warn(redact(m));
const logError = (m: string): void => console.error(redact(m));

/** Wires adapters from configuration. No DI container: this function is the whole wiring. */
export async function createServices(config: Config, clock: Clock = systemClock): Promise<Services> {
  // One DefaultAzureCredential for every Azure dependency that uses the managed identity,
  // created (and @azure/identity loaded) on first need.
  let credential: Promise<TokenCredential> | undefined;
  const azureCredential = (): Promise<TokenCredential> =>
    (credential ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential()));

  const masterKeyGenerated = config.keys.kind === 'local' && !config.keys.masterKey && !existsSync(join(config.dataDir, 'master.key'));
  // Local tenant keys are escrowed to the backup tiers under the operator's recovery key.
  const recoverySource =
    config.recoveryPublicKey ??
    (existsSync(join(config.dataDir, RECOVERY_PUBLIC_KEY_FILE)) ? join(config.dataDir, RECOVERY_PUBLIC_KEY_FILE) : undefined);
  let keys: KeyProvider;
  let escrow: KeyEscrowService | undefined;
  if (config.keys.kind === 'keyvault') {
    const { KeyVaultKeyProvider } = await import('../adapters/keyvault/keyvault-key-provider');
    keys = new KeyVaultKeyProvider({ vaultUrl: config.keys.vaultUrl, credential: await azureCredential(), keyType: config.keys.keyType });
  } else {
    const { LocalKeyProvider, loadOrCreateMasterKey } = await import('../adapters/embedded/local-key-provider');
    const local = new LocalKeyProvider({
      dir: join(config.dataDir, 'keys'),
      masterKey: await loadOrCreateMasterKey(config.dataDir, config.keys.masterKey),
    });
    keys = local;
    if (recoverySource) {
      const [{ KeyEscrowService }, { loadRecoveryPublicKey }] = await Promise.all([
        import('../app/recovery/key-escrow'),
        import('../app/recovery/recovery-key'),
      ]);
      escrow = new KeyEscrowService({
        escrow: local,
        recipient: await loadRecoveryPublicKey(recoverySource),
        keyNameOf: (tenant) => tenants.keyName(tenant),
        log: logError,
      });
    }
  }
  const custody: KeyCustody = {
    keyProvider: config.keys.kind,
    masterKeyGenerated,
    ...(escrow ? { recoveryKey: escrow.recipientFingerprint } : {}),
  };

  let directory: TenantDirectory;
  // With STORE=cosmos: the tenants database of each account (readiness reads every one).
  const cosmosDatabases: import('@azure/cosmos').Database[] = [];
  if (config.store.kind === 'cosmos') {
    const store = config.store;
    const { database: databaseId, standin } = store;
    const [{ CosmosClient }, { CosmosTenantDirectory }] = await Promise.all([
      import('@azure/cosmos'),
      import('../adapters/cosmos/cosmos-tenant-directory'),
    ]);
    // Each new tenant container's own autoscale throughput (COSMOS_CONTAINER_MAX_THROUGHPUT).
    const provisioning = store.containerMaxThroughput !== undefined ? { maxThroughput: store.containerMaxThroughput } : {};
    const accountDirectory = async (
      account: { endpoint: string; key?: string; arm?: { accountResourceId: string; endpoint: string } },
      index: number,
    ) => {
      const { endpoint, key, arm } = account;
      const client = key
        ? // The local stand-in speaks plain HTTP on loopback and advertises no regions to discover.
          new CosmosClient({ endpoint, key, ...(standin ? { connectionPolicy: { enableEndpointDiscovery: false } } : {}) })
        : new CosmosClient({ endpoint, aadCredentials: await azureCredential() });
      const database = client.database(databaseId);
      // With a key, containers are created on the data plane. With Entra auth (arm is set
      // exactly when there is no key) data-plane RBAC cannot create containers: ARM does,
      // with the same identity.
      const containers = arm
        ? new (await import('../adapters/cosmos/arm-container-admin')).ArmContainerAdmin({
            accountResourceId: arm.accountResourceId,
            endpoint: arm.endpoint,
            databaseId,
            credential: await azureCredential(),
            ...provisioning,
          })
        : new (await import('../adapters/cosmos/container-admin')).DataPlaneContainerAdmin(database, provisioning);
      cosmosDatabases[index] = database;
      return new CosmosTenantDirectory(database, clock, client, containers);
    };
    directory = store.accounts
      ? // Several accounts (COSMOS_ENDPOINT is a list): tenants spread over them, no shared catalog.
        new (await import('../adapters/cosmos/multi-account-directory')).MultiAccountTenantDirectory(
          await Promise.all(store.accounts.map(async (a, i) => ({ name: a.endpoint, directory: await accountDirectory(a, i) }))),
          store.tenantsPerAccount !== undefined ? { tenantsPerAccount: store.tenantsPerAccount } : {},
        )
      : await accountDirectory(store, 0);
  } else {
    const { EmbeddedTenantDirectory } = await import('../adapters/embedded/embedded-tenant-directory');
    const embedded = new EmbeddedTenantDirectory(config.dataDir, keys, clock, {
      durability: config.durability,
      // Open databases are bounded like the tenant cache (LRU + idle), also for background work.
      maxOpen: config.scale.tenantCacheMax,
      idleMs: config.scale.tenantCacheIdleMs,
    });
    // Creations a crash interrupted never became tenants: remove their leftovers before serving.
    const swept = await embedded.sweepLeftovers();
    const removed = [...swept.unfinished, ...swept.abandoned];
    if (removed.length) console.warn(`Removed ${removed.length} unfinished tenant creation(s) left by a crash: ${removed.join(', ')}`);
    directory = embedded;
  }
  // Every event store the service opens tells the background work about its appends.
  const changes = new ChangeSignal();
  directory = new SignallingDirectory(directory, changes);
  // Every event store opens sealed personal values on read (issue 14); the vault needs the blob stores (below).
  let personal: PersonalDataVault | undefined;
  directory = new PersonalDataDirectory(directory, () => personal);
  const projector = new ChangeDrivenProjector({
    directory,
    signal: changes,
    clock,
    sweepPeriodMs: config.scale.projectorSweepMs,
    tickMs: PROJECTOR_TICK_MS,
    // Embedded: the projections are in the log's database file, so its own writes move the fingerprint.
    markAfterOwnWrites: config.store.kind === 'embedded',
    projector: { log: logWarning },
    log: logWarning,
    // Writes the sweep finds (other instances', or every tenant after a start on Cosmos) reach the webhooks too.
    onChanged: (id) => kickWebhooks(id),
    // A tenant the sweep opened (a write made elsewhere) is closed again unless requests use it.
    afterRun: (id) => closeIfIdle(id),
  });
  let kickWebhooks: (tenantId: string) => void = () => undefined;
  /** Closes a tenant's store that background work opened, unless the tenant cache holds it (requests use it). */
  const closeIfIdle = async (id: string): Promise<void> => {
    if (!tenantStores.cached().some((c) => c.tenantId === id)) await directory.closeTenant?.(id);
  };

  let operatorAuth: OperatorAuthenticator;
  let generatedOperatorKeyPath: string | undefined;
  if (config.operatorAuth.kind === 'oidc') {
    const o = config.operatorAuth;
    const { OidcOperatorAuthenticator } = await import('../adapters/oidc/oidc-operator-auth');
    operatorAuth = new OidcOperatorAuthenticator({ issuer: o.issuer, audience: o.audience, requiredRole: o.role });
  } else {
    const { StaticKeyOperatorAuthenticator, loadOrCreateOperatorKey } = await import('../adapters/embedded/operator-key');
    const k = await loadOrCreateOperatorKey(config.dataDir, config.operatorAuth.key);
    if (k.created) generatedOperatorKeyPath = k.path;
    operatorAuth = new StaticKeyOperatorAuthenticator(k.key);
  }

  const blob = config.files.blob;
  const blobs: BlobStoreFactory =
    blob.kind === 'connectionString'
      ? (await import('../adapters/blob/azure-blob-store')).AzureBlobStoreFactory.fromConnectionString(blob.value)
      : blob.kind === 'accountUrl'
        ? (await import('../adapters/blob/azure-blob-store')).AzureBlobStoreFactory.fromAccountUrl(blob.url, await azureCredential())
        : new (await import('../adapters/embedded/folder-blob-store')).FolderBlobStoreFactory(blob.path);
  const metaDirectory = directory;
  personal = new PersonalDataVault({
    keys,
    blobs,
    keyNameOf: async (id, options) => {
      const meta = await metaDirectory.getMeta(id, options);
      if (!meta) throw new Error(`tenant ${id} has no meta`);
      return meta.keyName;
    },
  });
  // The tenant cache: every use case leases a tenant's stores from it (shared/ports/tenant-stores.ts).
  const health = new TenantHealth(clock);
  // Bounded (LRU + idle, never a tenant with a lease); an evicted tenant's database is closed.
  let cacheLimits: TenantCacheLimits | undefined;
  const cacheDirectory = directory;
  // Deletion receipts: the journal of shredding, and what makes a shredded tenant's id answer
  // 410 and stay retired (shared/app/offboarding/).
  const receipts = new (await import('../adapters/embedded/folder-receipt-store')).FolderReceiptStore(config.offboarding.receiptsDir);
  const shredded = (id: string) => shreddedTenantError(receipts, id);
  const tenantStores = new TenantCache({
    directory,
    keys,
    clock,
    health,
    blobs,
    onOpened: (id) => cacheLimits?.enforce(id),
    onClose: (id) => cacheDirectory.closeTenant?.(id) ?? Promise.resolve(),
    shredded,
  });
  cacheLimits = new TenantCacheLimits(tenantStores, clock, {
    max: config.scale.tenantCacheMax,
    idleMs: config.scale.tenantCacheIdleMs,
  }).start();
  const tenants = new TenantService({
    directory,
    keys,
    clock,
    health,
    stores: tenantStores,
    shredded,
    tokenTtlSeconds: config.tokenTtlSeconds,
    passwordLogN: config.passwordLogN,
    // One scrypt per core at most; a tenant or a client never takes them all (hashing-gate.ts).
    hashingGate: new HashingGate({ slots: Math.max(2, availableParallelism()) }),
  });
  const changeFeed = new ChangeFeed({
    stores: tenantStores,
    signal: changes,
    clock,
    maxWaitMs: config.feed.maxWaitMs,
    recheckMs: config.feed.recheckMs,
  });
  const webhookPolicy = { allowHttp: config.webhooks.allowHttp, allowPrivate: config.webhooks.allowPrivate };
  const webhookWorker = await new WebhookWorker({
    stores: tenantStores,
    directory,
    keys,
    signal: changes,
    clock,
    settings: { ...config.webhooks, sweepMs: config.scale.projectorSweepMs },
    ...(config.store.kind === 'embedded' ? { holder: 'embedded' } : {}),
    log: logWarning,
    // A tenant a kick opened only to read its webhooks stream is closed again unless requests use it.
    afterLook: (id) => closeIfIdle(id),
  }).start();
  kickWebhooks = (id) => webhookWorker.kick(id);
  const webhooks = new WebhookSubscriptions({ stores: tenantStores, keys, worker: webhookWorker, policy: webhookPolicy });
  const schemas = new TypeSchemaSandbox();
  const records = new RecordService(tenants, clock, logWarning, schemas, personal);
  const erasure = new ErasureService({ tenants, personal, clock, log: logWarning, directory });
  const files = new FileService({
    tenants,
    records,
    keys,
    blobs,
    clock,
    maxFileBytes: config.files.maxFileBytes,
    log: logWarning,
  });
  // Every request to a tier is bounded (a tier that accepts and never answers fails the call).
  const limits = config.backupLimits;
  const s3Timeouts = { connectTimeoutMs: limits.connectTimeoutMs, idleTimeoutMs: limits.requestTimeoutMs };
  const blobTimeouts = { tryTimeoutMs: limits.requestTimeoutMs };
  const targets: BackupTarget[] = [];
  for (const tier of config.backups) targets.push(await backupTarget(tier));
  async function backupTarget(b: Config['backups'][number]): Promise<BackupTarget> {
    switch (b.kind) {
      case 's3': {
        const { S3BackupTarget } = await import('../adapters/backup/s3-backup-target');
        return S3BackupTarget.create({
          name: b.tier,
          bucket: b.bucket,
          endpoint: b.endpoint,
          region: b.region,
          forcePathStyle: true,
          ...(b.credentials ? { credentials: b.credentials } : {}),
          ...s3Timeouts,
        });
      }
      case 'folder':
        return new (await import('../adapters/backup/folder-backup-target')).FolderBackupTarget(b.tier, b.path);
      case 'blob-url': {
        const { BlobBackupTarget } = await import('../adapters/backup/blob-backup-target');
        return BlobBackupTarget.fromAccountUrl(b.url, await azureCredential(), b.container, { name: b.tier, timeouts: blobTimeouts });
      }
      case 'blob-connection-string': {
        const { BlobBackupTarget } = await import('../adapters/backup/blob-backup-target');
        return BlobBackupTarget.fromConnectionString(b.connectionString, b.container, { name: b.tier, timeouts: blobTimeouts });
      }
      case 'azurite': {
        const { BlobBackupTarget } = await import('../adapters/backup/blob-backup-target');
        const t = BlobBackupTarget.fromConnectionString(azuriteConnectionString(config.localBlob.port), b.container, {
          name: b.tier,
          timeouts: blobTimeouts,
        });
        // Locally the container is ours to create (in Azure, infra/ creates it with its immutability policy).
        if (config.localBlob.enabled)
          void t.createContainerIfNotExists().catch((e: unknown) => logWarning(`backup container on Azurite: ${errorMessage(e)}`));
        return t;
      }
      default:
        return assertNever(b, 'backup tier kind');
    }
  }
  const backups = new BackupService({
    stores: tenantStores,
    tenants,
    directory,
    keys,
    clock,
    targets,
    records,
    blobs,
    ...(escrow ? { escrow } : {}),
    personal,
    log: logError,
    limits: { tierDeadlineMs: limits.tierDeadlineMs, concurrency: limits.concurrency, statusTimeoutMs: limits.statusTimeoutMs },
    // One process owns the embedded store's folder; Cosmos may be shared by several instances.
    exclusiveStore: config.store.kind === 'embedded',
  });
  const offboarding = new TenantOffboarding({
    directory,
    keys,
    clock,
    stores: tenantStores,
    blobs,
    targets,
    receipts,
    graceMs: config.offboarding.graceMs,
    log: logWarning,
  });
  // The log names the fd limit when the process nears it, even when nobody asks health.
  const stopResourceWatch = watchResourceLimits(config.scale.resourceWarnPercent, (line) => console.warn(line));
  return {
    config,
    tenants,
    tenantStores,
    keys,
    records,
    erasure,
    personal,
    files,
    revert: new RevertService({ stores: tenantStores, records: records.context, clock }),
    offboarding,
    fileCheck: new StoredFileCheck({ tenants, blobs, clock }),
    backups,
    directory,
    changes,
    changeFeed,
    webhooks,
    webhookWorker,
    projector,
    spread: {
      drills: new SpreadSchedule({ purpose: 'drill-spread', periodMs: DRILL_PERIOD_MS, clock, marks: directory }),
      orphanSweep: new SpreadSchedule({ purpose: 'orphan-sweep-spread', periodMs: ORPHAN_SWEEP_PERIOD_MS, clock, marks: directory }),
    },
    clock,
    operatorAuth,
    custody,
    readiness: readinessChecks({ config, directory, targets, credential: azureCredential, cosmosDatabases }),
    ...(generatedOperatorKeyPath ? { generatedOperatorKeyPath } : {}),
    close: async () => {
      stopResourceWatch();
      cacheLimits?.stop();
      changeFeed.close();
      await webhookWorker.close();
      await projector.close();
      await schemas.close();
      await tenants.close();
    },
  };
}

/** Every served tenant is drilled once per day (the backupDrill timer runs every 15 minutes). */
export const DRILL_PERIOD_MS = 24 * 3600_000;
/** Every ready tenant's files are swept once per hour (the sweepOrphanFiles timer runs every 5 minutes). */
export const ORPHAN_SWEEP_PERIOD_MS = 3600_000;

let current: Promise<Services> | undefined;

/** The process-wide services, created on first use from process.env. */
export function getServices(): Promise<Services> {
  current ??= createServices(loadConfig());
  current.catch(() => (current = undefined));
  return current;
}

/** Closes and forgets the process-wide services (host shutdown). */
export async function closeServices(): Promise<void> {
  const c = current;
  current = undefined;
  if (c) await (await c).close();
}

/** Azurite's documented development account (well-known, not a secret). */
export function azuriteConnectionString(port: number): string {
  const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
  return `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`;
}
