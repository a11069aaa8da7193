// Private mode only (privateEndpointSubnetId set): private endpoints for the verifier's own
// storage (host blobs; journal table + lease blobs + fleet queue), their privatelink DNS zones and the zones'
// links to the VNet of the private endpoint subnet. The storage accounts then refuse public access.
param location string
param tags object
@description('Subnet of the private endpoints (same VNet as the Function App integration subnet, or peered with it).')
param privateEndpointSubnetId string
param hostAccountName string
param journalAccountName string

var vnetId = split(privateEndpointSubnetId, '/subnets/')[0]
var storageSuffix = environment().suffixes.storage
// one private endpoint per account and storage service the verifier uses (the host uses blobs only)
var endpoints = [
  { account: hostAccountName, service: 'blob' }
  { account: journalAccountName, service: 'blob' }
  { account: journalAccountName, service: 'table' }
  { account: journalAccountName, service: 'queue' }
]
var services = ['blob', 'table', 'queue']

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for service in services: {
  name: 'privatelink.${service}.${storageSuffix}'
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (service, i) in services: {
  parent: zones[i]
  name: 'verifier-vnet'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
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
  properties: {
    privateDnsZoneConfigs: [
      {
        name: e.service
        properties: {
          privateDnsZoneId: zones[indexOf(services, e.service)].id
        }
      }
    ]
  }
}]
