// Cosmos DB (NoSQL) account holding the `tenants` database. Each tenant is one container,
// `tenant-<id>` (partition key /streamId), created by the app when the tenant is created,
// so no container is declared here.
//
// LIMIT: an account holds at most 500 databases + containers in total, and this limit
// cannot be raised. With one database, one account holds at most 499 tenants; beyond
// that, add accounts (TenantDirectory is the only code that knows where a tenant lives).
//
// - Entra ID only: disableLocalAuth (no account keys accepted), and
//   disableKeyBasedMetadataWriteAccess (no database/container changes through the data
//   plane with keys). Data-plane RBAC is granted in rbac.bicep.
// - Two EU regions, service-managed failover to the secondary region.
// - Continuous backup, 30 days: point-in-time restore to any second of the last 30 days.
// - Provisioned throughput (not serverless): serverless accounts are single-region.

param name string
param primaryLocation string
param secondaryLocation string
param tags object = {}
param databaseName string = 'tenants'

@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: primaryLocation
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: primaryLocation
        failoverPriority: 0
        isZoneRedundant: false
      }
      {
        locationName: secondaryLocation
        failoverPriority: 1
        isZoneRedundant: false
      }
    ]
    enableAutomaticFailover: true
    enableMultipleWriteLocations: false
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: publicNetworkAccess
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous30Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

output accountName string = account.name
output accountId string = account.id
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
