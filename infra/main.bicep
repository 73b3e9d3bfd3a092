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

@description('Grant the app identity a custom control-plane role that can only read, create and delete containers in the tenants database (needed to create tenants at runtime; see app/rbac.bicep).')
param grantTenantContainerManagement bool = true

@minValue(1)
@description('Days every backup blob stays immutable (version-level WORM) in the Azure backup tier.')
param backupImmutabilityDays int = 30

@description('Unlocked can still be shortened or removed by an account administrator; Locked cannot (irreversible). Lock after the first restore drill.')
@allowed([
  'Unlocked'
  'Locked'
])
param backupImmutabilityState string = 'Unlocked'

@minValue(1)
@description('Days after which the lifecycle policy deletes Azure backup tier blobs (must be >= backupImmutabilityDays).')
param backupRetentionDays int = 90

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
  }
}

module filesStorage 'app/storage-files.bicep' = {
  name: 'filesStorage'
  scope: rg
  params: {
    name: 'stfiles${resourceToken}'
    location: primaryLocation
    tags: tags
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
    retentionDays: max(backupRetentionDays, backupImmutabilityDays)
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${resourceToken}'
    primaryLocation: primaryLocation
    secondaryLocation: secondaryLocation
    tags: tags
    databaseName: cosmosDatabaseName
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: primaryLocation
    tags: tags
    sku: keyVaultSku
    publicNetworkAccess: keyVaultPublicNetworkAccess
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
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    cosmosAccountResourceId: cosmos.outputs.accountId
    keyVaultUri: keyVault.outputs.uri
    // A Premium vault gets HSM-protected tenant keys; a Standard vault cannot create them.
    keyVaultKeyType: keyVaultSku == 'premium' ? 'RSA-HSM' : 'RSA'
    filesBlobEndpoint: filesStorage.outputs.blobEndpoint
    backupBlobEndpoint: backupStorage.outputs.blobEndpoint
    backupContainerName: backupContainerName
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
    cosmosAccountName: cosmos.outputs.accountName
    cosmosDatabaseName: cosmos.outputs.databaseName
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
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output KEY_VAULT_URL string = keyVault.outputs.uri
output BLOB_ACCOUNT_URL string = filesStorage.outputs.blobEndpoint
output BACKUP_AZURE_BLOB_URL string = backupStorage.outputs.blobEndpoint
output OPERATOR_OIDC_ISSUER string = operatorOidcIssuer
output OPERATOR_OIDC_AUDIENCE string = operatorOidcAudience
