"""DISCOVER_TAG: the real ResourceGraphClient over canned answers derived from Microsoft's example
(tests/fixtures/arm/resourcegraph_ResourcesBasicQuery.json), and the pure grouping by medicapp-env."""
import json

import pytest

from azure_fakes import Canned, CannedTransport, StaticCredential, arm_error_body, arm_example, arm_fixture, derive, sdk_kwargs
from checks.connect.discovery import (DiscoveryError, discover_targets, discovery_query, group_targets,
                                      target_name_of)
from checks.engine.config import ConfigError, Settings
from checks.engine.context import RunContext
from checks.engine.target import Target

EXAMPLE = "resourcegraph_ResourcesBasicQuery.json"
SUB = arm_example(EXAMPLE)["parameters"]["query"]["subscriptions"][0]
GRAPH = r"^https://management\.azure\.com/providers/Microsoft\.ResourceGraph/resources\?api-version=2021-03-01$"
BASE = {"AZURE_SUBSCRIPTION_ID": SUB, "DISCOVER_TAG": "backup-verify", "PG_SERVER_NAME": "deployment-db",
        "PG_RESOURCE_GROUP": "rg-deploy", "STORAGE_ACCOUNT_NAME": "deploymentdocs", "STORAGE_RESOURCE_GROUP": "rg-deploy",
        "BLOB_CONNECTION_STRING": "UseDevelopmentStorage=true", "BLOB_CONTAINERS": "documents",
        "DATABASE_URL": "postgresql://verifier@deployment-db.postgres.database.azure.com/medicapp?sslmode=require"}


def row(kind: str, name: str, env: str | None, rg: str = "rg-prod", sub: str = SUB, **more_tags) -> dict:
    """A row shaped like the example's rows (id, name, type, tags), for our resource types."""
    provider = {"server": "Microsoft.DBforPostgreSQL/flexibleServers", "account": "Microsoft.Storage/storageAccounts"}[kind]
    tags = {"backup-verify": "true", **more_tags} | ({"medicapp-env": env} if env is not None else {})
    base = arm_fixture(EXAMPLE)["data"][0]
    return derive(derive(derive(base, "id", f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{name}"),
                         "name", name) | {"type": provider.lower()}, "tags", tags)


def page(rows: list[dict], skip_token: str | None = None) -> dict:
    body = derive(derive(arm_fixture(EXAMPLE), "data", rows), "count", len(rows))
    return derive(body, "$skipToken", skip_token) if skip_token else body


def context(transport: CannedTransport, **env: str) -> RunContext:
    return RunContext(settings=Settings.from_env(BASE | env), credential=StaticCredential(),
                      azure_kwargs=sdk_kwargs(transport))


def test_the_official_example_has_no_server_or_account_so_no_target():
    transport = CannedTransport().json("POST", GRAPH, arm_fixture(EXAMPLE))
    assert discover_targets(context(transport)) == ()


def test_tagged_resources_over_two_pages_become_one_target_per_environment():
    first = page([row("server", "medicapp-db", "Prod"), row("account", "medicappdocs", "Prod"),
                  row("server", "medicapp-pre-db", "Pre Prod", rg="rg-pre")], skip_token="page-2")
    second = page([row("account", "medicappredocs", "Pre Prod", rg="rg-pre"),
                   derive(row("account", "untagged", "prod"), "tags", {"medicapp-env": "prod"})])
    transport = CannedTransport().add("POST", GRAPH, Canned(200, first), Canned(200, second))
    prod, pre = sorted(discover_targets(context(transport)), key=lambda t: t.name, reverse=True)
    sent = [json.loads(r.body) for r in transport.requests]
    assert [s["subscriptions"] for s in sent] == [[SUB], [SUB]]
    # tag names are case-insensitive in Azure, a KQL key lookup (tags['backup-verify']) is not: the names match ignoring case
    assert sent[0]["query"] == discovery_query("backup-verify") and "tags['" not in sent[0]["query"]
    assert "| where tostring(bag_keys(tags)) contains '\"backup-verify\"' |" in sent[0]["query"]
    assert "$skipToken" not in sent[0].get("options", {}) and sent[1]["options"]["$skipToken"] == "page-2"
    assert transport.requests[0].headers["Authorization"] == "Bearer test-token"
    assert (prod.name, pre.name) == ("prod", "pre-prod")
    settings = pre.settings_for(Settings.from_env(BASE))
    assert (settings.pg_server_name, settings.pg_resource_group) == ("medicapp-pre-db", "rg-pre")
    assert (settings.storage_account_name, settings.blob_account_url) == (
        "medicappredocs", "https://medicappredocs.blob.core.windows.net")
    assert "host=medicapp-pre-db.postgres.database.azure.com" in settings.database_url
    assert Target.from_settings(settings).name == "pre-prod"


def test_a_server_without_an_account_is_a_target_with_only_its_server():
    transport = CannedTransport().json("POST", GRAPH, page([row("server", "medicapp-eu-db", "eu")]))
    (eu,) = discover_targets(context(transport))
    settings = eu.settings_for(Settings.from_env(BASE))
    assert settings.pg_server_name == "medicapp-eu-db"
    # the deployment's account is not checked in its place: the storage checks are not configured
    assert (settings.storage_account_name, settings.blob_connection_string, settings.blob_containers) == (None, None, ())
    with pytest.raises(Exception, match="STORAGE_RESOURCE_GROUP"):
        settings.require("storage_resource_group")


def test_an_account_without_a_server_checks_no_database():
    transport = CannedTransport().json("POST", GRAPH, page([row("account", "medicappusdocs", "us", rg="rg-us")]))
    (us,) = discover_targets(context(transport))
    settings = us.settings_for(Settings.from_env(BASE))
    assert settings.storage_account_name == "medicappusdocs" and settings.pg_server_name is None
    assert not settings.database_configured and settings.azure_subscription_id == SUB


@pytest.mark.parametrize("rows,expected", [
    ([row("server", "a-db", "prod"), row("server", "b-db", "PROD", rg="rg-b")],
     "target prod (medicapp-env=prod) has 2 PostgreSQL servers: PostgreSQL server a-db (resource group rg-prod), "
     "PostgreSQL server b-db (resource group rg-b)"),
    ([row("account", "adocs", "qa"), row("account", "bdocs", "qa")], "has 2 storage accounts: storage account adocs"),
    ([row("server", "lonely-db", None)], "PostgreSQL server lonely-db (resource group rg-prod) carries backup-verify "
                                         "but no usable medicapp-env tag"),
    ([row("server", "x-db", "eu"), row("account", "xdocs", "eu", sub="11111111-1111-1111-1111-111111111111")],
     "one target lives in one subscription"),
])
def test_inconsistent_groups_are_a_clear_error_naming_the_resources(rows, expected):
    with pytest.raises(DiscoveryError) as info:
        group_targets(rows, "backup-verify")
    assert expected in str(info.value) and "distinct medicapp-env value" in info.value.remediation


def test_tag_names_are_matched_case_insensitively_and_untagged_rows_ignored():
    rows = [derive(row("server", "a-db", "x"), "tags", {"Backup-Verify": "", "MedicApp-Env": "X"}),
            derive(row("account", "zdocs", "x"), "tags", {"medicapp-env": "x"})]
    (only,) = group_targets(rows, "backup-verify")
    assert (only.name, only.server.name, only.account) == ("x", "a-db", None)


@pytest.mark.parametrize("env,name", [("Prod", "prod"), ("Pre Prod (EU)", "pre-prod-eu"), ("hôpital_1", "h-pital-1"),
                                      ("x" * 50, "x" * 40)])
def test_environment_values_are_normalised_to_target_names(env, name):
    assert target_name_of(env) == name


@pytest.mark.parametrize("status,expected", [
    (403, "access denied (403) reading subscription " + SUB),
    (429, "Azure answered 429"),
])
def test_discovery_failures_name_the_permission_or_the_throttling(status, expected):
    transport = CannedTransport().json("POST", GRAPH, arm_error_body("AuthorizationFailed" if status == 403 else
                                                                     "RateLimiting", "no"), status=status)
    with pytest.raises(DiscoveryError) as info:
        discover_targets(context(transport))
    assert expected in info.value.reason and "Resource Graph" in info.value.reason
    if status == 403:
        assert info.value.remediation == (f"Grant the function's identity Reader (it includes "
                                          f"Microsoft.ResourceGraph/resources/read) on subscription {SUB}.")
    else:
        assert "throttling" in info.value.remediation


def test_discover_subscriptions_is_the_scope_and_a_bad_value_is_named():
    other = "22222222-2222-2222-2222-222222222222"
    transport = CannedTransport().json("POST", GRAPH, page([]))
    assert discover_targets(context(transport, DISCOVER_SUBSCRIPTIONS=f"{SUB}, {other}")) == ()
    assert json.loads(transport.requests[0].body)["subscriptions"] == [SUB, other]
    with pytest.raises(ConfigError) as info:
        Settings.from_env(BASE | {"DISCOVER_SUBSCRIPTIONS": "prod", "DISCOVER_TAG": "it's"})
    assert "subscription id" in info.value.problems["DISCOVER_SUBSCRIPTIONS"]
    assert "a tag name" in info.value.problems["DISCOVER_TAG"]


def test_no_subscription_to_search_is_a_clear_error_before_any_request():
    transport = CannedTransport()
    ctx = RunContext(settings=Settings.from_env({"DISCOVER_TAG": "backup-verify"}), credential=StaticCredential(),
                     azure_kwargs=sdk_kwargs(transport))
    with pytest.raises(DiscoveryError, match="DISCOVER_SUBSCRIPTIONS"):
        discover_targets(ctx)
    assert transport.requests == []
