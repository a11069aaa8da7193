"""Deviations tracked to closure (issue 30 item 1): opened by failing results, one per target and check
even under concurrency, a warn persisting two months, closed by the first full passing run (its
evidence), refused by hand while the check fails, reopened as a new one; runs that are no evidence for
production never close one; crafted entities are named, never a crash. The journal is Azurite's."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from checks import service
from checks.engine.config import ConfigError, Settings
from checks.engine.model import INTERRUPTED, CheckResult, CheckSpec, Outcome, Run, Severity, Status
from checks.engine.target import Target
from checks.journal import deviation_log
from checks.journal.deviation_log import DeviationRefused, close_by_hand, update
from checks.journal.deviations import PARTITION, deviation_id, read_deviations, read_state
from checks.journal.store import Journal
from checks.service import RunRequest, verify

DB = {"database_host": "psql-prod.postgres.database.azure.com", "database_name": "medicapp"}
PROD = Target(name="production", server="psql-prod", resource_group="rg-prod", **DB)
DUE = {"critical": 7, "high": 30, "medium": 60, "low": 90}
CHECK = "postgres.retention"
T0 = datetime(2026, 11, 10, 6, tzinfo=timezone.utc)


@pytest.fixture
def settings(base_env):
    return Settings.from_env(base_env)


@pytest.fixture
def journal(settings):
    return Journal.from_settings(settings)


_SEQ = iter(range(10 ** 6))


def make_run(status, at=T0, *, check=CHECK, target=PROD, dry_run=False, trigger="timer", details=None,
             severity=Severity.HIGH, requested_by=None):
    run_id = at.strftime("%Y%m%dT%H%M%SZ") + f"-{next(_SEQ):06x}"
    run = Run(run_id=run_id, trigger=trigger, started_at=at, finished_at=at + timedelta(seconds=1), dry_run=dry_run,
              target=target, requested_by=requested_by)
    run.results.append(CheckResult(check, "Retention", status, severity, f"retention {status.value}",
                                   dict(details or {}), "fix it", at, 5))
    return run


def record(journal, run, production=PROD, due=DUE):
    """What service.verify does: deviations updated, then the run written."""
    update(journal, run, production, due)
    journal.write_run(run)
    return run


# --- opening ---------------------------------------------------------------------------------

def test_a_failing_result_opens_one_deviation_with_first_seen_due_date_and_no_owner(journal):
    first = record(journal, make_run(Status.FAIL))
    record(journal, make_run(Status.FAIL, T0 + timedelta(days=1)))  # still failing: the same deviation
    record(journal, make_run(Status.ERROR, T0 + timedelta(days=2)))
    [dev] = read_deviations(journal)
    assert dev.id == deviation_id("production", CHECK, 1) and dev.is_open
    assert (dev.target, dev.check_id, dev.severity, dev.first_status) == ("production", CHECK, "high", "fail")
    assert dev.first_run_id == first.run_id and dev.first_seen == T0
    assert dev.due == T0 + timedelta(days=30)  # DEVIATION_DUE_DAYS high=30
    assert dev.owner == "" and dev.summary == "retention fail"


def test_the_owner_is_the_http_caller_of_the_run_that_opened_it(journal):
    caller = {"object_id": "5f0c8a52-1d3e-4b7a-9c61-2e8f4d0b7a13", "name": "Dr. Alice Martin"}
    record(journal, make_run(Status.ERROR, severity=Severity.CRITICAL, requested_by=caller))
    [dev] = read_deviations(journal)
    assert (dev.owner, dev.owner_object_id) == ("Dr. Alice Martin", caller["object_id"])
    assert dev.due == T0 + timedelta(days=7)


def test_a_passing_or_warning_result_opens_nothing(journal):
    record(journal, make_run(Status.PASS))
    record(journal, make_run(Status.WARN, T0 + timedelta(hours=1)))
    record(journal, make_run(Status.SKIPPED, T0 + timedelta(hours=2)))
    assert read_deviations(journal) == []


def test_concurrent_runs_of_one_target_open_one_deviation(journal, settings):
    runs = [make_run(Status.FAIL, T0 + timedelta(seconds=i)) for i in range(6)]
    barrier = threading.Barrier(len(runs))
    errors = []

    def one(run):
        own = Journal.from_settings(settings)  # a client per writer, as separate processes have
        barrier.wait()
        try:
            update(own, run, PROD, DUE)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    devs = read_deviations(journal)
    assert [d.id for d in devs] == [deviation_id("production", CHECK, 1)]
    assert read_state(journal).findings == []  # the chain stayed one line


def test_a_warn_persisting_across_two_months_opens_one(journal):
    october = T0 - timedelta(days=30)
    record(journal, make_run(Status.WARN, october))
    assert read_deviations(journal) == []  # one month of warnings: not yet
    record(journal, make_run(Status.WARN, T0))
    [dev] = read_deviations(journal)
    assert dev.first_status == "warn" and dev.first_seen == T0


def test_a_warn_after_a_pass_this_month_has_not_persisted(journal):
    record(journal, make_run(Status.WARN, T0 - timedelta(days=30)))
    record(journal, make_run(Status.PASS, T0 - timedelta(days=2)))
    record(journal, make_run(Status.WARN, T0))
    assert read_deviations(journal) == []


def test_a_warn_of_another_target_or_database_does_not_make_a_streak(journal):
    other_db = Target(name="production", server="psql-prod", resource_group="rg-prod",
                      database_host="localhost:5433", database_name="medicapp")
    record(journal, make_run(Status.WARN, T0 - timedelta(days=30), target=other_db))
    record(journal, make_run(Status.WARN, T0))
    assert read_deviations(journal) == []


# --- closing ---------------------------------------------------------------------------------

def test_the_first_full_passing_run_closes_it_with_that_run_as_evidence(journal):
    record(journal, make_run(Status.FAIL))
    passing = record(journal, make_run(Status.PASS, T0 + timedelta(days=3)))
    record(journal, make_run(Status.PASS, T0 + timedelta(days=4)))
    [dev] = read_deviations(journal)
    assert not dev.is_open and dev.evidence_run_id == passing.run_id and dev.closed_via == "run"


def test_a_deviation_failing_again_after_closing_opens_a_new_one(journal):
    record(journal, make_run(Status.FAIL))
    record(journal, make_run(Status.PASS, T0 + timedelta(days=1)))
    again = record(journal, make_run(Status.FAIL, T0 + timedelta(days=2)))
    new, old = read_deviations(journal)
    assert old.id.endswith("-0001") and not old.is_open  # history kept as it was
    assert new.id.endswith("-0002") and new.is_open and new.first_run_id == again.run_id


OTHER_DATABASE = Target(name="production", server="psql-prod", resource_group="rg-prod",
                        database_host="localhost:5433", database_name="medicapp")
NOT_EVIDENCE = {
    "dry run": dict(dry_run=True),
    "another database": dict(target=OTHER_DATABASE),
    "override": dict(target=Target(name="production", server="psql-other", resource_group="rg-prod",
                                   override=True, **DB)),
    "drill": dict(trigger="drill"),
}


@pytest.mark.parametrize("kind", NOT_EVIDENCE)
def test_a_passing_run_that_is_no_evidence_for_production_does_not_close(journal, kind):
    record(journal, make_run(Status.FAIL))
    record(journal, make_run(Status.PASS, T0 + timedelta(days=1), **NOT_EVIDENCE[kind]))
    [dev] = read_deviations(journal)
    assert dev.is_open


def test_an_interrupted_run_does_not_close(journal):
    record(journal, make_run(Status.FAIL))
    run = make_run(Status.PASS, T0 + timedelta(days=1))
    run.results.append(CheckResult("postgres.backup_recent", "b", Status.ERROR, Severity.HIGH, "interrupted",
                                   {INTERRUPTED: True}, "", T0, 1))
    run.interrupted = "SIGINT"
    record(journal, run)
    [dev] = read_deviations(journal)
    assert dev.is_open  # and the interrupted check opened nothing
    assert all(d.check_id == CHECK for d in read_deviations(journal))


@pytest.mark.parametrize("kind", ["another database", "override"])
def test_a_failing_run_about_something_else_opens_nothing(journal, kind):
    record(journal, make_run(Status.FAIL, **NOT_EVIDENCE[kind]))
    assert read_deviations(journal) == []


# --- by hand ---------------------------------------------------------------------------------

def test_closing_by_hand_is_refused_while_the_check_still_fails(journal):
    record(journal, make_run(Status.FAIL))
    dev_id = deviation_id("production", CHECK, 1)
    with pytest.raises(DeviationRefused) as info:
        close_by_hand(journal, dev_id, "fixed", "alice", "", "cli", PROD, now=T0 + timedelta(days=1))
    assert info.value.status == 409 and "still fails" in str(info.value)
    assert read_deviations(journal)[0].is_open


def test_closing_by_hand_after_a_passing_dry_run_records_it_as_evidence(journal):
    record(journal, make_run(Status.FAIL))
    dry = record(journal, make_run(Status.PASS, T0 + timedelta(days=1), dry_run=True))  # closes nothing by itself
    dev_id = deviation_id("production", CHECK, 1)
    assert read_deviations(journal)[0].is_open
    closed = close_by_hand(journal, dev_id, "retention raised to 14 days", "alice", "", "cli", PROD,
                           now=T0 + timedelta(days=2))
    [back] = read_deviations(journal)
    assert closed.evidence_run_id == back.evidence_run_id == dry.run_id
    assert (back.closed_by, back.closing_note, back.closed_via) == ("alice", "retention raised to 14 days", "cli")
    with pytest.raises(DeviationRefused):  # closed once
        close_by_hand(journal, dev_id, "again", "bob", "", "cli", PROD, now=T0 + timedelta(days=3))


def test_an_unknown_deviation_is_404(journal):
    with pytest.raises(DeviationRefused) as info:
        close_by_hand(journal, deviation_id("production", CHECK, 7), "x", "a", "", "cli", PROD)
    assert info.value.status == 404


# --- a run through the service ---------------------------------------------------------------

def spec(cid, fn):
    return CheckSpec(id=cid, title=cid, severity=Severity.MEDIUM, remediation="r", risk="r", run=fn)


@pytest.fixture
def only(monkeypatch):
    def use(*specs):
        monkeypatch.setattr(service, "select", lambda patterns, read_only_only=False: list(specs))
    return use


def test_a_run_through_the_service_opens_and_closes(settings, journal, only):
    only(spec("t.flaky", lambda c: Outcome.fail("broken")))
    failing = verify(RunRequest(trigger="cli"), settings, journal)
    [dev] = read_deviations(journal, open_only=True)
    assert dev.first_run_id == failing.run_id and dev.target == "production" and dev.severity == "medium"
    only(spec("t.flaky", lambda c: Outcome.passed("fine")))
    dry = verify(RunRequest(trigger="cli", dry_run=True), settings, journal)
    assert dry.journal_status == "written" and read_deviations(journal, open_only=True) != []
    passing = verify(RunRequest(trigger="cli"), settings, journal)
    assert read_deviations(journal, open_only=True) == []
    assert read_deviations(journal, target="production")[0].evidence_run_id == passing.run_id


def test_a_failed_deviation_update_is_a_note_of_the_run_never_its_end(settings, journal, only, monkeypatch):
    from checks.engine.model import JournalUnavailable

    def down(*a, **k):
        raise JournalUnavailable("journal read failed: connection refused")
    monkeypatch.setattr(deviation_log, "update", down)
    only(spec("t.flaky", lambda c: Outcome.fail("broken")))
    run = verify(RunRequest(trigger="timer"), settings, journal)
    assert run.journal_status == "written"
    note = "deviations not updated: journal read failed: connection refused; the next run updates them"
    assert note in run.notes and note in journal.get_run(run.run_id).notes


def test_a_crash_in_the_deviation_update_is_a_note_too(settings, journal, only, monkeypatch):
    monkeypatch.setattr(deviation_log, "update", lambda *a, **k: {}["boom"])
    only(spec("t.flaky", lambda c: Outcome.fail("broken")))
    run = verify(RunRequest(trigger="timer"), settings, journal)
    assert run.journal_status == "written" and any("deviations not updated" in n for n in run.notes)


# --- the setting -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["high=0", "high=3651", "urgent=3", "high=3,high=4", "high", "high=x", "high=١",
                                 "high=3,", "=3", "high=-1"])
def test_deviation_due_days_is_validated_naming_the_variable_and_form(raw):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DEVIATION_DUE_DAYS": raw})
    assert "DEVIATION_DUE_DAYS" in info.value.problems
    assert "critical=7,high=30,medium=60,low=90" in str(info.value.problems["DEVIATION_DUE_DAYS"])


def test_deviation_due_days_keeps_the_defaults_it_does_not_name():
    assert Settings.from_env({"DEVIATION_DUE_DAYS": "HIGH=14, low=365"}).deviation_due_days == \
        {"critical": 7, "high": 14, "medium": 60, "low": 365}
    assert Settings.from_env({}).deviation_due_days == DUE


def test_the_partition_is_insert_only(journal, monkeypatch):
    """No event is ever replaced or deleted: every write creates (the table role has no delete)."""
    calls = []
    real = journal.submit
    monkeypatch.setattr(journal, "submit", lambda action, ops, answers=(): (calls.append(ops), real(action, ops, answers))[1])
    record(journal, make_run(Status.FAIL))
    record(journal, make_run(Status.PASS, T0 + timedelta(days=1)))
    ops = [op for batch in calls for op in batch if op[1].get("PartitionKey") == PARTITION]
    assert {op[0] for op in ops if op[1]["RowKey"] != "chain-head"} == {"create"}
    assert not any(op[0] == "delete" for op in ops)


def test_a_due_date_past_the_journals_years_is_kept_within_them(journal):
    """A low-severity deviation first seen late in 2099 with 3650 days would fall due after 2099, which the
    journal's reader refuses: the due date is kept within the journal's years and the deviation reads."""
    late = datetime(2099, 11, 10, 6, tzinfo=timezone.utc)
    record(journal, make_run(Status.FAIL, late, severity=Severity.LOW), due=dict(DUE, low=3650))
    state = read_state(journal)
    assert state.unreadable == [] and [d.due.year for d in state.deviations.values()] == [2099]


def test_a_skipped_result_after_the_failure_does_not_let_a_hand_close_through(journal):
    record(journal, make_run(Status.FAIL))
    record(journal, make_run(Status.SKIPPED, T0 + timedelta(days=1)))  # the check did not run: still failing
    with pytest.raises(DeviationRefused):
        close_by_hand(journal, deviation_id("production", CHECK, 1), "x", "a", "", "cli", PROD,
                      now=T0 + timedelta(days=2))

