"""Safety of the database checks with a real PostgreSQL: nothing written, no secret leaked, bad
targets become errors within the connect timeout."""
import json
import logging
import time
import uuid

import psycopg
import pytest

from checks.engine.config import ConfigError, Settings
from checks.engine.context import RunContext
from checks.journal.store import Journal
from checks.engine.model import Status
from checks.connect.database import connect
from checks.engine.registry import select
from checks.engine.runner import run_checks
from checks.service import load_settings

EVIL_TABLES = ("patients; DROP TABLE patients", "public.patients; DELETE FROM public.patients",
               'patients"; DROP TABLE patients; --', "patients) ; UPDATE patients SET full_name = 'x'",
               "CREATE TABLE evil (id int)")


def run(settings, checks=("database.*",), **kw):
    result = run_checks(select(list(checks)), RunContext(settings=settings, **kw), "cli")
    return {r.check_id: r for r in result.results}, result


def admin_scalar(cluster, query, db="medicapp"):
    with psycopg.connect(cluster.admin_url(db), autocommit=True) as conn:
        return conn.execute(query).fetchone()[0]


def assert_demo_untouched(cluster):
    assert admin_scalar(cluster, "select count(*) from patients") == 120
    assert admin_scalar(cluster, "select count(*) from documents") == 60
    assert admin_scalar(cluster, "select count(*) from patients where full_name = 'x'") == 0
    assert admin_scalar(cluster, "select to_regclass('public.evil') is null") is True
    assert admin_scalar(cluster, "select version_num from alembic_version") == "4f2b9c1d7e3a"


def raw_settings(url, **values):
    """Settings that skip validation: what reaches the SQL layer if config validation were bypassed."""
    return Settings(values={"database_url": url, **values})


# --- layer 1: configuration refuses names that are not identifiers ----------------------------------

@pytest.mark.parametrize("var,value", [
    ("ESSENTIAL_TABLES", EVIL_TABLES[0]), ("ESSENTIAL_TABLES", "public.patients>=1,documents; DELETE FROM documents"),
    ("ALEMBIC_VERSION_TABLE", "alembic_version; DROP TABLE patients"), ("ALEMBIC_SCHEMA", "public; DROP SCHEMA public"),
    ("SIGNED_DOCUMENT_TABLE", "documents; UPDATE documents SET signed = false"),
    ("SIGNED_DOCUMENT_PATH_COLUMN", "blob_path FROM documents; DELETE FROM documents; --"),
    ("SIGNED_DOCUMENT_ORDER_COLUMN", "created_at; CREATE TABLE evil (id int)"),
])
def test_config_rejects_sql_in_names(var, value):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({var: value})
    assert var in raised.value.problems


# --- layer 2: if an evil name reaches the SQL layer, quoting and the read-only session stop it ------

def test_evil_essential_tables_change_nothing_and_fail_naming_them(pg_cluster, demo_db_url):
    results, _ = run(raw_settings(demo_db_url, essential_tables=EVIL_TABLES), ("database.essential_counts",))
    result = results["database.essential_counts"]
    assert result.status is Status.FAIL
    for name in EVIL_TABLES:
        assert f"table {name} not found" in result.summary  # taken as a (non-existent) name, not as SQL
    assert_demo_untouched(pg_cluster)


def test_evil_alembic_table_changes_nothing(pg_cluster, demo_db_url):
    results, _ = run(raw_settings(demo_db_url, alembic_version_table="alembic_version; DROP TABLE patients"),
                     ("database.migration",))
    result = results["database.migration"]
    assert result.status is Status.WARN
    assert "public.alembic_version; DROP TABLE patients not found" in result.summary
    assert_demo_untouched(pg_cluster)


@pytest.mark.parametrize("values,reason", [
    ({"signed_document_path_column": "blob_path FROM documents; DELETE FROM documents; --"}, "does not exist"),
    ({"signed_document_table": "documents; UPDATE documents SET signed = false"}, "does not exist"),
    ({"signed_document_order_column": "created_at; CREATE TABLE evil (id int)"}, "does not exist"),
])
def test_evil_signed_document_names_are_errors(pg_cluster, demo_db_url, values, reason):
    values.setdefault("signed_document_table", "public.documents")
    results, _ = run(raw_settings(demo_db_url, **values), ("database.signed_document",))
    result = results["database.signed_document"]
    assert result.status is Status.ERROR and reason in result.summary, result.summary
    assert "cannot read signed documents" in result.summary
    assert_demo_untouched(pg_cluster)


@pytest.mark.parametrize("statement", [
    "DELETE FROM patients", "UPDATE patients SET full_name = 'x'", "DROP TABLE patients",
    "CREATE TABLE evil (id int)", "SELECT 1; DELETE FROM patients",
])
def test_read_only_session_refuses_writes_even_for_a_superuser(pg_cluster, statement):
    """The second wall: even a login that may write gets a session that cannot."""
    settings = Settings.from_env({"DATABASE_URL": pg_cluster.admin_url("medicapp")})
    with connect(settings) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(statement)
    assert_demo_untouched(pg_cluster)


def test_read_only_refusal_is_reported_with_the_reason(pg_cluster):
    from checks.families.database import query_error
    settings = Settings.from_env({"DATABASE_URL": pg_cluster.admin_url("medicapp")})
    with connect(settings) as conn:
        try:
            conn.execute("DELETE FROM patients")
        except psycopg.Error as exc:
            error = query_error(exc, "patients")
    assert "refused by the read-only session" in error.reason and "read-only transaction" in error.reason


# --- secrets -----------------------------------------------------------------------------------------

def test_password_never_in_results_journal_or_logs(pg_cluster, azurite, journal_table_name, caplog):
    sentinel = "Pw-Sentinel-" + uuid.uuid4().hex
    role = "sentinel_" + uuid.uuid4().hex[:8]
    pg_cluster.execute(f"create role {role} login password '{sentinel}'")
    pg_cluster.execute(f"grant select on all tables in schema public to {role}", "medicapp")
    env = {"DATABASE_URL": pg_cluster.url(role, sentinel, "medicapp"), "AzureWebJobsStorage": azurite.connection_string,
           "JOURNAL_TABLE": journal_table_name, "EXPECTED_ALEMBIC_REVISION": "0000aaaa",
           "ESSENTIAL_TABLES": "public.patients>=1000,public.nope", "SIGNED_DOCUMENT_TABLE": "public.documents"}
    settings = load_settings(env)
    journal = Journal.from_settings(settings, retry_total=0)
    caplog.set_level(logging.DEBUG)
    results, good = run(settings, journal=journal)
    assert results["database.connectivity"].status is Status.PASS  # the password worked...
    assert results["database.migration"].status is Status.FAIL  # ...and failing checks say things
    wrong = load_settings(dict(env, DATABASE_URL=pg_cluster.url(role, sentinel + "x", "medicapp")))
    bad_results, bad = run(wrong)
    assert {r.status for r in bad_results.values()} == {Status.ERROR}
    journal.write_run(good)
    journal.write_run(bad)
    journaled = json.dumps(journal.partition(good.month), default=str)
    assert good.run_id in journaled and bad.run_id in journaled
    for text in (json.dumps(good.to_dict(), default=str), json.dumps(bad.to_dict(), default=str), journaled,
                 caplog.text):
        assert sentinel not in text


# --- bad targets: errors within the connect timeout, each check on its own ------------------------

@pytest.mark.parametrize("make_url,fragment", [
    (lambda c: "postgresql://verifier:pw@10.255.255.1:5432/medicapp?sslmode=disable", "cannot connect"),
    (lambda c: c.url("verifier", "Wr0ng-Sentinel-17", "medicapp"), "password authentication failed"),
    (lambda c: c.url("verifier", "verifier-demo-pw", "no_such_db"), "no_such_db"),
])
def test_bad_targets_error_within_connect_timeout(pg_cluster, make_url, fragment):
    settings = Settings.from_env({"DATABASE_URL": make_url(pg_cluster), "DB_CONNECT_TIMEOUT_SECONDS": "2",
                                  "ESSENTIAL_TABLES": "public.patients", "SIGNED_DOCUMENT_TABLE": "public.documents",
                                  "CHECK_TIMEOUT_SECONDS": "20"})
    t0 = time.monotonic()
    results, _ = run(settings)
    assert time.monotonic() - t0 < 6  # checks run concurrently, each bounded by connect_timeout
    assert set(results) == {"database.connectivity", "database.migration", "database.essential_counts",
                            "database.signed_document"}
    for result in results.values():
        assert result.status is Status.ERROR, (result.check_id, result.summary)
        assert fragment in result.summary and result.remediation
        assert "Wr0ng-Sentinel-17" not in result.summary + json.dumps(result.details)
