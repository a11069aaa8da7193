import threading
import time
from datetime import datetime, timezone

import pytest

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import CheckSpec, NotConfigured, Outcome, Severity, Status
from checks.engine.registry import UnknownCheck, select
from checks.engine.runner import run_checks


def spec(cid, fn, timeout=None, read_only=True):
    return CheckSpec(id=cid, title=cid, severity=Severity.HIGH, remediation=f"fix {cid}", risk="r",
                     run=fn, read_only=read_only, timeout_seconds=timeout)


def ctx(timeout="5"):
    return RunContext(settings=Settings.from_env({"CHECK_TIMEOUT_SECONDS": timeout}))


def test_checks_run_concurrently():
    barrier = threading.Barrier(3, timeout=5)

    def waits(_ctx):
        barrier.wait()  # only returns if all three run at the same time
        return Outcome.passed("ok")

    run = run_checks([spec(f"t.c{i}", waits) for i in range(3)], ctx(), "cli")
    assert [r.status for r in run.results] == [Status.PASS] * 3


def test_timeout_and_exception_are_isolated():
    def slow(_ctx):
        time.sleep(3)
        return Outcome.passed("late")

    def boom(_ctx):
        raise RuntimeError("kaput")

    def fine(_ctx):
        return Outcome.passed("fine", value=1)

    t0 = time.monotonic()
    run = run_checks([spec("t.slow", slow, timeout=1), spec("t.boom", boom), spec("t.fine", fine)], ctx(), "cli")
    elapsed = time.monotonic() - t0
    by_id = {r.check_id: r for r in run.results}
    assert elapsed < 2.5
    assert by_id["t.slow"].status is Status.ERROR and "timed out after 1 s" in by_id["t.slow"].summary
    assert by_id["t.boom"].status is Status.ERROR and "RuntimeError: kaput" in by_id["t.boom"].summary
    assert by_id["t.boom"].remediation == "fix t.boom"
    assert by_id["t.fine"].status is Status.PASS and by_id["t.fine"].details == {"value": 1}
    assert run.status is Status.ERROR


def test_not_configured_is_skipped_and_does_not_worsen_the_run():
    def unconfigured(_ctx):
        raise NotConfigured("PG_SERVER_NAME not set")

    run = run_checks([spec("t.a", unconfigured), spec("t.b", lambda c: Outcome.passed("ok"))], ctx(), "timer")
    assert run.results[0].status is Status.SKIPPED
    assert run.results[0].summary == "PG_SERVER_NAME not set"
    assert run.results[0].remediation == ""
    assert run.status is Status.PASS


def test_overall_status_is_the_worst():
    assert Status.worst([Status.PASS, Status.WARN, Status.SKIPPED]) is Status.WARN
    assert Status.worst([Status.FAIL, Status.ERROR]) is Status.ERROR
    assert Status.worst([Status.SKIPPED]) is Status.SKIPPED


def test_non_outcome_return_is_an_error():
    run = run_checks([spec("t.x", lambda c: "yes")], ctx(), "cli")
    assert run.results[0].status is Status.ERROR


def test_results_are_redacted():
    def leaks(_ctx):
        raise RuntimeError("connect failed: postgresql://app:TopSecret99@db/x password=TopSecret99")

    run = run_checks([spec("t.leak", leaks)], ctx(), "cli")
    assert "TopSecret99" not in run.results[0].summary


def test_select_by_glob_and_unknown():
    assert [s.id for s in select(["database.*"])] == [s.id for s in select() if s.id.startswith("database.")]
    with pytest.raises(UnknownCheck) as info:
        select(["nope.*"])
    assert "database.connectivity" in str(info.value)


def test_run_id_carries_month():
    c = RunContext(settings=Settings.from_env({}), clock=lambda: datetime(2026, 3, 1, 0, 0, 1, tzinfo=timezone.utc))
    run = run_checks([], c, "cli")
    assert run.run_id.startswith("20260301T000001Z-") and run.month == "2026-03"


def test_shared_client_is_built_once_and_does_not_block_other_keys():
    c = ctx()
    builds = []
    slow_started = threading.Event()

    def slow_factory():
        builds.append("slow")
        slow_started.set()
        time.sleep(0.5)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(c.client("slow", slow_factory))) for _ in range(3)]
    for t in threads:
        t.start()
    slow_started.wait(2)
    t0 = time.monotonic()
    fast = c.client("fast", lambda: "fast-client")
    assert fast == "fast-client" and time.monotonic() - t0 < 0.2  # not held up by the slow build
    for t in threads:
        t.join()
    assert builds == ["slow"] and len({id(r) for r in results}) == 1


def test_a_password_key_in_details_is_masked_whatever_its_value():
    """Redaction by key name: the value is not a registered secret and has no secret shape."""
    def leaky(_ctx):
        return Outcome.passed("ok", password="plainvalue42", nested={"Password": "other77", "kept": "visible"})

    (result,) = run_checks([spec("t.leaky", leaky)], ctx(), "cli").results
    assert result.details["password"] == "***"
    assert result.details["nested"] == {"Password": "***", "kept": "visible"}


def test_an_on_demand_check_runs_only_when_named():
    """drill.restore is in the catalogue but not in a default run; named, it says where it runs."""
    from checks.engine.registry import all_checks
    assert all_checks()["drill.restore"].on_demand and not all_checks()["database.migration"].on_demand
    assert "drill.restore" not in {s.id for s in select()}
    assert [s.id for s in select(["drill.*"])] == ["drill.restore"]
    (result,) = run_checks(select(["drill.restore"]), ctx(), "cli").results
    assert result.status is Status.SKIPPED and "python -m checks drill start" in result.summary
