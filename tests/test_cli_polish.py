"""CLI behaviour found by trying it: pipes, verbosity, flags, credentials, summary, colour, journal
ranges, settings files, and every variable the code reads being documented."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checks.cli import main
from checks.engine.config import VARIABLES, ConfigError, Settings, read_settings_file
from docs_text import page

ROOT = Path(__file__).resolve().parent.parent


def run_cli(args, env, out=None):
    out = out or io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# --- pipes -----------------------------------------------------------------------------------------

def test_closed_pipe_exits_quietly_without_a_traceback():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written, like `| head -1` after a line
    try:
        done = subprocess.run([sys.executable, "-m", "checks", "list"], cwd=ROOT, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""


def test_run_json_into_head_is_quiet():
    done = subprocess.run(f"{sys.executable} -m checks run --json --no-journal | head -c 1", shell=True,
                          cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(ROOT)})
    assert done.stdout == "{" and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# --- verbosity and LOG_LEVEL -----------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["-v", "list"], ["list", "-v"], ["list", "--verbose"]])
def test_verbose_before_or_after_the_subcommand(argv):
    code, _ = run_cli(argv, {})
    assert code == 0 and logging.getLogger().level == logging.INFO


def test_log_level_is_honoured_and_verbose_raises_it_to_info():
    run_cli(["list"], {})
    assert logging.getLogger().level == logging.WARNING  # the CLI's default
    run_cli(["list"], {"LOG_LEVEL": "debug"})
    assert logging.getLogger().level == logging.DEBUG
    run_cli(["list"], {"LOG_LEVEL": "error"})
    assert logging.getLogger().level == logging.ERROR
    run_cli(["list", "-v"], {"LOG_LEVEL": "error"})
    assert logging.getLogger().level == logging.INFO


def test_drill_verbs_accept_verbose_too():
    from checks.cli import build_parser
    args = build_parser().parse_args(["drill", "status", "-v"])
    assert args.verbose is True and args.command == "drill"


# --- flags and missing variables -------------------------------------------------------------------

@pytest.mark.parametrize("flag,variable", [("--azure-server", "PG_SERVER_NAME"),
                                           ("--azure-resource-group", "PG_RESOURCE_GROUP")])
def test_invalid_override_is_reported_as_the_flag(flag, variable, capsys):
    code, _ = run_cli(["run", flag, "Bad Name!", "--no-journal"], {})
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {flag}: expected ") and "'Bad Name!'" in err
    assert variable not in err


def test_skipped_checks_name_every_missing_variable_at_once():
    code, out = run_cli(["run", "--no-journal", "--json"], {})
    summaries = {r["check_id"]: r["summary"] for r in json.loads(out)["results"]}
    assert summaries["blob.soft_delete"] == "AZURE_SUBSCRIPTION_ID, STORAGE_RESOURCE_GROUP and STORAGE_ACCOUNT_NAME not set"
    assert summaries["blob.recent_file"] == "BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) and BLOB_CONTAINERS not set"
    assert summaries["postgres.retention"] == "AZURE_SUBSCRIPTION_ID, PG_RESOURCE_GROUP and PG_SERVER_NAME not set"
    assert summaries["database.essential_counts"] == "DATABASE_URL (or PGHOST/PGDATABASE) and ESSENTIAL_TABLES not set"


def test_essential_tables_tolerate_spaces_around_commas_and_minimums():
    s = Settings.from_env({"ESSENTIAL_TABLES": " public.patients >= 1 ,  public.consultations,public.documents>= 2 "})
    assert s.essential_tables == ("public.patients>=1", "public.consultations", "public.documents>=2")
    with pytest.raises(ConfigError, match="ESSENTIAL_TABLES"):
        Settings.from_env({"ESSENTIAL_TABLES": "public.patients >= one"})


# --- missing Azure credential: explained once ------------------------------------------------------

AZURE_TARGET = {"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000", "PG_RESOURCE_GROUP": "rg",
                "PG_SERVER_NAME": "medicapp-db", "STORAGE_RESOURCE_GROUP": "rg", "STORAGE_ACCOUNT_NAME": "acct"}


def no_credential_env() -> dict[str, str]:
    # nothing any credential source could use: no az/azd/pwsh on PATH, no identity endpoint, empty HOME
    home = "/nonexistent-verifier-home"
    return {"PATH": "/nonexistent", "HOME": home, "PYTHONPATH": str(ROOT), "NO_COLOR": "1",
            "AZURE_CONFIG_DIR": home, "IDENTITY_ENDPOINT": "", "MSI_ENDPOINT": ""} | AZURE_TARGET


def test_missing_credential_is_explained_once_not_per_check():
    done = subprocess.run([sys.executable, "-m", "checks", "run", "--no-journal", "--check", "postgres.backup_recent", "--check", "postgres.retention",
                           "--check", "blob.soft_delete", "--check", "blob.versioning",
                           "--check", "storage.account_security"],
                          cwd=ROOT, env=no_credential_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == ""  # no credential chain dump per check
    head, _, attention = done.stdout.partition("Needs attention:")
    assert len(re.findall(r"^ERROR ", head, re.M)) == 5 and "no Azure credential available" in head
    assert attention.count("no Azure credential available") == 1
    assert attention.count("az login") == 1
    assert re.search(r"ERROR blob\.soft_delete, blob\.versioning, postgres\.backup_recent, postgres\.retention, "
                     r"storage\.account_security: no Azure credential available", attention)


def test_the_run_asks_for_a_token_once_when_there_is_no_credential():
    from azure.core.exceptions import ClientAuthenticationError
    from checks.engine.context import FailOnce

    class NoCredential:
        calls = 0

        def get_token(self, *scopes, **kwargs):
            NoCredential.calls += 1
            raise ClientAuthenticationError(message="no credential at all")

    once = FailOnce(NoCredential())
    for _ in range(3):
        with pytest.raises(ClientAuthenticationError, match="no credential at all"):
            once.get_token("https://management.azure.com/.default")
    assert NoCredential.calls == 1


# --- summary and colour ----------------------------------------------------------------------------

def test_end_of_run_summary_lists_failures_with_remediation(base_env):
    env = dict(base_env, DATABASE_URL="postgresql://nobody:pw@127.0.0.1:9/none", DB_CONNECT_TIMEOUT_SECONDS="2")
    code, out = run_cli(["run", "--check", "database.*", "--no-journal"], env)
    assert code == 1
    _, _, attention = out.partition("\nNeeds attention:\n")
    entries = [line for line in attention.splitlines() if line.startswith("  ERROR")]
    assert len(entries) == 1 and "database.connectivity" in entries[0] and "cannot connect" in entries[0]
    assert "→ Check the host and port" in attention
    quiet = run_cli(["run", "--check", "blob.canary", "--no-journal"], base_env)[1]
    assert "Needs attention" not in quiet  # nothing to act on: no section


def test_colour_on_a_terminal_only_and_never_with_no_color():
    code, coloured = run_cli(["run", "--no-journal", "--check", "blob.canary"], {}, out=Terminal())
    assert "\033[2mSKIP" in coloured
    code, plain = run_cli(["run", "--no-journal", "--check", "blob.canary"], {"NO_COLOR": "1"}, out=Terminal())
    assert "\033[" not in plain and "SKIP" in plain
    code, piped = run_cli(["run", "--no-journal", "--check", "blob.canary"], {})
    assert "\033[" not in piped


# --- journal listing ------------------------------------------------------------------------------

def test_journal_marks_dry_runs_and_reads_a_date_range(base_env, demo_db_url):
    env = dict(base_env, DATABASE_URL=demo_db_url)
    dry = json.loads(run_cli(["run", "--dry-run", "--check", "database.connectivity", "--json"], env)[1])["run_id"]
    full = json.loads(run_cli(["run", "--check", "database.connectivity", "--json"], env)[1])["run_id"]
    code, listing = run_cli(["journal"], env)
    lines = {line.split()[0]: line for line in listing.splitlines()[1:]}
    assert " dry run " in lines[dry] and " full " in lines[full]
    today = f"{full[:4]}-{full[4:6]}-{full[6:8]}"
    code, ranged = run_cli(["journal", "--since", today, "--until", today, "--json"], env)
    assert code == 0 and {r["run_id"] for r in json.loads(ranged)} == {dry, full}
    code, before = run_cli(["journal", "--until", "2020-01-31"], env)
    assert code == 0 and before == "No runs recorded from 2020-01-01 to 2020-01-31.\n"


@pytest.mark.parametrize("argv,message", [
    (["journal", "--since", "2026-11-02", "--until", "2026-11-01"], "--since 2026-11-02 is after --until 2026-11-01"),
    (["journal", "--since", "2020-01-01", "--until", "2026-11-01"], "at most 24"),
    (["journal", "--month", "2026-11", "--since", "2026-11-01"], "--month cannot be combined"),
    (["journal", "--since", "yesterday"], "expected a date YYYY-MM-DD"),
])
def test_journal_range_errors_exit_two(base_env, argv, message, capsys):
    assert run_cli(argv, base_env)[0] == 2
    assert message in capsys.readouterr().err


# --- settings file --------------------------------------------------------------------------------

def test_settings_file_is_read_and_the_environment_wins(tmp_path, demo_db_url, capsys):
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"DATABASE_URL": demo_db_url,
                                                                   "DB_CONNECT_TIMEOUT_SECONDS": 5}}))
    assert read_settings_file(path) == {"DATABASE_URL": demo_db_url, "DB_CONNECT_TIMEOUT_SECONDS": "5"}
    code, out = run_cli(["run", "--check", "database.connectivity", "--no-journal", "--settings", str(path)], {})
    assert code == 0 and "PASS" in out
    code, out = run_cli(["run", "--check", "database.connectivity", "--no-journal", "--settings", str(path)],
                        {"DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:9/none"})
    assert code == 1 and "cannot connect to 127.0.0.1:9/none" in out


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON"),
    ('{"Values": []}', '"Values": {"NAME": "value"'),
    ('{"Values": {"A": {"b": 1}}}', "expected string values"),
])
def test_bad_settings_file_is_a_configuration_error_naming_the_file(tmp_path, content, message, capsys):
    path = tmp_path / "local.settings.json"
    path.write_text(content)
    assert run_cli(["list", "--settings", str(path)], {})[0] == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err
    assert run_cli(["list", "--settings", str(tmp_path / "missing.json")], {})[0] == 2
    assert "cannot read the settings file" in capsys.readouterr().err


# --- every variable the code reads is documented ----------------------------------------------------

ENV_READ = re.compile(r"""(?:environ\.get|getenv|environ\[|env\.get|env\[)\(?\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


def code_variables() -> set[str]:
    names = {var.name for _, var in VARIABLES}
    for path in [ROOT / "function_app.py", *sorted((ROOT / "checks").rglob("*.py"))]:
        names |= set(ENV_READ.findall(path.read_text()))
    from checks.connect.database import _LIBPQ_ENV  # the libpq variables passed to the driver
    return names | set(_LIBPQ_ENV)


def readme_table_variables() -> set[str]:
    """The names in the first column of docs/configuration.md's tables."""
    rows = [line.split("|")[1] for line in page("configuration").splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", row)}


PLATFORM = {"HOME", "XDG_STATE_HOME"}  # the OS's own (where the default spool lives), described in its row


def test_every_variable_the_code_reads_is_in_the_readme_configuration_table():
    found = code_variables()
    assert {"VERIFIER_SPOOL_DIR", "PGSSLROOTCERT", "LOG_LEVEL", "NO_COLOR"} <= found  # the scan works
    assert sorted(found - readme_table_variables() - PLATFORM) == []


# --- drill start: its own arguments first, a disabled drill is a configuration error -----------------

@pytest.fixture
def no_azure(monkeypatch):
    """Fails the test if the drill reaches the journal or Azure."""
    from checks import drill_face

    def touched(*args, **kwargs):
        raise AssertionError("touched the journal or Azure before validating the arguments")
    monkeypatch.setattr(drill_face, "open_journal", touched)
    monkeypatch.setattr(drill_face.restore_drill, "make_context", touched)


@pytest.mark.parametrize("argv,messages", [
    (["--restore-point", "yesterday"],
     ["error: --restore-point: expected latest, random, or an ISO time with zone", "got 'yesterday'"]),
    (["--restore-point", "2026-13-01T03:00:00Z"], ["error: --restore-point: expected a real date and time with zone"]),
    (["--target-server", "Prod_DB"], ["error: --target-server: invalid server name 'Prod_DB'"]),
    (["--target-server", "medicapp-db"],
     ["error: --target-server: 'medicapp-db' is production's server (PG_SERVER_NAME)"]),
    (["--restore-point", "soon", "--target-server", "x"], ["error: --restore-point:", "error: --target-server:"]),
    (["--target", "staging"], ["error: --target: unknown target 'staging'; known targets: production"]),
])
def test_drill_start_validates_its_arguments_before_touching_azure(no_azure, argv, messages, capsys):
    env = {"RESTORE_DRILL_ENABLED": "true", "PG_SERVER_NAME": "medicapp-db"}
    assert run_cli(["drill", "start", *argv], env)[0] == 2
    err = capsys.readouterr().err
    for message in messages:
        assert message in err


def test_disabled_or_unconfigured_drill_is_a_configuration_error(base_env, capsys):
    assert run_cli(["drill", "start", "--restore-point", "latest"], base_env)[0] == 2
    assert "RESTORE_DRILL_ENABLED is not true" in capsys.readouterr().err
    assert run_cli(["drill", "start"], dict(base_env, RESTORE_DRILL_ENABLED="true"))[0] == 2
    assert "AZURE_SUBSCRIPTION_ID" in capsys.readouterr().err
    assert run_cli(["drill", "cleanup"], base_env)[0] == 2
    assert "AZURE_SUBSCRIPTION_ID" in capsys.readouterr().err


def test_http_drill_start_refuses_bad_fields_with_400(no_azure):
    from checks.drill_face import http_start
    code, body = http_start(Settings.from_env({"RESTORE_DRILL_ENABLED": "true"}),
                            {"restore_point": "2026-11-01", "target_server": "-bad-"})
    assert code == 400 and set(body["problems"]) == {"restore_point", "target_server"}


# --- concurrent first imports of Azure SDKs ---------------------------------------------------------

PRELOAD_PROBE = """
import sys
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import CheckSpec, Outcome, Severity
from checks.engine.runner import run_checks

seen = []
def probe(ctx):
    seen.append("azure.core.pipeline" in sys.modules)
    return Outcome.passed("ok")

spec = CheckSpec(id="t.probe", title="t", severity=Severity.LOW, remediation="", risk="", run=probe)
assert "azure.core.pipeline" not in sys.modules
run_checks([spec], RunContext(settings=Settings.from_env(dict(ENV))), trigger="test")
print(seen)
"""


@pytest.mark.parametrize("env,loaded", [({"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000"}, True),
                                        ({"BLOB_CONNECTION_STRING": "UseDevelopmentStorage=true"}, True),
                                        ({"DATABASE_URL": "postgresql://u@127.0.0.1/db"}, False)])
def test_azure_core_is_imported_before_the_check_threads_start(env, loaded):
    """Without it, two checks importing two Azure SDKs for the first time can deadlock each other."""
    done = subprocess.run([sys.executable, "-c", PRELOAD_PROBE.replace("ENV", repr(env))], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[{loaded}]"
