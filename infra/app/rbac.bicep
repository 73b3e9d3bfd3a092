// Every role assignment of the deployment lives in this file, and every one is for the
// app's user-assigned managed identity (principalType ServicePrincipal). No human, group
// or deployer gets a data-plane role by default: an operator who needs one (e.g. to read
// a secret during an incident) is granted it just-in-time, outside these templates.
//
// Nothing here grants Owner, Contributor, User Access Administrator, Key Vault
// Administrator, Key Vault Secrets Officer or DocumentDB Account Contributor.

param appPrincipalId string
param hostStorageAccountName string
param filesStorageAccountName string
param backupStorageAccountName string
param applicationInsightsName string
param keyVaultName string
@minLength(1)
@description('Every Cosmos DB account of the deployment, in account order: each gets the same two Cosmos roles.')
param cosmosAccountNames array
param cosmosDatabaseName string
param grantTenantContainerManagement bool = true
param backupS3Enabled bool = false
param backupS3SecretNames array = []

// Built-in Azure role definition ids (the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
var keyVaultCryptoOfficer = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603' // Key Vault Crypto Officer
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
// Cosmos DB data-plane built-in role (a sqlRoleDefinition of the account, not an Azure role).
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002' // Cosmos DB Built-in Data Contributor

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource filesStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: filesStorageAccountName
}

resource backupStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: backupStorageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource cosmosAccounts 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = [
  for accountName in cosmosAccountNames: {
    name: accountName
  }
]

resource cosmosDatabases 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' existing = [
  for (accountName, i) in cosmosAccountNames: {
    parent: cosmosAccounts[i]
    name: cosmosDatabaseName
  }
]

// --- Functions host storage --------------------------------------------------------
// Blob only: the host keeps timer locks and keys in blobs, and Flex Consumption reads the
// deployment package from a blob container. Owner (not Contributor) is what the Functions
// host documents for identity-based AzureWebJobsStorage. Queue and Table Data Contributor
// are NOT granted: they are needed only for queue triggers, Durable Functions or
// table-based bindings, which this app does not use.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- Tenant files ------------------------------------------------------------------
// Read/write/delete blobs and create/delete the per-tenant containers. The content is
// encrypted by the app, so this role alone never reveals a file.
resource filesBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(filesStorage.id, appPrincipalId, storageBlobDataContributor)
  scope: filesStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- Azure backup tier -------------------------------------------------------------
// Write new backups and read them back for restore drills. Deleting or overwriting a
// backup within its immutability period fails whatever the role (version-level WORM).
resource backupBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(backupStorage.id, appPrincipalId, storageBlobDataContributor)
  scope: backupStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- Application Insights ----------------------------------------------------------
// Send telemetry with Entra auth (local auth is disabled on the component).
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- Key Vault: tenant keys --------------------------------------------------------
// 'Key Vault Crypto Officer': the app creates a key when a tenant is created, rotates it
// (POST /api/tenants/{tenant}/keys/rotate), deletes it when a tenant creation is rolled
// back, and wraps/unwraps with it. 'Key Vault Crypto Service Encryption User' would
// suffice for wrap/unwrap alone (plus key read), but not for create/rotate/delete.
// Crypto Officer gives no access to secrets or certificates. With purge protection on,
// a deleted key stays recoverable for 90 days whatever this role allows.
resource keyVaultKeys 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, appPrincipalId, keyVaultCryptoOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoOfficer)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- Key Vault: S3 backup credentials (only when the S3 tier is configured) --------
// The app settings BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID / BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY are Key Vault
// references resolved with the app identity, so it needs 'Key Vault Secrets User' - scoped
// to exactly those two secrets, not to the vault (it cannot list or read any other
// secret). Without the S3 tier the app gets no secrets role at all.
resource s3Secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for secretName in backupS3SecretNames: {
  parent: keyVault
  name: secretName
}]

resource s3SecretReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (secretName, i) in backupS3SecretNames: if (backupS3Enabled) {
  name: guid(keyVault.id, secretName, appPrincipalId, keyVaultSecretsUser)
  scope: s3Secrets[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// --- Cosmos DB: data plane ----------------------------------------------------------
// Read/write items, query, read the change feed, read metadata. One assignment per account,
// scoped to that account, which holds nothing but the tenants database. No other principal
// gets a data role. (The name depends on the account only, so account 0 keeps the assignment
// it had when the templates deployed a single account.)
resource cosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for (accountName, i) in cosmosAccountNames: {
    parent: cosmosAccounts[i]
    name: guid(cosmosAccounts[i].id, appPrincipalId, cosmosDataContributor)
    properties: {
      roleDefinitionId: '${cosmosAccounts[i].id}/sqlRoleDefinitions/${cosmosDataContributor}'
      principalId: appPrincipalId
      scope: cosmosAccounts[i].id
    }
  }
]

// --- Cosmos DB: creating and deleting tenant containers ------------------------------
// Data-plane RBAC does NOT cover creating or deleting databases and containers: with
// Entra auth (and local auth disabled) those are control-plane (ARM) operations. Options:
//   (a) 'DocumentDB Account Contributor' - NOT used: it can also change the account
//       (e.g. re-enable key auth, change backup or failover settings) and list its keys;
//   (b) pre-created containers - NOT possible: tenants are created at runtime;
//   (c) CHOSEN: a custom role that can only read, create and delete SQL containers,
//       assigned at the scope of the tenants database (not the account).
// The app creates/deletes tenant containers through Azure Resource Manager with this
// identity (shared/adapters/cosmos/arm-container-admin.ts, @azure/arm-cosmosdb, enabled
// by the COSMOS_ACCOUNT_RESOURCE_ID app setting); the data-plane SDK call is refused under
// Entra auth. What each request needs:
//   PUT    …/sqlDatabases/{db}/containers/{c}  containers/write (202, long-running)
//   GET    …/sqlDatabases/{db}/containers/{c}  containers/read (read back once the data plane has it)
//   DELETE …/sqlDatabases/{db}/containers/{c}  containers/delete (202, long-running)
// Nothing else: the app follows neither polling URL of those 202s. The Azure-AsyncOperation
// URL is subscription-level (/subscriptions/{s}/providers/Microsoft.DocumentDB/locations/
// {region}/operationsStatus/{id}) and reading it is its own action,
// 'Microsoft.DocumentDB/locations/operationsStatus/read' (Azure permissions reference,
// Databases > Microsoft.DocumentDB), which a role on this database cannot grant. Microsoft's
// "Track asynchronous Azure operations" (learn.microsoft.com/azure/azure-resource-manager/
// management/async-operations, "Permission for tracking async status") says that with
// permission on the resource only "you can start the operation but you can't track its
// status". So the app confirms completion on the data plane instead (the container can be
// read there: Data Contributor's readMetadata, above; for a delete, 404), bounded by a
// timeout, and this role has no operationResults/read (the Location URL) either. Not tried
// against Azure: whether ARM actually refuses the poll to this role (it no longer matters).
// The claim of a tenant id is a data-plane document write (Data Contributor, above), not
// an ARM call. Set grantTenantContainerManagement=false to manage containers out of band.
// One role definition (named after the first account, as when there was only one), assigned
// on the tenants database of every account.
resource tenantContainerManagerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (grantTenantContainerManagement) {
  name: guid(resourceGroup().id, cosmosAccounts[0].id, 'tenant-container-manager')
  properties: {
    roleName: 'Tenant container manager (${resourceGroup().name}/${cosmosAccountNames[0]})'
    description: 'Read, create and delete SQL containers of one Cosmos DB database. Nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/read'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/read'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/write'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/delete'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource tenantContainerManager 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (accountName, i) in cosmosAccountNames: if (grantTenantContainerManagement) {
    name: guid(cosmosDatabases[i].id, appPrincipalId, 'tenant-container-manager')
    scope: cosmosDatabases[i]
    properties: {
      // The subscription-level id form is the one role assignments accept for custom roles.
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tenantContainerManagerRole.name)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]
