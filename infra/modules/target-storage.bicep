// Deployed to the resource group of the EXISTING checked storage account (not created by this
// template): the identity's rights on that account and its containers.
param storageAccountName string
param identityPrincipalId string
@description('Containers the blob checks list and read (BLOB_CONTAINERS + SIGNED_DOCUMENT_CONTAINER).')
param readContainers array
@description('The canary container (BLOB_CANARY_CONTAINER); empty = no canary round trip.')
param canaryContainer string
@description('The account has blob change feed on: blob.recent_file / blob.deleted_visible read $blobchangefeed.')
param readChangeFeed bool = false

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in readContainers: {
  parent: blobService
  name: name
}]

// Written by the Blob service itself when change feed is on (never created here).
resource changeFeedContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = if (readChangeFeed) {
  parent: blobService
  name: '$blobchangefeed'
}

// The canary container is the verifier's own scratch space in the checked account (created here
// so that its write right can be scoped to it alone).
resource canary 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (!empty(canaryContainer)) {
  parent: blobService
  name: canaryContainer
  properties: {
    publicAccess: 'None'
  }
}

// why: the blob.* checks read the account's blob service properties (soft delete, versioning,
// retention) through ARM. Reader on the account only: it grants no data access and no keys.
resource accountReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, identityPrincipalId, reader)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Read blob service protection settings of the checked account'
  }
}

// why: the blob checks list recent files and read signed documents to compare checksums; read-only,
// per checked container, not the whole account.
resource containerReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in readContainers: {
  name: guid(containers[i].id, identityPrincipalId, storageBlobDataReader)
  scope: containers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'List and read blobs of a checked container'
  }
}]

// why: with change feed on, blob.recent_file and blob.deleted_visible read the hourly change
// records (segments, manifests, Avro chunks) of $blobchangefeed: read-only, that container only.
resource changeFeedReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (readChangeFeed) {
  name: guid(changeFeedContainer.id, identityPrincipalId, storageBlobDataReader)
  scope: changeFeedContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Read the change feed of the checked account'
  }
}

// why: the canary round trip writes, reads back, deletes and undeletes one blob: write rights on
// the canary container only, never on the containers holding documents.
resource canaryContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(canaryContainer)) {
  name: guid(canary.id, identityPrincipalId, storageBlobDataContributor)
  scope: canary
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Canary round trip in the canary container only'
  }
}

// the data plane URL from the account itself (custom domains and sovereign clouds included)
output blobEndpoint string = account.properties.primaryEndpoints.blob
