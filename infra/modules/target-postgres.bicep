// Deployed to the resource group of the EXISTING production PostgreSQL flexible server (not
// created by this template): the identity's management-plane rights there.
param pgServerName string
param identityPrincipalId string
@description('Restore drill: a custom role to create, read and delete flexible servers in this resource group.')
param restoreDrillEnabled bool = false

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' existing = {
  name: pgServerName
}

// why: the postgres.* checks read the server's backup settings, its backups list and its earliest
// restore point (ARM GET only). Reader on the server only: no keys, no configuration changes.
resource serverReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(server.id, identityPrincipalId, reader)
  scope: server
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Read backup settings and backups of the production server'
  }
}

// The restore drill restores the latest backup to a NEW server in this resource group, checks it
// and deletes it. Nothing else: no firewall, configuration, database or admin changes.
resource drillRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (restoreDrillEnabled) {
  name: guid(resourceGroup().id, 'medicapp-backup-verifier-restore-drill')
  properties: {
    roleName: 'MedicApp backup verifier restore drill (${resourceGroup().name})'
    description: 'Create (point-in-time restore), read and delete PostgreSQL flexible servers in one resource group.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.DBforPostgreSQL/flexibleServers/read'
          'Microsoft.DBforPostgreSQL/flexibleServers/write'
          'Microsoft.DBforPostgreSQL/flexibleServers/delete'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// why: only when the drill is enabled; scoped to the resource group because the restored server
// does not exist yet (a new name per drill, RESTORE_DRILL_PREFIX-...).
resource drillAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (restoreDrillEnabled) {
  name: guid(resourceGroup().id, identityPrincipalId, 'medicapp-backup-verifier-restore-drill')
  properties: {
    roleDefinitionId: drillRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Restore drill: create, read and delete flexible servers in this resource group'
  }
}
