"""Issue 27 items 3 and 4: the database belongs to the target; the data-loss baseline is the newest accepted
count of the same target and database, for each table, however old. Real PostgreSQL and Azurite."""
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import BlobServiceClient

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import CheckResult, Run, Severity, Status, new_run_id
from checks.engine.target import Target
from checks.journal.baseline import PREFIX, SEED_ROW, partition_of
from checks.journal.store import Journal
from checks.report.acks import acknowledge
from checks.report.checklist import month_report
from checks.service import RunRequest, verify
from devtools.localstack import DEMO_SQL
from test_database_pg import NEWEST_CONTENT, NEWEST_SIGNED, REVISION

COUNTS = RunRequest(trigger="cli", checks=["database.essential_counts"])


@pytest.fixture
def databases(pg_cluster):
    """Two private copies of the demo database with a table `items` the tests fill: production and a copy."""
    names = ["bl_" + uuid.uuid4().hex[:10] for _ in range(2)]
    for name in names:
        pg_cluster.create_database(name, DEMO_SQL)
        pg_cluster.execute("CREATE TABLE public.items (id int); CREATE TABLE public.extras (id int); "
                           "GRANT SELECT ON public.items, public.extras TO verifier;", name)
    yield names
    for name in names:
        pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows(cluster, db, table, count):
    cluster.execute(f"TRUNCATE public.{table}; INSERT INTO public.{table} SELECT generate_series(1, {count})", db)


def env_for(base_env, cluster, db, tables="public.items", **extra):
    return dict(base_env, DATABASE_URL=cluster.url("verifier", "verifier-demo-pw", db), ESSENTIAL_TABLES=tables,
                EXACT_COUNT_MAX_ROWS="100000", **extra)


def counted(env, journal, when):
    settings = Settings.from_env(env)
    run = verify(COUNTS, settings, journal, ctx=RunContext(settings=settings, clock=lambda: when))
    assert run.journal_status == "written", run.journal_status
    return run.results[0]


def at(month, day=1, year=2026):
    return datetime(year, month, day, 6, tzinfo=timezone.utc)


# --- item 3: the database belongs to the target ----------------------------------------------

def test_a_dry_run_against_a_healthy_copy_does_not_tick_productions_dry_run_box(base_env, pg_cluster, databases,
                                                                                  azurite):
    production, copy = databases
    container = "docs" + uuid.uuid4().hex[:8]
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container) \
        .upload_blob(NEWEST_SIGNED, NEWEST_CONTENT)
    pg_cluster.execute("UPDATE documents SET sha256 = repeat('0', 64)", production)  # production's documents damaged
    extra = {"EXPECTED_ALEMBIC_REVISION": REVISION, "SIGNED_DOCUMENT_TABLE": "public.documents",
             "SIGNED_DOCUMENT_CHECKSUM_COLUMN": "sha256", "SIGNED_DOCUMENT_CONTAINER": container,
             "BLOB_CONNECTION_STRING": azurite.connection_string}
    prod_env = env_for(base_env, pg_cluster, production, "public.patients>=1", **extra)
    settings = Settings.from_env(prod_env)
    journal = Journal.from_settings(settings)
    failed = verify(RunRequest(trigger="timer", checks=["database.*"]), settings, journal)
    assert {r.check_id: r.status for r in failed.results}["database.signed_document"] is Status.FAIL
    copy_env = dict(prod_env, DATABASE_URL=pg_cluster.url("verifier", "verifier-demo-pw", copy))
    dry = verify(RunRequest(trigger="cli", checks=["database.*"], dry_run=True), Settings.from_env(copy_env), journal)
    assert dry.status is Status.PASS
    report = month_report(journal, failed.month, None, Target.from_settings(settings))
    assert report.box("dry_run").state == "failed"  # before: "ticked" by the copy's dry run
    assert report.box("dry_run").evidence.run_id == failed.run_id
    assert any(dry.run_id in n and copy in n for n in report.notes), report.notes


def test_the_run_records_its_database_never_the_user_or_password(base_env, pg_cluster, databases):
    env = env_for(base_env, pg_cluster, databases[0])
    journal = Journal.from_settings(Settings.from_env(env))
    run = verify(COUNTS, Settings.from_env(env), journal)
    summary = next(r for r in journal.partition(run.month) if r.get("Kind") == "run")
    assert summary["TargetDatabaseHost"] == f"127.0.0.1:{pg_cluster.port}"
    assert summary["TargetDatabaseName"] == databases[0]
    assert not any("verifier" in str(v) for k, v in summary.items() if k.startswith("Target"))
    pg_env = {k: v for k, v in base_env.items()} | {"PGHOST": "DB.Example.COM", "PGPORT": "5432", "PGDATABASE": "app",
                                                    "PGUSER": "someone", "PGPASSWORD": "s3cret"}
    assert Target.from_settings(Settings.from_env(pg_env)).database() == ("db.example.com", "app")


def legacy_run(started, target, details_target, status=Status.PASS):
    """A run as journaled before runs recorded their database: target columns without the database ones."""
    run = Run(run_id=new_run_id(started), trigger="timer", started_at=started,
              finished_at=started + timedelta(seconds=1), target=target)
    for cid in ("database.connectivity", "database.migration", "database.essential_counts",
                "database.signed_document"):
        details = {"target": details_target} if details_target else {}
        run.results.append(CheckResult(cid, cid, status, Severity.HIGH, "fine", details, "", started, 5))
    return run


def test_runs_journaled_before_the_database_was_recorded_count_only_by_the_database_their_results_name(
        base_env, pg_cluster, databases):
    settings = Settings.from_env(env_for(base_env, pg_cluster, databases[0]))
    production = Target.from_settings(settings)
    journal = Journal.from_settings(settings)
    old = Target(name="production")  # no database columns
    port = pg_cluster.port
    cases = [(at(3), f"127.0.0.1:{port}/{databases[0]}", "ticked"),  # names production's database: evidence
             (at(4), f"127.0.0.1:{port}/{databases[1]}", "no evidence"),  # another database: not evidence
             (at(5), "", "no evidence")]  # names no database: not evidence (conservative)
    for started, named, state in cases:
        run = legacy_run(started, old, named)
        journal.write_run(run)
        report = month_report(journal, run.month, None, production)
        assert report.box("dry_run").state == state, (named, report.notes)
        assert report.box("journal").state == "ticked"  # still production's run for the other boxes


# --- item 4: the data-loss baseline ------------------------------------------------------------

def test_with_the_monthly_timer_a_loss_fails_every_month_until_acknowledged(base_env, pg_cluster, databases):
    env = env_for(base_env, pg_cluster, databases[0])
    journal = Journal.from_settings(Settings.from_env(env))
    rows(pg_cluster, databases[0], "items", 1000)
    assert counted(env, journal, at(6)).status is Status.PASS
    rows(pg_cluster, databases[0], "items", 500)
    for month in (7, 8, 9, 10):  # before: July failed, August passed ("no previous run ... not compared")
        result = counted(env, journal, at(month))
        assert result.status is Status.FAIL, (month, result.summary)
        assert "public.items dropped from 1000 to 500 rows" in result.summary
    acknowledge(journal, result.details["run_id"], "database.essential_counts", "Dr. A", "archived on purpose",
                now=at(10, 2))
    after = counted(env, journal, at(11))
    assert after.status is Status.PASS and "acknowledged by Dr. A" in after.summary


def test_another_targets_passing_run_or_ack_is_not_productions_baseline(base_env, pg_cluster, databases):
    production, staging = databases
    prod_env = env_for(base_env, pg_cluster, production)
    staging_env = env_for(base_env, pg_cluster, staging, TARGET_NAME="staging")
    journal = Journal.from_settings(Settings.from_env(prod_env))
    rows(pg_cluster, production, "items", 1000)
    rows(pg_cluster, staging, "items", 1000)
    assert counted(prod_env, journal, at(8)).status is Status.PASS
    assert counted(staging_env, journal, at(8, 1)).status is Status.PASS
    rows(pg_cluster, production, "items", 400)
    rows(pg_cluster, staging, "items", 400)
    lost = counted(staging_env, journal, at(8, 2))
    assert lost.status is Status.FAIL
    acknowledge(journal, lost.details["run_id"], "database.essential_counts", "Ops", "staging reset", now=at(8, 3))
    assert counted(staging_env, journal, at(8, 4)).status is Status.PASS  # staging's own baseline: acknowledged
    result = counted(prod_env, journal, at(8, 5))  # before: passed (staging's ack or run was the baseline)
    assert result.status is Status.FAIL and "public.items dropped from 1000 to 400 rows" in result.summary


def test_a_narrower_essential_tables_run_does_not_reset_the_other_tables_baseline(base_env, pg_cluster, databases):
    db = databases[0]
    both = env_for(base_env, pg_cluster, db, "public.items,public.extras")
    narrow = env_for(base_env, pg_cluster, db, "public.extras")
    journal = Journal.from_settings(Settings.from_env(both))
    rows(pg_cluster, db, "items", 1000)
    rows(pg_cluster, db, "extras", 10)
    assert counted(both, journal, at(8)).status is Status.PASS
    rows(pg_cluster, db, "items", 100)
    assert counted(narrow, journal, at(8, 2)).status is Status.PASS
    result = counted(both, journal, at(8, 3))  # before: passed, items "not compared"
    assert result.status is Status.FAIL and "public.items dropped from 1000 to 100 rows" in result.summary


def test_a_run_against_another_database_does_not_reset_the_baseline(base_env, pg_cluster, databases):
    production, copy = databases
    prod_env = env_for(base_env, pg_cluster, production)
    copy_env = env_for(base_env, pg_cluster, copy)
    journal = Journal.from_settings(Settings.from_env(prod_env))
    rows(pg_cluster, production, "items", 1000)
    rows(pg_cluster, copy, "items", 1000)
    assert counted(prod_env, journal, at(8)).status is Status.PASS
    rows(pg_cluster, production, "items", 300)
    assert counted(copy_env, journal, at(8, 2)).status is Status.PASS
    result = counted(prod_env, journal, at(8, 3))  # before: passed ("previous result was for another server")
    assert result.status is Status.FAIL and "public.items dropped from 1000 to 300 rows" in result.summary


def test_acknowledging_older_counts_does_not_roll_back_a_later_accepted_run(base_env, pg_cluster, databases):
    db = databases[0]
    env = env_for(base_env, pg_cluster, db)
    journal = Journal.from_settings(Settings.from_env(env))
    rows(pg_cluster, db, "items", 2000)
    assert counted(env, journal, at(8)).status is Status.PASS
    rows(pg_cluster, db, "items", 1000)
    dropped = counted(env, journal, at(8, 2))
    assert dropped.status is Status.FAIL
    rows(pg_cluster, db, "items", 2000)
    assert counted(env, journal, at(8, 3)).status is Status.PASS  # 2000 accepted after the drop
    acknowledge(journal, dropped.details["run_id"], "database.essential_counts", "Ops", "late", now=at(8, 4))
    rows(pg_cluster, db, "items", 1100)
    result = counted(env, journal, at(8, 5))  # before: passed (the ack of 1000 was newer than the 2000 run)
    assert result.status is Status.FAIL and "public.items dropped from 2000 to 1100 rows" in result.summary


def test_a_table_without_a_baseline_is_said_so(base_env, pg_cluster, databases):
    db = databases[0]
    env = env_for(base_env, pg_cluster, db)
    journal = Journal.from_settings(Settings.from_env(env))
    rows(pg_cluster, db, "items", 10)
    rows(pg_cluster, db, "extras", 10)
    first = counted(env, journal, at(8))
    assert "no accepted count of public.items for this target and database: not compared" in first.summary
    second = counted(env_for(base_env, pg_cluster, db, "public.items,public.extras"), journal, at(8, 2))
    assert "public.items 10 (run" in second.summary
    assert "no accepted count of public.extras for this target and database: not compared" in second.summary
    assert second.details["no_baseline"] == ["public.extras"]


def test_a_journal_written_before_baselines_is_walked_back_once_then_read_from_one_partition(
        base_env, pg_cluster, databases):
    db = databases[0]
    env = env_for(base_env, pg_cluster, db)
    settings = Settings.from_env(env)
    journal = Journal.from_settings(settings)
    old = legacy_run(at(1, 5, 2025), None, "")  # journaled before targets and baselines: counts name their database
    old.results = [CheckResult("database.essential_counts", "c", Status.PASS, Severity.HIGH, "fine",
                               {"counts": {"public.items": 1000}, "target": f"127.0.0.1:{pg_cluster.port}/{db}"},
                               "", old.started_at, 5)]
    journal.write_run(old)
    rows(pg_cluster, db, "items", 500)
    months = []
    query = journal.query

    def spy(filter_, parameters=None):
        if "CheckId" in filter_ or "PartitionKey eq @pk" == filter_:  # the walk's month queries, partitions
            months.append((parameters or {}).get("pk"))
        return query(filter_, parameters)

    journal.query = spy
    t0 = time.perf_counter()
    result = counted(env, journal, at(12))  # 24 months back: before, "no previous run ... not compared"
    walked = time.perf_counter() - t0
    assert result.status is Status.FAIL and "public.items dropped from 1000 to 500 rows" in result.summary
    assert "2025-01" in months and "2024-12" not in months  # back to the journal's first month, no further
    key = partition_of(Target.from_settings(settings))
    assert key.startswith(PREFIX) and any(r["RowKey"] == SEED_ROW for r in journal.partition(key))
    months.clear()
    t0 = time.perf_counter()
    again = counted(env, journal, at(12, 2))
    seeded = time.perf_counter() - t0
    assert again.status is Status.FAIL
    assert months == [key], months  # one partition query, no month read
    print(f"baseline: walk of 24 months {walked:.2f} s per run, seeded partition {seeded:.2f} s per run")

