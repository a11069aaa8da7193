// The Function App on Flex Consumption (Linux, Python 3.11), its identity's rights on the
// verifier's own resources, and every application setting that checks/config.py reads.
// Shape of functionAppConfig: the azd Flex Consumption quickstarts (functions-quickstart-python-*).
param location string
param tags object
param planName string
param appName string
param identityId string
param identityClientId string
param identityPrincipalId string
param identityName string
param applicationInsightsName string
param hostAccountName string
param journalAccountName string
param deploymentContainerName string
param lockContainerName string
@description('Container of the journal\'s seals (modules/storage.bicep, immutable).')
param sealContainerName string
@description('Fleet queue (FLEET_QUEUE) and the host\'s poison queue, in the journal account (modules/storage.bicep).')
param fleetQueueName string
param fleetPoisonQueueName string
@description('Queue service URL of the journal account: primaryEndpoints.queue.')
param journalQueueEndpoint string
@description('Private mode: subnet delegated to Microsoft.App/environments for Flex Consumption VNet integration; empty = public mode.')
param appSubnetId string = ''
param maximumInstanceCount int = 40
@description('HTTP_AUTH_MODE: entra (App Service Authentication below; the code checks the app roles) or function-key (the documented opt-out: a function key, no roles).')
@allowed([
  'entra'
  'function-key'
])
param httpAuthMode string = 'entra'
@description('Client id of the app registration callers get tokens for (AUTH_CLIENT_ID); its app roles: infra/app-roles.json.')
param authClientId string = ''
param instanceMemoryMB int = 2048

// --- settings read by checks/config.py (names exactly as in VARIABLES) -----------------------------
param journalTable string
param journalTableEndpoint string
param verifySchedule string
param logLevel string
param language string
param targetName string
param targets string
param discoverTag string
param discoverSubscriptions string
param pgServerName string
param pgResourceGroup string
param pgHostSuffix string
param pgDatabase string
param expectedAlembicRevision string
param essentialTables string
param signedDocumentTable string
param signedDocumentChecksumColumn string
param signedDocumentContainer string
param storageAccountName string
param storageResourceGroup string
param blobContainers array
param blobRecentPrefix string
param blobCanaryContainer string
param restoreDrillEnabled bool
param restoreDrillPrefix string
param restoreDrillResourceGroup string
@description('Data plane URL of the checked account: its primaryEndpoints.blob (modules/target-storage.bicep).')
param blobAccountUrl string

// Built-in role definition ids (Azure built-in roles reference).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var storageQueueDataMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
var storageQueueDataMessageProcessor = '8a0f0c08-91a1-4084-bc3d-661d67233fed'
var storageQueueDataReader = '19e7f393-937e-4f77-808e-94535e297925'

resource hostAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostAccountName
}

resource journalAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: journalAccountName
}

resource journalBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: journalAccount
  name: 'default'
}

resource lockContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: journalBlobService
  name: lockContainerName
}

resource sealContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: journalBlobService
  name: sealContainerName
}

resource journalTableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: journalAccount
  name: 'default'
}

// created by modules/storage.bicep: the app never creates it (its role below cannot)
resource journalTableResource 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: journalTableService
  name: journalTable
}

resource journalQueueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: journalAccount
  name: 'default'
}

resource fleetQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: journalQueueService
  name: fleetQueueName
}

resource fleetPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: journalQueueService
  name: fleetPoisonQueueName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:A monthly verification job; zone redundancy adds always-ready cost and is not offered in every Flex region
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17:Client certificates are not used: callers present a Microsoft Entra token (authSettings below) over HTTPS
  // checkov:skip=CKV_AZURE_222:Inbound stays public in both modes: the on-demand run and the reports are called over HTTPS with an Entra token checked by App Service Authentication (outbound goes through appSubnetId in private mode)
  // checkov:skip=CKV_AZURE_213:Health check is not available on Flex Consumption and the app serves no traffic to balance
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero; a minimum instance count would cost for a monthly job
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'verifier' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // private mode: outbound traffic (storage, PostgreSQL, ARM) through the delegated subnet
    virtualNetworkSubnetId: empty(appSubnetId) ? null : appSubnetId
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // host storage through the managed identity: no connection string, no key. Blob service only
        // (keys, timer schedule monitor, leases): the identity has Blob Data Owner and no queue or
        // table role there, so the host must not be pointed at those services (Flex sample: one
        // <service>ServiceUri per enabled service, from the account's primaryEndpoints).
        { name: 'AzureWebJobsStorage__blobServiceUri', value: hostAccount.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // DefaultAzureCredential picks the user-assigned identity by its client id
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        // journal and scheduling
        { name: 'JOURNAL_TABLE', value: journalTable }
        { name: 'JOURNAL_SEAL_CONTAINER', value: sealContainerName } // write-once seals (modules/storage.bicep)
        { name: 'JOURNAL_ACCOUNT_URL', value: journalTableEndpoint }
        { name: 'JOURNAL_RESOURCE_GROUP', value: resourceGroup().name } // the journal account lives here (modules/storage.bicep)
        { name: 'VERIFY_SCHEDULE', value: verifySchedule }
        { name: 'HEARTBEAT_SCHEDULE', value: '0 30 6 * * *' }
        { name: 'CHECK_TIMEOUT_SECONDS', value: '60' }
        { name: 'RUN_LEASE_SECONDS', value: '60' }
        { name: 'VERIFIER_SPOOL_DIR', value: '' } // default: per journal account + table under $HOME/.local/state
        { name: 'LOG_LEVEL', value: logLevel }
        { name: 'LANGUAGE', value: language }
        { name: 'HTTP_AUTH_MODE', value: httpAuthMode } // entra: authSettings below guards every route (docs/security.md)
        // fleet fan-out: the queue trigger's connection `FleetQueue` (identity-based: <connection>__queueServiceUri,
        // __credential, __clientId); checks/dispatch/queue.py enqueues through the same URL
        { name: 'FLEET_QUEUE', value: fleetQueueName }
        { name: 'FleetQueue__queueServiceUri', value: journalQueueEndpoint }
        { name: 'FleetQueue__credential', value: 'managedidentity' }
        { name: 'FleetQueue__clientId', value: identityClientId }
        { name: 'TARGET_NAME', value: targetName }
        { name: 'TARGETS', value: targets }
        { name: 'DISCOVER_TAG', value: discoverTag }
        { name: 'DISCOVER_SUBSCRIPTIONS', value: discoverSubscriptions }
        // database: Entra token of the identity as password; the login is the identity's name
        { name: 'DATABASE_URL', value: '' }
        { name: 'PG_AUTH', value: 'entra' }
        { name: 'PGHOST', value: '${pgServerName}.${pgHostSuffix}' }
        { name: 'PGPORT', value: '5432' }
        { name: 'PGDATABASE', value: pgDatabase }
        { name: 'PGUSER', value: identityName }
        { name: 'PGSSLMODE', value: 'require' }
        { name: 'DB_CONNECT_TIMEOUT_SECONDS', value: '10' }
        { name: 'DB_STATEMENT_TIMEOUT_MS', value: '30000' }
        { name: 'ALEMBIC_VERSION_TABLE', value: 'alembic_version' }
        { name: 'ALEMBIC_SCHEMA', value: 'public' }
        { name: 'EXPECTED_ALEMBIC_REVISION', value: expectedAlembicRevision }
        { name: 'ESSENTIAL_TABLES', value: essentialTables }
        { name: 'EXACT_COUNT_MAX_ROWS', value: '1000000' }
        { name: 'COUNT_DROP_THRESHOLD_PERCENT', value: '5' }
        { name: 'SIGNED_DOCUMENT_TABLE', value: signedDocumentTable }
        { name: 'SIGNED_DOCUMENT_SIGNED_COLUMN', value: 'signed' }
        { name: 'SIGNED_DOCUMENT_PATH_COLUMN', value: 'blob_path' }
        { name: 'SIGNED_DOCUMENT_CHECKSUM_COLUMN', value: signedDocumentChecksumColumn }
        { name: 'SIGNED_DOCUMENT_ORDER_COLUMN', value: 'created_at' }
        { name: 'SIGNED_DOCUMENT_CONTAINER', value: signedDocumentContainer }
        // PostgreSQL Flexible Server (management plane)
        { name: 'AZURE_SUBSCRIPTION_ID', value: subscription().subscriptionId }
        { name: 'PG_RESOURCE_GROUP', value: pgResourceGroup }
        { name: 'PG_SERVER_NAME', value: pgServerName }
        { name: 'BACKUP_MAX_AGE_HOURS', value: '26' }
        { name: 'MIN_BACKUP_RETENTION_DAYS', value: '7' }
        { name: 'REQUIRE_GEO_REDUNDANT_BACKUP', value: 'false' }
        { name: 'RESTORE_WINDOW_TOLERANCE_HOURS', value: '24' }
        { name: 'ALLOWED_BACKUP_REGIONS', value: 'austriaeast,belgiumcentral,denmarkeast,francecentral,francesouth,germanynorth,germanywestcentral,italynorth,northeurope,norwayeast,norwaywest,polandcentral,spaincentral,swedencentral,swedensouth,westeurope' }
        { name: 'LTR_REQUIRED', value: 'false' }
        { name: 'LTR_MAX_AGE_DAYS', value: '35' }
        // Blob Storage (the checked account)
        { name: 'STORAGE_RESOURCE_GROUP', value: storageResourceGroup }
        { name: 'STORAGE_ACCOUNT_NAME', value: storageAccountName }
        { name: 'BLOB_ACCOUNT_URL', value: blobAccountUrl }
        { name: 'BLOB_CONNECTION_STRING', value: '' }
        { name: 'BLOB_CONTAINERS', value: join(blobContainers, ',') }
        { name: 'BLOB_RECENT_PREFIX', value: blobRecentPrefix }
        { name: 'BLOB_RETENTION_MIN_DAYS', value: '30' }
        { name: 'BLOB_RETENTION_MAX_DAYS', value: '90' }
        { name: 'RECENT_FILE_MAX_AGE_DAYS', value: '7' }
        { name: 'BLOB_LIST_CAP', value: '5000' }
        { name: 'BLOB_ACTIVITY_SOURCE', value: 'auto' }
        { name: 'BLOB_RECENT_PREFIX_TEMPLATE', value: '' }
        { name: 'BLOB_DELETED_SAMPLE', value: '3' }
        { name: 'BLOB_CANARY_CONTAINER', value: blobCanaryContainer }
        { name: 'REQUIRE_BLOB_POINT_IN_TIME_RESTORE', value: 'false' }
        { name: 'REQUIRE_IMMUTABLE_STORAGE', value: 'false' }
        // restore drill (off unless restoreDrillEnabled)
        { name: 'RESTORE_DRILL_ENABLED', value: restoreDrillEnabled ? 'true' : 'false' }
        { name: 'RESTORE_DRILL_RESOURCE_GROUP', value: restoreDrillResourceGroup }
        // drills off: the drill timer (function restore_drill_timer) does not even start
        { name: 'AzureWebJobs.restore_drill_timer.Disabled', value: restoreDrillEnabled ? 'false' : 'true' }
        { name: 'RESTORE_DRILL_EVERY_MONTHS', value: '3' }
        { name: 'RESTORE_DRILL_MAX_CONCURRENT', value: '2' }
        { name: 'RESTORE_POINT', value: 'latest' }
        { name: 'RESTORE_DRILL_PREFIX', value: restoreDrillPrefix }
        { name: 'RESTORE_DRILL_KEEP', value: 'false' }
        { name: 'RESTORE_DRILL_KEEP_HOURS', value: '24' }
        { name: 'RESTORE_DRILL_MAX_HOURS', value: '6' }
        { name: 'DRILL_MAX_AGE_MONTHS', value: '12' }
        { name: 'RESTORE_DRILL_SCHEDULE', value: '0 */10 * * * *' }
        { name: 'DEVIATION_DUE_DAYS', value: 'critical=7,high=30,medium=60,low=90' }
        { name: 'RPO_PROBE', value: '' }
        { name: 'RTO_TARGET_MINUTES', value: '' }
        { name: 'RPO_TARGET_SECONDS', value: '' }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Who is calling (docs/security.md): App Service Authentication validates a Microsoft Entra token for the app
// registration authClientId before any request reaches the code, answers 401 itself to anonymous callers, and
// passes the caller's claims in X-MS-CLIENT-PRINCIPAL (a header external requests cannot set while this is on);
// the code checks the route's app role (Verifier.Read/Run/Drill/Restore/SignOff) and journals the caller.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (httpAuthMode == 'entra') {
  // checkov:skip=CKV_AZURE_13:This resource IS App Service Authentication (authsettingsV2); checkov reads every sites/config as the 'web' config
  // checkov:skip=CKV_AZURE_63:authsettingsV2 has no HTTP logging property (a 'web' config check); the app logs to Application Insights
  // checkov:skip=CKV_AZURE_65:authsettingsV2 has no detailed-error property (a 'web' config check); errors are JSON without internals
  // checkov:skip=CKV_AZURE_66:authsettingsV2 has no failed-request-tracing property (a 'web' config check); requests go to Application Insights
  // checkov:skip=CKV_AZURE_80:authsettingsV2 has no .NET version (a 'web' config check); the app is Python 3.11 on Flex Consumption
  // checkov:skip=CKV_AZURE_88:authsettingsV2 has no storage mounts (a 'web' config check); the app mounts no Azure Files share
  // checkov:skip=CKV_AZURE_222:authsettingsV2 has no network access property (a 'web' config check); see the site's own justification
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false // the app reads the caller's claims, never its tokens
      }
    }
  }
}

// FTP and basic-auth (user/password) publishing off: deployments go through Entra (azd).
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// --- role assignments on the verifier's own resources ------------------------------------------

// why: the Functions host keeps its keys, timer schedule monitor and leases in blobs of its own
// storage account, and Flex Consumption reads the deployment package from its container there.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostAccount.id, identityPrincipalId, storageBlobDataOwner)
  scope: hostAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Functions host storage and deployment package (identity-based AzureWebJobsStorage)'
  }
}

// The journal's own role: the four entity rights the code uses, no delete, no table management.
//  - entities/read: reports, journal verify, the chain head read before each append, the table check
//    (Journal.ensure_table reads one entity: the table is this deployment's, never created by the app);
//  - entities/add/action: every run, result, acknowledgement and sign-off is inserted, never overwritten
//    (checks/journal/append.py); a first claim is an insert that a taken RowKey refuses (409);
//  - entities/write and entities/update/action: the chain head's conditional replace (If-Match), the fleet's
//    claims, the drill state and the drill slot (upsert / conditional replace) -- Azure lists Insert Or
//    Replace under write and Update/Merge under update/action.
// No entities/delete: nothing in the code deletes an entity (a drill start that lost its slot is marked
// abandoned, checks/drill/slot.py); an edit of a month's entities is what the hash chain and the write-once
// seals (sealBlobContributor) expose.
var journalTableDataActions = [
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/read'
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action'
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/write'
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action'
]

resource journalTableRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, resourceGroup().id, 'medicapp-backup-verifier-journal-table', journalTable)
  properties: {
    roleName: 'MedicApp backup verifier journal writer (${subscription().subscriptionId}/${resourceGroup().name}/${journalTable})'
    description: 'Read, add and update the verifier journal entities; no delete, no table management.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: journalTableDataActions
        notDataActions: []
      }
    ]
  }
}

// why: every run writes its results to the journal table and the reports read them back; the role
// (journalTableRole) carries exactly the entity rights the code uses, on this table only (not the account).
resource journalTableWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(journalTableResource.id, identityPrincipalId, journalTableRole.id)
  scope: journalTableResource
  properties: {
    roleDefinitionId: journalTableRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Read, add and update the journal entities (no delete)'
  }
}

// why: a sign-off and the monthly timer write the month's seal (checks/journal/seal.py) as a new
// blob (If-None-Match: *); the container's locked time-based immutability policy forbids changing
// or deleting any seal, whatever role a caller holds. This container only.
resource sealBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(sealContainer.id, identityPrincipalId, storageBlobDataContributor)
  scope: sealContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Write the journal seals (write once)'
  }
}

// why: one run at a time per target: the run lease is a blob lease in `verifier-locks`
// (checks/lease.py); blob write rights on that container only, not on the journal account.
resource lockBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lockContainer.id, identityPrincipalId, storageBlobDataContributor)
  scope: lockContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Run lease blobs in verifier-locks'
  }
}

// why: the monthly timer and POST /api/verify {"targets"} enqueue one message per target, and the
// queue trigger sends a busy target's message again, hidden a while (checks/dispatch/queue.py,
// handler.py): add messages to the fleet queue only, never read or delete them.
resource fleetQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(fleetQueue.id, identityPrincipalId, storageQueueDataMessageSender)
  scope: fleetQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Enqueue the fleet targets (timer, HTTP), defer busy ones'
  }
}

// why: the queue trigger (function fleet_target_run) gets and deletes the fleet queue's messages
// (Functions docs, identity-based queue trigger: Message Processor + Reader), on this queue only.
resource fleetQueueProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(fleetQueue.id, identityPrincipalId, storageQueueDataMessageProcessor)
  scope: fleetQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageProcessor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Queue trigger: get and delete fleet messages'
  }
}

// why: the queue trigger's listener and the scale controller read the queue's properties (its
// approximate length) to poll and to scale out; read-only, this queue only.
resource fleetQueueReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(fleetQueue.id, identityPrincipalId, storageQueueDataReader)
  scope: fleetQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataReader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Queue trigger: read the fleet queue length'
  }
}

// why: after maxDequeueCount failed deliveries the host moves the message to <queue>-poison, an add
// on that queue; nothing else may send there.
resource poisonQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(fleetPoisonQueue.id, identityPrincipalId, storageQueueDataMessageSender)
  scope: fleetPoisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Host: move poisoned fleet messages'
  }
}

// why: the poison queue's trigger (function fleet_target_poisoned) gets and deletes its messages to
// journal the unverified target; this queue only.
resource poisonQueueProcessor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(fleetPoisonQueue.id, identityPrincipalId, storageQueueDataMessageProcessor)
  scope: fleetPoisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageProcessor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Poison trigger: get and delete poisoned messages'
  }
}

// why: the poison queue's trigger reads that queue's length to poll it, as for the fleet queue.
resource poisonQueueReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(fleetPoisonQueue.id, identityPrincipalId, storageQueueDataReader)
  scope: fleetPoisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataReader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Poison trigger: read the poison queue length'
  }
}

// why: Application Insights has local (key) auth disabled; the host sends telemetry with the identity.
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Send telemetry to Application Insights with Entra auth'
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
