import { assertNever } from '../domain/events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { HashingGate } from '../app/auth/hashing-gate';
import { CosmosClient } from '@azure/cosmos';
import { DefaultAzureCredential } from '@azure/identity';
import { EmbeddedTenantDirectory } from '../adapters/embedded/embedded-tenant-directory';
import { LocalKeyProvider, loadOrCreateMasterKey } from '../adapters/embedded/local-key-provider';
import { StaticKeyOperatorAuthenticator, loadOrCreateOperatorKey } from '../adapters/embedded/operator-key';
import { ArmContainerAdmin } from '../adapters/cosmos/arm-container-admin';
import { DataPlaneContainerAdmin } from '../adapters/cosmos/container-admin';
import { CosmosTenantDirectory } from '../adapters/cosmos/cosmos-tenant-directory';
import { MultiAccountTenantDirectory } from '../adapters/cosmos/multi-account-directory';
import { KeyVaultKeyProvider } from '../adapters/keyvault/keyvault-key-provider';
import { OidcOperatorAuthenticator } from '../adapters/oidc/oidc-operator-auth';
import { BackupService } from '../app/backup';
import { FileService } from '../app/files';
import { StoredFileCheck } from '../app/file-check';
import { BlobBackupTarget } from '../adapters/backup/blob-backup-target';
import { FolderBackupTarget } from '../adapters/backup/folder-backup-target';
import { S3BackupTarget } from '../adapters/backup/s3-backup-target';
import type { BackupTarget } from '../ports/backup-target';
import { RecordService } from '../app/records';
import { TypeSchemaSandbox } from '../app/type-schemas';
import { AzureBlobStoreFactory } from '../adapters/blob/azure-blob-store';
import { FolderBlobStoreFactory } from '../adapters/embedded/folder-blob-store';
import type { BlobStoreFactory } from '../ports/blob-store';
import { TenantService } from '../app/service';
import { TenantHealth } from '../app/tenant-health';
import { TenantCache } from '../app/tenants/tenant-cache';
import { TenantCacheLimits } from '../app/tenants/cache-limits';
import { redact } from '../redact';
import { ChangeSignal, SignallingDirectory } from '../app/changes/change-signal';
import { ChangeDrivenProjector, PROJECTOR_TICK_MS } from '../app/changes/change-driven-projector';
import type { KeyCustody } from '../app/recovery/custody-notice';
import { KeyEscrowService } from '../app/recovery/key-escrow';
import { loadRecoveryPublicKey, RECOVERY_PUBLIC_KEY_FILE } from '../app/recovery/recovery-key';
import type { KeyProvider } from '../ports/key-provider';
import type { OperatorAuthenticator } from '../ports/operator-auth';
import { systemClock, type Clock } from '../ports/runtime';
import type { TenantDirectory } from '../ports/tenant-directory';
import type { TenantStores } from '../ports/tenant-stores';
import { loadConfig, type Config } from './index';

export interface Services {
  config: Config;
  tenants: TenantService;
  /** The tenants' stores behind the ready-check, as leases (the tenant cache). */
  tenantStores: TenantStores;
  records: RecordService;
  files: FileService;
  /** Start-up check that every attached file still has its stored object (reports per tenant). */
  fileCheck: StoredFileCheck;
  backups: BackupService;
  directory: TenantDirectory;
  /** Appends made in this process (the projector and other background work listen). */
  changes: ChangeSignal;
  /** Projects signalled tenants at once and sweeps the rest slowly (the projectFeeds timer runs its passes). */
  projector: ChangeDrivenProjector;
  clock: Clock;
  operatorAuth: OperatorAuthenticator;
  /** What keeps the tenant keys, and what the operator must keep safe (the local host says it at start). */
  custody: KeyCustody;
  /** Set when the operator key was generated on this start (the local host prints where). */
  generatedOperatorKeyPath?: string;
  close(): Promise<void>;
}

/** Wires adapters from configuration. No DI container: this function is the whole wiring. */
export async function createServices(config: Config, clock: Clock = systemClock): Promise<Services> {
  const masterKeyGenerated = config.keys.kind === 'local' && !config.keys.masterKey && !existsSync(join(config.dataDir, 'master.key'));
  const keys: KeyProvider =
    config.keys.kind === 'keyvault'
      ? new KeyVaultKeyProvider({ vaultUrl: config.keys.vaultUrl, credential: new DefaultAzureCredential(), keyType: config.keys.keyType })
      : new LocalKeyProvider({
          dir: join(config.dataDir, 'keys'),
          masterKey: await loadOrCreateMasterKey(config.dataDir, config.keys.masterKey),
        });
  // Local tenant keys are escrowed to the backup tiers under the operator's recovery key.
  const recoverySource =
    config.recoveryPublicKey ??
    (existsSync(join(config.dataDir, RECOVERY_PUBLIC_KEY_FILE)) ? join(config.dataDir, RECOVERY_PUBLIC_KEY_FILE) : undefined);
  const escrow =
    recoverySource && keys instanceof LocalKeyProvider
      ? new KeyEscrowService({
          escrow: keys,
          recipient: await loadRecoveryPublicKey(recoverySource),
          keyNameOf: (tenant) => tenants.keyName(tenant),
        })
      : undefined;
  const custody: KeyCustody = {
    keyProvider: config.keys.kind,
    masterKeyGenerated,
    ...(escrow ? { recoveryKey: escrow.recipientFingerprint } : {}),
  };

  let directory: TenantDirectory;
  if (config.store.kind === 'cosmos') {
    const store = config.store;
    const { database: databaseId, standin } = store;
    const accountDirectory = (account: { endpoint: string; key?: string; arm?: { accountResourceId: string; endpoint: string } }) => {
      const { endpoint, key, arm } = account;
      const credential = key ? undefined : new DefaultAzureCredential();
      const client = credential
        ? new CosmosClient({ endpoint, aadCredentials: credential })
        : // The local stand-in speaks plain HTTP on loopback and advertises no regions to discover.
          new CosmosClient({ endpoint, key, ...(standin ? { connectionPolicy: { enableEndpointDiscovery: false } } : {}) });
      const database = client.database(databaseId);
      // With a key, containers are created on the data plane. With Entra auth (arm is set
      // exactly when there is no key) data-plane RBAC cannot create containers: ARM does,
      // with the same identity.
      const containers = arm
        ? new ArmContainerAdmin({
            accountResourceId: arm.accountResourceId,
            endpoint: arm.endpoint,
            databaseId,
            credential: credential ?? new DefaultAzureCredential(),
          })
        : new DataPlaneContainerAdmin(database);
      return new CosmosTenantDirectory(database, clock, client, containers);
    };
    directory = store.accounts
      ? // Several accounts (COSMOS_ENDPOINT is a list): tenants spread over them, no shared catalog.
        new MultiAccountTenantDirectory(
          store.accounts.map((a) => ({ name: a.endpoint, directory: accountDirectory(a) })),
          store.tenantsPerAccount !== undefined ? { tenantsPerAccount: store.tenantsPerAccount } : {},
        )
      : accountDirectory(store);
  } else {
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
  const projector = new ChangeDrivenProjector({
    directory,
    signal: changes,
    clock,
    sweepPeriodMs: config.scale.projectorSweepMs,
    tickMs: PROJECTOR_TICK_MS,
    projector: { log: (m) => console.warn(redact(m)) },
    log: (m) => console.warn(redact(m)),
  });

  let operatorAuth: OperatorAuthenticator;
  let generatedOperatorKeyPath: string | undefined;
  if (config.operatorAuth.kind === 'oidc') {
    const o = config.operatorAuth;
    operatorAuth = new OidcOperatorAuthenticator({ issuer: o.issuer, audience: o.audience, requiredRole: o.role });
  } else {
    const k = await loadOrCreateOperatorKey(config.dataDir, config.operatorAuth.key);
    if (k.created) generatedOperatorKeyPath = k.path;
    operatorAuth = new StaticKeyOperatorAuthenticator(k.key);
  }

  const blob = config.files.blob;
  const blobs: BlobStoreFactory =
    blob.kind === 'connectionString'
      ? AzureBlobStoreFactory.fromConnectionString(blob.value)
      : blob.kind === 'accountUrl'
        ? AzureBlobStoreFactory.fromAccountUrl(blob.url, new DefaultAzureCredential())
        : new FolderBlobStoreFactory(blob.path);
  // The tenant cache: every use case leases a tenant's stores from it (shared/ports/tenant-stores.ts).
  const health = new TenantHealth(clock);
  // Bounded (LRU + idle, never a tenant with a lease); an evicted tenant's database is closed.
  let cacheLimits: TenantCacheLimits | undefined;
  const cacheDirectory = directory;
  const tenantStores = new TenantCache({
    directory,
    keys,
    clock,
    health,
    blobs,
    onOpened: (id) => cacheLimits?.enforce(id),
    onClose: (id) => cacheDirectory.closeTenant?.(id) ?? Promise.resolve(),
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
    tokenTtlSeconds: config.tokenTtlSeconds,
    passwordLogN: config.passwordLogN,
    // One scrypt per core at most; a tenant or a client never takes them all (hashing-gate.ts).
    hashingGate: new HashingGate({ slots: Math.max(2, availableParallelism()) }),
  });
  const schemas = new TypeSchemaSandbox();
  const records = new RecordService(tenants, clock, (m) => console.warn(m), schemas);
  const files = new FileService({
    tenants,
    records,
    keys,
    blobs,
    clock,
    maxFileBytes: config.files.maxFileBytes,
    log: (m) => console.warn(m),
  });
  // Every request to a tier is bounded (a tier that accepts and never answers fails the call).
  const limits = config.backupLimits;
  const s3Timeouts = { connectTimeoutMs: limits.connectTimeoutMs, idleTimeoutMs: limits.requestTimeoutMs };
  const blobTimeouts = { tryTimeoutMs: limits.requestTimeoutMs };
  const targets: BackupTarget[] = config.backups.map((b): BackupTarget => {
    switch (b.kind) {
      case 's3':
        return S3BackupTarget.create({
          name: b.tier,
          bucket: b.bucket,
          endpoint: b.endpoint,
          region: b.region,
          forcePathStyle: true,
          ...(b.credentials ? { credentials: b.credentials } : {}),
          ...s3Timeouts,
        });
      case 'folder':
        return new FolderBackupTarget(b.tier, b.path);
      case 'blob-url':
        return BlobBackupTarget.fromAccountUrl(b.url, new DefaultAzureCredential(), b.container, { name: b.tier }, undefined, blobTimeouts);
      case 'blob-connection-string':
        return BlobBackupTarget.fromConnectionString(b.connectionString, b.container, { name: b.tier }, undefined, blobTimeouts);
      case 'azurite': {
        const t = BlobBackupTarget.fromConnectionString(
          azuriteConnectionString(config.localBlob.port),
          b.container,
          { name: b.tier },
          undefined,
          blobTimeouts,
        );
        // Locally the container is ours to create (in Azure, infra/ creates it with its immutability policy).
        if (config.localBlob.enabled)
          void t.createContainerIfNotExists().catch((e: unknown) => console.warn(`backup container on Azurite: ${(e as Error)?.message}`));
        return t;
      }
      default:
        return assertNever(b, 'backup tier kind');
    }
  });
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
    log: (m) => console.error(m),
    limits: { tierDeadlineMs: limits.tierDeadlineMs, concurrency: limits.concurrency, statusTimeoutMs: limits.statusTimeoutMs },
    // One process owns the embedded store's folder; Cosmos may be shared by several instances.
    exclusiveStore: config.store.kind === 'embedded',
  });
  return {
    config,
    tenants,
    tenantStores,
    records,
    files,
    fileCheck: new StoredFileCheck({ tenants, blobs, clock }),
    backups,
    directory,
    changes,
    projector,
    clock,
    operatorAuth,
    custody,
    ...(generatedOperatorKeyPath ? { generatedOperatorKeyPath } : {}),
    close: async () => {
      cacheLimits?.stop();
      await projector.close();
      await schemas.close();
      await tenants.close();
    },
  };
}

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
