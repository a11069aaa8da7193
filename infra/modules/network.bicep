// Private mode (the default; main.bicep fails the deployment when a subnet is missing): private
// endpoints for the verifier's own storage (host blobs; journal table + lease and seal blobs + fleet
// queue), their privatelink DNS zones and the zones' links to the Function App's VNet. The storage
// accounts then refuse public access. Hub-and-spoke: a zone given by id (existingZoneIds) is the hub's
// and is not created here; main.bicep links it to the app's VNet (modules/pg-dns-link.bicep).
param location string
param tags object
@description('Subnet of the private endpoints (same VNet as the Function App integration subnet, or peered with it).')
param privateEndpointSubnetId string
@description('VNet of the Function App integration subnet: the created zones are linked to it (its names resolve privately).')
param appVnetId string
@description('Existing zone ids per service (blob, table, queue); an empty id = the zone is created here.')
param existingZoneIds object = {
  blob: ''
  table: ''
  queue: ''
}
param hostAccountName string
param journalAccountName string

var storageSuffix = environment().suffixes.storage
// one private endpoint per account and storage service the verifier uses (the host uses blobs only)
var endpoints = [
  { account: hostAccountName, service: 'blob' }
  { account: journalAccountName, service: 'blob' }
  { account: journalAccountName, service: 'table' }
  { account: journalAccountName, service: 'queue' }
]
// the zones created here: every service's but the hub's (existingZoneIds)
var createdZones = concat(empty(existingZoneIds.blob) ? ['blob'] : [], empty(existingZoneIds.table) ? ['table'] : [],
  empty(existingZoneIds.queue) ? ['queue'] : [])

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for service in createdZones: {
  name: 'privatelink.${service}.${storageSuffix}'
  location: 'global'
  tags: tags
}]

// the app resolves its storage's names through these zones: linked to the app's VNet
resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (service, i) in createdZones: {
  parent: zones[i]
  name: 'verifier-vnet'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: appVnetId
    }
  }
}]

resource accounts 'Microsoft.Storage/storageAccounts@2023-05-01' existing = [for e in endpoints: {
  name: e.account
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for (e, i) in endpoints: {
  name: 'pe-${e.account}-${e.service}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: '${e.account}-${e.service}'
        properties: {
          privateLinkServiceId: accounts[i].id
          groupIds: [
            e.service
          ]
        }
      }
    ]
  }
}]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (e, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  dependsOn: [
    zones
  ]
  properties: {
    privateDnsZoneConfigs: [
      {
        name: e.service
        properties: {
          privateDnsZoneId: empty(existingZoneIds[e.service]) ? resourceId('Microsoft.Network/privateDnsZones', 'privatelink.${e.service}.${storageSuffix}') : existingZoneIds[e.service]
        }
      }
    ]
  }
}]
