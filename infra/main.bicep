// tenant-ledger: everything `azd up` provisions. See infra/README.md.
//
// Security posture, enforced here and asserted by test/infra/templates.test.ts:
// - the Function App reaches every dependency with its user-assigned managed identity;
//   no account key, SAS or connection string with a key is ever put in an app setting;
// - Cosmos DB, the storage accounts and Application Insights refuse key-based auth;
// - every role assignment lives in app/rbac.bicep, for the app identity only.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds a short unique suffix of every resource name.')
param environmentName string

@description('Primary EU region: Function App, Cosmos DB write region, Key Vault, files storage, monitoring.')
@allowed([
  'westeurope'
  'northeurope'
  'swedencentral'
  'germanywestcentral'
  'francecentral'
  'italynorth'
  'polandcentral'
  'spaincentral'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param primaryLocation string = 'westeurope'

@description('Secondary EU region: Cosmos DB failover region and the Azure backup tier storage account. Must differ from primaryLocation.')
@allowed([
  'westeurope'
  'northeurope'
  'swedencentral'
  'germanywestcentral'
  'francecentral'
  'italynorth'
  'polandcentral'
  'spaincentral'
])
param secondaryLocation string = 'northeurope'

@description('Name of the resource group; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Key Vault SKU. premium: tenant keys are created as HSM-protected keys (RSA-HSM, app setting KEY_VAULT_KEY_TYPE).')
@allowed([
  'standard'
  'premium'
])
param keyVaultSku string = 'standard'

@description('Public network access of the Key Vault. Disabled requires private endpoints and VNet integration, which these templates do not create.')
@allowed([
  'Enabled'
  'Disabled'
])
param keyVaultPublicNetworkAccess string = 'Enabled'

@description('OIDC issuer of operator tokens (Microsoft Entra ID v2.0 endpoint of this tenant).')
param operatorOidcIssuer string = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'

@minLength(1)
@description('Expected audience of operator tokens: the Application ID URI or client id of the API app registration.')
param operatorOidcAudience string

@description('App role an operator token must carry in its roles claim.')
param operatorOidcRole string = 'Tenants.Operate'

@description('Cosmos DB database holding one container per tenant (tenant-<id>), created by the app at runtime.')
param cosmosDatabaseName string = 'tenants'

@minValue(1)
@maxValue(50)
@description('Number of Cosmos DB accounts. One account holds at most 499 tenants (500 databases + containers, not raisable); the app places new tenants in the first account with room and finds existing ones by asking the accounts, in this order (COSMOS_ENDPOINT lists them). Only ever raise it: account i keeps its name for every count, so raising it appends accounts and moves no tenant; lowering it would remove the last accounts with their tenants (infra/README.md, Adding a Cosmos DB account).')
param cosmosAccountCount int = 1

@description('Grant the app identity a custom control-plane role that can only read, create and delete containers in the tenants database (needed to create tenants at runtime; see app/rbac.bicep).')
param grantTenantContainerManagement bool = true

@minValue(1)
@description('Backup retention (BACKUP_RETENTION): the newest chain per day is kept for this many days.')
param backupRetentionDaily int = 14

@minValue(0)
@description('Backup retention: the newest chain per ISO week is kept for this many weeks.')
param backupRetentionWeekly int = 8

@minValue(0)
@description('Backup retention: the newest chain per month is kept for this many months.')
param backupRetentionMonthly int = 12

@minValue(1)
@description('Days every backup blob stays immutable (version-level WORM) in the Azure backup tier. At most backupRetentionDaily: the app deletes the daily chains it no longer keeps after that many days, and the write-once window refuses deletes inside it.')
param backupImmutabilityDays int = 14

@description('Unlocked can still be shortened or removed by an account administrator; Locked cannot (irreversible). Lock after the first restore drill.')
@allowed([
  'Unlocked'
  'Locked'
])
param backupImmutabilityState string = 'Unlocked'

@description('Private networking like the Functions quickstarts: a VNet, the app integrated into it, private endpoints for the storage accounts, Cosmos DB and Key Vault, and public network access off on all of them (app/network.bicep).')
param vnetEnabled bool = false

@description('Availability zones where the plan allows: Flex Consumption plan (then at least 2 always-ready instances, billed), Cosmos DB in both regions, zone-redundant host storage. The regions must have zones.')
param zoneRedundant bool = false

@minValue(0)
@maxValue(1000000)
@description('Autoscale maximum RU/s of each tenant container, a multiple of 1000 (it scales between 10 % of it and the maximum): the app creates every tenant container with it (COSMOS_CONTAINER_MAX_THROUGHPUT). 0: Cosmos DB default (400 RU/s manual). Not shared at database level: at most 25 containers can share a database.')
param tenantContainerMaxThroughput int = 1000

@description('Browser origins allowed to call the API (CORS), comma-separated exact origins such as https://app.example.com; empty: none.')
param corsAllowedOrigins string = ''

@minValue(1)
@description('Largest file upload (MAX_FILE_BYTES); the Functions host body limit is set to the same value. In Azure an upload must also complete within the 230 s HTTP limit (infra/README.md).')
param maxFileBytes int = 5368709120

@description('External S3-compatible backup target (EU). Empty disables the S3 tier settings.')
param backupS3Endpoint string = ''

@description('Region of the external S3 bucket, e.g. eu-central-1.')
param backupS3Region string = ''

@description('Bucket of the external S3 backup target.')
param backupS3Bucket string = ''

@secure()
@description('S3 access key id. Stored only as a Key Vault secret; the app setting is a Key Vault reference. Leave empty to keep the secret already in the vault.')
param backupS3AccessKeyId string = ''

@secure()
@description('S3 secret access key. Stored only as a Key Vault secret; the app setting is a Key Vault reference. Leave empty to keep the secret already in the vault.')
param backupS3SecretAccessKey string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, primaryLocation))
var tags = {
  'azd-env-name': environmentName
}
var backupS3Enabled = !empty(backupS3Endpoint)
var backupS3AccessKeyIdSecretName = 'backup-s3-access-key-id'
var backupS3SecretAccessKeySecretName = 'backup-s3-secret-access-key'
var backupContainerName = 'backups'
// With vnetEnabled the dependencies are reachable through private endpoints only.
var dependencyNetworkAccess = vnetEnabled ? 'Disabled' : 'Enabled'
var backupRetention = 'daily=${backupRetentionDaily},weekly=${backupRetentionWeekly},monthly=${backupRetentionMonthly}'
// The lifecycle rule is a backstop behind the app's own retention: it deletes only what is
// older than the longest window the app keeps (a month counts 31 days, as in the app's
// calendar) plus 2 days for a chain's own span, and never inside the write-once window.
var backupLifecycleDays = max(backupRetentionDaily, backupRetentionWeekly * 7, backupRetentionMonthly * 31, backupImmutabilityDays) + 2

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: primaryLocation
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: primaryLocation
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: primaryLocation
    tags: tags
  }
}

module hostStorage 'app/storage-host.bicep' = {
  name: 'hostStorage'
  scope: rg
  params: {
    name: 'sthost${resourceToken}'
    location: primaryLocation
    tags: tags
    deploymentContainerName: 'app-package-${resourceToken}'
    skuName: zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'
    publicNetworkAccess: dependencyNetworkAccess
  }
}

module filesStorage 'app/storage-files.bicep' = {
  name: 'filesStorage'
  scope: rg
  params: {
    name: 'stfiles${resourceToken}'
    location: primaryLocation
    tags: tags
    publicNetworkAccess: dependencyNetworkAccess
  }
}

module backupStorage 'app/storage-backup.bicep' = {
  name: 'backupStorage'
  scope: rg
  params: {
    name: 'stbak${resourceToken}'
    location: secondaryLocation
    tags: tags
    containerName: backupContainerName
    immutabilityDays: backupImmutabilityDays
    immutabilityState: backupImmutabilityState
    retentionDays: backupLifecycleDays
    publicNetworkAccess: dependencyNetworkAccess
  }
}

// One module per Cosmos DB account. Account 0 keeps the name it had when there was only one;
// account i > 0 is cosmos-<token>-<i>. A name depends on the index only, so raising
// cosmosAccountCount adds accounts at the end of the list and changes none before them.
module cosmos 'app/cosmos.bicep' = [
  for i in range(0, cosmosAccountCount): {
    name: i == 0 ? 'cosmos' : 'cosmos-${i}'
    scope: rg
    params: {
      name: i == 0 ? 'cosmos-${resourceToken}' : 'cosmos-${resourceToken}-${i}'
      primaryLocation: primaryLocation
      secondaryLocation: secondaryLocation
      tags: tags
      databaseName: cosmosDatabaseName
      zoneRedundant: zoneRedundant
      publicNetworkAccess: dependencyNetworkAccess
    }
  }
]

module keyVault 'app/keyvault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: primaryLocation
    tags: tags
    sku: keyVaultSku
    publicNetworkAccess: vnetEnabled ? 'Disabled' : keyVaultPublicNetworkAccess
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    backupS3Enabled: backupS3Enabled
    backupS3AccessKeyIdSecretName: backupS3AccessKeyIdSecretName
    backupS3AccessKeyId: backupS3AccessKeyId
    backupS3SecretAccessKeySecretName: backupS3SecretAccessKeySecretName
    backupS3SecretAccessKey: backupS3SecretAccessKey
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: 'func-api-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: primaryLocation
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostStorageAccountName: hostStorage.outputs.name
    hostStorageBlobEndpoint: hostStorage.outputs.blobEndpoint
    deploymentContainerName: hostStorage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    // Every account, in index order (COSMOS_ENDPOINT and COSMOS_ACCOUNT_RESOURCE_ID are lists).
    cosmosEndpoints: [for i in range(0, cosmosAccountCount): cosmos[i].outputs.endpoint]
    cosmosDatabaseName: cosmosDatabaseName
    cosmosAccountResourceIds: [for i in range(0, cosmosAccountCount): cosmos[i].outputs.accountId]
    keyVaultUri: keyVault.outputs.uri
    // A Premium vault gets HSM-protected tenant keys; a Standard vault cannot create them.
    keyVaultKeyType: keyVaultSku == 'premium' ? 'RSA-HSM' : 'RSA'
    filesBlobEndpoint: filesStorage.outputs.blobEndpoint
    backupBlobEndpoint: backupStorage.outputs.blobEndpoint
    backupContainerName: backupContainerName
    backupRetention: backupRetention
    maxFileBytes: maxFileBytes
    tenantContainerMaxThroughput: tenantContainerMaxThroughput
    corsAllowedOrigins: corsAllowedOrigins
    zoneRedundant: zoneRedundant
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    operatorOidcIssuer: operatorOidcIssuer
    operatorOidcAudience: operatorOidcAudience
    operatorOidcRole: operatorOidcRole
    backupS3Enabled: backupS3Enabled
    backupS3Endpoint: backupS3Endpoint
    backupS3Region: backupS3Region
    backupS3Bucket: backupS3Bucket
    backupS3AccessKeyIdSecretName: backupS3AccessKeyIdSecretName
    backupS3SecretAccessKeySecretName: backupS3SecretAccessKeySecretName
  }
}

// Private networking (vnetEnabled): the app's VNet integration and one private endpoint per
// dependency, each in its privatelink DNS zone.
module network 'app/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-${resourceToken}'
    location: primaryLocation
    tags: tags
    // One Sql endpoint per Cosmos DB account (pe-cosmos, pe-cosmos-1, ...).
    cosmosAccountIds: [for i in range(0, cosmosAccountCount): cosmos[i].outputs.accountId]
    endpoints: [
      {
        name: 'host-blob'
        id: hostStorage.outputs.id
        group: 'blob'
      }
      {
        name: 'host-queue'
        id: hostStorage.outputs.id
        group: 'queue'
      }
      {
        name: 'host-table'
        id: hostStorage.outputs.id
        group: 'table'
      }
      {
        name: 'files-blob'
        id: filesStorage.outputs.id
        group: 'blob'
      }
      {
        name: 'backup-blob'
        id: backupStorage.outputs.id
        group: 'blob'
      }
      {
        name: 'keyvault'
        id: keyVault.outputs.id
        group: 'vault'
      }
    ]
  }
}

// Every role assignment of the deployment, for the app identity only.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    hostStorageAccountName: hostStorage.outputs.name
    filesStorageAccountName: filesStorage.outputs.name
    backupStorageAccountName: backupStorage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    // The data-plane role and the container manager role on every account.
    cosmosAccountNames: [for i in range(0, cosmosAccountCount): cosmos[i].outputs.accountName]
    cosmosDatabaseName: cosmosDatabaseName
    grantTenantContainerManagement: grantTenantContainerManagement
    backupS3Enabled: backupS3Enabled
    backupS3SecretNames: keyVault.outputs.backupS3SecretNames
  }
}

// Outputs become azd environment values. None of them is a secret.
output AZURE_LOCATION string = primaryLocation
output AZURE_SECONDARY_LOCATION string = secondaryLocation
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = api.outputs.url
output API_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output COSMOS_ENDPOINT string = api.outputs.cosmosEndpoint
output COSMOS_DATABASE string = cosmosDatabaseName
output KEY_VAULT_URL string = keyVault.outputs.uri
output BLOB_ACCOUNT_URL string = filesStorage.outputs.blobEndpoint
output BACKUP_AZURE_BLOB_URL string = backupStorage.outputs.blobEndpoint
output OPERATOR_OIDC_ISSUER string = operatorOidcIssuer
output OPERATOR_OIDC_AUDIENCE string = operatorOidcAudience
