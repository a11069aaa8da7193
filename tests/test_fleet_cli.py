"""`python -m checks run --target/--all-targets` and `python -m checks targets` on the local stack."""
import io
import json
import re

import pytest

from checks.cli import main
from test_database_pg import scratch_db  # noqa: F401 (fixture)


def run_cli(args, env):
    out = io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


@pytest.fixture
def fleet_env(base_env, demo_db_url, scratch_db):
    targets = [{"name": "site-a"},
               {"name": "site-b", "postgres": {"database": scratch_db},
                "settings": {"ESSENTIAL_TABLES": "public.patients>=1000"}},
               {"name": "site-c", "postgres": {"database": "no_such_db"}}]
    return base_env | {"DATABASE_URL": demo_db_url, "ESSENTIAL_TABLES": "public.patients>=100",
                       "TARGETS": json.dumps(targets)}


def test_all_targets_prints_progress_then_the_fleet_worst_first_and_exits_with_the_worst(fleet_env):
    code, out = run_cli(["run", "--all-targets", "--concurrency", "2", "--check", "database.*"], fleet_env)
    assert code == 1, out
    progress = [line for line in out.splitlines() if re.match(r"\[\d/3\] ", line)]
    assert sorted(line.split()[2] for line in progress) == ["site-a", "site-b", "site-c"]
    summary = out[out.index("Fleet: ERROR — 3 targets: 1 error, 1 fail, 1 pass"):]
    rows = [line.split()[:2] for line in summary.splitlines()[1:4]]
    assert rows == [["ERROR", "site-c"], ["FAIL", "site-b"], ["PASS", "site-a"]]
    assert "site-b:\nNeeds attention:" in summary and "public.patients" in summary
    assert 'database "no_such_db" does not exist' in summary


def test_a_plain_run_with_targets_verifies_them_all_and_json_has_each_run(fleet_env):
    code, out = run_cli(["run", "--check", "database.connectivity", "--json", "--no-journal"], fleet_env)
    doc = json.loads(out)
    assert code == 1 and doc["status"] == "error" and doc["counts"] == {"pass": 2, "error": 1}
    assert [(t["name"], t["status"]) for t in doc["targets"]] == [("site-a", "pass"), ("site-b", "pass"),
                                                                   ("site-c", "error")]
    assert doc["targets"][1]["run"]["target"]["name"] == "site-b"


def test_one_target_prints_todays_run_table(fleet_env, demo_db_url):
    code, out = run_cli(["run", "--target", "site-a", "--check", "database.connectivity"], fleet_env)
    assert code == 0, out
    assert out.startswith("Run ") and "PASS   database.connectivity" in out and "Fleet:" not in out
    assert "[1/1]" not in out and "journal: written" in out
    # the procedure's flags still work for one target
    code, out = run_cli(["run", "--target", "site-b", "--azure-server", "medicapp-db", "--check",
                         "database.connectivity", "--json", "--no-journal"], fleet_env)
    targets = json.loads(out)["targets"]
    assert code == 0 and targets[0]["run"]["target"]["server"] == "medicapp-db"
    assert targets[0]["run"]["target"]["override"] is True


@pytest.mark.parametrize("args,expected", [
    (["--target", "site-z"], "unknown target site-z; known targets: site-a, site-b, site-c"),
    (["--all-targets", "--azure-server", "medicapp-db"],
     "--azure-server override one target's server: use them with one --target NAME, not with 3 targets (--all-targets)"),
    (["--target", "site-a", "--target", "site-b", "--azure-resource-group", "rg"], "not with 2 targets"),
    (["--target", "site-a", "--all-targets"], "--target and --all-targets exclude each other"),
    (["--all-targets", "--concurrency", "0"], "--concurrency: expected an integer from 1 to 32"),
])
def test_bad_fleet_flags_exit_two_with_a_clear_message(fleet_env, capsys, args, expected):
    assert run_cli(["run", "--no-journal", *args], fleet_env)[0] == 2
    assert expected in capsys.readouterr().err


def test_without_targets_run_is_unchanged_and_the_fleet_of_one_is_named(base_env, demo_db_url, capsys):
    env = base_env | {"DATABASE_URL": demo_db_url}
    code, out = run_cli(["run", "--check", "database.connectivity", "--no-journal"], env)
    assert code == 0 and out.startswith("Run ") and "Fleet:" not in out
    assert run_cli(["run", "--target", "staging", "--no-journal"], env)[0] == 2
    assert "unknown target staging; known targets: production" in capsys.readouterr().err
    code, out = run_cli(["targets"], env)
    assert code == 0 and out.startswith("1 target (TARGET_NAME)\n  production\n")
    assert "database: medicapp" in out and "account:  local (BLOB_CONNECTION_STRING)" not in out


def test_targets_lists_servers_accounts_and_overrides_never_secrets(fleet_env):
    env = fleet_env | {"TARGETS": json.dumps([
        {"name": "prod", "postgres": {"server": "medicapp-db", "resource_group": "rg-prod"},
         "storage": {"account": "medicappdocs", "resource_group": "rg-prod", "containers": ["documents"]}},
        {"name": "qa", "settings": {"BACKUP_MAX_AGE_HOURS": "48"}}]), "DISCOVER_TAG": "backup-verify"}
    code, out = run_cli(["targets"], env)
    assert code == 0, out
    assert "2 targets (TARGETS)" in out and "server:   medicapp-db (resource group rg-prod)" in out
    assert "account:  medicappdocs (resource group rg-prod)" in out and "overrides: BACKUP_MAX_AGE_HOURS=48" in out
    assert "Note: TARGETS is set: it is used and DISCOVER_TAG=backup-verify is ignored" in out
    assert "verifier-demo-pw" not in out
    code, out = run_cli(["targets", "--json"], env)
    doc = json.loads(out)
    assert doc["source"] == "TARGETS" and doc["targets"][0]["containers"] == ["documents"]
    assert "verifier-demo-pw" not in out


def test_discovery_without_a_subscription_is_a_clear_error(base_env, capsys):
    assert run_cli(["targets"], base_env | {"DISCOVER_TAG": "backup-verify"})[0] == 1
    assert "DISCOVER_TAG is set but there is no subscription to search" in capsys.readouterr().err


def test_make_demo_fleet_2_runs_two_local_targets_and_prints_the_fleet(tmp_path, monkeypatch, capfd):
    from devtools import demo, stack
    from devtools.localstack import free_port
    folder, settings = tmp_path / ".devstack", tmp_path / "local.settings.json"
    stack.start(folder, pg_port=free_port(), azurite_ports=(free_port(), free_port(), free_port()),
                settings_file=settings, fleet=2)
    try:
        values = json.loads(settings.read_text())["Values"]
        assert [t["name"] for t in json.loads(values["TARGETS"])] == ["medicapp", "medicapp-b"]
        monkeypatch.setattr(demo, "OUTPUT", tmp_path / "demo-output")
        code = demo.show(settings, 2)
    finally:
        stack.stop(folder)
    out = capfd.readouterr().out
    assert code == 0, out
    assert "database: medicapp_b" in out and "containers documents-b" in out
    assert re.search(r"^Fleet: WARN — 2 targets: 2 warn$", out, re.M), out
    assert re.search(r"^  WARN\s+medicapp-b\s+5 pass, 1 warn", out, re.M)  # the same seeded data: the same results
    assert "no deleted blob listed in documents-b" in out
    assert stack.fleet_parts(1) == [("medicapp", "medicapp", "documents")]
    with pytest.raises(ValueError, match="FLEET: expected 1 to 9"):
        stack.fleet_parts(10)


def test_the_fleet_summary_and_the_targets_listing_in_french(fleet_env):
    code, out = run_cli(["--lang", "fr", "run", "--all-targets", "--check", "database.connectivity", "--no-journal"],
                        fleet_env)
    assert code == 1 and "Flotte : ERREUR — 3 cibles : 1 erreur, 2 réussis" in out, out
    assert "journal : " in out
    code, out = run_cli(["--lang", "fr", "targets"], fleet_env)
    assert out.startswith("3 cibles (TARGETS)\n") and "    base :    medicapp\n" in out and "    serveur : –\n" in out
