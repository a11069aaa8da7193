// Alerts to an action group (email):
//  - run failed: a run that ends `fail` or `error` (checks/service.py logs
//    "run <id> finished: <status> (...)" on logger checks.service → App Insights `traces`), a run
//    not recorded in the journal ("run <id> not recorded in the journal ..."), or a monthly run
//    refused by a configuration error ("monthly verification not run: ...", checks/http_api.py);
//  - drill failed: a restore drill that ends `failed` (checks/drill: "restore drill <id> failed: ..."),
//    a monthly drill that could not start ("monthly restore drill not started: ...") or a drill timer
//    that could not work ("restore drill timer: ...", "restore drill timer not run: ...");
//  - failed invocations: any function invocation with success = false (`requests`) or an exception
//    logged by the host or the app (`exceptions`): what the app's own lines cannot say;
//  - fleet target not verified: a target's queue message failed maxDequeueCount times and reached
//    the poison queue (checks/dispatch/handler.py: "target <name> not verified this month (<month>):
//    message poisoned after <n> attempts"), or a fleet message was dropped as unreadable or naming an
//    unknown target ("fleet message dropped ...", "fleet poison message ...");
//  - dead man: a target without a full timer run in 32 days. A log search alert reads at most 2 days of
//    data, so the app logs a daily heartbeat per target with the age of its last full timer run in the
//    journal (checks/heartbeat.py, "verifier heartbeat: ok|overdue|unknown ... (target <name>)"; a run by
//    hand never counts); the alert fires when a target's newest heartbeat is not `ok` or when no
//    heartbeat arrived in 2 days (the app itself is down);
//  - drill age: a target without a successful restore drill for DRILL_MAX_AGE_MONTHS (the same daily
//    heartbeat: "verifier drill age: overdue ... (target <name>)");
//  - production tampered with (Activity Log, not the app's logs: it fires even when the app is gone):
//    a PostgreSQL server deleted, a lock removed, a role assignment written or deleted in a production
//    resource group. `azd up` itself writes the verifier's Reader assignments there: one email per deployment.
param location string
param tags object
param applicationInsightsId string
param actionGroupName string
@description('Who is told when a run fails or never happens.')
param alertEmail string
@description('Resource ids of the production resource groups in this subscription (the Activity Log alert\'s scopes).')
param productionGroupIds array

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'bkverifier'
    enabled: true
    emailReceivers: [
      {
        name: 'backup-owner'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource runFailed 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'backup-verifier-run-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Backup verification run failed'
    description: 'A verification run ended fail or error, its journal write failed, or the monthly run could not start. Open the run in the journal (GET /api/journal/{run_id}).'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    // why: the window is twice the frequency (a line ingested late is still seen) and the repeat
    // within the same window is muted (one email per run, not two)
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    muteActionsDuration: 'PT30M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: '''
traces
| where message matches regex @"^run \S+ (finished: (fail|error)\b|not recorded in the journal)"
    or message startswith "monthly verification not run"
| extend run_id = coalesce(extract(@"run (\d{8}T\d{6}Z-[0-9a-f]{6})", 1, message), "none")
| project timestamp, run_id, message
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'run_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource drillFailed 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'backup-verifier-drill-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Restore drill failed or not started'
    description: 'A restore drill ended failed, the monthly run could not start a due drill, or the drill timer could not work. See `python -m checks drill status` or the drill run in the journal.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    muteActionsDuration: 'PT30M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: '''
traces
| where message matches regex @"^restore drill \S+ failed: "
    or message startswith "monthly restore drill not started"
    or message startswith "restore drill timer"
| extend drill_id = coalesce(extract(@"^restore drill (\d{8}T\d{6}Z-[0-9a-f]{6})", 1, message), "none")
| project timestamp, drill_id, message
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'drill_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource failedInvocations 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'backup-verifier-failed-invocations'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Backup verifier function invocation failed'
    description: 'A function invocation failed (requests success = false) or an exception was logged: a crash the app could not turn into a result. Open the exception in Application Insights.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    muteActionsDuration: 'PT1H'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: '''
union
  (requests | where success == false | project timestamp, operation_Name, problem = strcat("invocation failed: ", resultCode)),
  (exceptions | project timestamp, operation_Name, problem = strcat(type, ": ", outerMessage))
| extend operation_Name = coalesce(operation_Name, "none")
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'operation_Name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource fleetPoisoned 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'backup-verifier-fleet-target-not-verified'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Fleet target not verified this month'
    description: 'A target\'s monthly run failed on every delivery of its queue message and was moved to the poison queue (its month shows a fleet.delivery error), or a fleet message could not be used. Read the failures of fleet_target_run, fix, then POST /api/verify {"targets": ["<name>"]}.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    // why: as for run failed: a line ingested late is still seen, one email per target and window
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    muteActionsDuration: 'PT30M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: '''
traces
| where message matches regex @"^target \S+ not verified this month \(\d{4}-\d{2}\): message poisoned after \d+ attempts"
    or message startswith "fleet message dropped"
    or message startswith "fleet poison message"
| extend target = coalesce(extract(@"^target (\S+) not verified", 1, message), "unknown")
| project timestamp, target, message
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'target'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource deadMan 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'backup-verifier-no-run-32-days'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'No backup verification run completed in 32 days'
    description: 'Dead man: the daily heartbeat says a target\'s newest full timer run in the journal is older than 32 days (or the journal is unreadable), or no heartbeat arrived in 2 days. Check the timer, then run POST /api/verify.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT6H'
    windowSize: 'P2D'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: '''
let beats = traces | where message startswith "verifier heartbeat:"
    | extend target = coalesce(extract(@"\(target ([a-z0-9-]+)\)$", 1, message), "all");
union
  (beats | summarize arg_max(timestamp, message) by target | where isnotempty(message) and message !startswith "verifier heartbeat: ok"),
  (print timestamp = now(), message = "no verifier heartbeat in 2 days" | where toscalar(beats | count) == 0)
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource drillOverdue 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'backup-verifier-no-successful-drill'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'No successful restore drill for DRILL_MAX_AGE_MONTHS'
    description: 'The daily heartbeat says a target has had no successful restore drill for DRILL_MAX_AGE_MONTHS months (or never had one). Start one: POST /api/drill or python -m checks drill start.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    // why: the line comes once a day: a 1-day window read every 6 hours sees it even late; one email a day per target
    evaluationFrequency: 'PT6H'
    windowSize: 'P1D'
    muteActionsDuration: 'P1D'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: '''
traces
| where message startswith "verifier drill age: overdue"
| extend target = coalesce(extract(@"\(target ([a-z0-9-]+)\)$", 1, message), "unknown")
| project timestamp, target, message
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'target'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// Activity Log operations that take production's protection away or production itself: each one is
// either a mistake or an attack, and none of them is something the verifier ever does.
var tamperOperations = [
  'Microsoft.DBforPostgreSQL/flexibleServers/delete'
  'Microsoft.Authorization/locks/delete'
  'Microsoft.Authorization/roleAssignments/write'
  'Microsoft.Authorization/roleAssignments/delete'
]

resource productionTampered 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: 'backup-verifier-production-tampered'
  location: 'global'
  tags: tags
  properties: {
    description: 'In a production resource group: a PostgreSQL server was deleted, a lock removed, or a role assignment written or deleted. Open the Activity Log entry: who did it, and was it planned?'
    enabled: true
    scopes: productionGroupIds
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'Administrative'
        }
        {
          anyOf: [for operation in tamperOperations: {
            field: 'operationName'
            equals: operation
          }]
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
