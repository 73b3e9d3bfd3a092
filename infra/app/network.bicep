// Private networking (main.bicep: vnetEnabled): one VNet in the primary region with
//   - `app`: the Function App's outbound VNet integration (Flex Consumption needs the subnet
//     delegated to Microsoft.App/environments),
//   - `private-endpoints`: one private endpoint per dependency (host storage blob/queue/table,
//     files blob, backup blob, each Cosmos DB account, Key Vault), each registered in its privatelink DNS
//     zone linked to the VNet, so the app resolves every dependency to a private address.
// With it, main.bicep turns public network access off on those accounts and the vault.
// The external S3 tier stays on the internet (the app reaches it through the integration).

param location string
param tags object = {}
param name string
param addressPrefix string = '10.40.0.0/16'
param appSubnetPrefix string = '10.40.1.0/24'
param privateEndpointSubnetPrefix string = '10.40.2.0/24'

@description('Private endpoints to create: resource id, group (blob, queue, table, Sql, vault) and a short name.')
param endpoints array

@description('Cosmos DB accounts, in account order: each gets its own Sql private endpoint (pe-cosmos for the first, pe-cosmos-<i> after it).')
param cosmosAccountIds array = []

var cosmosEndpoints = [
  for (id, i) in cosmosAccountIds: {
    name: i == 0 ? 'cosmos' : 'cosmos-${i}'
    id: id
    group: 'Sql'
  }
]
var allEndpoints = concat(endpoints, cosmosEndpoints)

var zones = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  Sql: 'privatelink.documents.azure.com'
  vault: 'privatelink.vaultcore.azure.net'
}
var zoneGroups = [
  'blob'
  'queue'
  'table'
  'Sql'
  'vault'
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource dnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for group in zoneGroups: {
    name: zones[group]
    location: 'global'
    tags: tags
  }
]

resource dnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (group, i) in zoneGroups: {
    parent: dnsZones[i]
    name: '${name}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for e in allEndpoints: {
    name: 'pe-${e.name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: vnet.properties.subnets[1].id
      }
      privateLinkServiceConnections: [
        {
          name: e.name
          properties: {
            privateLinkServiceId: e.id
            groupIds: [
              e.group
            ]
          }
        }
      ]
    }
  }
]

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (e, i) in allEndpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: e.group
          properties: {
            privateDnsZoneId: dnsZones[indexOf(zoneGroups, e.group)].id
          }
        }
      ]
    }
  }
]

output appSubnetId string = vnet.properties.subnets[0].id
output vnetId string = vnet.id
