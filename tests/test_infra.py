"""Static validation of the deployment (no Azure CLI / Bicep CLI here): infra/*.bicep parsed with
pycep-parser, the app settings against checks.config.VARIABLES, the role assignments, the alerts,
the security posture, and checkov on infra/.

checkov conflicts with the test dependencies (it pins packaging<24, pytest 9 needs >=24), so
`make install` puts it in its own venv, .venv-infra (requirements-infra.txt), and the test runs it
as a subprocess. Without it the checkov test is SKIPPED locally, but FAILS when the CI environment
variable is set (CI must never pass without the scan).
"""
from __future__ import annotations

import copy
import functools
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
from docs_text import page, section
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
QUEUE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
QUEUE_PROCESSOR = "8a0f0c08-91a1-4084-bc3d-661d67233fed"
QUEUE_READER = "19e7f393-937e-4f77-808e-94535e297925"
BROAD_ROLES = {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner", "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
               "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
               "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator"}


def parse(name: str) -> dict:
    return copy.deepcopy(_parse(name))


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> dict:  # pycep takes ~1 s per file: parse each file once per session
    return BicepParser().parse(file_path=INFRA / name)


def body(resource: dict) -> dict:
    """A resource's object, under the loop/condition wrapper when there is one."""
    config = resource["config"]
    return config["config"] if ("condition" in config or "loop_type" in config) and "config" in config else config


def variable(doc: dict, name: str):
    return doc.get("variables", {}).get(name, {}).get("value")


def resources_of(doc: dict, type_: str) -> dict[str, dict]:
    return {k: v for k, v in doc.get("resources", {}).items() if v["type"] == type_}


def all_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


# --- structure ---------------------------------------------------------------------------------------------

def test_every_bicep_file_parses_and_main_wires_every_module():
    files = all_files()
    assert {p.relative_to(INFRA).as_posix() for p in files} >= {
        "main.bicep", "modules/functionapp.bicep", "modules/storage.bicep", "modules/alerts.bicep",
        "modules/target-postgres.bicep", "modules/target-storage.bicep", "modules/monitoring.bicep",
        "modules/identity.bicep", "modules/drill.bicep", "modules/drill-network-join.bicep",
        "modules/network.bicep", "modules/pg-dns-link.bicep"}
    for path in files:
        # auth-guard.bicep only validates AUTH_CLIENT_ID (docs/security.md): nothing to create
        assert parse(path.relative_to(INFRA).as_posix()).get("resources") or path.name == "auth-guard.bicep", path
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
    scopes = {k: body(m)["scope"] for k, m in main["modules"].items()}
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
        for res in parse(path.relative_to(INFRA).as_posix()).get("resources", {}).values():
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
    # (so is FleetQueue, the fleet queue's local connection string: FleetQueue__queueServiceUri in Azure)
    keyed = {"AzureWebJobsStorage", "FleetQueue"}
    assert not keyed & set(settings)
    assert config_names - keyed <= set(settings), f"missing app settings: {sorted(config_names - keyed - set(settings))}"
    platform = {"AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
                "FleetQueue__credential", "FleetQueue__clientId",
                "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
                "AZURE_CLIENT_ID", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE",
                "AzureWebJobs.restore_drill_timer.Disabled"}
    assert set(settings) - config_names == platform
    # the same names as the local sample (minus what is local-only)
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    local_only = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "FleetQueue", "PGPASSWORD"}
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


def test_host_storage_settings_match_the_host_identitys_roles_and_urls_come_from_the_accounts():
    """Pins the old defect: AzureWebJobsStorage__accountName sent the host to queues/tables it has no role on."""
    s = app_settings()
    host = [k for k in s if k.startswith("AzureWebJobsStorage__")]
    assert sorted(host) == ["AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__clientId",
                            "AzureWebJobsStorage__credential"]
    uri = json.dumps(s["AzureWebJobsStorage__blobServiceUri"])
    assert '"hostAccount"' in uri and '"primaryEndpoints"' in uri and '"blob"' in uri
    # ...and the only role of the identity on the host account is a blob data role
    host_roles = {v["role"] for (f, n), v in role_assignments().items() if v["scope"] == "hostAccount"}
    assert host_roles == {BLOB_DATA_OWNER}
    # BLOB_ACCOUNT_URL: the checked account's own primaryEndpoints.blob, not a hand-built URL
    assert s["BLOB_ACCOUNT_URL"] == "blobAccountUrl"
    main = parse("main.bicep")
    assert json.dumps(body(main["modules"]["app"])["params"]["blobAccountUrl"]).count("storageAccess") == 1
    out = json.dumps(parse("modules/target-storage.bicep")["outputs"]["blobEndpoint"]["value"])
    assert '"account"' in out and '"primaryEndpoints"' in out and '"blob"' in out
    assert "environment().suffixes" not in (INFRA / "modules" / "functionapp.bicep").read_text()


def test_azd_location_metadata_and_linter_rules_on():
    location = parse("main.bicep")["parameters"]["location"]
    assert {"type": "metadata", "argument": {"azd": {"type": "location"}}} in location["decorators"]
    config = json.loads((INFRA / "bicepconfig.json").read_text())["analyzers"]["core"]
    assert config["enabled"] is True
    levels = {name: rule["level"] for name, rule in config["rules"].items()}
    assert all(level in ("warning", "error") for level in levels.values())
    for rule in ("no-unused-params", "no-unused-vars", "no-hardcoded-env-urls", "outputs-should-not-contain-secrets",
                 "use-secure-value-for-secure-inputs", "no-hardcoded-location"):
        assert levels[rule] == "error", rule


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


def custom(role_symbol: str) -> str:
    """How role_assignments() names a custom role: the `id` of the role definition resource."""
    return "custom:" + json.dumps({"operator": {"type": "property_accessor",
                                                "operands": {"operand_1": role_symbol, "operand_2": "id"}}})


def test_role_assignments_are_exactly_the_least_privilege_set():
    got = {k: (v["role"], v["scope_type"]) for k, v in role_assignments().items()}
    container = "Microsoft.Storage/storageAccounts/blobServices/containers"
    queue = "Microsoft.Storage/storageAccounts/queueServices/queues"
    assert got == {
        ("modules/target-postgres.bicep", "serverReader"): (READER, "Microsoft.DBforPostgreSQL/flexibleServers"),
        # each resource group DISCOVER_TAG looks in (the default), or each whole subscription (discoverSubscriptionWide)
        ("modules/discovery-group.bicep", "discoveryReader"): (READER, None),
        ("modules/discovery.bicep", "discoveryReader"): (READER, None),
        ("modules/drill.bicep", "drillAssignment"): (custom("drillRole"), None),  # the drill resource group
        ("modules/drill-network-join.bicep", "subnetJoin"): (custom("joinRole"), "Microsoft.Network/virtualNetworks/subnets"),
        ("modules/drill-network-join.bicep", "zoneJoin"): (custom("joinRole"), "Microsoft.Network/privateDnsZones"),
        # a CMK source's user-assigned identity, one by one (PG_CMK_IDENTITY_IDS)
        ("modules/drill-identity-assign.bicep", "identityAssign"): (custom("assignRole"),
                                                                    "Microsoft.ManagedIdentity/userAssignedIdentities"),
        ("modules/target-storage.bicep", "accountReader"): (READER, "Microsoft.Storage/storageAccounts"),
        ("modules/target-storage.bicep", "containerReaders"): (BLOB_DATA_READER, container),
        ("modules/target-storage.bicep", "canaryContributor"): (BLOB_DATA_CONTRIBUTOR, container),
        ("modules/target-storage.bicep", "changeFeedReader"): (BLOB_DATA_READER, container),
        ("modules/functionapp.bicep", "hostBlobOwner"): (BLOB_DATA_OWNER, "Microsoft.Storage/storageAccounts"),
        ("modules/functionapp.bicep", "journalTableWriter"): (custom("journalTableRole"),
                                                              "Microsoft.Storage/storageAccounts/tableServices/tables"),
        ("modules/functionapp.bicep", "sealBlobContributor"): (BLOB_DATA_CONTRIBUTOR, container),  # write-once seals
        ("modules/functionapp.bicep", "lockBlobContributor"): (BLOB_DATA_CONTRIBUTOR, container),
        ("modules/functionapp.bicep", "telemetryPublisher"): (METRICS_PUBLISHER, "Microsoft.Insights/components"),
        ("modules/functionapp.bicep", "fleetQueueSender"): (QUEUE_SENDER, queue),
        ("modules/functionapp.bicep", "fleetQueueProcessor"): (QUEUE_PROCESSOR, queue),
        ("modules/functionapp.bicep", "fleetQueueReader"): (QUEUE_READER, queue),
        ("modules/functionapp.bicep", "poisonQueueSender"): (QUEUE_SENDER, queue),
        ("modules/functionapp.bicep", "poisonQueueProcessor"): (QUEUE_PROCESSOR, queue),
        ("modules/functionapp.bicep", "poisonQueueReader"): (QUEUE_READER, queue),
    }
    # queue rights only on the two fleet queues, never on an account
    scopes = {v["scope"] for k, v in role_assignments().items() if v["role"] in (QUEUE_SENDER, QUEUE_PROCESSOR, QUEUE_READER)}
    assert scopes == {"fleetQueue", "fleetPoisonQueue"}


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
    # the change feed: read-only, its own system container, only when the deployment says it is on
    feed = st["resources"]["changeFeedContainer"]
    assert feed["existing"] is True and body(feed)["name"] == "$blobchangefeed"
    assert st["resources"]["changeFeedReader"]["config"]["condition"] == "readChangeFeed"
    assert parse("main.bicep")["parameters"]["readBlobChangeFeed"]["default"] is False
    # the lease container: `verifier-locks`, the name checks/journal/lease.py uses
    storage = parse("modules/storage.bicep")
    assert storage["parameters"]["lockContainerName"]["default"] == LOCK_CONTAINER == "verifier-locks"
    assert body(storage["resources"]["lockContainer"])["parent"] == "journalBlobService"
    assert body(storage["resources"]["journalBlobService"])["parent"] == "journalAccount"
    # the journal table lives in the journal account (the Table Data Contributor's scope)
    assert body(storage["resources"]["journalTableService"])["parent"] == "journalAccount"


JOURNAL_TABLE_ACTIONS = ["Microsoft.Storage/storageAccounts/tableServices/tables/entities/read",
                         "Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action",
                         "Microsoft.Storage/storageAccounts/tableServices/tables/entities/write",
                         "Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action"]


def test_journal_role_is_scoped_to_the_journal_table_with_the_entity_rights_the_code_uses_and_no_delete():
    """Issue 28: the built-in Table Data Contributor on the account (delete, create/delete tables) is gone."""
    fa = parse("modules/functionapp.bicep")
    props = body(fa["resources"]["journalTableRole"])["properties"]
    assert props["type"] == "CustomRole" and props["permissions"] == [
        {"actions": [], "notActions": [], "dataActions": "journalTableDataActions", "notDataActions": []}]
    assert sorted(variable(fa, "journalTableDataActions")) == sorted(JOURNAL_TABLE_ACTIONS)
    assert "tables/entities/delete'" not in "".join(p.read_text() for p in all_files())  # granted nowhere in infra/
    # assigned on the journal table itself (the table of JOURNAL_TABLE, created by the deployment)
    ra = role_assignments()[("modules/functionapp.bicep", "journalTableWriter")]
    assert ra["scope"] == "journalTableResource" and ra["scope_existing"] is True
    table = body(fa["resources"]["journalTableResource"])
    assert table["name"] == "journalTable" and table["parent"] == "journalTableService"
    assert body(fa["resources"]["journalTableService"])["parent"] == "journalAccount"
    assert app_settings()["JOURNAL_TABLE"] == "journalTable"
    storage = parse("modules/storage.bicep")
    assert fa["resources"]["journalTableResource"]["existing"] is True
    assert body(storage["resources"]["journalTable"])["name"] == "journalTableName"
    assert storage["resources"]["journalTable"]["existing"] is False
    wired = json.dumps(body(parse("main.bicep")["modules"]["app"])["params"]["journalTable"])
    assert '"storage"' in wired and '"journalTableName"' in wired  # the table the storage module created


DRILL_ACTIONS = ["Microsoft.DBforPostgreSQL/flexibleServers/read", "Microsoft.DBforPostgreSQL/flexibleServers/write",
                 "Microsoft.DBforPostgreSQL/flexibleServers/delete",
                 "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read",
                 "Microsoft.DBforPostgreSQL/locations/operationResults/read",
                 "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules/read"]


def test_production_resource_group_gets_reader_only_and_an_optional_delete_lock():
    """Pins the old defect: the drill role with write/delete used to be assigned on production's group."""
    pg = parse("modules/target-postgres.bicep")
    assert set(pg["resources"]) == {"server", "serverReader", "productionLock"}
    assert not resources_of(pg, "Microsoft.Authorization/roleDefinitions")
    (only,) = [v for (f, _), v in role_assignments().items() if f == "modules/target-postgres.bicep"]
    assert only["role"] == READER and only["scope"] == "server"
    lock = pg["resources"]["productionLock"]
    assert lock["config"]["condition"] == "lockProductionServer" and pg["parameters"]["lockProductionServer"]["default"] is False
    assert parse("main.bicep")["parameters"]["lockProductionServer"]["default"] is True  # on unless said otherwise
    assert body(lock)["scope"] == "server" and body(lock)["properties"]["level"] == "CanNotDelete"
    main = parse("main.bicep")
    assert "restoreDrillEnabled" not in body(main["modules"]["pgAccess"])["params"]
    assert body(main["modules"]["pgAccess"])["params"]["lockProductionServer"] == "lockProductionServer"


def test_restore_drill_role_lives_in_its_own_resource_group_with_create_poll_delete_only():
    """Pins the old defect: no async-operation read (every drill 403'd while polling), role name per RG name."""
    main = parse("main.bicep")
    assert main["parameters"]["restoreDrillEnabled"]["default"] is False
    rg = main["resources"]["drillRg"]
    assert rg["config"]["condition"] == "restoreDrillEnabled" and body(rg)["name"] == "drillResourceGroupName"
    module = main["modules"]["drill"]
    assert module["config"]["condition"] == "restoreDrillEnabled"
    assert body(module)["scope"]["function"]["parameters"]["resource_group_name"] == "drillResourceGroupName"
    assert body(module)["dependsOn"] == ["drillRg"]
    default = json.dumps(main["variables"]["drillGroupRequested"]["value"])  # drillResourceGroupName: its guard
    assert "restoreDrillResourceGroup" in default and "-drills" in default
    drill = parse("modules/drill.bicep")
    props = body(drill["resources"]["drillRole"])["properties"]
    assert props["type"] == "CustomRole" and props["permissions"] == [
        {"actions": "drillActions", "notActions": [], "dataActions": [], "notDataActions": []}]
    assert variable(drill, "drillActions") == DRILL_ACTIONS
    (scope,) = props["assignableScopes"]
    assert scope["operator"]["operands"]["operand_1"]["function"]["type"] == "resource_group"
    assert "scope" not in body(drill["resources"]["drillAssignment"])  # the module's group: the drill RG
    # unique per tenant: the role name carries the subscription, the definition id hashes it too
    assert "${subscription().subscriptionId}/${resourceGroup().name}" in props["roleName"]
    name = body(drill["resources"]["drillRole"])["name"]["function"]["parameters"]
    assert name["base_string"]["operator"]["operands"]["operand_1"]["function"]["type"] == "subscription"
    # the app gets the drill group in its settings, and only when the drill is on
    params = body(main["modules"]["app"])["params"]
    assert params["restoreDrillResourceGroup"]["operator"]["operands"]["true_value"] == "drillResourceGroupName"
    assert app_settings()["RESTORE_DRILL_RESOURCE_GROUP"] == "restoreDrillResourceGroup"


def test_subnet_and_dns_joins_only_for_a_vnet_integrated_source():
    main = parse("main.bicep")
    for module, param, ids in (("drillSubnetJoin", "pgSubnetId", "drillSubnetIds"),
                               ("drillDnsJoin", "pgPrivateDnsZoneId", "drillDnsZoneIds")):
        m = main["modules"][module]
        assert main["parameters"][param]["default"] == ""
        # one module per listed id (tests/test_infra_guards.py evaluates the lists), only with the drill
        assert m["config"]["loop_type"]["detail"] == {"item_name": "id", "array_name": ids}
        assert '"restoreDrillEnabled"' in json.dumps(main["variables"][ids]["value"])
        assert {"type": "batchSize", "argument": 1} in m["decorators"]  # one join role per group, written once at a time
        rg = body(m)["scope"]["function"]["parameters"]["resource_group_name"]["operator"]
        assert rg["operands"]["operand_2"] == 4 and rg["operands"]["operand_1"]["function"]["parameters"][
            "input_string"] == "id"  # the group named in the id: /subscriptions/s/resourceGroups/<rg>/...
        sub = body(m)["scope"]["function"]["parameters"]["subscription_id"]["operator"]  # and its subscription (a hub)
        assert sub["operands"]["operand_2"] == 2 and sub["operands"]["operand_1"]["function"]["parameters"][
            "input_string"] == "id"
    join = parse("modules/drill-network-join.bicep")
    actions = body(join["resources"]["joinRole"])["properties"]["permissions"][0]["actions"]["function"]["parameters"]
    assert actions["arg_1"]["operator"]["operands"]["true_value"] == ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    assert actions["arg_2"]["operator"]["operands"]["true_value"] == ["Microsoft.Network/privateDnsZones/join/action"]
    assert join["resources"]["subnetJoin"]["config"]["condition"] == "joinSubnet"
    assert join["resources"]["zoneJoin"]["config"]["condition"] == "joinZone"


def test_cmk_identity_assign_only_with_the_drill_and_only_the_assign_action_on_each_identity():
    """Issue 28 item 4: a CMK source's restore gives the restored server the source's user-assigned
    identities; the drill may assign each listed identity (PG_CMK_IDENTITY_IDS), nothing else."""
    main = parse("main.bicep")
    assert main["parameters"]["pgCmkIdentityIds"]["default"] == ""
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["pgCmkIdentityIds"]["value"] == "${PG_CMK_IDENTITY_IDS=}"
    ids = json.dumps(main["variables"]["cmkIdentityIds"]["value"])
    assert '"restoreDrillEnabled"' in ids and "pgCmkIdentityIds" in ids  # none without the drill
    module = main["modules"]["drillIdentityAssign"]
    assert module["config"]["loop_type"]["detail"]["array_name"] == "cmkIdentityIds"  # one module per identity
    scope = json.dumps(module["config"]["config"]["scope"])  # in the identity's own group and subscription
    assert scope.count('"string_to_trim": "id"') == 2 and '"operand_2": 4' in scope and '"operand_2": 2' in scope
    assign = parse("modules/drill-identity-assign.bicep")
    (perm,) = body(assign["resources"]["assignRole"])["properties"]["permissions"]
    assert perm["actions"] == ["Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"]
    assert perm["dataActions"] == [] and perm["notActions"] == []
    assert body(assign["resources"]["identityAssign"])["scope"] == "userIdentity"
    assert assign["resources"]["userIdentity"]["existing"] is True


def test_drill_timer_is_disabled_by_app_setting_when_drills_are_off():
    setting = app_settings()["AzureWebJobs.restore_drill_timer.Disabled"]["operator"]
    assert setting["operands"] == {"condition": "restoreDrillEnabled", "true_value": "false", "false_value": "true"}
    source = (ROOT / "function_app.py").read_text()  # the setting names the real function
    assert re.search(r'schedule="%RESTORE_DRILL_SCHEDULE%".*\n\s*def restore_drill_timer\(', source)


# --- networks ----------------------------------------------------------------------------------------------

class BicepFail(Exception):
    """The deployment fails at template validation with this text: fail(text), or int(text) of a text that is
    no number (ARM: "cannot convert provided value '<text>' to integer value")."""


def evaluate(expr, scope: dict):
    """Evaluate a pycep expression tree with `scope` (parameter and variable values by name; a variable's value
    is its own tree, evaluated when used). Enough of Bicep for the guards: ?:, !, &&, ||, empty, concat, int, bool,
    fail, property access; pycep gives names and string literals alike, so a string naming nothing is a literal."""
    if isinstance(expr, str):
        return evaluate(scope[expr], scope) if expr in scope else expr
    if isinstance(expr, list):
        return [evaluate(e, scope) for e in expr]
    if not isinstance(expr, dict):
        return expr
    if "operator" not in expr and "function" not in expr:  # an object
        return {key: evaluate(value, scope) for key, value in expr.items()}
    if "operator" in expr:
        kind, ops = expr["operator"]["type"], expr["operator"]["operands"]
        if kind == "conditional":
            return evaluate(ops["true_value" if evaluate(ops["condition"], scope) else "false_value"], scope)
        if kind == "not":
            return not evaluate(ops["bool_value"], scope)
        if kind in ("and", "or"):
            first = evaluate(ops["operand_1"], scope)
            return (first and evaluate(ops["operand_2"], scope)) if kind == "and" else (first or evaluate(ops["operand_2"], scope))
        if kind == "property_accessor":
            return evaluate(ops["operand_1"], scope)[ops["operand_2"]]
        raise NotImplementedError(kind)
    function, args = expr["function"]["type"], list(expr["function"]["parameters"].values())
    if function == "fail":
        raise BicepFail(evaluate(args[0], scope))
    values = [evaluate(a, scope) for a in args]
    if function == "empty":
        return not values[0]
    if function == "concat":
        return [item for value in values for item in value]
    if function == "int":
        if not str(values[0]).lstrip("-").isdigit():
            raise BicepFail(values[0])
        return int(values[0])
    if function == "bool":
        return bool(values[0])
    raise NotImplementedError(function)


def main_scope(**params) -> dict:
    """main.bicep's variables (as trees) and its parameters: the defaults, overridden by `params`."""
    main = parse("main.bicep")
    values = {name: p.get("default") for name, p in main["parameters"].items()}
    return {**{k: v["value"] for k, v in main["variables"].items()}, **values, **params}


APP_SUBNET = "/subscriptions/s/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-app"
PE_SUBNET = "/subscriptions/s/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-pe"


def test_private_mode_is_the_default_and_a_missing_subnet_fails_the_deployment():
    """Issue 28 item 3: a health-data deployment is private unless PUBLIC_MODE=true; VNet integration and
    private endpoints come together, and a deployment missing either subnet fails (Bicep fail())."""
    main = parse("main.bicep")
    assert main["parameters"]["publicMode"]["default"] is False
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["publicMode"]["value"] == "${PUBLIC_MODE=false}"
    for given in ({}, {"appSubnetId": APP_SUBNET}, {"privateEndpointSubnetId": PE_SUBNET}):
        with pytest.raises(BicepFail, match="APP_SUBNET_ID .*PRIVATE_ENDPOINT_SUBNET_ID.*PUBLIC_MODE=true"):
            evaluate("privateMode", main_scope(**given))
    assert evaluate("privateMode", main_scope(appSubnetId=APP_SUBNET, privateEndpointSubnetId=PE_SUBNET)) is True
    assert evaluate("privateMode", main_scope(publicMode=True)) is False  # on purpose only
    # private mode = private endpoints AND VNet integration AND storage closed to the internet
    assert main["modules"]["network"]["config"]["condition"] == "privateMode"
    assert body(main["modules"]["storage"])["params"]["privateAccess"] == "privateMode"
    assert body(main["modules"]["app"])["params"]["appSubnetId"] == "appSubnetId"
    fa = parse("modules/functionapp.bicep")  # Flex Consumption VNet integration: the site's virtualNetworkSubnetId
    vnet = body(fa["resources"]["functionApp"])["properties"]["virtualNetworkSubnetId"]["operator"]["operands"]
    assert vnet["true_value"] is None and vnet["false_value"] == "appSubnetId"
    net = parse("modules/network.bicep")
    endpoints = {(e["account"], e["service"]) for e in variable(net, "endpoints")}
    assert endpoints == {("hostAccountName", "blob"), ("journalAccountName", "blob"), ("journalAccountName", "table"),
                         ("journalAccountName", "queue")}
    storage = parse("modules/storage.bicep")
    access = storage["variables"]["networkAccess"]["value"]["operator"]["operands"]
    assert (access["condition"], access["true_value"], access["false_value"]) == ("privateAccess", "Disabled", "Enabled")
    for name in ("hostAccount", "journalAccount"):
        props = body(storage["resources"][name])["properties"]
        assert props["publicNetworkAccess"] == "networkAccess" and props["networkAcls"]["defaultAction"] == "networkDefault"


def test_no_firewall_rule_open_to_azure_in_the_default_deployment():
    """No 0.0.0.0 rule in the template or its default parameters; a firewall rule only ever in public mode."""
    for path in all_files():
        doc = parse(path.relative_to(INFRA).as_posix())
        for name, res in doc.get("resources", {}).items():
            if "firewallRules" in res["type"]:
                assert "publicMode" in json.dumps(res["config"].get("condition")), (path, name)
        assert "0.0.0.0" not in path.read_text() or "publicMode" in path.read_text(), path
    assert "0.0.0.0" not in (INFRA / "main.parameters.json").read_text()


HUB_ZONE = "/subscriptions/hub/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.{}.core.windows.net"


def test_existing_private_dns_zones_of_a_hub_are_used_and_linked_to_the_apps_vnet():
    main, net = parse("main.bicep"), parse("modules/network.bicep")
    zone_params = {f"{s}PrivateDnsZoneId": HUB_ZONE.format(s) for s in ("blob", "table", "queue")}
    for name in zone_params:
        assert main["parameters"][name]["default"] == ""  # empty: the zone is created here
    given = body(main["modules"]["network"])["params"]["existingZoneIds"]
    assert given == {"blob": "blobPrivateDnsZoneId", "table": "tablePrivateDnsZoneId", "queue": "queuePrivateDnsZoneId"}
    # the module creates a zone only for a service without one...
    created = lambda ids: evaluate("createdZones", {**{k: v["value"] for k, v in net["variables"].items()},  # noqa: E731
                                                    "existingZoneIds": ids})
    assert created({"blob": "", "table": "", "queue": ""}) == ["blob", "table", "queue"]
    assert created({"blob": HUB_ZONE.format("blob"), "table": "", "queue": HUB_ZONE.format("queue")}) == ["table"]
    assert body(net["resources"]["zones"])["name"] == "privatelink.${service}.${storageSuffix}"
    assert net["resources"]["zones"]["config"]["loop_type"]["detail"]["array_name"] == "createdZones"
    # ...and each endpoint's zone group takes the hub's zone when there is one
    zone_id = body(net["resources"]["zoneGroups"])["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
    assert json.dumps(zone_id["operator"]["operands"]["false_value"]).count("existingZoneIds") == 1
    # zones created here are linked to the app's VNet; the hub's too, unless it links them already
    links = body(net["resources"]["zoneLinks"])
    assert links["properties"] == {"registrationEnabled": False, "virtualNetwork": {"id": "appVnetId"}}
    assert body(main["modules"]["network"])["params"]["appVnetId"] == "appVnetId"
    scope = main_scope(appSubnetId=APP_SUBNET, privateEndpointSubnetId=PE_SUBNET, **zone_params)
    assert evaluate("linkedStorageZones", scope) == [HUB_ZONE.format(s) for s in ("blob", "table", "queue")]
    assert evaluate("linkedStorageZones", dict(scope, linkStoragePrivateDnsZones=False)) == []
    assert evaluate("linkedStorageZones", main_scope(publicMode=True, **zone_params)) == []
    hub = main["modules"]["storageDnsLinks"]
    assert hub["config"]["loop_type"]["detail"]["array_name"] == "linkedStorageZones"
    rg = body(hub)["scope"]["function"]["parameters"]
    assert json.dumps(rg).count('"zoneId"') == 2 and '2' in json.dumps(rg) and '4' in json.dumps(rg)  # its sub, its group
    assert body(hub)["params"]["appVnetId"] == "appVnetId" and body(main["modules"]["pgDnsLink"])["params"]["appVnetId"] == "appVnetId"
    dns = parse("modules/pg-dns-link.bicep")
    assert dns["resources"]["zone"]["existing"] is True
    assert body(dns["resources"]["link"])["properties"]["virtualNetwork"] == {"id": "appVnetId"}
    # privately accessed PostgreSQL servers: each DNS zone linked to the app's VNet
    assert main["modules"]["pgDnsLink"]["config"]["loop_type"]["detail"]["array_name"] == "linkedPgZoneIds"
    cond = json.dumps(main["variables"]["linkedPgZoneIds"]["value"])
    assert all(p in cond for p in ('"appSubnetId"', '"pgPrivateDnsZoneIds"', '"linkPgPrivateDnsZone"'))


def readme_section(title: str) -> str:
    """A section of docs/deployment.md ("Deploy", "Networks")."""
    return section(page("deployment"), title)


def test_readme_deploy_and_networks_sections_name_every_parameter():
    docs = readme_section("Deploy") + readme_section("Networks")
    main = parse("main.bicep")
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    for name in main["parameters"]:
        env = re.match(r"\$\{(\w+)", str(azd.get(name, {}).get("value", "")))
        assert f"`{name}`" in docs or (env and env.group(1) in docs), f"docs/deployment.md does not mention {name}"
    networks = readme_section("Networks")
    for words in ("Microsoft.App/environments", "virtualNetworkSubnetId", "privatelink.blob", "PUBLIC_MODE",
                  "APP_SUBNET_ID", "PRIVATE_ENDPOINT_SUBNET_ID", "PG_PRIVATE_DNS_ZONE_ID", "TABLE_PRIVATE_DNS_ZONE_ID"):
        assert words in networks, words


def test_readme_default_path_is_private_and_the_open_firewall_rule_only_in_the_public_opt_in():
    """docs/deployment.md's default path (Deploy, then Networks up to the PUBLIC_MODE opt-in) never asks for the
    'allow all Azure' rule on the production database; only the opt-in says it is what public mode costs."""
    networks = readme_section("Networks")
    opt_in = networks.index("\n### Public mode")
    assert "0.0.0.0" not in readme_section("Deploy") and "0.0.0.0" not in networks[:opt_in]
    assert "0.0.0.0" in networks[opt_in:] and "PUBLIC_MODE=true" in networks[opt_in:]
    assert "PUBLIC_MODE" in readme_section("Deploy")


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
    # the HTTP routes inherit the app's auth level (checks/http_auth.py: Entra in front, or the function-key
    # opt-out) and none overrides it (tests/test_http_principal.py checks the Entra settings)
    source = (ROOT / "function_app.py").read_text()
    assert "http_auth_level=http_auth.auth_level()" in source
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


def test_every_alert_goes_to_the_email_action_group():
    doc = alerts()
    group = body(doc["resources"]["actionGroup"])
    assert group["properties"]["emailReceivers"][0]["emailAddress"] == "alertEmail"
    assert doc["parameters"]["alertEmail"].get("default") is None
    rules = resources_of(doc, "Microsoft.Insights/scheduledQueryRules")
    assert set(rules) == {"runFailed", "drillFailed", "failedInvocations", "deadMan", "fleetPoisoned", "drillOverdue"}
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
    # pins the old defect (window == frequency: a line ingested late was never seen): the window is
    # longer than the frequency, and the second sighting of a line does not email again
    assert (props["evaluationFrequency"], props["windowSize"], props["muteActionsDuration"]) == ("PT15M", "PT30M", "PT30M")
    assert props["autoMitigate"] is False  # muting needs a rule that does not auto-resolve

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


def drill_sources() -> str:
    files = sorted((ROOT / "checks" / "drill").glob("*.py")) + sorted((ROOT / "checks").glob("drill*.py"))
    return "\n".join(p.read_text() for p in files)


def test_drill_alert_matches_the_drills_real_failure_lines_only():
    props = body(alerts()["resources"]["drillFailed"])["properties"]
    query = props["criteria"]["allOf"][0]["query"]
    (pattern,) = kql_regexes(query)
    assert (props["evaluationFrequency"], props["windowSize"], props["muteActionsDuration"]) == ("PT15M", "PT30M", "PT30M")
    source = drill_sources()
    # the drill's terminal line: "restore drill <id> <state>: <summary>", state failed or succeeded
    assert '"restore drill %s %s: %s", drill.drill_id, drill.state, drill.summary' in source
    failed = "restore drill 20261101T060000Z-abc123 failed: restore failed in Azure: PointInTimeRestoreFailed"
    succeeded = "restore drill 20261101T060000Z-abc123 succeeded: restored and verified"
    assert re.search(pattern, failed) and not re.search(pattern, succeeded)
    assert not re.search(pattern, "restore drill timer: boom")  # the timer lines are matched by prefix
    drill_id = re.search(r'extract\(@"([^"]+)", 1, message\)', query).group(1)
    assert re.search(drill_id, failed).group(1) == "20261101T060000Z-abc123"
    for line in ("monthly restore drill not started", "restore drill timer"):
        assert f'startswith "{line}"' in query
    assert '"monthly restore drill not started: %s"' in source and '"restore drill timer: %s"' in source
    assert '"restore drill timer not run: %s"' in (ROOT / "checks" / "http_api.py").read_text()


def test_fleet_poison_alert_matches_the_poison_handlers_real_lines(caplog):
    from checks.dispatch.handler import handle_poison
    from checks.dispatch.message import FleetMessage

    props = body(alerts()["resources"]["fleetPoisoned"])["properties"]
    query = props["criteria"]["allOf"][0]["query"]
    (pattern,) = kql_regexes(query)
    assert (props["evaluationFrequency"], props["windowSize"], props["muteActionsDuration"]) == ("PT15M", "PT30M", "PT30M")

    from checks.engine.timeutil import this_month

    class NoJournal:  # the log line comes once the reservation is read, whatever the journal does next
        def get_entity(self, *args):
            return {"State": "enqueued", "Trigger": "timer"}, "etag"

        def query(self, *args):
            raise RuntimeError("stop after the log line")

    with caplog.at_level(logging.ERROR, logger="checks.dispatch"), pytest.raises(RuntimeError):
        handle_poison(FleetMessage(this_month(), "prod-eu").to_json(), None, NoJournal())
    (line,) = [r.getMessage() for r in caplog.records if r.name == "checks.dispatch"]
    assert re.search(pattern, line) and not re.search(pattern, "target prod-eu verified this month")
    target = re.search(r'extract\(@"([^"]+)", 1, message\)', query).group(1)
    assert re.search(target, line).group(1) == "prod-eu"
    sources = "".join((ROOT / "checks" / f).read_text() for f in ("dispatch/handler.py", "queue_face.py"))
    for prefix in ("fleet message dropped", "fleet poison message"):
        assert f'startswith "{prefix}"' in query and f'"{prefix}' in sources


def test_failed_invocations_alert_reads_failed_requests_and_exceptions():
    props = body(alerts()["resources"]["failedInvocations"])["properties"]
    query = props["criteria"]["allOf"][0]["query"]
    assert "requests | where success == false" in query and "(exceptions |" in query
    assert props["windowSize"] == "PT30M" and props["evaluationFrequency"] == "PT15M"
    assert props["muteActionsDuration"] == "PT1H" and props["autoMitigate"] is False
    (criterion,) = props["criteria"]["allOf"]
    assert criterion["dimensions"][0]["name"] == "operation_Name" and "operation_Name" in query


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
