// Alerts to an action group (email):
//  - run failed: a run that ends `fail` or `error` (checks/service.py logs
//    "run <id> finished: <status> (...)" on logger checks.service → App Insights `traces`), a run
//    not recorded in the journal ("run <id> not recorded in the journal ..."), or a monthly run
//    refused by a configuration error ("monthly verification not run: ...", checks/http_api.py);
//  - dead man: no run completed in 32 days. A log search alert reads at most 2 days of data, so
//    the app logs a daily heartbeat with the age of the last completed run from the journal
//    (checks/heartbeat.py, "verifier heartbeat: ok|overdue|unknown ..."); the alert fires when the
//    newest heartbeat is not `ok` or when no heartbeat arrived in 2 days (the app itself is down).
param location string
param tags object
param applicationInsightsId string
param actionGroupName string
@description('Who is told when a run fails or never happens.')
param alertEmail string

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
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
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

resource deadMan 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'backup-verifier-no-run-32-days'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'No backup verification run completed in 32 days'
    description: 'Dead man: the daily heartbeat says the newest completed run in the journal is older than 32 days (or the journal is unreadable), or no heartbeat arrived in 2 days. Run POST /api/verify and check the timer.'
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
let beats = traces | where message startswith "verifier heartbeat:";
union
  (beats | summarize arg_max(timestamp, message) | where isnotempty(message) and message !startswith "verifier heartbeat: ok"),
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

output actionGroupId string = actionGroup.id
