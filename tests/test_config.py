import pytest

from checks.engine.config import VARIABLES, ConfigError, Settings
from checks.engine.model import NotConfigured


def test_defaults_when_nothing_is_set():
    s = Settings.from_env({})
    assert s.journal_table == "BackupJournal"
    assert s.verify_schedule == "0 0 6 1 * *"
    assert s.check_timeout_seconds == 60.0
    assert s.min_backup_retention_days == 7
    assert s.essential_tables == ()
    assert not s.database_configured


def test_values_are_parsed_to_their_types():
    s = Settings.from_env({"CHECK_TIMEOUT_SECONDS": "12.5", "REQUIRE_GEO_REDUNDANT_BACKUP": "yes",
                           "BLOB_CONTAINERS": "documents, exports", "ESSENTIAL_TABLES": "public.patients>=1,documents",
                           "PG_SERVER_NAME": "medicapp-db"})
    assert s.check_timeout_seconds == 12.5
    assert s.require_geo_redundant_backup is True
    assert s.blob_containers == ("documents", "exports")
    assert s.essential_tables == ("public.patients>=1", "documents")
    assert s.pg_server_name == "medicapp-db"


def test_one_error_lists_every_bad_variable_with_its_expected_form():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"CHECK_TIMEOUT_SECONDS": "soon", "JOURNAL_TABLE": "bad-name!",
                           "AZURE_SUBSCRIPTION_ID": "not-a-guid", "VERIFY_SCHEDULE": "monthly",
                           "REQUIRE_GEO_REDUNDANT_BACKUP": "maybe", "PG_SERVER_NAME": "Prod_DB"})
    problems = info.value.problems
    assert set(problems) == {"CHECK_TIMEOUT_SECONDS", "JOURNAL_TABLE", "AZURE_SUBSCRIPTION_ID",
                             "VERIFY_SCHEDULE", "REQUIRE_GEO_REDUNDANT_BACKUP", "PG_SERVER_NAME"}
    message = str(info.value)
    for name in problems:
        assert name in message
    assert "NCRONTAB" in problems["VERIFY_SCHEDULE"]
    assert "true or false" in problems["REQUIRE_GEO_REDUNDANT_BACKUP"]


@pytest.mark.parametrize("attr,var", [(a, v) for a, v in VARIABLES if v.parse is not str])
def test_every_validated_variable_rejects_garbage_and_names_itself(attr, var):
    garbage = "\x00not valid ;; $$"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({var.name: garbage})
    assert var.name in info.value.problems


def test_cross_check_retention_band():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BLOB_RETENTION_MIN_DAYS": "60", "BLOB_RETENTION_MAX_DAYS": "30"})
    assert "BLOB_RETENTION_MAX_DAYS" in info.value.problems


def test_require_names_the_missing_variable():
    s = Settings.from_env({})
    with pytest.raises(NotConfigured, match="PG_SERVER_NAME not set"):
        s.require("pg_server_name")


def test_override_validates_and_keeps_original():
    s = Settings.from_env({"PG_SERVER_NAME": "medicapp-db"})
    t = s.override(pg_server_name="other-db", pg_resource_group=None)
    assert (s.pg_server_name, t.pg_server_name) == ("medicapp-db", "other-db")
    with pytest.raises(ConfigError, match="PG_SERVER_NAME"):
        s.override(pg_server_name="NOT VALID")


def test_repr_never_shows_values():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u:hunter2secret@h/db"})
    assert "hunter2secret" not in repr(s)


def test_sample_settings_list_every_variable_with_a_valid_value():
    import json
    from pathlib import Path
    sample = json.loads((Path(__file__).resolve().parent.parent / "local.settings.sample.json").read_text())["Values"]
    names = {var.name for _, var in VARIABLES}
    assert names <= set(sample), f"missing from the sample: {sorted(names - set(sample))}"
    settings = Settings.from_env(sample)  # every sample value passes validation
    assert settings.verify_schedule == sample["VERIFY_SCHEDULE"]


def test_function_app_schedules_come_from_app_settings():
    import json
    import function_app  # noqa: F401  (registers the functions FUNCTIONS reads)
    from test_function_app import FUNCTIONS
    schedules = {name: json.loads(f.get_function_json())["bindings"][0].get("schedule")
                 for name, f in FUNCTIONS.items()}
    timers = {name: s for name, s in schedules.items() if s}
    assert timers and all(s.startswith("%") and s.endswith("%") for s in timers.values()), timers
    for s in timers.values():
        assert s.strip("%") in {var.name for _, var in VARIABLES}


def test_readme_documents_every_variable():
    from docs_text import page
    readme = page("configuration")
    undocumented = [var.name for _, var in VARIABLES if f"| `{var.name}` |" not in readme]
    assert undocumented == []
