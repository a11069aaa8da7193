// Deployed once per resource group DISCOVER_TAG looks in (main.bicep discoveryGroups), only when discoverTag is
// set and discoverSubscriptionWide is not: Azure Resource Graph returns only the rows its caller may read, so
// Reader on a group makes that group's tagged servers and accounts discoverable, and nothing else.
targetScope = 'resourceGroup'

param identityPrincipalId string

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

// why: discovery (checks/connect/discovery.py) queries Azure Resource Graph for the PostgreSQL flexible
// servers and storage accounts carrying the discovery tag; the query needs
// Microsoft.ResourceGraph/resources/read and returns only the resources the caller can read: Reader on this
// resource group gives both for this group alone (read only, no keys, no data).
resource discoveryReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, identityPrincipalId, reader, 'discovery')
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Find the tagged PostgreSQL servers and storage accounts of this resource group through Azure Resource Graph'
  }
}
