// Deployed to the resource group of ONE user-assigned identity of a customer-managed-key (CMK) source
// server (only when the restore drill is on and pgCmkIdentityIds lists it): a point-in-time restore
// of a CMK server must carry the source's user-assigned identities and key (checks/drill/source.py),
// and ARM authorizes giving an identity to the new server as a linked access on that identity
// (LinkedAuthorizationFailed otherwise). One action, on that identity only: not Managed Identity
// Operator, which may also read every identity of the scope.
@description('Resource id of one user-assigned identity of the CMK source server.')
param userAssignedIdentityId string
param identityPrincipalId string

var identityName = last(split(userAssignedIdentityId, '/'))

resource userIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource assignRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, resourceGroup().id, 'medicapp-backup-verifier-drill-identity-assign', identityName)
  properties: {
    roleName: 'MedicApp backup verifier drill identity assign (${subscription().subscriptionId}/${resourceGroup().name}/${identityName})'
    description: 'Give the CMK source server\'s user-assigned identity to the restored drill server.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' // the restore PUT's identity
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// why: the restored drill server of a CMK source uses the source's user-assigned identity (and key).
resource identityAssign 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(userAssignedIdentityId, identityPrincipalId, 'medicapp-backup-verifier-drill-identity-assign')
  scope: userIdentity
  properties: {
    roleDefinitionId: assignRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Restore drill: give the CMK source server identity to the restored server'
  }
}
