import io
import json

from checks.cli import main
from checks.engine.registry import all_checks, select


def run_cli(args, env):
    out = io.StringIO()
    code = main(args, out=out, env=env)
    return code, out.getvalue()


def test_run_prints_table_and_exits_zero(base_env, demo_db_url):
    code, out = run_cli(["run", "--check", "database.connectivity"], dict(base_env, DATABASE_URL=demo_db_url))
    assert code == 0, out
    assert "PASS" in out and "database.connectivity" in out and "journal: written" in out


def test_failed_check_exits_one(base_env):
    env = dict(base_env, DATABASE_URL="postgresql://nobody:pw@127.0.0.1:9/none", DB_CONNECT_TIMEOUT_SECONDS="2")
    code, out = run_cli(["run", "--check", "database.connectivity", "--json"], env)
    assert code == 1
    result = json.loads(out)["results"][0]
    assert result["status"] == "error" and "cannot connect" in result["summary"]


def test_usage_and_config_errors_exit_two(base_env, capsys):
    assert run_cli(["run", "--check", "nope"], base_env)[0] == 2
    assert "known checks" in capsys.readouterr().err
    assert run_cli(["run"], dict(base_env, CHECK_TIMEOUT_SECONDS="x"))[0] == 2
    assert "CHECK_TIMEOUT_SECONDS" in capsys.readouterr().err
    assert run_cli(["bogus"], base_env)[0] == 2
    assert run_cli(["journal", "--month", "2026-1"], base_env)[0] == 2
    assert run_cli(["run", "--azure-server", "Bad_Name"], base_env)[0] == 2
    assert "--azure-server: expected a flexible server name" in capsys.readouterr().err  # the flag, not the variable


def test_procedure_flags_are_accepted(base_env, demo_db_url):
    env = dict(base_env, DATABASE_URL=demo_db_url)
    code, out = run_cli(["run", "--dry-run", "--azure-server", "medicapp-db", "--azure-resource-group", "rg-medicapp",
                         "--json", "--no-journal"], env)
    run = json.loads(out)
    assert code == 0, out
    assert run["dry_run"] is True and run["journal"] == "disabled"
    results = {r["check_id"]: r for r in run["results"]}
    # --dry-run: every read-only check, not the writing canary (nor the on-demand drill)
    assert set(results) == {s.id for s in select()} - {"blob.canary"}
    assert results["database.connectivity"]["status"] == "pass"
    # the flags supplied the server and resource group: only the subscription is still missing
    assert results["postgres.backup_recent"]["summary"] == "AZURE_SUBSCRIPTION_ID not set"


def test_journal_command_reads_back(base_env, demo_db_url):
    env = dict(base_env, DATABASE_URL=demo_db_url)
    code, out = run_cli(["run", "--json"], env)
    run_id = json.loads(out)["run_id"]
    code, out = run_cli(["journal", "--month", run_id[:4] + "-" + run_id[4:6]], env)
    assert code == 0 and run_id in out
    code, out = run_cli(["journal", "--run", run_id], env)
    assert code == 0 and "database.connectivity" in out
    assert run_cli(["journal", "--run", "20200101T000000Z-000000"], env)[0] == 1


def test_list_shows_every_check_with_its_metadata_including_the_drill(base_env):
    code, out = run_cli(["list"], base_env)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == set(all_checks())
    assert "drill.restore" in lines and "high" in lines["drill.restore"]
    assert "Restore drill: point-in-time restore to a new server" in lines["drill.restore"]
    assert "on demand" in lines["drill.restore"] and "on demand" not in lines["blob.canary"]

