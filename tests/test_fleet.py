"""TARGETS: several targets, each a copy of the deployment's settings with its own resources."""
import json

import pytest

from checks.engine.config import ConfigError, Settings
from checks.engine.fleet import FleetTarget, TargetsError, parse_targets, select_targets, targets_of
from checks.engine.target import Target

SUB = "00000000-0000-0000-0000-000000000001"
BASE = {"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": "rg-prod", "PG_SERVER_NAME": "medicapp-db",
        "STORAGE_ACCOUNT_NAME": "medicappdocs", "STORAGE_RESOURCE_GROUP": "rg-prod",
        "DATABASE_URL": "postgresql://verifier@medicapp-db.postgres.database.azure.com/medicapp?sslmode=require",
        "BLOB_CONNECTION_STRING": "UseDevelopmentStorage=true", "BACKUP_MAX_AGE_HOURS": "26"}
TWO = [{"name": "prod"},
       {"name": "preprod",
        "postgres": {"resource_group": "rg-pre", "server": "medicapp-pre-db", "database": "medicapp_pre"},
        "storage": {"resource_group": "rg-pre", "account": "medicappredocs", "containers": ["documents", "scans"]},
        "settings": {"BACKUP_MAX_AGE_HOURS": "30", "REQUIRE_GEO_REDUNDANT_BACKUP": True}}]


def settings_with(targets) -> Settings:
    return Settings.from_env(BASE | {"TARGETS": json.dumps(targets)})


def test_without_targets_the_deployment_is_a_fleet_of_one_named_production():
    settings = Settings.from_env(BASE)
    (only,) = targets_of(settings)
    assert only.name == "production" and only.settings_for(settings).values == settings.values | {"target_name": "production"}
    assert Target.from_settings(only.settings_for(settings)).same_resources(Target.from_settings(settings))


def test_each_target_gets_its_own_resources_connection_and_thresholds():
    settings = settings_with(TWO)
    prod, pre = targets_of(settings)
    prod_settings, pre_settings = prod.settings_for(settings), pre.settings_for(settings)
    assert prod_settings.pg_server_name == "medicapp-db" and prod_settings.backup_max_age_hours == 26
    assert (pre_settings.pg_server_name, pre_settings.pg_resource_group) == ("medicapp-pre-db", "rg-pre")
    assert pre_settings.backup_max_age_hours == 30 and pre_settings.require_geo_redundant_backup is True
    assert pre_settings.blob_containers == ("documents", "scans")
    # its own account by managed identity, not the deployment's connection string
    assert pre_settings.blob_account_url == "https://medicappredocs.blob.core.windows.net"
    assert pre_settings.blob_connection_string is None
    assert "host=medicapp-pre-db.postgres.database.azure.com" in pre_settings.database_url
    assert "dbname=medicapp_pre" in pre_settings.database_url and "sslmode=require" in pre_settings.database_url
    assert Target.from_settings(pre_settings).name == "preprod"
    assert settings.pg_server_name == "medicapp-db"  # the base is never changed


def test_pg_variables_are_pointed_at_the_target_when_there_is_no_url():
    env = {k: v for k, v in BASE.items() if k != "DATABASE_URL"} | {"PGHOST": "127.0.0.1", "PGUSER": "verifier"}
    target = FleetTarget(name="local-b", database="medicapp_b")
    settings = target.settings_for(Settings.from_env(env))
    assert settings.libpq_env["PGDATABASE"] == "medicapp_b" and settings.libpq_env["PGHOST"] == "127.0.0.1"


def test_the_deployments_password_never_goes_to_another_targets_server():
    """PG_AUTH=password: DATABASE_URL's password is for its own server; a target elsewhere gets none (use entra)."""
    env = BASE | {"DATABASE_URL": "postgresql://verifier:s3cret-pw@db.internal:5432/medicapp?sslmode=require"}
    same = FleetTarget(name="local-b", database="medicapp_b", db_host="db.internal").settings_for(Settings.from_env(env))
    other = FleetTarget(name="pre", db_host="pre.internal").settings_for(Settings.from_env(env))
    assert "s3cret-pw" in same.database_url and "dbname=medicapp_b" in same.database_url
    assert "s3cret-pw" not in other.database_url and "host=pre.internal" in other.database_url
    assert "user=verifier" in other.database_url and "sslmode=require" in other.database_url
    libpq_env = {k: v for k, v in BASE.items() if k != "DATABASE_URL"} | {"PGHOST": "db.internal",
                                                                          "PGPASSWORD": "s3cret-pw"}
    moved = FleetTarget(name="pre", db_host="pre.internal").settings_for(Settings.from_env(libpq_env))
    stays = FleetTarget(name="b", database="medicapp_b").settings_for(Settings.from_env(libpq_env))
    assert "PGPASSWORD" not in moved.libpq_env and stays.libpq_env["PGPASSWORD"] == "s3cret-pw"


@pytest.mark.parametrize("targets,expected", [
    ("{not json", "not JSON"),
    ([], "non-empty JSON list"),
    ([{"name": "Prod!"}], "name: expected 1-40 lowercase"),
    ([{"name": "a"}, {"name": "a"}], "used twice"),
    ([{"name": "a", "postgres": {"server": "UPPER"}}], "PG_SERVER_NAME: expected a flexible server name"),
    ([{"name": "a", "postgres": {"servre": "x"}}], "unknown key 'servre'"),
    ([{"name": "a", "settings": {"NOPE": "1"}}], "'NOPE' is not a setting"),
    ([{"name": "a", "settings": {"JOURNAL_TABLE": "Other"}}], "deployment-wide"),
    ([{"name": "a", "settings": {"BACKUP_MAX_AGE_HOURS": "lots"}}], "BACKUP_MAX_AGE_HOURS"),
    ([{"name": "a", "extra": 1}], "unknown key 'extra'"),
    ("[" * 100_000, "nested too deeply"),  # json's recursion limit: a clear error, not a traceback
])
def test_bad_targets_name_the_target_the_key_and_the_expected_form(targets, expected):
    raw = targets if isinstance(targets, str) else json.dumps(targets)
    with pytest.raises(ConfigError) as info:
        Settings.from_env(BASE | {"TARGETS": raw})
    assert expected in info.value.problems["TARGETS"]


def test_a_targets_own_values_pass_the_deployments_cross_checks():
    """What the deployment may not combine, a target may not either (its server next to the drill's
    servers, retention bounds the wrong way round); a deployment's own problem is not repeated per target."""
    env = BASE | {"RESTORE_DRILL_RESOURCE_GROUP": "rg-drill"}
    targets = [{"name": "ok"}, {"name": "pre", "postgres": {"resource_group": "RG-Drill"}},
               {"name": "qa", "settings": {"BLOB_RETENTION_MIN_DAYS": "100"}}]
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env | {"TARGETS": json.dumps(targets)})
    problem = info.value.problems["TARGETS"]
    assert "target pre: RESTORE_DRILL_RESOURCE_GROUP: expected a resource group other than PG_RESOURCE_GROUP" in problem
    assert "target qa: BLOB_RETENTION_MAX_DAYS: expected >= BLOB_RETENTION_MIN_DAYS (100), got 90" in problem
    assert "target ok" not in problem
    with pytest.raises(ConfigError) as info:  # the deployment's own contradiction: named once, not per target
        Settings.from_env(env | {"BLOB_RETENTION_MIN_DAYS": "100", "TARGETS": json.dumps(targets[:1])})
    assert set(info.value.problems) == {"BLOB_RETENTION_MAX_DAYS"}
    assert Settings.from_env(env | {"TARGETS": json.dumps(targets[:1])}).targets[0].name == "ok"


def test_selecting_unknown_targets_names_the_known_ones():
    fleet = parse_targets(json.dumps(TWO))
    assert [t.name for t in select_targets(fleet, ["preprod"])] == ["preprod"]
    with pytest.raises(KeyError, match="unknown target staging; known targets: prod, preprod"):
        select_targets(fleet, ["staging"])


def test_a_target_record_without_a_name_still_matches_the_same_resources():
    # runs journaled before names existed still count for their resources
    named = Target(name="prod", server="medicapp-db", resource_group="rg")
    assert named.same_resources(Target(server="medicapp-db", resource_group="rg"))
    assert Target.from_columns(named.to_columns()).name == "prod"
    with pytest.raises(TargetsError):
        parse_targets("[1]")
