// Deployed to the resource group of the source server's delegated subnet or of its private DNS
// zone (only when the production server is VNet-integrated): a point-in-time restore puts the new
// server into the SAME subnet and DNS zone as the source, which ARM authorizes as a linked access
// on those resources (LinkedAuthorizationFailed otherwise). One join action, on one resource.
@description('Resource id of the source server\'s delegated subnet; empty = no subnet join here.')
param subnetId string = ''
@description('Resource id of the source server\'s private DNS zone; empty = no zone join here.')
param privateDnsZoneId string = ''
param identityPrincipalId string

var subnetParts = split(subnetId, '/')
var joinSubnet = !empty(subnetId)
var joinZone = !empty(privateDnsZoneId)

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = if (joinSubnet) {
  name: joinSubnet ? subnetParts[8] : 'none'
}

resource subnet 'Microsoft.Network/virtualNetworks/subnets@2024-05-01' existing = if (joinSubnet) {
  parent: vnet
  name: joinSubnet ? subnetParts[10] : 'none'
}

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' existing = if (joinZone) {
  name: joinZone ? last(split(privateDnsZoneId, '/')) : 'none'
}

resource joinRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, resourceGroup().id, 'medicapp-backup-verifier-drill-network-join', string(joinSubnet), string(joinZone))
  properties: {
    roleName: 'MedicApp backup verifier drill network join (${subscription().subscriptionId}/${resourceGroup().name}${joinSubnet ? '/subnet' : ''}${joinZone ? '/dns' : ''})'
    description: 'Join the restored drill server to the source server\'s delegated subnet and private DNS zone.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: concat(joinSubnet ? ['Microsoft.Network/virtualNetworks/subnets/join/action'] : [],
          joinZone ? ['Microsoft.Network/privateDnsZones/join/action'] : [])
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// why: the restored drill server joins the source's delegated subnet (same VNet as production).
resource subnetJoin 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (joinSubnet) {
  name: guid(subnetId, identityPrincipalId, 'medicapp-backup-verifier-drill-network-join')
  scope: subnet
  properties: {
    roleDefinitionId: joinRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Restore drill: place the restored server in the source server subnet'
  }
}

// why: the restored drill server registers its name in the source's private DNS zone.
resource zoneJoin 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (joinZone) {
  name: guid(privateDnsZoneId, identityPrincipalId, 'medicapp-backup-verifier-drill-network-join')
  scope: zone
  properties: {
    roleDefinitionId: joinRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Restore drill: register the restored server in the source server private DNS zone'
  }
}
