// Storage account of the Functions host (AzureWebJobsStorage: timer locks, host keys
// blobs, deployment package of the Flex Consumption app). Identity-based access only.

param name string
param location string
param tags object = {}
param deploymentContainerName string

@minValue(1)
param deleteRetentionDays int = 7

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
@description('Standard_ZRS with main.bicep zoneRedundant.')
param skuName string = 'Standard_LRS'

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
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    dnsEndpointType: 'Standard'
    // Without vnetEnabled the app reaches the account over its public endpoint (still TLS and
    // Entra-authenticated); with it, through a private endpoint only.
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
