"""Residency of every copy (issue 30 item 5): the region table (checks/engine/regions.py), the pure
rules over copies (checks/families/residency.py, checks/drill/residency.py, postgres.backup_residency),
fact gathering through the real SDK clients over canned ARM answers (tests/fixtures/arm/, SOURCES.md)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from azure_fakes import Canned, CannedTransport, StaticCredential, arm_error_body, arm_fixture, derive, sdk_kwargs
from checks.drill import residency as dr
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import Status
from checks.engine.regions import EEA_NONPAIRED, EEA_REGIONS, REGIONS, display, in_eea, lookup, paired, region_key
from checks.engine.registry import all_checks
from checks.engine.runner import execute
from checks.families import residency as fr

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
SETTINGS = Settings.from_env({})
SUB = "ffffffff-ffff-ffff-ffff-ffffffffffff"
PG_RG, SERVER, DRILL_RG = "exampleresourcegroup", "exampleserver", "rg-medicapp-drills"
ST_RG, ACCOUNT = "rg-medicapp", "medicappdocs"
ACCOUNT_RE = rf"/storageAccounts/{ACCOUNT}\?"
SERVER_RE = r"/flexibleServers/[^/?]+\?api-version="
DRILL_LIST_RE = rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?api-version="
GRAPH = r"^https://management\.azure\.com/providers/Microsoft\.ResourceGraph/resources\?api-version=2021-03-01$"

# StorageAccountGetProperties.json as published: Standard_GRS, primaryLocation "eastus2(stage)",
# secondaryLocation "northcentralus(stage)" (a staging region name no table knows)
ACCOUNT_BODY = arm_fixture("storage_StorageAccountGetProperties.json")
SERVER_BODY = arm_fixture("postgresql_ServersGet.json")  # eastus, geo-redundant backup Enabled
GRAPH_BODY = arm_fixture("resourcegraph_ResourcesBasicQuery.json")


def in_region(body: dict, primary: str, secondary: str | None, sku: str = "Standard_GRS") -> dict:
    body = derive(derive(derive(body, "location", primary), "properties.primaryLocation", primary), "sku.name", sku)
    return derive(body, "properties.secondaryLocation", secondary)


def ctx(transport: CannedTransport, **env: str) -> RunContext:
    values = {"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": PG_RG, "PG_SERVER_NAME": SERVER,
              "STORAGE_RESOURCE_GROUP": ST_RG, "STORAGE_ACCOUNT_NAME": ACCOUNT} | env
    return RunContext(settings=Settings.from_env(values), clock=lambda: NOW, credential=StaticCredential(),
                      azure_kwargs=sdk_kwargs(transport))


def run(check_id: str, transport: CannedTransport, **env: str):
    return execute(all_checks()[check_id], ctx(transport, **env))


# --- the region table ------------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["francecentral", "France Central", "FRANCE CENTRAL", " France\tCentral "])
def test_region_names_compare_without_case_and_spacing(spelling):
    assert region_key(spelling) == "francecentral" and lookup(spelling).display == "France Central"
    assert paired(spelling) == "francesouth" and in_eea(spelling) is True


def test_eea_table_paired_nonpaired_and_outside():
    assert set(EEA_NONPAIRED) == {"austriaeast", "belgiumcentral", "denmarkeast", "italynorth", "polandcentral",
                                  "spaincentral"}
    assert "denmarkeast" in EEA_REGIONS and paired("denmarkeast") is None
    assert in_eea("eastus") is False and paired("eastus") == "westus"
    assert in_eea("switzerlandnorth") is False and in_eea("uksouth") is False  # not in the EEA
    assert in_eea("atlantis") is None and paired("atlantis") is None and display("atlantis") == "atlantis"
    assert all(REGIONS[r.pair] for r in REGIONS.values() if r.pair)  # every pair is itself a known region
    assert all(REGIONS[REGIONS[r].pair].eea for r in EEA_REGIONS if REGIONS[r].pair)  # EEA pairs stay in the EEA


def test_allowed_backup_regions_default_is_the_table():
    assert SETTINGS.allowed_backup_regions == EEA_REGIONS


# --- storage.replication_residency: the pure rule --------------------------------------------------------

def storage(location, secondary=None, sku="Standard_GRS"):
    return fr.evaluate_storage_residency(fr.StorageResidencyFacts(ACCOUNT, location, sku, secondary), SETTINGS)


@pytest.mark.parametrize("location,secondary,sku,status,regions", [
    ("francecentral", None, "Standard_LRS", Status.PASS, ["francecentral"]),
    ("francecentral", "francesouth", "Standard_GRS", Status.PASS, ["francecentral", "francesouth"]),
    ("France Central", None, "Standard_RAGZRS", Status.PASS, ["francecentral", "francesouth"]),  # pair derived
    ("westeurope", "northeurope", "Standard_RAGRS", Status.PASS, ["westeurope", "northeurope"]),
    ("polandcentral", None, "Standard_ZRS", Status.PASS, ["polandcentral"]),
    ("eastus", "westus", "Standard_GRS", Status.FAIL, ["eastus", "westus"]),  # outside the EEA
    ("francecentral", "eastus", "Standard_GRS", Status.FAIL, ["francecentral", "eastus"]),  # ARM's answer wins
    ("italynorth", None, "Standard_GZRS", Status.WARN, ["italynorth", None]),  # nonpaired: no GRS there
    ("denmarkeast", "swedencentral", "Standard_GRS", Status.WARN, ["denmarkeast", None]),
    ("atlantis", None, "Standard_LRS", Status.FAIL, ["atlantis"]),  # unknown region: never a pass
])
def test_storage_residency_rule(location, secondary, sku, status, regions):
    out = storage(location, secondary, sku)
    assert out.status is status, out.summary
    assert [c["region"] for c in out.details["copies"]] == regions


def test_unknown_and_nonpaired_findings_say_why():
    out = storage("atlantis", None, "Standard_LRS")
    assert "unknown region atlantis" in out.summary and "cannot prove it is in the EEA" in out.summary
    out = storage("italynorth", None, "Standard_GRS")
    assert "a region without a pair" in out.summary and "Azure offers no geo-redundant storage there" in out.summary
    out = storage("eastus", "westus")
    assert "East US (eastus)" in out.summary and out.details["outside"] == ["eastus", "westus"]


# --- storage.replication_residency: facts through the SDK ------------------------------------------------

def test_official_example_staging_regions_are_unknown_so_it_fails():
    t = CannedTransport().json("GET", ACCOUNT_RE, ACCOUNT_BODY)
    out = run("storage.replication_residency", t)
    assert out.status is Status.FAIL and "unknown region eastus2(stage)" in out.summary
    assert out.details["sku"] == "Standard_GRS" and out.details["secondary_region"] == "northcentralus(stage)"


def test_grs_account_with_secondary_location_in_the_eea_passes():
    t = CannedTransport().json("GET", ACCOUNT_RE, in_region(ACCOUNT_BODY, "francecentral", "francesouth"))
    out = run("storage.replication_residency", t)
    assert out.status is Status.PASS, out.summary
    assert [(c["copy"], c["region"], c["eea"]) for c in out.details["copies"]] == [
        ("primary", "francecentral", True), ("secondary", "francesouth", True)]
    assert len(t.requests) == 1


def test_storage_read_error_is_a_result_with_remediation():
    t = CannedTransport().json("GET", ACCOUNT_RE, arm_error_body("AuthorizationFailed", "no"), 403)
    out = run("storage.replication_residency", t)
    assert out.status is Status.ERROR and "Reader" in out.remediation


# --- postgres.backup_residency: the new cases --------------------------------------------------------------

@pytest.mark.parametrize("location,geo,status,text", [
    ("denmarkeast", "Enabled", Status.WARN, "no pair"),
    ("Denmark East", "Disabled", Status.PASS, "allowed"),
    ("atlantis", "Disabled", Status.FAIL, "unknown region atlantis"),
])
def test_backup_residency_denmark_and_unknown(location, geo, status, text):
    body = derive(derive(SERVER_BODY, "location", location), "properties.backup.geoRedundantBackup", geo)
    out = run("postgres.backup_residency", CannedTransport().json("GET", SERVER_RE, body))
    assert out.status is status and text in out.summary, out.summary
    assert out.details["copies"][0]["copy"] == "server"


# --- postgres.restore_residency ----------------------------------------------------------------------------

def restored(name: str, location: str, tags: dict, geo: str = "Disabled") -> dict:
    body = derive(derive(derive(SERVER_BODY, "name", name), "location", location), "tags", tags)
    return derive(body, "properties.backup.geoRedundantBackup", geo)


DRILL_TAGS = {"created-by": "medicapp-backup-verifier", "drill-id": "d1", "source": SERVER}
INCIDENT_TAGS = {"created-by": "medicapp-backup-verifier", "purpose": "incident-restore"}


def restores(source: str, *servers: dict) -> CannedTransport:
    t = CannedTransport().json("GET", SERVER_RE, derive(SERVER_BODY, "location", source))
    return t.json("GET", DRILL_LIST_RE, {"value": list(servers)})


def test_restore_residency_lists_drill_and_incident_servers_through_the_sdk():
    t = restores("francecentral", restored("exampleserver-restore-1", "francecentral", DRILL_TAGS, "Enabled"),
                 restored("exampleserver-incident", "francecentral", INCIDENT_TAGS),
                 restored("someone-elses", "eastus", {}),  # not created by the verifier: not its copy
                 restored("other-target-drill", "eastus", dict(DRILL_TAGS, source="other-db")))  # a shared group
    out = run("postgres.restore_residency", t, RESTORE_DRILL_RESOURCE_GROUP=DRILL_RG)
    assert out.status is Status.PASS, out.summary
    assert [(c["copy"], c["of"], c["region"]) for c in out.details["copies"]] == [
        ("next_restore", SERVER, "francecentral"), ("drill_server", "exampleserver-restore-1", "francecentral"),
        ("geo_backup", "exampleserver-restore-1", "francesouth"),
        ("restore_server", "exampleserver-incident", "francecentral")]


def test_restore_residency_fails_on_a_drill_server_outside_and_on_the_official_eastus_source():
    t = restores("francecentral", restored("exampleserver-restore-1", "eastus", DRILL_TAGS))
    out = run("postgres.restore_residency", t, RESTORE_DRILL_RESOURCE_GROUP=DRILL_RG)
    assert out.status is Status.FAIL and "drill server exampleserver-restore-1 in East US (eastus)" in out.summary
    out = run("postgres.restore_residency", CannedTransport().json("GET", SERVER_RE, SERVER_BODY))  # no drill group
    assert out.status is Status.FAIL and out.details["outside"] == ["eastus"]


def test_restore_residency_nonpaired_geo_warns_and_list_error_is_a_result():
    out = dr.evaluate_restore_residency(dr.RestoreResidencyFacts(SERVER, "spaincentral", DRILL_RG, (
        dr.RestoredServer("kept", "drill_server", "spaincentral", "Enabled"),)), SETTINGS)
    assert out.status is Status.WARN and "geo-backup region is unknown" in out.summary
    t = CannedTransport().json("GET", SERVER_RE, derive(SERVER_BODY, "location", "francecentral"))
    t.json("GET", DRILL_LIST_RE, arm_error_body("AuthorizationFailed", "no"), 403)
    out = run("postgres.restore_residency", t, RESTORE_DRILL_RESOURCE_GROUP=DRILL_RG)
    assert out.status is Status.ERROR and f"servers of {DRILL_RG}" in out.summary and out.remediation


# --- postgres.ltr_residency --------------------------------------------------------------------------------

def graph(rows: list[dict]) -> dict:
    return derive(derive(GRAPH_BODY, "data", rows), "count", len(rows))


VAULT_ID = f"/subscriptions/{SUB}/resourcegroups/rg-backup/providers/microsoft.dataprotection/backupvaults/bv-ltr"


def test_ltr_residency_through_resource_graph():
    vaults = graph([{"id": VAULT_ID, "name": "bv-ltr", "location": "francecentral", "redundancy": "GeoRedundant"},
                    {"id": VAULT_ID + "-other", "name": "bv-other", "location": "eastus", "redundancy": "GeoRedundant"}])
    t = CannedTransport().add("POST", GRAPH, Canned(200, graph([{"vaultId": VAULT_ID}])), Canned(200, vaults))
    out = run("postgres.ltr_residency", t, LTR_REQUIRED="true")
    assert out.status is Status.PASS, out.summary  # the other vault holds no instance of this server
    assert [(c["copy"], c["region"]) for c in out.details["copies"]] == [("ltr_vault", "francecentral"),
                                                                         ("ltr_vault_pair", "francesouth")]
    first = json.loads(t.requests[0].body)
    assert SERVER.lower() in first["query"] and first["subscriptions"] == [SUB]


@pytest.mark.parametrize("vault,status", [
    (fr.LtrVault("bv", "italynorth", "GeoRedundant"), Status.WARN),  # nonpaired: where does the copy go?
    (fr.LtrVault("bv", "italynorth", "ZoneRedundant"), Status.PASS),
    (fr.LtrVault("bv", "eastus", "LocallyRedundant"), Status.FAIL),
    (fr.LtrVault("bv", "Sweden Central", "GeoRedundant"), Status.PASS),
])
def test_ltr_residency_rule(vault, status):
    settings = Settings.from_env({"LTR_REQUIRED": "true"})
    assert fr.evaluate_ltr_residency(fr.LtrResidencyFacts(SERVER, (vault,)), settings).status is status


def test_ltr_residency_no_vault_warns_not_required_skips_and_graph_error_is_a_result():
    settings = Settings.from_env({"LTR_REQUIRED": "true"})
    out = fr.evaluate_ltr_residency(fr.LtrResidencyFacts(SERVER, ()), settings)
    assert out.status is Status.WARN and "cannot be told" in out.summary
    assert run("postgres.ltr_residency", CannedTransport()).status is Status.SKIPPED  # no query at all
    t = CannedTransport().json("POST", GRAPH, arm_error_body("AuthorizationFailed", "no"), 403)
    out = run("postgres.ltr_residency", t, LTR_REQUIRED="true")
    assert out.status is Status.ERROR and "Backup vaults" in out.summary and out.remediation


# --- metadata ------------------------------------------------------------------------------------------------

def test_metadata_and_docstrings():
    for cid in ("storage.replication_residency", "postgres.restore_residency", "postgres.ltr_residency"):
        spec = all_checks()[cid]
        assert spec.read_only and spec.remediation and spec.risk and spec.severity.value == "high"
    for rule in (fr.evaluate_storage_residency, fr.evaluate_ltr_residency, dr.evaluate_restore_residency, fr.judge):
        doc = rule.__doc__.lower()
        assert "pass" in doc and "fail" in doc and "warn" in doc


def test_no_vault_found_says_to_grant_reader_on_the_vaults_group_through_discover_resource_groups():
    """Discovery's Reader is per resource group (DISCOVER_RESOURCE_GROUPS): a vault in another group is invisible;
    the warning says what to grant, where, and through which setting, in the reader's language."""
    from checks.engine.i18n import language
    t = CannedTransport().add("POST", GRAPH, Canned(200, graph([])))
    out = run("postgres.ltr_residency", t, LTR_REQUIRED="true")
    assert out.status is Status.WARN and out.details["grant"] == "Reader"
    remedy = str(out.remediation)
    assert "Reader on the resource group of the Backup vault" in remedy and "DISCOVER_RESOURCE_GROUPS" in remedy
    assert "subscription/group" in remedy
    with language("fr") as tr:
        french = tr.render(out.remediation)
    assert "Reader sur le groupe de ressources du coffre Backup" in french and "DISCOVER_RESOURCE_GROUPS" in french


def test_restore_residency_of_a_fleet_target_lists_its_own_drill_group_in_its_subscription():
    """A target's own RESTORE_DRILL_RESOURCE_GROUP (TARGETS settings) and subscription: its run's settings
    (FleetTarget.settings_for, as the fleet run, the queue handler and --target build them) are the check's."""
    from checks.engine.fleet import targets_of
    sub_b = "eeeeeeee-ffff-ffff-ffff-ffffffffffff"
    settings = Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, "RESTORE_DRILL_RESOURCE_GROUP": DRILL_RG,
                                  "TARGETS": json.dumps([{"name": "b", "postgres": {
                                      "resource_group": PG_RG, "server": SERVER, "subscription": sub_b},
                                      "settings": {"RESTORE_DRILL_RESOURCE_GROUP": "rg-b-drills"}}])})
    t = CannedTransport().json("GET", SERVER_RE, derive(SERVER_BODY, "location", "francecentral"))
    t.json("GET", rf"/subscriptions/{sub_b}/resourceGroups/rg-b-drills/providers/Microsoft\.DBforPostgreSQL/"
                  r"flexibleServers\?", {"value": [restored("exampleserver-restore-1", "eastus", DRILL_TAGS)]})
    own = RunContext(settings=targets_of(settings)[0].settings_for(settings), clock=lambda: NOW,
                     credential=StaticCredential(), azure_kwargs=sdk_kwargs(t))
    out = execute(all_checks()["postgres.restore_residency"], own)
    assert out.status is Status.FAIL and "drill server exampleserver-restore-1 in East US" in out.summary
    assert out.details["drill_resource_group"] == "rg-b-drills"
    assert f"/subscriptions/{sub_b}/resourceGroups/rg-b-drills/providers/" in t.requests[1].url
