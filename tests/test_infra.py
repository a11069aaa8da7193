"""Static validation of the deployment (no Azure CLI / Bicep CLI here): infra/*.bicep parsed with
pycep-parser, the app settings against checks.config.VARIABLES, the role assignments, the alerts,
the security posture, and checkov on infra/.

checkov conflicts with the test dependencies (it pins packaging<24, pytest 9 needs >=24), so
`make install` puts it in its own venv, .venv-infra (requirements-infra.txt), and the test runs it
as a subprocess. Without it the checkov test is SKIPPED locally, but FAILS when the CI environment
variable is set (CI must never pass without the scan).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pycep import BicepParser

from checks.engine.config import VARIABLES
from checks.journal.lease import LOCK_CONTAINER

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"

# Azure built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles)
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
BROAD_ROLES = {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner", "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
               "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
               "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator"}


def parse(name: str) -> dict:
    return BicepParser().parse(file_path=INFRA / name)


def body(resource: dict) -> dict:
    """A resource's object, under the loop/condition wrapper when there is one."""
    config = resource["config"]
    return config["config"] if ("condition" in config or "loop_type" in config) and "config" in config else config


def variable(doc: dict, name: str):
    return doc.get("variables", {}).get(name, {}).get("value")


def resources_of(doc: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in doc["resources"].items() if v["type"] == type_}


def all_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


# --- structure ---------------------------------------------------------------------------------------------

def test_every_bicep_file_parses_and_main_wires_every_module():
    files = all_files()
    assert {p.relative_to(INFRA).as_posix() for p in files} >= {
        "main.bicep", "modules/functionapp.bicep", "modules/storage.bicep", "modules/alerts.bicep",
        "modules/target-postgres.bicep", "modules/target-storage.bicep", "modules/monitoring.bicep",
        "modules/identity.bicep"}
    for path in files:
        assert parse(path.relative_to(INFRA).as_posix())["resources"], path
    main = parse("main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    used = {m["detail"]["path"] for m in main["modules"].values()}
    assert used == {p.relative_to(INFRA).as_posix() for p in files if p.parent.name == "modules"}


def test_existing_targets_are_parameters_and_cross_resource_group_modules():
    main = parse("main.bicep")
    params = main["parameters"]
    for name in ("pgServerName", "pgResourceGroup", "storageAccountName", "storageResourceGroup",
                 "blobContainers", "alertEmail"):
        assert name in params, name
        assert params[name].get("default") is None or name == "blobContainers", name
    scopes = {k: m["config"]["scope"] for k, m in main["modules"].items()}
    assert scopes["pgAccess"]["function"]["parameters"]["resource_group_name"] == "pgResourceGroup"
    assert scopes["storageAccess"]["function"]["parameters"]["resource_group_name"] == "storageResourceGroup"
    # the targets are referenced, never created: `existing` in their modules
    pg = parse("modules/target-postgres.bicep")
    assert pg["resources"]["server"]["existing"] is True
    st = parse("modules/target-storage.bicep")
    assert st["resources"]["account"]["existing"] is True
    assert st["resources"]["containers"]["existing"] is True
    # nothing anywhere creates a PostgreSQL server
    for path in all_files():
        for res in parse(path.relative_to(INFRA).as_posix())["resources"].values():
            if res["type"].startswith("Microsoft.DBforPostgreSQL"):
                assert res["existing"], path


def test_flex_consumption_python_311_with_identity_based_deployment_storage():
    fa = parse("modules/functionapp.bicep")
    plan = body(fa["resources"]["plan"])
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"} and plan["properties"]["reserved"] is True
    site = fa["resources"]["functionApp"]
    props = body(site)["properties"]
    assert body(site)["kind"] == "functionapp,linux"
    assert body(site)["identity"]["type"] == "UserAssigned"
    cfg = props["functionAppConfig"]
    assert cfg["runtime"] == {"name": "python", "version": "3.11"}
    assert cfg["deployment"]["storage"]["type"] == "blobContainer"
    assert cfg["deployment"]["storage"]["authentication"] == {
        "type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}
    assert set(cfg["scaleAndConcurrency"]) == {"maximumInstanceCount", "instanceMemoryMB"}


# --- app settings ------------------------------------------------------------------------------------------

def app_settings() -> dict[str, object]:
    fa = parse("modules/functionapp.bicep")
    items = body(fa["resources"]["functionApp"])["properties"]["siteConfig"]["appSettings"]
    names = [i["name"] for i in items]
    assert len(names) == len(set(names)), "duplicate app setting"
    return {i["name"]: i["value"] for i in items}


def test_app_settings_are_exactly_the_configuration_variables_plus_platform_settings():
    settings = app_settings()
    config_names = {var.name for _, var in VARIABLES}
    # AzureWebJobsStorage (a connection string, i.e. a key) is replaced by its identity-based form
    assert "AzureWebJobsStorage" not in settings
    assert config_names - {"AzureWebJobsStorage"} <= set(settings), \
        f"missing app settings: {sorted(config_names - {'AzureWebJobsStorage'} - set(settings))}"
    platform = {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
                "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
                "AZURE_CLIENT_ID", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE"}
    assert set(settings) - config_names == platform
    # the same names as the local sample (minus what is local-only)
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    local_only = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "PGPASSWORD"}
    assert set(sample) - local_only <= set(settings)


def test_app_settings_values_point_at_the_identity_and_the_journal_table_endpoint():
    s = app_settings()
    assert s["AzureWebJobsStorage__credential"] == "managedidentity"
    assert s["JOURNAL_ACCOUNT_URL"] == "journalTableEndpoint"
    main = parse("main.bicep")
    assert main["modules"]["app"]["config"]["params"]["journalTableEndpoint"]["operator"]["operands"][
        "operand_2"]["operator"]["operands"]["operand_2"] == "journalTableEndpoint"
    st = parse("modules/storage.bicep")
    out = st["outputs"]["journalTableEndpoint"]["value"]
    assert json.dumps(out).count("journalAccount") == 1 and '"table"' in json.dumps(out)
    assert s["PG_AUTH"] == "entra" and s["PGUSER"] == "identityName" and s["PGSSLMODE"] == "require"
    assert s["DATABASE_URL"] == "" and s["BLOB_CONNECTION_STRING"] == ""  # no secrets in settings
    assert "PGPASSWORD" not in s
    assert s["RESTORE_DRILL_ENABLED"]["operator"]["type"] == "conditional"


def test_literal_setting_values_parse_to_the_configuration_defaults():
    """A literal in the template must be what checks/engine/config.py would use anyway (no silent drift)."""
    s = app_settings()
    fa = parse("modules/functionapp.bicep")
    params = set(fa["parameters"])
    deliberate = {"PG_AUTH": "entra"}  # in Azure the database login is the managed identity
    for name, value in deliberate.items():
        assert s[name] == value
    checked = 0
    for _, var in VARIABLES:
        value = s.get(var.name)
        if var.name in deliberate:
            continue
        if not isinstance(value, str) or value in params or value == "" or var.default is None:
            continue
        assert var.parse(value) == var.default, var.name
        checked += 1
    assert checked >= 20


# --- role assignments --------------------------------------------------------------------------------------

def role_assignments() -> dict[tuple[str, str], dict]:
    """(file, name) -> {role, scope, scope_type, text_before, condition} for every role assignment."""
    found = {}
    for path in all_files():
        rel = path.relative_to(INFRA).as_posix()
        doc = parse(rel)
        lines = path.read_text().splitlines()
        for name, res in resources_of(doc, "Microsoft.Authorization/roleAssignments").items():
            props = body(res)["properties"]
            role_ref = props["roleDefinitionId"]
            if isinstance(role_ref, dict) and "function" in role_ref:
                role = variable(doc, role_ref["function"]["parameters"]["resource_name_1"])
            else:
                role = "custom:" + json.dumps(role_ref)
            scope = body(res).get("scope")
            if isinstance(scope, dict):  # containers[i]
                scope = scope["operator"]["operands"]["operand_1"]
            start = next(i for i, line in enumerate(lines) if line.startswith(f"resource {name} "))
            comment = []
            for line in reversed(lines[:start]):
                if not line.startswith("//"):
                    break
                comment.insert(0, line)
            found[(rel, name)] = {"role": role, "scope": scope,
                                  "scope_type": doc["resources"][scope]["type"] if scope else None,
                                  "scope_existing": doc["resources"][scope]["existing"] if scope else None,
                                  "comment": "\n".join(comment), "condition": res["config"].get("condition"),
                                  "principal": props["principalId"], "principal_type": props["principalType"]}
    return found


def test_role_assignments_are_exactly_the_least_privilege_set():
    got = {k: (v["role"], v["scope_type"]) for k, v in role_assignments().items()}
    container = "Microsoft.Storage/storageAccounts/blobServices/containers"
    assert got == {
        ("modules/target-postgres.bicep", "serverReader"): (READER, "Microsoft.DBforPostgreSQL/flexibleServers"),
        ("modules/target-postgres.bicep", "drillAssignment"):
            ('custom:{"operator": {"type": "property_accessor", "operands": {"operand_1": "drillRole", "operand_2": "id"}}}',
             None),
        ("modules/target-storage.bicep", "accountReader"): (READER, "Microsoft.Storage/storageAccounts"),
        ("modules/target-storage.bicep", "containerReaders"): (BLOB_DATA_READER, container),
        ("modules/target-storage.bicep", "canaryContributor"): (BLOB_DATA_CONTRIBUTOR, container),
        ("modules/functionapp.bicep", "hostBlobOwner"): (BLOB_DATA_OWNER, "Microsoft.Storage/storageAccounts"),
        ("modules/functionapp.bicep", "journalTableContributor"): (TABLE_DATA_CONTRIBUTOR, "Microsoft.Storage/storageAccounts"),
        ("modules/functionapp.bicep", "lockBlobContributor"): (BLOB_DATA_CONTRIBUTOR, container),
        ("modules/functionapp.bicep", "telemetryPublisher"): (METRICS_PUBLISHER, "Microsoft.Insights/components"),
    }


def test_each_role_assignment_says_why_and_targets_the_identity_only():
    for key, ra in role_assignments().items():
        assert re.search(r"^// why: \S.{20,}", ra["comment"], re.M), f"{key}: no '// why:' comment"
        assert ra["principal"] == "identityPrincipalId" and ra["principal_type"] == "ServicePrincipal", key
        assert ra["role"] not in BROAD_ROLES, key


def test_write_rights_are_scoped_to_the_canary_and_lock_containers_and_the_journal():
    ras = role_assignments()
    # the checked containers are read-only; the canary container is the only written one there
    st = parse("modules/target-storage.bicep")
    assert body(st["resources"]["containers"])["name"] == "name"
    assert st["resources"]["containers"]["config"]["loop_type"]["detail"]["array_name"] == "readContainers"
    assert ras[("modules/target-storage.bicep", "canaryContributor")]["scope"] == "canary"
    assert body(st["resources"]["canary"])["name"] == "canaryContainer"
    assert body(st["resources"]["canary"])["properties"]["publicAccess"] == "None"
    # the lease container: `verifier-locks`, the name checks/journal/lease.py uses
    storage = parse("modules/storage.bicep")
    assert storage["parameters"]["lockContainerName"]["default"] == LOCK_CONTAINER == "verifier-locks"
    assert body(storage["resources"]["lockContainer"])["parent"] == "journalBlobService"
    assert body(storage["resources"]["journalBlobService"])["parent"] == "journalAccount"
    # the journal table lives in the journal account (the Table Data Contributor's scope)
    assert body(storage["resources"]["journalTableService"])["parent"] == "journalAccount"


def test_restore_drill_custom_role_is_off_by_default_and_limited_to_flexible_servers_in_one_group():
    assert parse("main.bicep")["parameters"]["restoreDrillEnabled"]["default"] is False
    pg = parse("modules/target-postgres.bicep")
    assert pg["parameters"]["restoreDrillEnabled"]["default"] is False
    role = pg["resources"]["drillRole"]
    assert role["config"]["condition"] == "restoreDrillEnabled"
    assert pg["resources"]["drillAssignment"]["config"]["condition"] == "restoreDrillEnabled"
    props = body(role)["properties"]
    assert props["type"] == "CustomRole"
    assert props["permissions"] == [{"actions": ["Microsoft.DBforPostgreSQL/flexibleServers/read",
                                                 "Microsoft.DBforPostgreSQL/flexibleServers/write",
                                                 "Microsoft.DBforPostgreSQL/flexibleServers/delete"],
                                     "notActions": [], "dataActions": [], "notDataActions": []}]
    (scope,) = props["assignableScopes"]
    assert scope["operator"]["operands"]["operand_1"]["function"]["type"] == "resource_group"
    assert scope["operator"]["operands"]["operand_2"] == "id"
    # the assignment has no explicit scope: the module's resource group, i.e. pgResourceGroup
    assert "scope" not in body(pg["resources"]["drillAssignment"])


# --- security posture --------------------------------------------------------------------------------------

def test_function_app_https_tls12_no_ftp_no_basic_publishing_function_keys():
    fa = parse("modules/functionapp.bicep")
    props = body(fa["resources"]["functionApp"])["properties"]
    assert props["httpsOnly"] is True
    site = props["siteConfig"]
    assert site["minTlsVersion"] == "1.2" and site["scmMinTlsVersion"] == "1.2"
    assert site["ftpsState"] == "Disabled"
    policies = resources_of(fa, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {body(p)["name"]: body(p)["properties"]["allow"] for p in policies.values()} == {"ftp": False, "scm": False}
    assert all(body(p)["parent"] == "functionApp" for p in policies.values())
    # function-level keys: the HTTP routes inherit the app's auth level and none overrides it
    source = (ROOT / "function_app.py").read_text()
    assert "http_auth_level=func.AuthLevel.FUNCTION" in source
    assert "AuthLevel.ANONYMOUS" not in source and "auth_level=" not in source.replace("http_auth_level=", "")


def test_storage_accounts_identity_only_tls12_no_public_blobs():
    storage = parse("modules/storage.bicep")
    accounts = resources_of(storage, "Microsoft.Storage/storageAccounts")
    assert set(accounts) == {"hostAccount", "journalAccount"}
    for name, account in accounts.items():
        props = body(account)["properties"]
        assert props["supportsHttpsTrafficOnly"] is True, name
        assert props["minimumTlsVersion"] == "TLS1_2", name
        assert props["allowBlobPublicAccess"] is False, name
        assert props["allowSharedKeyAccess"] is False, name
    for name, container in resources_of(storage, "Microsoft.Storage/storageAccounts/blobServices/containers").items():
        assert body(container)["properties"]["publicAccess"] == "None", name
    monitoring = parse("modules/monitoring.bicep")
    assert body(monitoring["resources"]["appInsights"])["properties"]["DisableLocalAuth"] is True


# --- alerts ------------------------------------------------------------------------------------------------

def alerts() -> dict:
    return parse("modules/alerts.bicep")


def kql_regexes(query: str) -> list[str]:
    return re.findall(r'matches regex @"([^"]+)"', query)


def test_both_alerts_go_to_the_email_action_group():
    doc = alerts()
    group = body(doc["resources"]["actionGroup"])
    assert group["properties"]["emailReceivers"][0]["emailAddress"] == "alertEmail"
    assert doc["parameters"]["alertEmail"].get("default") is None
    rules = resources_of(doc, "Microsoft.Insights/scheduledQueryRules")
    assert set(rules) == {"runFailed", "deadMan"}
    for name, rule in rules.items():
        props = body(rule)["properties"]
        assert props["enabled"] is True and props["scopes"] == ["applicationInsightsId"], name
        assert props["actions"]["actionGroups"] == [
            {"operator": {"type": "property_accessor", "operands": {"operand_1": "actionGroup", "operand_2": "id"}}}], name
        (criterion,) = props["criteria"]["allOf"]
        assert (criterion["operator"], criterion["threshold"], criterion["timeAggregation"]) == ("GreaterThan", 0, "Count")


def test_run_failed_alert_matches_the_services_real_log_line_for_fail_and_error_only(monkeypatch, caplog):
    from checks import service
    from checks.engine.config import Settings
    from checks.engine.model import CheckResult, Run, Severity, Status

    props = body(alerts()["resources"]["runFailed"])["properties"]
    query = props["criteria"]["allOf"][0]["query"]
    assert query.lstrip().startswith("traces")
    (pattern,) = kql_regexes(query)
    assert props["evaluationFrequency"] == props["windowSize"] == "PT15M"  # every line is seen exactly once

    def finished_line(status: Status) -> str:
        started = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
        run = Run(run_id="20261101T060000Z-abc123", trigger="timer", started_at=started, finished_at=started,
                  results=[CheckResult("x.y", "t", status, Severity.HIGH, "s", {}, "r", started, 1)])
        monkeypatch.setattr(service, "run_checks", lambda *a, **k: run)
        monkeypatch.setattr(service, "select", lambda *a, **k: [])
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="checks.service"):
            service.verify(service.RunRequest(trigger="timer", write_journal=False), Settings())
        (line,) = [r.getMessage() for r in caplog.records if r.name == "checks.service" and "finished" in r.getMessage()]
        return line

    lines = {s: finished_line(s) for s in Status}
    assert lines[Status.FAIL].startswith("run 20261101T060000Z-abc123 finished: fail")
    fired = {s for s, line in lines.items() if re.search(pattern, line)}
    assert fired == {Status.FAIL, Status.ERROR}
    run_id = re.search(r'extract\(@"([^"]+)", 1, message\)', query).group(1)
    assert re.search(run_id, lines[Status.ERROR]).group(1) == "20261101T060000Z-abc123"
    # the other two failure lines the query watches are the real messages of the app
    service_src = (ROOT / "checks" / "service.py").read_text()
    http_src = (ROOT / "checks" / "http_api.py").read_text()
    not_recorded = "run 20261101T060000Z-abc123 not recorded in the journal (failed: x); full run follows: {}"
    assert '"run %s not recorded in the journal (%s); full run follows: %s"' in service_src
    assert re.search(pattern, not_recorded)
    assert '"monthly verification not run: %s"' in http_src and 'startswith "monthly verification not run"' in query


def test_dead_man_alert_reads_the_daily_heartbeat_with_a_32_day_threshold(caplog):
    from checks import heartbeat

    props = body(alerts()["resources"]["deadMan"])["properties"]
    query = props["criteria"]["allOf"][0]["query"]
    assert props["windowSize"] == "P2D"  # the longest a log search alert may read
    assert "32 days" in props["displayName"] and heartbeat.DEAD_MAN_DAYS == 32
    assert f'startswith "{heartbeat.PREFIX}"' in query
    assert f'!startswith "{heartbeat.PREFIX} ok"' in query
    assert "no verifier heartbeat in 2 days" in query and "toscalar(beats | count) == 0" in query
    # the timer that writes it runs daily, on the schedule the app setting gives
    source = (ROOT / "function_app.py").read_text()
    assert re.search(r'schedule="%HEARTBEAT_SCHEDULE%".*\n(.*\n){0,3}.*heartbeat\.run_daily\(\)', source)
    assert re.fullmatch(r"0 \d+ \d+ \* \* \*", app_settings()["HEARTBEAT_SCHEDULE"])


# --- checkov -----------------------------------------------------------------------------------------------

def checkov_binary() -> str | None:
    local = ROOT / ".venv-infra" / "bin" / "checkov"
    return str(local) if local.exists() else shutil.which("checkov")


def test_checkov_reports_no_failed_check_and_every_suppression_is_justified():
    binary = checkov_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("checkov not installed (make install creates .venv-infra); CI must run the scan")
        pytest.skip("checkov not installed: run `make install` (creates .venv-infra)")
    proc = subprocess.run([binary, "-d", str(INFRA), "--framework", "bicep", "--skip-download", "-o", "json"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0, report["results"].get("parsing_errors")
    assert summary["passed"] >= 20 and summary["resource_count"] >= 30  # it really scanned the template
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"]["suppress_comment"]) >= 20, skipped["check_id"]
    # suppressions are Bicep comments (`//`), so the template still compiles
    for path in all_files():
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                assert re.match(r"\s*// checkov:skip=CKV2?_AZURE_\d+:.{20,}", line), line
