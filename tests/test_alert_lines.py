"""Every alert query of infra/modules/alerts.bicep against the log lines the code really emits, at every
LOG_LEVEL the configuration allows: the lines come from real code paths (a failing run, a failed drill, a
poisoned fleet message, a refused fleet message, the daily heartbeat), go through the app's own logging
set-up (checks/engine/logsetup.py) and are caught by a handler on the root logger, as Application
Insights' is. No caplog.at_level here: it would lower the levels this test is about."""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from checks.engine import logsetup
from checks.engine.config import Settings, VARIABLES
from test_infra import ROOT, alerts, body, resources_of

ALLOWED_LEVELS = ("debug", "info", "warning", "error")
NOW = datetime(2026, 11, 1, 6, 30, tzinfo=timezone.utc)


def queries() -> dict[str, str]:
    rules = resources_of(alerts(), "Microsoft.Insights/scheduledQueryRules")
    return {name: body(rule)["properties"]["criteria"]["allOf"][0]["query"] for name, rule in rules.items()}


def fires(query: str, line: str) -> bool:
    """Does `line` pass the query's `where` on message: any `matches regex @"..."` or `startswith "..."`."""
    regexes = re.findall(r'matches regex @"([^"]+)"', query)
    prefixes = re.findall(r'(?<!!)startswith "([^"]+)"', query)
    return any(re.search(r, line) for r in regexes) or any(line.startswith(p) for p in prefixes)


class Catch(logging.Handler):
    def __init__(self):
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def at_level(monkeypatch):
    """configure_logging(level) as the Function App does; restores every level it touched afterwards."""
    root = logging.getLogger()
    touched = [root] + [logging.getLogger(n) for n in getattr(logsetup, "ALERT_LOGGERS", ())]
    saved = [(lg, lg.level) for lg in touched]
    catch = Catch()
    root.addHandler(catch)

    def configure(level: str) -> Catch:
        monkeypatch.setenv("LOG_LEVEL", level)
        logsetup.configure_logging()
        catch.records.clear()
        return catch
    yield configure
    root.removeHandler(catch)
    for lg, level in saved:
        lg.setLevel(level)


def failing_run(monkeypatch) -> None:
    from checks import service
    from checks.engine.model import CheckResult, Run, Severity, Status

    started = NOW - timedelta(minutes=1)
    run = Run(run_id="20261101T062900Z-abc123", trigger="timer", started_at=started, finished_at=NOW,
              results=[CheckResult("x.y", "t", Status.FAIL, Severity.HIGH, "s", {}, "r", started, 1)])
    monkeypatch.setattr(service, "run_checks", lambda *a, **k: run)
    monkeypatch.setattr(service, "select", lambda *a, **k: [])
    service.verify(service.RunRequest(trigger="timer", write_journal=False), Settings())


class Recorder:
    def __init__(self):
        self.written = []

    def write_run(self, run):
        self.written.append(run)

    def upsert(self, entity):
        self.written.append(entity)


class Held:
    def confirm(self, now):
        return None


def failed_drill() -> None:
    from checks.drill import restore_drill
    from checks.drill.state import FAILED, Drill
    from checks.engine.context import RunContext

    drill = Drill(drill_id="20261101T060000Z-abc123", state=FAILED, trigger="timer", source_server="medicapp-db",
                  resource_group="rg-drills", target_server="medicapp-db-restore-20261101",
                  requested_at="2026-11-01T06:00:00Z", restore_point="", restore_point_mode="latest",
                  expires_at="2026-11-02T06:00:00Z", outcome="error", summary="restore failed in Azure: boom")
    restore_drill._finish(RunContext(settings=Settings()), Recorder(), drill, NOW, Held())


def poisoned_message() -> None:
    from checks.dispatch.handler import handle_poison
    from checks.dispatch.message import FleetMessage
    from checks.engine.timeutil import this_month

    class Journal:  # the line comes once the reservation is read, whatever the journal does next
        def get_entity(self, *args):
            return {"State": "enqueued", "Trigger": "timer"}, "etag"

        def query(self, *args):
            raise RuntimeError("stop after the log line")

    with pytest.raises(RuntimeError):
        handle_poison(FleetMessage(this_month(), "prod-eu").to_json(), None, Journal())


def refused_message() -> None:
    from checks.dispatch.handler import handle_message

    outcome = handle_message("{not json", 1, Settings(), None, lambda *a: None)
    assert outcome.action == "bad-message"


def heartbeat_ok() -> None:
    from checks import heartbeat

    class Journal:
        def list_runs(self, month):
            return [{"run_id": "20261101T060000Z-abc123", "status": "pass", "finished_at": "2026-11-01T06:05:00+00:00",
                     "counts": {"pass": 3}, "trigger": "timer", "target": {"name": "prod-eu"}}]

    assert heartbeat.heartbeat(Journal(), NOW, target="prod-eu", own="production")["state"] == "ok"


def drill_overdue() -> None:
    from checks import heartbeat
    from checks.drill.state import SUCCEEDED, Drill

    old = Drill(drill_id="20250901T060000Z-abc123", state=SUCCEEDED, trigger="timer", source_server="db",
                resource_group="rg-drills", target_server="db-restore", requested_at="2025-09-01T06:00:00Z",
                restore_point="", restore_point_mode="latest", expires_at="2025-09-02T06:00:00Z",
                finished_at="2025-09-01T07:00:00Z", target_name="prod-eu")
    assert heartbeat.drill_age([old], NOW, "prod-eu", "production", 12)["state"] == "overdue"


# (code path, the alert whose query must read its line, what the line starts with)
PATHS = [
    (failing_run, "runFailed", "run 20261101T062900Z-abc123 finished: fail"),
    (failed_drill, "drillFailed", "restore drill 20261101T060000Z-abc123 failed: "),
    (poisoned_message, "fleetPoisoned", "target prod-eu not verified this month"),
    (refused_message, "fleetPoisoned", "fleet message dropped (not a fleet message)"),
    (heartbeat_ok, "deadMan", "verifier heartbeat: ok"),
    (drill_overdue, "drillOverdue", "verifier drill age: overdue last successful drill 20250901T060000Z-abc123"),
]


def target_of(query: str, line: str) -> str:
    """The alert's dimension: what the query's extract() takes from the line."""
    pattern = re.search(r'extend target = coalesce\(extract\(@"([^"]+)", 1, message\)', query).group(1)
    return re.search(pattern, line).group(1)


def test_heartbeat_and_drill_age_lines_name_their_target_for_the_alerts_dimension(at_level, monkeypatch):
    caught = at_level("warning")
    heartbeat_ok()
    drill_overdue()
    beat, drill = (r.getMessage() for r in caught.records)
    assert beat.endswith("(target prod-eu)") and target_of(queries()["deadMan"], beat) == "prod-eu"
    assert "summarize arg_max(timestamp, message) by target" in queries()["deadMan"]  # each target's newest line
    assert target_of(queries()["drillOverdue"], drill) == "prod-eu"


def test_the_allowed_log_levels_are_the_ones_tested_here_and_in_the_template():
    (var,) = [v for _, v in VARIABLES if v.name == "LOG_LEVEL"]
    for level in ALLOWED_LEVELS:
        assert var.parse(level) == level
    with pytest.raises(ValueError):
        var.parse("critical")
    from test_infra import parse
    allowed = next(d for d in parse("main.bicep")["parameters"]["logLevel"]["decorators"] if d["type"] == "allowed")
    assert tuple(allowed["argument"]) == ALLOWED_LEVELS


@pytest.mark.parametrize("level", ALLOWED_LEVELS)
@pytest.mark.parametrize("path, rule, start", PATHS, ids=[p[0].__name__ for p in PATHS])
def test_each_alert_reads_the_line_the_code_emits_at_every_log_level(at_level, monkeypatch, level, path, rule, start):
    caught = at_level(level)
    path(monkeypatch) if path is failing_run else path()
    lines = [r for r in caught.records if r.getMessage().startswith(start)]
    assert lines, f"LOG_LEVEL={level}: no line {start!r} left the app; got {[r.getMessage() for r in caught.records]}"
    for record in lines:
        assert record.levelno >= logging.WARNING, (record.levelname, record.getMessage())
        assert fires(queries()[rule], record.getMessage()), (rule, record.getMessage())


def test_success_lines_are_warnings_and_do_not_fire_the_failure_alerts(at_level, monkeypatch):
    """A passed run and a succeeded drill still leave the app at LOG_LEVEL=error (WARNING), and the
    failure alerts do not read them."""
    from checks import service
    from checks.drill import restore_drill
    from checks.drill.state import SUCCEEDED, Drill
    from checks.engine.context import RunContext
    from checks.engine.model import CheckResult, Run, Severity, Status

    caught = at_level("error")
    run = Run(run_id="20261101T062900Z-def456", trigger="timer", started_at=NOW, finished_at=NOW,
              results=[CheckResult("x.y", "t", Status.PASS, Severity.HIGH, "s", {}, "r", NOW, 1)])
    monkeypatch.setattr(service, "run_checks", lambda *a, **k: run)
    monkeypatch.setattr(service, "select", lambda *a, **k: [])
    service.verify(service.RunRequest(trigger="timer", write_journal=False), Settings())
    drill = Drill(drill_id="20261101T060000Z-def456", state=SUCCEEDED, trigger="timer", source_server="db",
                  resource_group="rg-drills", target_server="db-restore", requested_at="2026-11-01T06:00:00Z",
                  restore_point="", restore_point_mode="latest", expires_at="2026-11-02T06:00:00Z",
                  outcome="pass", summary="restored and verified")
    restore_drill._finish(RunContext(settings=Settings()), Recorder(), drill, NOW, Held())
    got = {r.getMessage().split(":")[0]: r.levelno for r in caught.records}
    assert got["run 20261101T062900Z-def456 finished"] == logging.WARNING
    assert got["restore drill 20261101T060000Z-def456 succeeded"] == logging.WARNING
    for record in caught.records:
        assert not fires(queries()["runFailed"], record.getMessage())
        assert not fires(queries()["drillFailed"], record.getMessage())


def test_host_json_lets_warnings_of_the_functions_through():
    """The Functions host filters the worker's lines by category (host.json): never above Warning."""
    levels = json.loads((ROOT / "host.json").read_text())["logging"]["logLevel"]
    order = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"]
    for category in ("default", "Function"):
        assert order.index(levels.get(category, levels["default"])) <= order.index("Warning"), category
    sampling = json.loads((ROOT / "host.json").read_text())["logging"]["applicationInsights"]["samplingSettings"]
    assert "Trace" in sampling["excludedTypes"]  # alert lines are never sampled away
