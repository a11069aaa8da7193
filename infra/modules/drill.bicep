// Deployed to the DRILL resource group (RESTORE_DRILL_RESOURCE_GROUP, created by main.bicep when
// the restore drill is enabled): the only place where the verifier may create and delete servers.
// Production's resource group never gets a write or delete right (modules/target-postgres.bicep).
param identityPrincipalId string

// why-list of the actions, each one a request the drill makes (tests/test_permissions.py checks it):
var drillActions = [
  'Microsoft.DBforPostgreSQL/flexibleServers/read' // GET target (must be 404 before the PUT), GET restored server, list for the sweeper
  'Microsoft.DBforPostgreSQL/flexibleServers/write' // PUT createMode=PointInTimeRestore
  'Microsoft.DBforPostgreSQL/flexibleServers/delete' // DELETE the drill server after verification / expiry
  'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read' // poll the restore's and the delete's operation
  'Microsoft.DBforPostgreSQL/locations/operationResults/read' // final GET of the delete's Location header
  'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules/read' // access parity: a public drill server's open rules
]

// Name unique per subscription AND resource group: role names are unique per tenant, and two
// subscriptions may both have a resource group called rg-medicapp-drills.
resource drillRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, resourceGroup().id, 'medicapp-backup-verifier-restore-drill')
  properties: {
    roleName: 'MedicApp backup verifier restore drill (${subscription().subscriptionId}/${resourceGroup().name})'
    description: 'Create (point-in-time restore), read, poll and delete PostgreSQL flexible servers in the drill resource group only.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: drillActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// why: the drill restores production's latest backup to a NEW server here, verifies it and deletes
// it; scoped to this resource group because the server does not exist before the drill.
resource drillAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, identityPrincipalId, 'medicapp-backup-verifier-restore-drill')
  properties: {
    roleDefinitionId: drillRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Restore drill: create, poll and delete flexible servers in the drill resource group'
  }
}

output roleDefinitionId string = drillRole.id
