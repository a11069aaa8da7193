// Deployed to the resource group of the EXISTING production PostgreSQL flexible server (not
// created by this template): the identity reads it, nothing more. The restore drill's rights are
// NOT here: they live in the drill resource group (modules/drill.bicep), so nothing the verifier
// holds can write to, reconfigure or delete production.
param pgServerName string
param identityPrincipalId string
@description('Put a CanNotDelete lock on the production server (needs Microsoft.Authorization/locks/write for the deploying user).')
param lockProductionServer bool = false

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' existing = {
  name: pgServerName
}

// why: the postgres.* checks read the server's backup settings, its backups list and its earliest
// restore point (ARM GET only), and the drill reads the source before it restores it into the drill
// resource group: a point-in-time restore needs only read access to the source server
// (Microsoft.DBforPostgreSQL/flexibleServers/read), which Reader gives. No keys, no changes.
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

// Defence in depth against anyone (not only the verifier) deleting production by mistake.
resource productionLock 'Microsoft.Authorization/locks@2020-05-01' = if (lockProductionServer) {
  name: 'medicapp-production-cannot-delete'
  scope: server
  properties: {
    level: 'CanNotDelete'
    notes: 'Production database server: delete only after removing this lock on purpose.'
  }
}
