"""Issue 27 item 10 (and 14, part): forged, replayed and malformed fleet queue messages.

A message runs only if the verifier sent it (its reservation in the journal, claims.py), only in its own
month (message.py in_window), and is read as untrusted input (size, nesting, duplicate keys, every field).
A refused message is acknowledged with a `fleet message dropped` / `fleet poison message` error line and
nothing is written. Real Azurite queues and journal table (tests/test_dispatch.py's fixtures).
"""
from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from checks.dispatch.claims import POISONED, Claims, partition
from checks.dispatch.handler import DEFER_SECONDS, MAX_DEFERRALS, MAX_DEQUEUE_COUNT, handle_message, handle_poison
from checks.dispatch.message import CLOCK_AHEAD_SECONDS, MAX_MESSAGE_BYTES, MONTH_LATE_SECONDS, FleetMessage
from checks.engine.timeutil import month_of, this_month, utcnow
from checks.journal.store import Journal
from devtools.queue_host import LocalQueueHost
from test_dispatch import ROOT, CountingJournal, fleet_env, host, journaling_run, runs_of, settings_of  # noqa: F401

WRITES = {"insert", "upsert", "write_run", "replace_if_unchanged"}


def next_month_start(now: datetime) -> datetime:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def body(**fields) -> str:
    data = {"schema": 1, "month": this_month(), "target": "alpha", "attempt": 1, "trigger": "timer"} | fields
    return json.dumps(data)


def runner(journal, calls):
    return journaling_run(journal, calls)


# --- forged months and attempts (the cases) ----------------------------------------------------------

def test_a_message_for_a_future_month_is_refused_and_that_months_timer_message_runs(fleet_env, host, caplog):
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    calls: list[str] = []
    january = next_month_start(utcnow())
    forged = FleetMessage(month_of(january), "alpha")
    outcome = handle_message(forged.to_json(), 1, settings, journal, runner(journal, calls))
    assert outcome.action == "refused" and calls == [] and "not the current month" in outcome.detail
    assert journal.partition(partition(forged.month)) == []  # no claim: nothing blocks that month's message
    assert "fleet message dropped" in caplog.text
    # that month comes: its timer message runs
    fan_out(settings, trigger="timer", names=["alpha"], now=january + timedelta(hours=6))
    outcomes = []
    host.drain(lambda text, count: outcomes.append(handle_message(
        text, count, settings, journal, runner(journal, calls), now=january + timedelta(hours=6, seconds=5))))
    assert [o.action for o in outcomes] == ["ran"] and calls == ["alpha"]


def test_a_forged_attempt_does_not_block_later_on_demand_runs(fleet_env, host):
    from test_function_app import fn
    from test_dispatch import post
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    calls: list[str] = []
    for attempt in (9999, 2):  # the highest there is, and the very one the journal would allocate next
        forged = FleetMessage(this_month(), "beta", attempt, "http").to_json()
        assert handle_message(forged, 1, settings, journal, runner(journal, calls)).action == "refused"
    assert calls == [] and Claims(journal).attempts(this_month()) == {}
    for expected in (2, 3):
        resp = fn("verify")(post({"targets": ["beta"]}))
        assert resp.status_code == 202, resp.get_body()
        assert [m["attempt"] for m in json.loads(resp.get_body())["enqueued"]] == [expected]
    outcomes = []
    host.drain(lambda text, count: outcomes.append(handle_message(text, count, settings, journal,
                                                                  runner(journal, calls))))
    assert [o.action for o in outcomes] == ["ran", "ran"] and len(runs_of(journal, "beta")) == 2


def test_two_on_demand_requests_at_once_get_distinct_attempts(fleet_env, host, monkeypatch):
    """Both read the same highest attempt; the journal's reservation gives each its own number."""
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    monkeypatch.setattr(Claims, "attempts", lambda self, month: {})  # what both requests read before either wrote
    first = fan_out(settings, trigger="http", names=["gamma"], journal=journal)["enqueued"]
    second = fan_out(settings, trigger="http", names=["gamma"], journal=journal)["enqueued"]
    assert [m["attempt"] for m in first + second] == [2, 3]
    outcomes = []
    host.drain(lambda text, count: outcomes.append(handle_message(text, count, settings, journal,
                                                                  runner(journal, []))))
    assert [o.action for o in outcomes] == ["ran", "ran"]


def test_a_message_whose_trigger_is_not_the_reserved_one_is_refused(fleet_env, host):
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    (sent,) = fan_out(settings, trigger="http", names=["alpha"], journal=journal)["enqueued"]
    calls: list[str] = []
    forged = FleetMessage(this_month(), "alpha", sent["attempt"], "timer").to_json()
    outcome = handle_message(forged, 1, settings, journal, runner(journal, calls))
    assert outcome.action == "refused" and "not the reserved one" in outcome.detail and calls == []
    host.drain(lambda text, count: handle_message(text, count, settings, journal, runner(journal, calls)))
    assert calls == ["alpha"]  # the real message still runs


def test_an_old_months_message_replayed_now_is_refused_and_writes_nothing(fleet_env, host):
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    last_month = utcnow().replace(day=1, hour=6, minute=0, second=0, microsecond=0) - timedelta(days=20)
    fan_out(settings, trigger="timer", names=["beta"], now=last_month)  # sent then, never delivered
    old = FleetMessage(month_of(last_month), "beta")
    before = journal.partition(partition(old.month))
    counting, calls = CountingJournal(journal), []
    assert handle_message(old.to_json(), 1, settings, counting, runner(journal, calls)).action == "refused"
    assert handle_poison(old.to_json(), settings, counting).action == "refused"
    assert calls == [] and counting.calls == [] and journal.partition(partition(old.month)) == before
    assert runs_of(journal, "beta") == []


# --- the month boundary ----------------------------------------------------------------------------------------

def test_the_month_boundary_allows_the_documented_skew_only(fleet_env, host):
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    midnight = datetime(2030, 1, 1, tzinfo=timezone.utc)
    fan_out(settings, trigger="timer", names=["alpha", "beta"], now=midnight - timedelta(seconds=1))
    calls: list[str] = []
    late = handle_message(FleetMessage("2029-12", "alpha").to_json(), 1, settings, journal, runner(journal, calls),
                          now=midnight + timedelta(seconds=30))
    too_late = handle_message(FleetMessage("2029-12", "beta").to_json(), 1, settings, journal,
                              runner(journal, calls), now=midnight + timedelta(seconds=MONTH_LATE_SECONDS + 1))
    assert (late.action, too_late.action, calls) == ("ran", "refused", ["alpha"])
    # the sender's clock a little ahead: its January message reaches a handler still in December
    fan_out(settings, trigger="timer", names=["gamma"], now=midnight + timedelta(seconds=10))
    ahead = FleetMessage("2030-01", "gamma").to_json()
    assert handle_message(ahead, 1, settings, journal, runner(journal, calls),
                          now=midnight - timedelta(seconds=CLOCK_AHEAD_SECONDS + 1)).action == "refused"
    assert handle_message(ahead, 1, settings, journal, runner(journal, calls),
                          now=midnight - timedelta(seconds=CLOCK_AHEAD_SECONDS - 1)).action == "ran"


def test_the_late_margin_covers_every_deferral_and_every_host_delivery():
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    hours, minutes, seconds = (int(x) for x in queues["visibilityTimeout"].split(":"))
    retries = MAX_DEQUEUE_COUNT * (hours * 3600 + minutes * 60 + seconds)
    assert MONTH_LATE_SECONDS >= MAX_DEFERRALS * DEFER_SECONDS + retries
    assert CLOCK_AHEAD_SECONDS <= 600  # a clock skew, not a second window


# --- malformed and hostile bodies --------------------------------------------------------------------------------

def _hostile_bodies() -> list[tuple[str, str | bytes, str]]:
    valid = body()
    return [
        ("nested 60000", "[" * 60000, "bytes"),
        ("nested within the size", "[" * (MAX_MESSAGE_BYTES - 1), "flat JSON object"),
        ("objects nested", '{"a":' * 100 + "1" + "}" * 100, "flat JSON object"),
        ("a nested field", body(month=[[["2026-12"]]]), "flat JSON object"),
        ("oversize but valid", valid[:-1] + " " * MAX_MESSAGE_BYTES + "}", "bytes"),
        ("oversize bytes", valid.encode() + b" " * MAX_MESSAGE_BYTES, "bytes"),
        ("duplicate keys", valid[:-1] + ', "month": "2099-01"}', "given twice"),
        ("duplicate target", valid[:-1] + ', "target": "beta"}', "given twice"),
        ("NUL in the target", body(target="alpha\u0000"), "target"),
        ("unicode digits", body(month="\u0662\u0660\u0662\u0666-\u0661\u0662"), "month"),
        ("month with a newline", body(month=this_month() + "\n"), "month"),
        ("attempt NaN", valid.replace('"attempt": 1', '"attempt": NaN'), "NaN"),
        ("attempt a float", body(attempt=1.0), "attempt"),
        ("attempt huge", body(attempt=10 ** 30), "attempt"),
        ("attempt 0", body(attempt=0), "attempt"),
        ("schema true", body(schema=True), "schema"),
        ("schema 1.0", body(schema=1.0), "schema"),
        ("trigger list", valid.replace('"timer"', "[]"), "flat JSON object"),
        ("trigger a number", body(trigger=1), "trigger"),
        ("trigger kind", body(trigger="poison"), "trigger"),
        ("an id field", body(id="abc"), "unknown field"),
        ("base64 of a message", base64.b64encode(valid.encode()).decode(), "expected JSON"),
        ("not UTF-8", b"\xff\xfe{", "UTF-8"),
        ("empty", "", "expected JSON"),
        ("null", "null", "JSON object"),
        ("a secret in the text", "not json sig=Zm9vYmFyc2VjcmV0c2lnbmF0dXJl", "expected JSON"),
        ("a secret as a field", body(**{"AccountKey=Zm9vYmFyc2VjcmV0a2V5": 1}), "unknown field"),
    ]


@pytest.mark.parametrize("name,text,fragment", _hostile_bodies(), ids=[b[0] for b in _hostile_bodies()])
def test_hostile_bodies_are_dropped_by_both_handlers_with_a_redacted_error_and_nothing_written(
        fleet_env, host, caplog, name, text, fragment):
    settings = settings_of(fleet_env)
    counting = CountingJournal(Journal.from_settings(settings))
    with caplog.at_level(logging.ERROR, logger="checks.dispatch"):
        outcome = handle_message(text, 1, settings, counting, runner(counting, []))
        poisoned = handle_poison(text, settings, counting)
    assert (outcome.action, poisoned.action) == ("bad-message", "bad-message")
    assert fragment in outcome.detail and counting.calls == []
    lines = [r.getMessage() for r in caplog.records if r.name == "checks.dispatch"]
    assert lines[0].startswith("fleet message dropped") and lines[1].startswith("fleet poison message")
    assert all(len(line) < 400 and "\x00" not in line for line in lines)
    assert "Zm9vYmFyc2VjcmV0" not in caplog.text


def test_refused_messages_are_acknowledged_once_not_retried_nor_poisoned(fleet_env, host):
    from azure.storage.queue import QueueClient
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    raw = host.client()  # base64 as the Functions host expects
    for text in ("[" * 40000, FleetMessage(month_of(next_month_start(utcnow())), "alpha").to_json(),
                 FleetMessage(this_month(), "beta", 9999, "http").to_json(), body(target="nope")):
        raw.send_message(text)
    # a base64 body that is itself base64 (sent twice encoded): JSON never comes out of it
    QueueClient.from_connection_string(host.connection_string, host.queue_name).send_message(
        base64.b64encode(base64.b64encode(body().encode())).decode())
    outcomes, calls = [], []
    host.drain(lambda text, count: outcomes.append(handle_message(text, count, settings, journal,
                                                                  runner(journal, calls))))
    assert host.errors == [] and calls == [] and len(outcomes) == 5
    assert sorted(o.action for o in outcomes) == ["bad-message", "bad-message", "refused", "refused", "unknown-target"]
    poison = LocalQueueHost(host.connection_string, host.queue_name + "-poison")
    assert host.client().peek_messages() == [] and poison.client().peek_messages() == []
    assert journal.partition(partition(this_month())) == []


def test_the_queue_functions_never_raise_on_a_nested_body(fleet_env, host):
    from checks import queue_face
    assert queue_face.run_queued(b"[" * 60000, 1)["action"] == "bad-message"
    assert queue_face.run_poisoned(b"[" * 60000)["action"] == "bad-message"


# --- the poison path ---------------------------------------------------------------------------------------------

def test_a_forged_poison_message_journals_nothing_for_any_name(fleet_env, host, caplog):
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    fan_out(settings, trigger="http", names=["beta"], journal=journal)  # beta's attempt 2 is real
    forged = [FleetMessage(this_month(), "zzz"),                         # not in the fleet
              FleetMessage(this_month(), "alpha"),                       # in the fleet, never sent
              FleetMessage(this_month(), "beta", 2, "timer"),            # sent, with another trigger
              FleetMessage(month_of(next_month_start(utcnow())), "gamma")]  # another month
    with caplog.at_level(logging.ERROR, logger="checks.dispatch"):
        outcomes = [handle_poison(m.to_json(), settings, journal) for m in forged]
    assert [o.action for o in outcomes] == ["refused"] * 4
    assert journal.list_runs(this_month()) == []
    assert "not verified this month" not in caplog.text  # the alert's line names no forged target
    assert caplog.text.count("fleet poison message dropped") == 4
    real = handle_poison(FleetMessage(this_month(), "beta", 2, "http").to_json(), settings, journal)
    assert real.action == "poisoned" and [r["status"] for r in runs_of(journal, "beta")] == ["error"]


def test_a_redelivered_poisoned_message_is_a_duplicate_and_does_not_run(fleet_env, host):
    """Issue 27 item 14: the mutation 'a poisoned claim is not a duplicate' (handler.py) runs it again."""
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    fan_out(settings, trigger="timer", names=["gamma"], journal=journal)
    message = FleetMessage(this_month(), "gamma")
    Claims(journal).claim(message, utcnow(), 1)  # a delivery that claimed, then failed every time
    assert handle_poison(message.to_json(), settings, journal).action == "poisoned"
    assert journal.get_entity(partition(this_month()), message.key)[0]["State"] == POISONED
    calls: list[str] = []
    outcome = handle_message(message.to_json(), 6, settings, journal, runner(journal, calls))
    assert (outcome.action, outcome.detail) == ("duplicate", "already poisoned") and calls == []
    assert [r["status"] for r in runs_of(journal, "gamma")] == ["error"]
