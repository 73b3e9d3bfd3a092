// Azure backup tier: a storage account in the SECONDARY region with one container,
// `backups`, whose blobs are immutable (version-level WORM) for `immutabilityDays` after
// they are written. Identity-based access only.
//
// Immutability is enabled on the account at creation (it cannot be added later) with a
// default time-based retention policy that every blob version inherits. In state
// 'Unlocked' an account administrator can still shorten or remove the policy; 'Locked' is
// irreversible and protects even against a compromised subscription owner.

param name string
param location string
param tags object = {}
param containerName string = 'backups'

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_ZRS'

@minValue(1)
param immutabilityDays int = 14

@allowed([
  'Unlocked'
  'Locked'
])
param immutabilityState string = 'Unlocked'

@minValue(1)
@description('Lifecycle backstop: blobs older than this are deleted (main.bicep derives it from the app retention, BACKUP_RETENTION).')
param retentionDays int = 374

@minValue(1)
@maxValue(365)
param softDeleteDays int = 30

@allowed([
  'Enabled'
  'Disabled'
])
@description('Disabled when the app reaches this account through a private endpoint (main.bicep: vnetEnabled).')
param publicNetworkAccess string = 'Enabled'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Cool'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    dnsEndpointType: 'Standard'
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
    encryption: {
      requireInfrastructureEncryption: true
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
    immutableStorageWithVersioning: {
      enabled: true
      immutabilityPolicy: {
        immutabilityPeriodSinceCreationInDays: immutabilityDays
        state: immutabilityState
        allowProtectedAppendWrites: false
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource backupContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}

// A backstop behind the app's own retention (BACKUP_RETENTION): expire what is older than
// the longest window the app keeps, retentionDays (>= immutabilityDays: a delete of a blob
// version that is still immutable fails, and the rule simply acts on a later run).
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-backups'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterCreationGreaterThan: retentionDays
                }
              }
              version: {
                delete: {
                  daysAfterCreationGreaterThan: retentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    backupContainer
  ]
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output containerName string = backupContainer.name
