import time

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.families.database import ConnectivityFacts, evaluate_connectivity
from checks.engine.model import Status
from checks.engine.registry import select
from checks.engine.runner import run_checks


def run_one(env):
    ctx = RunContext(settings=Settings.from_env(env))
    return run_checks(select(["database.connectivity"]), ctx, "cli").results[0]


def test_evaluate_read_only_and_not():
    ok = evaluate_connectivity(ConnectivityFacts("15.18", 3.2, True, "medicapp", "verifier", "30s"),
                               Settings.from_env({}))
    assert ok.status is Status.PASS and "read-only" in ok.summary and "statement_timeout 30s" in ok.summary
    bad = evaluate_connectivity(ConnectivityFacts("15.18", 3.2, False, "medicapp", "verifier", "30s"),
                                Settings.from_env({}))
    assert bad.status is Status.FAIL


def test_evaluate_unbounded_statements_warn():
    out = evaluate_connectivity(ConnectivityFacts("15.18", 3.2, True, "medicapp", "verifier", "0"),
                                Settings.from_env({}))
    assert out.status is Status.WARN and "statement_timeout 0" in out.summary


def test_real_connection_is_read_only(demo_db_url):
    result = run_one({"DATABASE_URL": demo_db_url})
    assert result.status is Status.PASS, result.summary
    assert result.details["read_only"] is True and result.details["database"] == "medicapp"
    assert result.details["server_version"].split(".")[0].isdigit()


def test_libpq_variables(pg_cluster):
    result = run_one({"PGHOST": "127.0.0.1", "PGPORT": str(pg_cluster.port), "PGDATABASE": "medicapp",
                      "PGUSER": "verifier", "PGPASSWORD": "verifier-demo-pw"})
    assert result.status is Status.PASS, result.summary


def test_wrong_password_is_an_error_without_the_password(pg_cluster):
    result = run_one({"DATABASE_URL": pg_cluster.url("verifier", "Wr0ng-Sentinel-99", "medicapp")})
    assert result.status is Status.ERROR
    assert "Wr0ng-Sentinel-99" not in result.summary + str(result.details)
    assert "password" in result.remediation.lower()


def test_unreachable_host_errors_within_connect_timeout():
    t0 = time.monotonic()
    result = run_one({"DATABASE_URL": "postgresql://u:p@10.255.255.1:5432/db?sslmode=disable",
                      "DB_CONNECT_TIMEOUT_SECONDS": "2"})
    assert result.status is Status.ERROR and "cannot connect" in result.summary
    assert time.monotonic() - t0 < 6


def test_missing_database(pg_cluster):
    result = run_one({"DATABASE_URL": pg_cluster.url("verifier", "verifier-demo-pw", "no_such_db")})
    assert result.status is Status.ERROR and "no_such_db" in result.summary


def test_not_configured_is_skipped():
    result = run_one({})
    assert result.status is Status.SKIPPED and "DATABASE_URL" in result.summary
