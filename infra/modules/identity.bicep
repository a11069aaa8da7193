// The verifier's user-assigned managed identity: every Azure right of the app goes to it, and it
// is the Entra principal of the read-only database role (infra/sql/grant_readonly.sql).
param location string
param tags object
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
