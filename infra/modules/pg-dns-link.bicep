// Private mode with an EXISTING private DNS zone: deployed to the zone's resource group (and
// subscription: a hub), it links the zone to the Function App's VNet. Used for a privately accessed
// PostgreSQL server's zone (the app and the restore drill's verification resolve
// <server>.postgres.database.azure.com to the private address) and for a hub's privatelink.blob|table|queue
// zones (hub-and-spoke). Not needed when the zone is already linked to that VNet.
param privateDnsZoneName string
@description('Resource id of the VNet of the Function App integration subnet.')
param appVnetId string
param tags object

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' existing = {
  name: privateDnsZoneName
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: zone
  name: 'medicapp-verifier-${uniqueString(appVnetId)}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: appVnetId
    }
  }
}
