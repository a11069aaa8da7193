// Private mode with a privately accessed PostgreSQL server: deployed to the resource group of the
// server's EXISTING private DNS zone, it links that zone to the Function App's VNet so that the app
// (and the restore drill's verification) resolves <server>.postgres.database.azure.com to the
// private address. Not needed when the zone is already linked to that VNet.
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
