// MedicApp backup & restore verifier: `azd up` deploys the Function App (Flex Consumption, Linux,
// Python 3.11), its identity, storage, monitoring and alerts into a new resource group, and grants
// the identity least-privilege rights on the EXISTING targets (PostgreSQL flexible server, checked
// storage account and containers), which this template references but never creates or changes
// (except the verifier's own canary container in the checked account).
// After deployment: run infra/sql/grant_readonly.sql on the database (docs/deployment.md, "Deploy").
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags derive from it.')
param environmentName string

// The verifier's own region (a region that offers Flex Consumption) and the EEA regions with a pair.
// regions: begin (rendered from checks/engine/regions.py by devtools/regions.py)
@allowed([
  'austriaeast'
  'belgiumcentral'
  'denmarkeast'
  'francecentral'
  'francesouth'
  'germanynorth'
  'germanywestcentral'
  'italynorth'
  'northeurope'
  'norwayeast'
  'norwaywest'
  'polandcentral'
  'spaincentral'
  'swedencentral'
  'swedensouth'
  'westeurope'
])
@description('Region of the verifier: an EEA region (HDS: the journal and logs stay in the EEA).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

// EEA regions with a paired region: only there can the journal be geo-redundant (GRS); Azure offers
// no GRS in a nonpaired region (the journal is zone-redundant there)
var geoPairedRegions = [
  'francecentral'
  'francesouth'
  'germanynorth'
  'germanywestcentral'
  'northeurope'
  'norwayeast'
  'norwaywest'
  'swedencentral'
  'swedensouth'
  'westeurope'
]
// regions: end

@description('Resource group of the verifier; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Email address that receives the run-failed and no-run alerts.')
param alertEmail string

// --- existing targets (not created here) -------------------------------------------------------
@description('Production PostgreSQL flexible server (PG_SERVER_NAME).')
param pgServerName string
@description('Resource group of the server (PG_RESOURCE_GROUP); the verifier only ever reads there.')
param pgResourceGroup string
@description('Application database (PGDATABASE).')
param pgDatabase string = 'medicapp'
@description('DNS suffix of flexible servers (sovereign clouds differ).')
param pgHostSuffix string = 'postgres.database.azure.com'
@description('Checked storage account (STORAGE_ACCOUNT_NAME).')
param storageAccountName string
@description('Resource group of the checked storage account (STORAGE_RESOURCE_GROUP).')
param storageResourceGroup string
@description('Checked containers (BLOB_CONTAINERS); they must exist.')
param blobContainers array = []
@description('Container of the signed documents (SIGNED_DOCUMENT_CONTAINER); empty = none.')
param signedDocumentContainer string = ''
@description('Canary container (BLOB_CANARY_CONTAINER), created in the checked account; empty = no canary.')
param blobCanaryContainer string = 'verifier-canary'

@description('The checked account has blob change feed on: read $blobchangefeed (BLOB_ACTIVITY_SOURCE auto|change_feed).')
param readBlobChangeFeed bool = false
@description('Put a CanNotDelete lock on every target\'s production server (on by default; false only when the server\'s owner manages its locks).')
param lockProductionServer bool = true

// --- restore drill -------------------------------------------------------------------------------
@description('Restore drill (RESTORE_DRILL_ENABLED): creates the drill resource group and grants create/delete of flexible servers THERE only. Off by default.')
param restoreDrillEnabled bool = false
@description('The drill resource group (RESTORE_DRILL_RESOURCE_GROUP), created here; default rg-<environmentName>-drills. Never pgResourceGroup.')
param restoreDrillResourceGroup string = ''
param restoreDrillPrefix string = 'medicapp-db-restore'
@description('VNet-integrated source servers only (the deployment\'s own and any TARGETS server the drill restores): comma-separated resource ids of their delegated subnets (the restored server joins its source\'s).')
param pgSubnetId string = ''
@description('Privately accessed source servers only (the deployment\'s own and any TARGETS server): comma-separated resource ids of their private DNS zones (the restored server joins its source\'s; the app VNet is linked to each).')
param pgPrivateDnsZoneId string = ''
@description('Customer-managed-key source server only: comma-separated resource ids of its user-assigned identities (the restored drill server is given them; the drill may assign each).')
param pgCmkIdentityIds string = ''

// --- networks (docs/deployment.md, "Networks"): private unless publicMode is set on purpose ------------------------
@description('PUBLIC_MODE: true only on purpose (no VNet, storage reachable from the internet, a PostgreSQL server open to Azure). Default false: private mode, which needs appSubnetId and privateEndpointSubnetId.')
param publicMode bool = false
@description('Private mode (required): subnet delegated to Microsoft.App/environments for the Function App (Flex Consumption VNet integration).')
param appSubnetId string = ''
@description('Private mode (required): subnet of the private endpoints of the verifier\'s host and journal storage.')
param privateEndpointSubnetId string = ''
@description('Hub-and-spoke: resource id of an EXISTING privatelink.blob zone; empty = created here.')
param blobPrivateDnsZoneId string = ''
@description('Hub-and-spoke: resource id of an EXISTING privatelink.table zone; empty = created here.')
param tablePrivateDnsZoneId string = ''
@description('Hub-and-spoke: resource id of an EXISTING privatelink.queue zone; empty = created here.')
param queuePrivateDnsZoneId string = ''
@description('Existing storage zones: link each to the app\'s VNet (false when the hub links them already).')
param linkStoragePrivateDnsZones bool = true
@description('Private mode with pgPrivateDnsZoneId: link that zone to the app\'s VNet (false when it is linked already).')
param linkPgPrivateDnsZone bool = true

// --- behaviour ---------------------------------------------------------------------------------
param verifySchedule string = '0 0 6 1 * *'
@allowed(['debug', 'info', 'warning', 'error'])
param logLevel string = 'info'
@description('HTTP_AUTH_MODE: entra (default: App Service Authentication with Microsoft Entra ID in front of every route, app roles checked) or function-key (the documented opt-out, docs/security.md).')
@allowed([
  'entra'
  'function-key'
])
param httpAuthMode string = 'entra'
@description('AUTH_CLIENT_ID: client id of the app registration with the five app roles (infra/app-roles.json); required with httpAuthMode entra.')
param authClientId string = ''
@description('Language of reports, CLI and HTTP output (LANGUAGE): en or fr')
@allowed(['en', 'fr'])
param language string = 'en'
@description('Name of the target when targets is empty (TARGET_NAME)')
param targetName string = 'production'
@description('JSON list of targets (TARGETS); empty: the pg*/storage* parameters are the only target')
param targets string = ''
@description('Find the targets through Azure Resource Graph by this tag (DISCOVER_TAG); empty: no discovery')
param discoverTag string = ''
@description('Comma-separated subscription ids discoverTag searches (DISCOVER_SUBSCRIPTIONS); empty: this subscription')
param discoverSubscriptions string = ''
@description('Comma-separated resource groups discoverTag looks in, each `group` (this subscription) or `subscriptionId/group`; the identity gets Reader on each. Empty: the production groups this deployment knows (pgResourceGroup, storageResourceGroup, each TARGETS group).')
param discoverResourceGroups string = ''
@description('Reader on each whole subscription of discoverSubscriptions instead of on resource groups: only to discover servers in groups not known when deploying (it reads every resource of the subscription).')
param discoverSubscriptionWide bool = false
param journalTable string = 'BackupJournal'
@description('Days each journal seal stays immutable (WORM; JOURNAL_SEAL_RETENTION_DAYS, default 10 years).')
@minValue(1)
param journalSealRetentionDays int = 3650
param expectedAlembicRevision string = ''
param essentialTables string = ''
param signedDocumentTable string = ''
param signedDocumentChecksumColumn string = ''
param blobRecentPrefix string = ''

var abbrs = {
  resourceGroup: 'rg-'
  functionApp: 'func-'
  plan: 'plan-'
  storage: 'st'
  logAnalytics: 'log-'
  appInsights: 'appi-'
  identity: 'id-'
  actionGroup: 'ag-'
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var appName = '${abbrs.functionApp}verifier-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
var readContainers = union(blobContainers, empty(signedDocumentContainer) ? [] : [signedDocumentContainer])
var drillGroupRequested = empty(restoreDrillResourceGroup) ? '${abbrs.resourceGroup}${environmentName}-drills' : restoreDrillResourceGroup
// TARGETS (JSON, checks/engine/fleet.py): each target's server and storage account; what a target leaves
// out is the deployment's own (pg*/storage* parameters), its subscription is postgres.subscription or this one
var fleet = empty(targets) ? [] : json(targets)
var ownSubscription = subscription().subscriptionId
var fleetServers = [for t in fleet: {
  name: t.name
  subscription: (t.?postgres.?subscription) ?? ownSubscription
  resourceGroup: (t.?postgres.?resource_group) ?? pgResourceGroup
  server: (t.?postgres.?server) ?? pgServerName
}]
var fleetAccounts = [for t in fleet: {
  name: t.name
  subscription: (t.?postgres.?subscription) ?? ownSubscription
  resourceGroup: (t.?storage.?resource_group) ?? storageResourceGroup
  account: (t.?storage.?account) ?? storageAccountName
  containers: union((t.?storage.?containers) ?? blobContainers, empty(signedDocumentContainer) ? [] : [signedDocumentContainer])
}]
// every resource group holding a production resource (lower case: Azure's group names ignore case)
var serverGroups = [for t in fleetServers: toLower(t.resourceGroup)]
var accountGroups = [for t in fleetAccounts: toLower(t.resourceGroup)]
var productionGroups = union([toLower(pgResourceGroup), toLower(storageResourceGroup)], serverGroups, accountGroups)
// production groups in this subscription: the Activity Log alert watches them (server delete, lock removal,
// role assignment changes); a target in another subscription is not in its scope (docs/deployment.md, "Deploy")
var ownGroupIds = ['${subscription().id}/resourceGroups/${toLower(pgResourceGroup)}', '${subscription().id}/resourceGroups/${toLower(storageResourceGroup)}']
var serverGroupIds = [for t in fleetServers: (ownSubscription == (t.subscription)) ? '${subscription().id}/resourceGroups/${toLower(t.resourceGroup)}' : ownGroupIds[0]]
var accountGroupIds = [for t in fleetAccounts: (ownSubscription == (t.subscription)) ? '${subscription().id}/resourceGroups/${toLower(t.resourceGroup)}' : ownGroupIds[0]]
var productionGroupIds = union(ownGroupIds, serverGroupIds, accountGroupIds)
// Guard: the drill's create/delete rights live in its group, so it is never a production group (nor the
// verifier's own); the deployment fails here, before any resource is written.
var drillResourceGroupName = (restoreDrillEnabled && contains(union(productionGroups, [toLower(verifierGroupName)]), toLower(drillGroupRequested))) ? any(stop)[drillGroupRefused] : drillGroupRequested
// ARM evaluates only the chosen branch of ?: (if()); reading a missing property stops the deployment with
// "The language expression property '<reason>' doesn't exist". Bicep's fail() says the same more plainly, but
// checkov's Bicep parser (pycep 0.5) rejects it, and the template must stay scannable.
var stop = {}
var drillGroupRefused = 'restoreDrillResourceGroup (RESTORE_DRILL_RESOURCE_GROUP) must not be a production resource group (pgResourceGroup, storageResourceGroup, a TARGETS group) nor the verifier\'s own: drill servers never live next to production'

// Each TARGETS target drills in its own subscription, into its RESTORE_DRILL_RESOURCE_GROUP (settings) or the
// deployment's; the same guard as the deployment's group: never a production group nor the verifier's own.
var fleetDrillTargets = restoreDrillEnabled ? fleet : []
var fleetDrills = [for t in fleetDrillTargets: {
  name: t.name
  subscription: (t.?postgres.?subscription) ?? ownSubscription
  resourceGroup: contains(union(productionGroups, [toLower(verifierGroupName)]), toLower((t.?settings.?RESTORE_DRILL_RESOURCE_GROUP) ?? drillResourceGroupName)) ? any(stop)[fleetDrillGroupRefused] : ((t.?settings.?RESTORE_DRILL_RESOURCE_GROUP) ?? drillResourceGroupName)
}]
var fleetDrillGroupRefused = 'a TARGETS target\'s RESTORE_DRILL_RESOURCE_GROUP must not be a production resource group (pgResourceGroup, storageResourceGroup, a TARGETS group) nor the verifier\'s own: drill servers never live next to production'
var verifierGroupName = empty(resourceGroupName) ? '${abbrs.resourceGroup}${environmentName}' : resourceGroupName
// Private unless PUBLIC_MODE=true: VNet integration and private endpoints come together, so a deployment
// missing either subnet fails here, at template validation, before anything is created, instead of leaving the
// app without a route to its own storage (or its storage open). ARM answers "The template variable
// 'privateMode' is not valid: ... cannot convert provided value '<the text below>'": int() of the text is the
// guard (Bicep's fail() would read better, but the pycep parser checkov uses does not know it yet).
var missingSubnets = concat(empty(appSubnetId) ? ['appSubnetId (APP_SUBNET_ID)'] : [], empty(privateEndpointSubnetId) ? ['privateEndpointSubnetId (PRIVATE_ENDPOINT_SUBNET_ID)'] : [])
var privateMode = publicMode ? false : (empty(missingSubnets) ? true : bool(int('Private mode (the default) needs both subnets: APP_SUBNET_ID (delegated to Microsoft.App/environments) and PRIVATE_ENDPOINT_SUBNET_ID; set them, or PUBLIC_MODE=true on purpose (docs/deployment.md, "Networks").')))
var appVnetId = empty(appSubnetId) ? '' : split(appSubnetId, '/subnets/')[0]
// existing zones of a hub (hub-and-spoke), each linked to the app's VNet unless the hub links it already
var existingStorageZones = concat(empty(blobPrivateDnsZoneId) ? [] : [blobPrivateDnsZoneId], empty(tablePrivateDnsZoneId) ? [] : [tablePrivateDnsZoneId], empty(queuePrivateDnsZoneId) ? [] : [queuePrivateDnsZoneId])
var linkedStorageZones = (privateMode && linkStoragePrivateDnsZones) ? existingStorageZones : []
var cmkIdentityIds = (restoreDrillEnabled && !empty(pgCmkIdentityIds)) ? split(pgCmkIdentityIds, ',') : []
// VNet-integrated or privately accessed sources: every drilled server's subnet and zone, each once
var pgSubnetList = [for id in (empty(pgSubnetId) ? [] : split(pgSubnetId, ',')): trim(id)]
var pgSubnetIds = union(pgSubnetList, [])
var pgPrivateDnsZoneList = [for id in (empty(pgPrivateDnsZoneId) ? [] : split(pgPrivateDnsZoneId, ',')): trim(id)]
var pgPrivateDnsZoneIds = union(pgPrivateDnsZoneList, [])
var drillSubnetIds = restoreDrillEnabled ? pgSubnetIds : []
var drillDnsZoneIds = restoreDrillEnabled ? pgPrivateDnsZoneIds : []
var linkedPgZoneIds = (empty(appSubnetId) || !linkPgPrivateDnsZone) ? [] : pgPrivateDnsZoneIds
// Discovery's Reader: per resource group (discoverResourceGroups, else the production groups known here), or
// per whole subscription only when discoverSubscriptionWide says so (servers in groups not known yet).
var discoverySubscriptions = empty(discoverSubscriptions) ? [subscription().subscriptionId] : split(discoverSubscriptions, ',')
var discoveryScope = (discoverSubscriptionWide && !empty(discoverTag)) ? discoverySubscriptions : []
var ownGroupRefs = [{
  subscription: ownSubscription
  resourceGroup: toLower(pgResourceGroup)
}, {
  subscription: ownSubscription
  resourceGroup: toLower(storageResourceGroup)
}]
var serverGroupRefs = [for t in fleetServers: {
  subscription: t.subscription
  resourceGroup: toLower(t.resourceGroup)
}]
var accountGroupRefs = [for t in fleetAccounts: {
  subscription: t.subscription
  resourceGroup: toLower(t.resourceGroup)
}]
var givenGroupRefs = [for g in (empty(discoverResourceGroups) ? [] : split(discoverResourceGroups, ',')): {
  subscription: contains(trim(g), '/') ? trim(split(trim(g), '/')[0]) : ownSubscription
  resourceGroup: toLower(trim(last(split(trim(g), '/'))))
}]
var discoveryGroupRefs = empty(discoverResourceGroups) ? union(ownGroupRefs, serverGroupRefs, accountGroupRefs) : union(givenGroupRefs, [])
var discoveryGroups = (empty(discoverTag) || discoverSubscriptionWide) ? [] : discoveryGroupRefs

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: verifierGroupName
  location: location
  tags: tags
}

// The only resource group where the verifier may create and delete servers (the restore drill).
resource drillRg 'Microsoft.Resources/resourceGroups@2024-03-01' = if (restoreDrillEnabled) {
  name: drillResourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.identity}verifier-${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.logAnalytics}${resourceToken}'
    applicationInsightsName: '${abbrs.appInsights}${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    hostAccountName: '${abbrs.storage}host${resourceToken}'
    journalAccountName: '${abbrs.storage}jrnl${resourceToken}'
    journalGeoRedundant: contains(geoPairedRegions, location)
    deploymentContainerName: deploymentContainerName
    journalTableName: journalTable
    sealRetentionDays: journalSealRetentionDays
    privateAccess: privateMode
  }
}

module network 'modules/network.bicep' = if (privateMode) {
  name: 'network'
  scope: rg
  params: {
    location: location
    tags: tags
    privateEndpointSubnetId: privateEndpointSubnetId
    appVnetId: appVnetId
    existingZoneIds: {
      blob: blobPrivateDnsZoneId
      table: tablePrivateDnsZoneId
      queue: queuePrivateDnsZoneId
    }
    hostAccountName: storage.outputs.hostAccountName
    journalAccountName: storage.outputs.journalAccountName
  }
}

// Entra in front unless the opt-out: without a valid AUTH_CLIENT_ID this guard fails the deployment before the app
module authGuard 'modules/auth-guard.bicep' = if (httpAuthMode == 'entra') {
  name: 'auth-client-id-guard'
  scope: rg
  params: {
    authClientId: authClientId
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  dependsOn: [
    authGuard
  ]
  params: {
    location: location
    tags: tags
    planName: '${abbrs.plan}${resourceToken}'
    appName: appName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    identityName: identity.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    hostAccountName: storage.outputs.hostAccountName
    journalAccountName: storage.outputs.journalAccountName
    deploymentContainerName: deploymentContainerName
    lockContainerName: storage.outputs.lockContainerName
    sealContainerName: storage.outputs.sealContainerName
    fleetQueueName: storage.outputs.fleetQueueName
    fleetPoisonQueueName: storage.outputs.fleetPoisonQueueName
    journalQueueEndpoint: storage.outputs.journalQueueEndpoint
    journalTable: storage.outputs.journalTableName
    journalTableEndpoint: storage.outputs.journalTableEndpoint
    verifySchedule: verifySchedule
    logLevel: logLevel
    language: language
    httpAuthMode: httpAuthMode
    authClientId: authClientId
    targetName: targetName
    targets: targets
    discoverTag: discoverTag
    discoverSubscriptions: discoverSubscriptions
    pgServerName: pgServerName
    pgResourceGroup: pgResourceGroup
    pgHostSuffix: pgHostSuffix
    pgDatabase: pgDatabase
    expectedAlembicRevision: expectedAlembicRevision
    essentialTables: essentialTables
    signedDocumentTable: signedDocumentTable
    signedDocumentChecksumColumn: signedDocumentChecksumColumn
    signedDocumentContainer: signedDocumentContainer
    storageAccountName: storageAccountName
    storageResourceGroup: storageResourceGroup
    blobContainers: blobContainers
    blobRecentPrefix: blobRecentPrefix
    blobCanaryContainer: blobCanaryContainer
    restoreDrillEnabled: restoreDrillEnabled
    restoreDrillPrefix: restoreDrillPrefix
    restoreDrillResourceGroup: restoreDrillEnabled ? drillResourceGroupName : ''
    blobAccountUrl: storageAccess.outputs.blobEndpoint
    appSubnetId: appSubnetId
  }
}

// Cross-resource-group rights: modules deployed to the targets' resource groups.
module pgAccess 'modules/target-postgres.bicep' = {
  name: 'target-postgres-access'
  scope: resourceGroup(pgResourceGroup)
  params: {
    pgServerName: pgServerName
    identityPrincipalId: identity.outputs.principalId
    lockProductionServer: lockProductionServer
  }
}

// Each TARGETS server: Reader (its checks, and the drill's source), the delete lock. A target that leaves
// its server out, or names the deployment's own, puts the same role assignment and lock (same names) again:
// after pgAccess and one at a time (batchSize), so the same resource is never written twice at once.
@batchSize(1)
module fleetPgAccess 'modules/target-postgres.bicep' = [for t in fleetServers: {
  name: take('target-postgres-access-${t.name}', 64)
  scope: resourceGroup(t.subscription, t.resourceGroup)
  dependsOn: [
    pgAccess
  ]
  params: {
    pgServerName: t.server
    identityPrincipalId: identity.outputs.principalId
    lockProductionServer: lockProductionServer
  }
}]

module drill 'modules/drill.bicep' = if (restoreDrillEnabled) {
  name: 'restore-drill-access'
  scope: resourceGroup(drillResourceGroupName)
  dependsOn: [
    drillRg
  ]
  params: {
    identityPrincipalId: identity.outputs.principalId
  }
}

// Each TARGETS target's drill group, in the target's subscription (a drill restores next to nothing of production,
// but in the source server's subscription): RESTORE_DRILL_RESOURCE_GROUP of its settings, else the deployment's.
// Created there with the drill role (the monthly drill round starts each target's drill with its own settings;
// the sweeper lists and deletes in each). After the deployment's own group and one at a time (batchSize): a group
// shared by several targets, or the deployment's own, gets the same resources again, never twice at once.
@batchSize(1)
module fleetDrillGroups 'modules/drill-group.bicep' = [for d in fleetDrills: {
  name: take('restore-drill-group-${d.name}', 64)
  scope: subscription(d.subscription)
  dependsOn: [
    drill
  ]
  params: {
    name: d.resourceGroup
    location: location
    tags: tags
  }
}]

@batchSize(1)
module fleetDrill 'modules/drill.bicep' = [for d in fleetDrills: {
  name: take('restore-drill-access-${d.name}', 64)
  scope: resourceGroup(d.subscription, d.resourceGroup)
  dependsOn: [
    fleetDrillGroups
  ]
  params: {
    identityPrincipalId: identity.outputs.principalId
  }
}]

// Reader on each resource group discovery looks in (only with discoverTag; the default).
module discoveryGroupReaders 'modules/discovery-group.bicep' = [for g in discoveryGroups: {
  name: 'discovery-reader-${uniqueString(g.subscription, g.resourceGroup)}'
  scope: resourceGroup(g.subscription, g.resourceGroup)
  params: {
    identityPrincipalId: identity.outputs.principalId
  }
}]

// Reader at each whole subscription discovery searches (only with discoverTag and discoverSubscriptionWide).
module discovery 'modules/discovery.bicep' = [for sub in discoveryScope: {
  name: 'discovery-reader-${trim(sub)}'
  scope: subscription(trim(sub))
  params: {
    identityPrincipalId: identity.outputs.principalId
  }
}]

// VNet-integrated sources (the deployment's own and each TARGETS server drilled): the restored server joins its
// source's subnet and private DNS zone. One subnet (zone) at a time: two of one resource group write the same
// join role definition.
@batchSize(1)
module drillSubnetJoin 'modules/drill-network-join.bicep' = [for id in drillSubnetIds: {
  name: 'restore-drill-subnet-join-${uniqueString(id)}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    subnetId: id
    identityPrincipalId: identity.outputs.principalId
  }
}]

@batchSize(1)
module drillDnsJoin 'modules/drill-network-join.bicep' = [for id in drillDnsZoneIds: {
  name: 'restore-drill-dns-join-${uniqueString(id)}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    privateDnsZoneId: id
    identityPrincipalId: identity.outputs.principalId
  }
}]

// CMK source: the restored server gets the source's user-assigned identities (assign, on each identity only).
module drillIdentityAssign 'modules/drill-identity-assign.bicep' = [for id in cmkIdentityIds: {
  name: 'restore-drill-identity-${uniqueString(trim(id))}'
  scope: resourceGroup(split(trim(id), '/')[2], split(trim(id), '/')[4])
  params: {
    userAssignedIdentityId: trim(id)
    identityPrincipalId: identity.outputs.principalId
  }
}]

// Private mode with privately accessed servers: the app's VNet resolves each server's private name.
// A zone may live in another subscription (a hub): the module goes where its id says.
module pgDnsLink 'modules/pg-dns-link.bicep' = [for id in linkedPgZoneIds: {
  name: 'pg-private-dns-link-${uniqueString(id)}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    privateDnsZoneName: last(split(id, '/'))
    appVnetId: appVnetId
    tags: tags
  }
}]

// Private mode with the hub's existing storage zones: each linked to the app's VNet (same module as above).
module storageDnsLinks 'modules/pg-dns-link.bicep' = [for (zoneId, i) in linkedStorageZones: {
  name: 'storage-private-dns-link-${i}'
  scope: resourceGroup(split(zoneId, '/')[2], split(zoneId, '/')[4])
  params: {
    privateDnsZoneName: last(split(zoneId, '/'))
    appVnetId: appVnetId
    tags: tags
  }
}]

module storageAccess 'modules/target-storage.bicep' = {
  name: 'target-storage-access'
  scope: resourceGroup(storageResourceGroup)
  params: {
    storageAccountName: storageAccountName
    identityPrincipalId: identity.outputs.principalId
    readContainers: readContainers
    canaryContainer: blobCanaryContainer
    readChangeFeed: readBlobChangeFeed
  }
}

// Each TARGETS storage account: account Reader, Blob Data Reader on each of its checked containers, the
// canary container; as for the servers, after storageAccess and one at a time.
@batchSize(1)
module fleetStorageAccess 'modules/target-storage.bicep' = [for t in fleetAccounts: {
  name: take('target-storage-access-${t.name}', 64)
  scope: resourceGroup(t.subscription, t.resourceGroup)
  dependsOn: [
    storageAccess
  ]
  params: {
    storageAccountName: t.account
    identityPrincipalId: identity.outputs.principalId
    readContainers: t.containers
    canaryContainer: blobCanaryContainer
    readChangeFeed: readBlobChangeFeed
  }
}]

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    actionGroupName: '${abbrs.actionGroup}verifier-${resourceToken}'
    alertEmail: alertEmail
    productionGroupIds: productionGroupIds
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output AZURE_FUNCTION_APP_URI string = app.outputs.uri
output VERIFIER_IDENTITY_NAME string = identity.outputs.name
output VERIFIER_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output VERIFIER_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output JOURNAL_ACCOUNT_URL string = storage.outputs.journalTableEndpoint
output PGHOST string = '${pgServerName}.${pgHostSuffix}'
output PGDATABASE string = pgDatabase
output RESTORE_DRILL_RESOURCE_GROUP string = restoreDrillEnabled ? drillResourceGroupName : ''
