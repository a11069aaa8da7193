// Deployed once per subscription that DISCOVER_TAG searches (DISCOVER_SUBSCRIPTIONS, default the
// deployment's subscription), only when discoverTag is set AND discoverSubscriptionWide is true: Azure
// Resource Graph returns only the resources its caller may read, so the identity needs Reader where the
// targets live. By default Reader is granted per resource group instead (discovery-group.bicep); the
// whole subscription is for servers in groups not known when deploying (a group created later is
// discovered without a new deployment), at the price of reading every resource of the subscription.
targetScope = 'subscription'

param identityPrincipalId string

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

// why: discovery (checks/connect/discovery.py) queries Azure Resource Graph for the PostgreSQL flexible
// servers and storage accounts carrying the discovery tag; the query needs
// Microsoft.ResourceGraph/resources/read and returns only rows the caller can read: Reader at the
// discovery scope gives both (read only, no keys, no data).
resource discoveryReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, identityPrincipalId, reader, 'discovery')
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Find the tagged PostgreSQL servers and storage accounts through Azure Resource Graph'
  }
}
