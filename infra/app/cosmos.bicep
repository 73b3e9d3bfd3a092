// Cosmos DB (NoSQL) account holding the `tenants` database. Each tenant is one container,
// `tenant-<id>` (partition key /streamId), created by the app when the tenant is created,
// so no container is declared here.
//
// LIMIT: an account holds at most 500 databases + containers in total, and this limit
// cannot be raised. With one database, one account holds at most 499 tenants; beyond
// that, add accounts: main.bicep deploys this module cosmosAccountCount times and gives the
// app the list (the multi-account TenantDirectory is the only code that knows where a tenant
// lives; infra/README.md, Adding a Cosmos DB account).
//
// - Entra ID only: disableLocalAuth (no account keys accepted), and
//   disableKeyBasedMetadataWriteAccess (no database/container changes through the data
//   plane with keys). Data-plane RBAC is granted in rbac.bicep.
// - Two EU regions, service-managed failover to the secondary region.
// - Continuous backup, 30 days: point-in-time restore to any second of the last 30 days.
// - Provisioned throughput (not serverless): serverless accounts are single-region.
// - Throughput of the tenant containers: each gets its own autoscale throughput, which the app
//   asks for when it creates the container (COSMOS_CONTAINER_MAX_THROUGHPUT, set from
//   tenantContainerMaxThroughput in api.bicep). The database has no shared throughput on
//   purpose: Cosmos DB lets at most 25 containers share a database's throughput, and there is
//   one container per tenant (infra/README.md, Cost and throughput).
// - Zone redundancy in each region where zoneRedundant is set (the regions must have
//   availability zones; it can only be chosen when a region is added).

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

@description('Spread each region over availability zones.')
param zoneRedundant bool = false

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
        isZoneRedundant: zoneRedundant
      }
      {
        locationName: secondaryLocation
        failoverPriority: 1
        isZoneRedundant: zoneRedundant
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
