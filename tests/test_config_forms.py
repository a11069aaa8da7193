"""Settings validated to the form docs/configuration.md gives them, not weaker: BLOB_RECENT_PREFIX and
BLOB_RECENT_PREFIX_TEMPLATE as Azure's blob names allow (at most 1024 characters, no control characters),
VERIFIER_SPOOL_DIR as a path the spool can use (no NUL: every os call on it raised ValueError), integers
of any length refused with the variable's form (int() refuses 4300+ digits with a message of its own).
"""
from __future__ import annotations

import io
import json

import pytest

from checks.cli import error_text, main
from checks.engine.config import VARIABLES, ConfigError, Settings
from checks.engine.i18n import language


def problem(env: dict[str, str], name: str) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert name in info.value.problems, info.value.problems
    return str(info.value.problems[name])


def test_every_setting_is_validated():
    # BLOB_RECENT_PREFIX was read with str(): any text, control characters included
    assert [var.name for _, var in VARIABLES if var.parse is str] == []


@pytest.mark.parametrize("value,shown", [
    ("uploads/\x00", "U+0000"), ("uploads/\n", "U+000A"), ("up\x1bloads/", "U+001B"), ("uploads\x7f/", "U+007F"),
    ("uploads/\x81", "U+0081"),  # a C1 control character, Azure's own example
    ("uploads/\udc80", "U+DC80"),  # a byte that is not UTF-8 in the environment (os.environ's surrogateescape)
    ("uploads/\ue000", "U+E000"), ("uploads/\U0010ffff", "U+10FFFF"),  # private use: not valid for Azure
])
def test_blob_recent_prefix_refuses_control_and_invalid_characters(value, shown):
    why = problem({"BLOB_RECENT_PREFIX": value}, "BLOB_RECENT_PREFIX")
    assert "a blob name prefix" in why and "1024" in why and shown in why


def test_blob_recent_prefix_refuses_more_than_1024_characters():
    assert "1025 characters" in problem({"BLOB_RECENT_PREFIX": "a" * 1025}, "BLOB_RECENT_PREFIX")
    assert Settings.from_env({"BLOB_RECENT_PREFIX": "a" * 1024}).blob_recent_prefix == "a" * 1024


@pytest.mark.parametrize("value", ["uploads/", "dossiers/été 2026/", "文件/", "a b/c.d-e_f(1)/", "uploads"])
def test_blob_recent_prefix_keeps_any_valid_unicode_as_given(value):
    assert Settings.from_env({"BLOB_RECENT_PREFIX": value}).blob_recent_prefix == value


@pytest.mark.parametrize("value", ["", "   "])
def test_blob_recent_prefix_empty_is_unset(value):
    settings = Settings.from_env({"BLOB_RECENT_PREFIX": value})
    assert settings.blob_recent_prefix is None and not settings.is_set("blob_recent_prefix")


def test_blob_recent_prefix_of_a_target_is_validated_too():
    targets = [{"name": "prod", "settings": {"BLOB_RECENT_PREFIX": "uploads/\x00"}}]
    why = problem({"TARGETS": json.dumps(targets)}, "TARGETS")
    assert "BLOB_RECENT_PREFIX" in why and "U+0000" in why


def test_blob_recent_prefix_error_reads_in_french():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BLOB_RECENT_PREFIX": "uploads/\x00", "BLOB_LIST_CAP": "9" * 30})
    with language("fr"):
        french = error_text(info.value)
    assert "BLOB_RECENT_PREFIX : attendu : un préfixe de nom de blob d'au plus 1024 caractères" in french
    assert "reçu le caractère U+0000 en position 9 de 'uploads/\\x00'" in french
    assert "BLOB_LIST_CAP : attendu : un entier entre 1 et 1\u202f000\u202f000, reçu un nombre de 30 chiffres" in french


@pytest.mark.parametrize("value,part", [
    ("uploads/\x00{yyyy}/", "U+0000"), ("uploads/{yyyy}/\t{mm}/", "U+0009"), ("a\x85{mm}", "U+0085"),
    ("a" * 1021 + "{yyyy}", "1025 characters"),  # 1021 + the 4 digits of a year
])
def test_blob_recent_prefix_template_refuses_what_a_blob_name_cannot_hold(value, part):
    why = problem({"BLOB_RECENT_PREFIX_TEMPLATE": value}, "BLOB_RECENT_PREFIX_TEMPLATE")
    assert "{yyyy}" in why and part in why


def test_blob_recent_prefix_template_at_the_limit_and_unicode_are_kept():
    for value in ("a" * 1020 + "{yyyy}", "dossiers/été/{yyyy}/{mm}/"):
        assert Settings.from_env({"BLOB_RECENT_PREFIX_TEMPLATE": value}).blob_recent_prefix_template == value


@pytest.mark.parametrize("value", ["/var/lib/verifier\x00/spool", "/var/lib/verifier\n/spool", "/tmp/\x1b[2J",
                                   "/" + "a" * 4096])
def test_spool_dir_refuses_nul_control_characters_and_overlong_paths(value):
    why = problem({"VERIFIER_SPOOL_DIR": value}, "VERIFIER_SPOOL_DIR")
    assert "absolute directory path" in why and "control characters" in why


def test_spool_dir_with_spaces_or_unicode_is_kept():
    for value in ("/var/lib/verifier spool", "/srv/sauvegardes/file d'attente", "/" + "a" * 4095):
        assert Settings.from_env({"VERIFIER_SPOOL_DIR": value}).verifier_spool_dir == value


def test_spool_dir_with_nul_in_the_settings_file_stops_before_the_run(tmp_path, capsys):
    # an environment cannot hold NUL, local.settings.json can ("\u0000"): the run died on the spool with a traceback
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"VERIFIER_SPOOL_DIR": "/tmp/spool\u0000x"}}))
    out = io.StringIO()
    code = main(["run", "--check", "database.connectivity", "--no-journal", "--settings", str(path)], out=out, env={})
    err = capsys.readouterr().err
    assert code == 2 and "VERIFIER_SPOOL_DIR" in err and "Traceback" not in err + out.getvalue()


@pytest.mark.parametrize("name,value", [("EXACT_COUNT_MAX_ROWS", "9" * 5000), ("BLOB_LIST_CAP", "9" * 5000),
                                        ("RTO_TARGET_MINUTES", "-" + "9" * 5000)])
def test_integers_of_any_length_are_refused_with_the_variables_form(name, value):
    why = problem({name: value}, name)
    assert why.startswith("expected an integer") and "5000 digits" in why and "sys.set_int_max_str_digits" not in why


def test_deviation_due_days_of_any_length_are_refused_with_the_form():
    why = problem({"DEVIATION_DUE_DAYS": "high=" + "9" * 5000}, "DEVIATION_DUE_DAYS")
    assert "severity=days pairs" in why and "sys.set_int_max_str_digits" not in why


def test_integers_with_leading_zeros_still_read():
    assert Settings.from_env({"EXACT_COUNT_MAX_ROWS": "0" * 30 + "5"}).exact_count_max_rows == 5


@pytest.mark.parametrize("name", ["PG_RESOURCE_GROUP", "STORAGE_RESOURCE_GROUP", "JOURNAL_RESOURCE_GROUP",
                                  "RESTORE_DRILL_RESOURCE_GROUP"])
def test_a_resource_group_ending_in_a_period_is_refused(name):
    # Azure refuses the name; taken, every ARM call on it failed as if the group were missing
    assert "not ending in '.'" in problem({name: "rg-medicapp."}, name)
    for value in ("rg-medicapp", "rg_(prod).1", "rg-santé", "r"):
        assert getattr(Settings.from_env({name: value}), name.lower()) == value


@pytest.mark.parametrize("value", [",", " , ", ",,,"])
def test_allowed_backup_regions_of_separators_only_is_refused_not_an_empty_list(value):
    """An empty allow-list would fail every residency check without saying the setting is wrong."""
    text = problem({"ALLOWED_BACKUP_REGIONS": value}, "ALLOWED_BACKUP_REGIONS")
    assert "francecentral,westeurope" in text and repr(value.strip()) in text
    assert Settings.from_env({"ALLOWED_BACKUP_REGIONS": "France Central, westeurope"}).allowed_backup_regions == (
        "francecentral", "westeurope")
