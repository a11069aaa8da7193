"""Journal against Azurite: atomic write, read-back, ordering, bounds, secrets."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from checks.engine.config import Settings
from checks.journal.store import TRANSACTION_LIMIT, Journal, JournalUnavailable, month_of_run_id
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.engine.redact import register_secrets


def make_run(run_id, started, n=3, status=Status.PASS, trigger="cli", details=None):
    run = Run(run_id=run_id, trigger=trigger, started_at=started, finished_at=started + timedelta(seconds=2))
    for i in range(n):
        run.results.append(CheckResult(f"fam.check{i:03d}", f"Check {i}", status if i == 0 else Status.PASS,
                                       Severity.HIGH, f"summary {i}", details or {"i": i}, "", started, 10 + i))
    return run


@pytest.fixture
def journal(base_env):
    return Journal.from_settings(Settings.from_env(base_env))


def test_write_and_read_back(journal):
    t = datetime(2026, 11, 3, 6, 0, tzinfo=timezone.utc)
    run = make_run("20261103T060000Z-aaaaaa", t, n=3, status=Status.WARN)
    journal.write_run(run)
    back = journal.get_run(run.run_id)
    assert back.run_id == run.run_id and back.trigger == "cli"
    assert [r.check_id for r in back.results] == ["fam.check000", "fam.check001", "fam.check002"]
    assert back.results[0].status is Status.WARN and back.results[1].details == {"i": 1}
    assert back.status is Status.WARN
    rows = journal.partition("2026-11")
    assert {r["Kind"] for r in rows} == {"run", "check", "chain-head"}  # the month's hash chain head
    check_row = next(r for r in rows if r["Kind"] == "check")
    for column in ("Status", "CheckId", "Summary", "Severity", "DurationMs", "Trigger", "RunId", "AppVersion"):
        assert column in check_row


def test_month_listing_newest_first(journal):
    older = make_run("20261101T060000Z-000001", datetime(2026, 11, 1, 6, tzinfo=timezone.utc))
    newer = make_run("20261120T060000Z-000002", datetime(2026, 11, 20, 6, tzinfo=timezone.utc))
    other_month = make_run("20261020T060000Z-000003", datetime(2026, 10, 20, 6, tzinfo=timezone.utc))
    for r in (older, other_month, newer):
        journal.write_run(r)
    runs = journal.list_runs("2026-11")
    assert [r["run_id"] for r in runs] == [newer.run_id, older.run_id]
    assert runs[0]["counts"]["pass"] == 3 and runs[0]["check_count"] == 3
    assert journal.list_runs("2026-09") == []


def test_more_checks_than_one_transaction_holds(journal):
    run = make_run("20261105T060000Z-bbbbbb", datetime(2026, 11, 5, 6, tzinfo=timezone.utc), n=TRANSACTION_LIMIT + 20)
    journal.write_run(run)
    assert len(journal.get_run(run.run_id).results) == TRANSACTION_LIMIT + 20


def test_transaction_is_atomic(journal):
    """A batch with one invalid entity writes nothing at all."""
    run = make_run("20261106T060000Z-cccccc", datetime(2026, 11, 6, 6, tzinfo=timezone.utc), n=2)
    run.results[1].check_id = "bad/id#"  # '/' and '#' are not allowed in a RowKey
    with pytest.raises(JournalUnavailable):
        journal.write_run(run)
    assert journal.get_run(run.run_id) is None
    assert journal.partition("2026-11") == []


def test_details_are_bounded(journal):
    run = make_run("20261107T060000Z-dddddd", datetime(2026, 11, 7, 6, tzinfo=timezone.utc), n=1,
                   details={"big": "x" * 100_000})
    journal.write_run(run)
    details = journal.get_run(run.run_id).results[0].details
    assert details["truncated"] is True and len(json.dumps(details)) < 20_000


def test_no_secret_is_written(journal):
    secret = "Sentinel-Pa55word-7731"
    register_secrets([f"postgresql://app:{secret}@db.example/medicapp"])
    unregistered = "Details-Only-Pw-5120"  # never registered: masked because of its key name alone
    run = make_run("20261108T060000Z-eeeeee", datetime(2026, 11, 8, 6, tzinfo=timezone.utc), n=1,
                   details={"dsn": f"postgresql://app:{secret}@db.example/medicapp", "password": unregistered})
    run.results[0].summary = f"failed with password={secret}"
    run.notes.append(f"AccountKey={secret}")
    journal.write_run(run)
    raw = json.dumps(journal.partition("2026-11"), default=str)
    assert secret not in raw and unregistered not in raw
    assert "***" in raw
    details = journal.get_run(run.run_id).results[0].details
    assert details["password"] == "***"


def test_run_id_month_and_bad_id():
    assert month_of_run_id("20261126T092114Z-3f9a1c") == "2026-11"
    with pytest.raises(ValueError):
        month_of_run_id("../etc")


def test_unreachable_journal_is_a_clear_error():
    settings = Settings.from_env({"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                  "AccountKey=c2VjcmV0;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
                                  "JOURNAL_TABLE": "Nowhere"})
    j = Journal.from_settings(settings, retry_total=0)
    with pytest.raises(JournalUnavailable) as info:
        j.write_run(make_run("20261109T060000Z-ffffff", datetime(2026, 11, 9, tzinfo=timezone.utc), n=1))
    assert "c2VjcmV0" not in str(info.value)


def test_insert_never_overwrites(journal):
    entity = {"PartitionKey": "2026-11", "RowKey": "signoff-x", "Kind": "signoff", "By": "first"}
    assert journal.insert(dict(entity)) is True
    assert journal.insert(dict(entity, By="second")) is False
    rows = journal.partition("2026-11")
    assert [r["By"] for r in rows if r["Kind"] == "signoff"] == ["first"]


class RecordingTable:
    """The real table client, with every write call recorded (which entities went in which call)."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def submit_transaction(self, operations):
        self.calls.append([entity["Kind"] for _, entity in operations])
        return self.table.submit_transaction(operations)

    def __getattr__(self, name):
        if name in ("upsert_entity", "create_entity", "update_entity"):
            def record(entity, *args, **kwargs):
                self.calls.append([f"{name}:{entity.get('Kind')}"])
                return getattr(self.table, name)(entity, *args, **kwargs)
            return record
        return getattr(self.table, name)


def test_run_summary_is_written_in_the_same_transaction_as_its_checks(journal):
    """A reader never sees a summary without its checks (or the reverse): one transaction, whatever the order."""
    recording = RecordingTable(journal.table_client)
    journal = Journal(recording)
    run = make_run("20261109T060000Z-ffffff", datetime(2026, 11, 9, 6, tzinfo=timezone.utc), n=3)
    journal.write_run(run)
    assert len(recording.calls) == 1
    assert sorted(recording.calls[0]) == ["chain-head", "check", "check", "check", "run"]  # head: same transaction
    assert len(journal.get_run(run.run_id).results) == 3


def test_with_more_than_100_checks_the_summary_goes_in_the_last_transaction(journal):
    recording = RecordingTable(journal.table_client)
    journal = Journal(recording)
    run = make_run("20261110T060000Z-abcdef", datetime(2026, 11, 10, 6, tzinfo=timezone.utc), n=TRANSACTION_LIMIT + 5)
    journal.write_run(run)
    assert [len(c) for c in recording.calls] == [TRANSACTION_LIMIT, 7]  # 5 checks, the run, the chain head
    assert "run" not in recording.calls[0] and recording.calls[-1].count("run") == 1


# --- the table: the deployment's (issue 28): the app's role is scoped to it and cannot create tables ---------
class TableAsked:
    """A table client that is missing its table (`missing`) and answers create_table with `status`."""

    def __init__(self, missing: bool, status: int | None):
        self.missing, self.status, self.created = missing, status, 0

    def list_entities(self, **kwargs):
        from azure.core.exceptions import ResourceNotFoundError
        if self.missing:
            raise ResourceNotFoundError("TableNotFound")
        return iter([])

    def create_table(self):
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        self.created += 1
        if self.status == 409:
            raise ResourceExistsError("TableAlreadyExists")
        if self.status:
            error = HttpResponseError("This request is not authorized to perform this operation using this permission.")
            error.status_code = self.status
            raise error


def test_an_existing_table_is_never_asked_to_be_created(journal, monkeypatch):
    """Pins the old defect: every first write sent Create Table, which the table-scoped role refuses (403)."""
    from azure.data.tables import TableClient
    journal.write_run(make_run("20261111T060000Z-aaaaa1", datetime(2026, 11, 11, 6, tzinfo=timezone.utc), n=1))
    asked = []
    monkeypatch.setattr(TableClient, "create_table", lambda self, **k: asked.append(self.table_name))
    fresh = Journal(journal.table_client)  # a new process: the table is there already
    fresh.write_run(make_run("20261111T070000Z-aaaaa2", datetime(2026, 11, 11, 7, tzinfo=timezone.utc), n=1))
    assert asked == [] and len(fresh.list_runs("2026-11")) == 2


@pytest.mark.parametrize("status", [403, 409, None])
def test_a_missing_table_is_created_and_a_refusal_or_a_conflict_counts_as_there(status):
    table = TableAsked(missing=True, status=status)
    Journal(table).ensure_table()  # 403: not ours to create (the deployment's); 409: created meanwhile
    assert table.created == 1


def test_table_creation_failing_otherwise_is_a_journal_error():
    table = TableAsked(missing=True, status=500)
    with pytest.raises(JournalUnavailable, match="table creation"):
        Journal(table).insert({"PartitionKey": "drill", "RowKey": "x", "Kind": "x"})
    assert table.created == 1
