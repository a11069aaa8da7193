// The verifier's own storage (created here, unlike the checked targets):
//  - host account: the Functions host storage (AzureWebJobsStorage__accountName, via the managed
//    identity) and the Flex Consumption deployment container;
//  - journal account: the journal table, the `verifier-locks` container of the run lease, and the
//    fleet queue (one message per target of the monthly run) with the host's `<queue>-poison` queue.
// Both: shared keys off (identity only), HTTPS only, TLS 1.2, no public blob access. With
// privateAccess (docs/deployment.md, "Networks": private mode, the default unless PUBLIC_MODE=true) both refuse
// public network access: the app reaches them through the private endpoints of modules/network.bicep.
param location string
param tags object
param hostAccountName string
param journalAccountName string
param deploymentContainerName string
param journalTableName string
param lockContainerName string = 'verifier-locks'
@description('Container of the journal\'s monthly seals (JOURNAL_SEAL_CONTAINER): write-once blobs, checks/journal/seal.py.')
param sealContainerName string = 'journal-seals'
@description('Days a seal can be neither changed nor deleted (time-based immutability policy, JOURNAL_SEAL_RETENTION_DAYS).')
@minValue(1)
@maxValue(146000)
param sealRetentionDays int = 3650
@description('Fleet queue (FLEET_QUEUE): one message per target of the monthly run; the host adds -poison.')
param fleetQueueName string = 'verifier-fleet'
@description('Private mode: public network access off (private endpoints in modules/network.bicep).')
param privateAccess bool = false
@description('Journal geo-redundant (GRS, a copy in the paired region): false in a nonpaired region, where Azure offers no GRS (zone-redundant there).')
param journalGeoRedundant bool = true

var networkAccess = privateAccess ? 'Disabled' : 'Enabled'
var networkDefault = privateAccess ? 'Deny' : 'Allow'

resource hostAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Private mode is the default (privateAccess: public access Disabled, default action Deny) unless PUBLIC_MODE=true; checkov cannot resolve the parameter
  // checkov:skip=CKV_AZURE_59:Same as CKV_AZURE_35: public network access is Disabled unless PUBLIC_MODE=true on purpose
  // checkov:skip=CKV_AZURE_206:Host storage holds a redeployable package and host leases: LRS is enough
  // checkov:skip=CKV_AZURE_43:The name is a parameter ('st' + 'host' + uniqueString, 19 lowercase letters/digits) that checkov cannot resolve
  name: hostAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: networkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: networkDefault
    }
  }
}

resource hostBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostAccount
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource journalAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Private mode is the default (privateAccess: public access Disabled, default action Deny) unless PUBLIC_MODE=true; checkov cannot resolve the parameter
  // checkov:skip=CKV_AZURE_59:Same as CKV_AZURE_35: public network access is Disabled unless PUBLIC_MODE=true on purpose
  // checkov:skip=CKV_AZURE_43:The name is a parameter ('st' + 'jrnl' + uniqueString, 19 lowercase letters/digits) that checkov cannot resolve
  // checkov:skip=CKV_AZURE_206:Replicated: GRS in an EEA region with a pair, ZRS in a nonpaired one (Azure offers no GRS there); checkov cannot resolve journalGeoRedundant
  name: journalAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // the journal is the audit evidence of the backup procedure: keep a copy in the paired region (in the
    // EEA: main.bicep's geoPairedRegions); a nonpaired region has no GRS, zones keep the copies there
    name: journalGeoRedundant ? 'Standard_GRS' : 'Standard_ZRS'
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: networkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: networkDefault
    }
  }
}

resource journalBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: journalAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource lockContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: journalBlobService
  name: lockContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The journal's seals (checks/journal/seal.py): a month's chain head and export, one blob per seal.
// Time-based retention (WORM): no blob can be changed or deleted for sealRetentionDays, not even by
// the account's owner; no append to protected blobs (allowProtectedAppendWrites false). ARM creates
// the policy unlocked; docs/deployment.md, "Deploy", locks it in production (az storage container
// immutability-policy lock): a locked policy can only be extended, never removed.
resource sealContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: journalBlobService
  name: sealContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource sealPolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: sealContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: sealRetentionDays
    allowProtectedAppendWrites: false
    allowProtectedAppendWritesAll: false
  }
}

resource journalTableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: journalAccount
  name: 'default'
}

resource journalTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: journalTableService
  name: journalTableName
}

resource journalQueueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: journalAccount
  name: 'default'
}

// created here, not by the app: the app only sends (Storage Queue Data Message Sender), and the host's
// identity cannot create the poison queue on first use (it has no queue management right)
resource fleetQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: journalQueueService
  name: fleetQueueName
}

resource fleetPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: journalQueueService
  name: '${fleetQueueName}-poison'
}

output hostAccountName string = hostAccount.name
output hostAccountId string = hostAccount.id
output hostBlobEndpoint string = hostAccount.properties.primaryEndpoints.blob
output journalAccountName string = journalAccount.name
output journalAccountId string = journalAccount.id
output journalTableEndpoint string = journalAccount.properties.primaryEndpoints.table
output lockContainerName string = lockContainer.name
output sealContainerName string = sealContainer.name
output journalTableName string = journalTable.name
output journalQueueEndpoint string = journalAccount.properties.primaryEndpoints.queue
output fleetQueueName string = fleetQueue.name
output fleetPoisonQueueName string = fleetPoisonQueue.name
