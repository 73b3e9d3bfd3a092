// The Function App: Flex Consumption (FC1), Linux, Node 22, HTTPS only, TLS 1.2,
// FTP(S) and basic publishing credentials off, one user-assigned managed identity.
//
// App settings hold endpoints and switches only. Every dependency is reached with the
// managed identity (DefaultAzureCredential picks it through AZURE_CLIENT_ID; the Functions
// host through AzureWebJobsStorage__credential/__clientId). The only credentials the app
// needs that Entra cannot replace, the external S3 keys, are Key Vault references.

param name string
param planName string
param location string
param tags object = {}

param identityId string
param identityClientId string

param hostStorageAccountName string
param hostStorageBlobEndpoint string
param deploymentContainerName string

@description('Not a secret: with local auth disabled on the component, ingestion also needs an Entra token.')
param applicationInsightsConnectionString string

@minLength(1)
@description('Endpoints of the Cosmos DB accounts, in account order (COSMOS_ENDPOINT, comma-separated): the order is where the app looks for tenants, so accounts are only ever appended.')
param cosmosEndpoints array
param cosmosDatabaseName string
@minLength(1)
@description('ARM resource ids of the same accounts, in the same order: the app creates and deletes tenant containers through Azure Resource Manager (data-plane RBAC cannot).')
param cosmosAccountResourceIds array
param keyVaultUri string
@description('Type of new tenant keys: RSA-HSM needs a Premium vault (main.bicep derives it from keyVaultSku).')
@allowed([
  'RSA'
  'RSA-HSM'
])
param keyVaultKeyType string = 'RSA'
param filesBlobEndpoint string
param backupBlobEndpoint string
param backupContainerName string

param operatorOidcIssuer string
param operatorOidcAudience string
param operatorOidcRole string

@description('Backup chains kept on every tier (BACKUP_RETENTION); main.bicep derives the Azure tier lifecycle rule from the same numbers.')
param backupRetention string = 'daily=14,weekly=8,monthly=12'

@minValue(1)
@description('Largest file upload (MAX_FILE_BYTES). The Functions host limit FUNCTIONS_REQUEST_BODY_SIZE_LIMIT is set to the same value: without it the host refuses bodies over 100 MB.')
param maxFileBytes int = 5368709120

@minValue(0)
@description('Autoscale maximum RU/s of each new tenant container (COSMOS_CONTAINER_MAX_THROUGHPUT); 0: Cosmos DB default.')
param tenantContainerMaxThroughput int = 1000

@description('Browser origins allowed to call the API (CORS_ALLOWED_ORIGINS), comma-separated exact origins; empty: none.')
param corsAllowedOrigins string = ''

var corsOrigins = empty(corsAllowedOrigins) ? [] : split(corsAllowedOrigins, ',')

param backupS3Enabled bool = false
param backupS3Endpoint string = ''
param backupS3Region string = ''
param backupS3Bucket string = ''
param backupS3AccessKeyIdSecretName string
param backupS3SecretAccessKeySecretName string

@description('Subnet of the outbound VNet integration (main.bicep: vnetEnabled); empty: none.')
param virtualNetworkSubnetId string = ''

@description('Spread the plan over availability zones (the platform then keeps at least 2 always-ready instances).')
param zoneRedundant bool = false

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Versionless Key Vault references: the platform resolves the latest secret version with
// the identity named in keyVaultReferenceIdentity.
var s3AccessKeyIdReference = backupS3Enabled ? '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${backupS3AccessKeyIdSecretName})' : ''
var s3SecretAccessKeyReference = backupS3Enabled ? '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${backupS3SecretAccessKeySecretName})' : ''

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    // With vnetEnabled every outbound call leaves through the VNet (private endpoints).
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // CORS is answered by the platform in front of the functions (preflights included):
      // exactly the configured origins, no credentials (the API uses bearer tokens).
      cors: {
        allowedOrigins: corsOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Deployments use Entra auth (azd uses the deployer's token), never publishing passwords.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The complete app settings (this resource replaces the whole set on every deployment).
// Flex Consumption sets the runtime in functionAppConfig: FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION are not allowed here.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // Functions host storage, identity-based.
    AzureWebJobsStorage__accountName: hostStorageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId

    // Telemetry with Entra auth.
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'

    // DefaultAzureCredential in the app picks the user-assigned identity by this client id.
    AZURE_CLIENT_ID: identityClientId

    // Service configuration (shared/config/schema.ts).
    STORE: 'cosmos'
    // Every Cosmos DB account, in account order (shared/config: comma-separated lists).
    COSMOS_ENDPOINT: join(cosmosEndpoints, ',')
    COSMOS_DATABASE: cosmosDatabaseName
    // No account key (local auth is disabled): tenant containers are created and deleted
    // through Azure Resource Manager of this cloud, with the identity's custom role (rbac.bicep).
    COSMOS_ACCOUNT_RESOURCE_ID: join(cosmosAccountResourceIds, ',')
    COSMOS_ARM_ENDPOINT: environment().resourceManager
    // Each tenant container's own autoscale throughput (empty: Cosmos DB default).
    COSMOS_CONTAINER_MAX_THROUGHPUT: tenantContainerMaxThroughput > 0 ? string(tenantContainerMaxThroughput) : ''
    KEY_PROVIDER: 'keyvault'
    KEY_VAULT_URL: keyVaultUri
    KEY_VAULT_KEY_TYPE: keyVaultKeyType
    BLOB_ACCOUNT_URL: filesBlobEndpoint
    // One number for both: what the app accepts and what the host lets through to it.
    MAX_FILE_BYTES: string(maxFileBytes)
    FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: string(maxFileBytes)
    OPERATOR_AUTH: 'oidc'
    CORS_ALLOWED_ORIGINS: corsAllowedOrigins
    OPERATOR_OIDC_ISSUER: operatorOidcIssuer
    OPERATOR_OIDC_AUDIENCE: operatorOidcAudience
    OPERATOR_OIDC_ROLE: operatorOidcRole

    // Backup tiers (read by the backup timers). No local stand-ins in Azure: a tier that is
    // not configured is simply absent (the own-cloud tier needs its own S3 settings).
    BACKUP_LOCAL_FALLBACK: 'off'
    BACKUP_AZURE_BLOB_URL: backupBlobEndpoint
    BACKUP_AZURE_CONTAINER: backupContainerName
    BACKUP_RETENTION: backupRetention
    BACKUP_EU_CLOUD_S3_ENDPOINT: backupS3Endpoint
    BACKUP_EU_CLOUD_S3_REGION: backupS3Region
    BACKUP_EU_CLOUD_S3_BUCKET: backupS3Bucket
    BACKUP_EU_CLOUD_S3_ACCESS_KEY_ID: s3AccessKeyIdReference
    BACKUP_EU_CLOUD_S3_SECRET_ACCESS_KEY: s3SecretAccessKeyReference
  }
}

output name string = functionApp.name
output url string = 'https://${functionApp.properties.defaultHostName}'
output cosmosEndpoint string = join(cosmosEndpoints, ',')
