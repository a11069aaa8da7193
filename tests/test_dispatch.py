"""Fleet fan-out over a real Azurite queue and journal table: the message, enqueue, the queue-triggered
handler, redelivery idempotence, the poison path, the monthly timer and POST /api/verify {"targets"}.

The Functions host's side (get, delete, release, move to <queue>-poison) is devtools/queue_host.py over
the same Azurite queues; the product's side is checks/dispatch/ and checks/queue_face.py as deployed.
"""
from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import azure.functions as func
import pytest

from checks.dispatch.claims import CLAIMED, Claims, partition
from checks.dispatch.handler import (DEFER_SECONDS, DELIVERY_CHECK, MAX_DEFERRALS, MAX_DEQUEUE_COUNT, RetryLater,
                                     handle_message,
                                     handle_poison)
from checks.dispatch.message import MAX_DEFERRED, BadMessage, FleetMessage
from checks.dispatch.queue import DispatchError, enqueue
from checks.engine.config import Settings
from checks.engine.fleet import FleetTarget
from checks.engine.model import CheckResult, Run, Severity, Status, new_run_id
from checks.engine.target import Target
from checks.engine.timeutil import this_month, utcnow
from checks.journal.lease import RunInProgress
from checks.journal.store import Journal
from devtools.queue_host import LocalQueueHost

ROOT = Path(__file__).resolve().parent.parent
FLEET = [{"name": "alpha"}, {"name": "beta"}, {"name": "gamma"}]


@pytest.fixture
def fleet_env(env_patch, base_env):
    env = dict(base_env, FLEET_QUEUE="fleet" + uuid.uuid4().hex[:12], TARGETS=json.dumps(FLEET))
    env_patch(env)
    return env


@pytest.fixture
def host(fleet_env, azurite):
    queue_host = LocalQueueHost(azurite.connection_string, fleet_env["FLEET_QUEUE"], max_dequeue_count=MAX_DEQUEUE_COUNT)
    queue_host.create_queues()
    return queue_host


def settings_of(env) -> Settings:
    return Settings.from_env(env)


def journaling_run(journal, calls: list[str]):
    """A stand-in for service.verify that journals one passing result for the target (the real one is below)."""
    def run_target(target, message, requested_by=None):
        calls.append(target.name)
        now = utcnow()
        result = CheckResult("database.connectivity", "Database reachable", Status.PASS, Severity.HIGH, "ok", {}, "",
                             now, 1)
        run = Run(new_run_id(now), message.trigger, now, now, [result], target=Target(name=target.name),
                  origin=message.origin, requested_by=requested_by)
        journal.write_run(run)
        run.journal_status = "written"
        return run
    return run_target


def reserved(journal, *messages: FleetMessage) -> list[FleetMessage]:
    """What fan_out does before sending: each message reserved in the journal (claims.py), else it is refused."""
    for message in messages:
        Claims(journal).reserve(message, utcnow())
    return list(messages)


def runs_of(journal, target: str) -> list[dict]:
    return [r for r in journal.list_runs(this_month()) if (r["target"] or {}).get("name") == target]


# --- the message -------------------------------------------------------------------------------------------

def test_message_round_trip_and_bad_messages_name_the_field():
    message = FleetMessage("2026-11", "prod", 2, "http")
    assert FleetMessage.from_text(message.to_json()) == message
    assert FleetMessage.from_text(message.to_json().encode()) == message
    assert message.key == "prod.0002"
    for text, field in [("nope", "expected JSON"), ("[]", "JSON object"),
                        ('{"schema": 2, "month": "2026-11", "target": "a", "attempt": 1, "trigger": "timer"}', "schema"),
                        ('{"schema": 1, "month": "2026-13", "target": "a", "attempt": 1, "trigger": "timer"}', "month"),
                        ('{"schema": 1, "month": "2026-11", "target": "A!", "attempt": 1, "trigger": "timer"}', "target"),
                        ('{"schema": 1, "month": "2026-11", "target": "a", "attempt": true, "trigger": "timer"}', "attempt"),
                        ('{"schema": 1, "month": "2026-11", "target": "a", "attempt": 1, "trigger": "cron"}', "trigger"),
                        ('{"schema": 1, "month": "2026-11", "target": "a", "attempt": 1, "trigger": "timer", "x": 1}',
                         "unknown field")]:
        with pytest.raises(BadMessage, match=field):
            FleetMessage.from_text(text)


# --- enqueue / dequeue on Azurite ----------------------------------------------------------------------------

def test_fan_out_enqueues_one_base64_json_message_per_target(fleet_env, host):
    from checks.queue_face import fan_out
    answer = fan_out(settings_of(fleet_env), trigger="timer")
    assert [(m["target"], m["attempt"]) for m in answer["enqueued"]] == [("alpha", 1), ("beta", 1), ("gamma", 1)]
    assert answer["queue"] == fleet_env["FLEET_QUEUE"] and all(m["message_id"] for m in answer["enqueued"])
    from azure.storage.queue import QueueClient
    raw = QueueClient.from_connection_string(host.connection_string, host.queue_name)  # no decode policy: the wire form
    bodies = [m.content for m in raw.peek_messages(max_messages=10)]
    assert len(bodies) == 3
    decoded = [FleetMessage.from_text(base64.b64decode(b)) for b in bodies]  # what the Functions host decodes
    assert {(m.target, m.month, m.trigger, m.schema) for m in decoded} == {
        (t["name"], this_month(), "timer", 1) for t in FLEET}


def test_enqueue_on_a_missing_queue_says_how_to_create_it(fleet_env):
    settings = settings_of(dict(fleet_env, FLEET_QUEUE="nosuchqueue" + uuid.uuid4().hex[:8]))
    with pytest.raises(DispatchError, match="does not exist.*storage.bicep") as caught:
        enqueue(settings, [FleetMessage(this_month(), "alpha")])
    assert caught.value.enqueued == []


def test_each_target_runs_once_through_the_queue(fleet_env, host):
    from checks.queue_face import fan_out
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    calls: list[str] = []
    fan_out(settings, trigger="timer")
    delivered = host.drain(lambda body, count: handle_message(body, count, settings, journal,
                                                              journaling_run(journal, calls)), workers=2)
    assert delivered == 3 and sorted(calls) == ["alpha", "beta", "gamma"]
    for name in ("alpha", "beta", "gamma"):
        assert len(runs_of(journal, name)) == 1
    claims = journal.partition(partition(this_month()))
    assert {(c["TargetName"], c["State"]) for c in claims} == {(n, CLAIMED) for n in ("alpha", "beta", "gamma")}
    # each run carries its message: that, written in the run's own transaction, is what marks it done
    assert {r["target"]["name"]: r["origin"] for r in journal.list_runs(this_month())} == {
        n: f"{this_month()}/{n}.0001" for n in ("alpha", "beta", "gamma")}
    assert host.client().peek_messages() == []


# --- idempotence ---------------------------------------------------------------------------------------------

def test_a_redelivered_message_does_not_journal_twice(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    calls: list[str] = []
    (message,) = reserved(journal, FleetMessage(this_month(), "beta"))
    enqueue(settings, [message, message])  # the same message twice: exactly what a redelivery looks like
    outcomes = []
    host.drain(lambda body, count: outcomes.append(
        handle_message(body, count, settings, journal, journaling_run(journal, calls))))
    assert [o.action for o in outcomes] == ["ran", "duplicate"] and calls == ["beta"]
    assert outcomes[1].run_id == outcomes[0].run_id and outcomes[1].detail == "journaled by a previous delivery"
    assert len(runs_of(journal, "beta")) == 1
    # a new attempt (on demand) is a new run, not a duplicate
    handle_message(reserved(journal, FleetMessage(this_month(), "beta", 2, "http"))[0].to_json(), 1, settings, journal,
                   journaling_run(journal, calls))
    assert calls == ["beta", "beta"] and len(runs_of(journal, "beta")) == 2


def test_a_worker_that_died_after_journaling_is_not_run_again(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    calls: list[str] = []
    run = journaling_run(journal, calls)

    def journal_then_die(target, message, requested_by=None):
        run(target, message, requested_by)
        raise SystemExit("worker killed before marking its claim")  # not an Exception: nothing catches it

    message = reserved(journal, FleetMessage(this_month(), "gamma"))[0].to_json()
    with pytest.raises(SystemExit):
        handle_message(message, 1, settings, journal, journal_then_die)
    outcome = handle_message(message, 2, settings, journal, run)
    assert outcome.action == "duplicate" and outcome.detail == "journaled by a previous delivery"
    assert calls == ["gamma"] and runs_of(journal, "gamma")[0]["run_id"] == outcome.run_id


class CountingJournal:
    """The real journal, its calls recorded (what each delivery costs in storage round trips)."""

    def __init__(self, journal):
        self.journal, self.calls = journal, []

    def __getattr__(self, name):
        method = getattr(self.journal, name)
        return lambda *args, **kwargs: (self.calls.append(name), method(*args, **kwargs))[1]


def test_a_delivery_costs_one_claim_write_besides_its_run(fleet_env, host):
    settings = settings_of(fleet_env)
    counting = CountingJournal(Journal.from_settings(settings))
    reserved(counting.journal, FleetMessage(this_month(), "alpha"))  # the sender's write, at fan-out
    handle_message(FleetMessage(this_month(), "alpha").to_json(), 1, settings, counting,
                   journaling_run(counting, []))
    # read the reservation, claim it on its ETag; no write after the run: its transaction marks it done
    assert counting.calls == ["get_entity", "replace_if_unchanged", "write_run"]
    counting.calls.clear()
    handle_message(FleetMessage(this_month(), "alpha").to_json(), 2, settings, counting, None)  # redelivered
    assert counting.calls == ["get_entity", "query"]


def test_another_run_of_the_target_does_not_count_as_the_messages_run(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    (message,) = reserved(journal, FleetMessage(this_month(), "gamma"))
    Claims(journal).claim(message, utcnow(), 1)  # a delivery that claimed, then died before running
    calls: list[str] = []
    cli_run = journaling_run(journal, calls)(Target(name="gamma"), FleetMessage(this_month(), "gamma", 2, "cli"))
    outcome = handle_message(message.to_json(), 2, settings, journal, journaling_run(journal, calls))
    assert outcome.action == "ran" and outcome.run_id != cli_run.run_id and len(runs_of(journal, "gamma")) == 2


def test_a_run_that_does_not_carry_its_message_is_a_bug_not_a_result(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)

    def forgets_origin(target, message, requested_by=None):
        return journaling_run(journal, [])(target, FleetMessage(message.month, target.name, 9))

    reserved(journal, FleetMessage(this_month(), "beta"))
    with pytest.raises(RuntimeError, match="does not carry its message"):
        handle_message(FleetMessage(this_month(), "beta").to_json(), 1, settings, journal, forgets_origin)


def test_a_crashed_claim_is_taken_over_once(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    (message,) = reserved(journal, FleetMessage(this_month(), "alpha"))
    claims = Claims(journal)
    first = claims.claim(message, utcnow(), 1)  # a delivery that claimed, then died before running
    assert first.fresh and first.state == CLAIMED
    again = claims.claim(message, utcnow(), 2)
    assert not again.fresh
    assert claims.take_over(again, utcnow(), 2) is True
    assert claims.take_over(again, utcnow(), 3) is False  # a second redelivery with the old ETag loses
    calls: list[str] = []
    outcome = handle_message(message.to_json(), 3, settings, journal, journaling_run(journal, calls))
    assert outcome.action == "ran" and calls == ["alpha"]  # the taken-over claim runs once
    assert journal.get_entity(partition(this_month()), "alpha.0001")[0]["Takeovers"] == 2


def test_a_busy_target_is_retried_by_the_host_then_runs(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    calls: list[str] = []
    run = journaling_run(journal, calls)
    busy = {"left": 2}

    def lease_held_twice(target, message, requested_by=None):
        if busy["left"]:
            busy["left"] -= 1
            raise RunInProgress("run-x", "20261126T000000Z-aaaaaa")
        return run(target, message, requested_by)

    enqueue(settings, reserved(journal, FleetMessage(this_month(), "alpha")))
    host.drain(lambda body, count: handle_message(body, count, settings, journal, lease_held_twice))
    assert [e.split(":")[0] for e in host.errors] == ["RetryLater", "RetryLater"]
    assert calls == ["alpha"] and len(runs_of(journal, "alpha")) == 1


def test_unknown_targets_and_bad_messages_are_acknowledged_with_an_error(fleet_env, host, caplog):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    outcome = handle_message(FleetMessage(this_month(), "delta").to_json(), 1, settings, journal, None)
    assert outcome.action == "unknown-target" and "known targets: alpha, beta, gamma" in outcome.detail
    assert handle_message(b"\xff", 1, settings, journal, None).action == "bad-message"
    assert "fleet message dropped" in caplog.text


# --- poison --------------------------------------------------------------------------------------------------

def test_a_message_that_always_fails_is_poisoned_journaled_as_an_error_and_logged_once(fleet_env, host, caplog):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)

    def always_fails(target, message, requested_by=None):
        raise ConnectionError("database unreachable")

    enqueue(settings, reserved(journal, FleetMessage(this_month(), "beta")))
    host.drain(lambda body, count: handle_message(body, count, settings, journal, always_fails))
    assert len(host.errors) == MAX_DEQUEUE_COUNT  # delivered maxDequeueCount times, then moved
    assert host.client().peek_messages() == []
    poison = LocalQueueHost(host.connection_string, host.queue_name + "-poison")
    assert len(poison.client().peek_messages(max_messages=5)) == 1
    outcomes = []
    poison.drain(lambda body, count: outcomes.append(handle_poison(body, settings, journal)))
    assert [o.action for o in outcomes] == ["poisoned"]
    text = f"target beta not verified this month ({this_month()}): message poisoned after {MAX_DEQUEUE_COUNT} attempts"
    assert text in caplog.text
    (summary,) = runs_of(journal, "beta")
    assert summary["status"] == "error" and summary["notes"] == [text]
    run = journal.get_run(summary["run_id"])
    (result,) = run.results
    assert result.check_id == DELIVERY_CHECK and result.status is Status.ERROR and result.summary == text
    assert '"targets": ["beta"]' in result.remediation
    # the poison message delivered again: logged again, journaled once
    again = handle_poison(FleetMessage(this_month(), "beta").to_json(), settings, journal)
    assert again.action == "duplicate" and len(runs_of(journal, "beta")) == 1
    assert journal.get_entity(partition(this_month()), "beta.0001")[0]["State"] == "poisoned"


def test_a_poisoned_message_whose_run_was_journaled_adds_no_error(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    (message,) = reserved(journal, FleetMessage(this_month(), "gamma"))
    handle_message(message.to_json(), 1, settings, journal, journaling_run(journal, []))
    assert handle_poison(message.to_json(), settings, journal).action == "duplicate"
    assert [r["status"] for r in runs_of(journal, "gamma")] == ["pass"]


def test_host_json_retries_and_poisons_as_the_handler_says():
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    assert queues["maxDequeueCount"] == MAX_DEQUEUE_COUNT
    assert queues["messageEncoding"] == "base64"  # checks/dispatch/queue.py sends base64 text
    assert queues["batchSize"] + queues["newBatchThreshold"] <= 8  # per-instance runs: see docs/fleet.md


# --- the faces: function_app, timer, HTTP ----------------------------------------------------------------

def test_queue_triggers_are_wired_to_the_fleet_queue_and_its_poison_queue():
    from test_function_app import FUNCTIONS
    bindings = {name: json.loads(FUNCTIONS[name].get_function_json())["bindings"][0]
                for name in ("fleet_target_run", "fleet_target_poisoned")}
    assert bindings["fleet_target_run"]["queueName"] == "%FLEET_QUEUE%"
    assert bindings["fleet_target_poisoned"]["queueName"] == "%FLEET_QUEUE%-poison"
    assert {b["type"] for b in bindings.values()} == {"queueTrigger"}
    assert {b["connection"] for b in bindings.values()} == {"FleetQueue"}


class QueueMsg:
    def __init__(self, body: str, dequeue_count: int = 1):
        self._body, self.dequeue_count = body.encode(), dequeue_count

    def get_body(self) -> bytes:
        return self._body


def test_queue_function_runs_the_targets_real_checks_and_journals_its_name(fleet_env, host, demo_db_url, env_patch):
    from test_function_app import fn
    env_patch(dict(fleet_env, DATABASE_URL=demo_db_url))
    reserved(Journal.from_settings(settings_of(fleet_env)), FleetMessage(this_month(), "alpha"),
             FleetMessage(this_month(), "beta"))
    fn("fleet_target_run")(QueueMsg(FleetMessage(this_month(), "alpha").to_json()))
    journal = Journal.from_settings(settings_of(fleet_env))
    (summary,) = runs_of(journal, "alpha")
    run = journal.get_run(summary["run_id"])
    assert run.trigger == "timer" and run.target.name == "alpha"
    assert {r.check_id: r.status for r in run.results}["database.connectivity"] is Status.PASS
    fn("fleet_target_run")(QueueMsg(FleetMessage(this_month(), "alpha").to_json(), 2))  # redelivered
    assert len(runs_of(journal, "alpha")) == 1
    fn("fleet_target_poisoned")(QueueMsg(FleetMessage(this_month(), "beta").to_json()))
    assert [r["status"] for r in runs_of(journal, "beta")] == ["error"]


def test_timer_with_a_fleet_enqueues_and_runs_nothing_in_process(fleet_env, host):
    from checks import http_api
    result = http_api.run_timer(past_due=False)
    assert result["status"] == "enqueued" and [m["target"] for m in result["enqueued"]] == ["alpha", "beta", "gamma"]
    assert len(host.client().peek_messages(max_messages=10)) == 3
    assert Journal.from_settings(settings_of(fleet_env)).list_runs(this_month()) == []


def test_timer_with_a_fleet_of_one_runs_in_process_exactly_as_before(env_patch, base_env, demo_db_url, azurite):
    from checks import http_api
    queue = "fleet" + uuid.uuid4().hex[:12]
    env_patch(dict(base_env, DATABASE_URL=demo_db_url, FLEET_QUEUE=queue))
    LocalQueueHost(azurite.connection_string, queue).create_queues()
    result = http_api.run_timer(past_due=False)
    assert result["trigger"] == "timer" and result["journal"] == "written" and "enqueued" not in result
    assert result["target"]["name"] == "production"
    assert LocalQueueHost(azurite.connection_string, queue).client().peek_messages() == []


def post(body: dict):
    return func.HttpRequest(method="POST", url="/api/verify", body=json.dumps(body).encode(),
                            headers={"content-type": "application/json"})


def test_http_verify_targets_enqueues_and_answers_202(fleet_env, host):
    from test_function_app import fn
    resp = fn("verify")(post({"targets": ["gamma", "alpha", "gamma"]}))
    assert resp.status_code == 202, resp.get_body()
    answer = json.loads(resp.get_body())
    assert [(m["target"], m["attempt"]) for m in answer["enqueued"]] == [("gamma", 2), ("alpha", 2)]
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    host.drain(lambda body, count: handle_message(body, count, settings, journal, journaling_run(journal, [])))
    again = json.loads(fn("verify")(post({"targets": "all"})).get_body())
    assert [(m["target"], m["attempt"]) for m in again["enqueued"]] == [("alpha", 3), ("beta", 2), ("gamma", 3)]
    assert {FleetMessage.from_text(m.content).trigger for m in host.client().peek_messages(max_messages=5)} == {"http"}
    # the month's timer run (attempt 1) still runs after on-demand ones
    from checks.queue_face import fan_out
    host.drain(lambda body, count: handle_message(body, count, settings, journal, journaling_run(journal, [])))
    fan_out(settings, trigger="timer")
    outcomes = []
    host.drain(lambda body, count: outcomes.append(
        handle_message(body, count, settings, journal, journaling_run(journal, []))))
    assert [o.action for o in outcomes] == ["ran"] * 3


@pytest.mark.parametrize("body,fragment", [
    ({"targets": ["alpha", "nope"]}, "unknown target(s) nope; known targets: alpha, beta, gamma"),
    ({"targets": []}, "non-empty list"),
    ({"targets": "some"}, "non-empty list"),
    ({"targets": ["alpha"], "checks": ["database.*"]}, "cannot be combined with checks"),
])
def test_http_verify_bad_targets_are_400_naming_the_known_ones(fleet_env, host, body, fragment):
    from test_function_app import fn
    resp = fn("verify")(post(body))
    assert resp.status_code == 400 and fragment in json.loads(resp.get_body())["error"]
    assert host.client().peek_messages() == []


def test_a_bad_fleet_queue_name_is_a_configuration_error(base_env):
    from checks.engine.config import ConfigError
    with pytest.raises(ConfigError, match="FLEET_QUEUE"):
        Settings.from_env(dict(base_env, FLEET_QUEUE="Bad_Name"))
    assert Settings.from_env(base_env).fleet_queue == "verifier-fleet"



def test_queued_targets_reuse_the_processs_journal_client(fleet_env, host, monkeypatch):
    """The host keeps the worker process between invocations: no new client, token or table check per target."""
    from azure.data.tables import TableClient

    from checks import queue_face
    reserved(Journal.from_settings(settings_of(fleet_env)), *(FleetMessage(this_month(), n) for n in ("alpha", "beta", "gamma")))
    built = []
    real = Journal.from_settings
    monkeypatch.setattr(Journal, "from_settings", classmethod(lambda cls, *a, **k: built.append(1) or real(*a, **k)))
    checked = []  # the table check: one read (Journal.ensure_table); the deployment creates the table
    list_entities = TableClient.list_entities
    monkeypatch.setattr(TableClient, "list_entities", lambda self, **k: (k.get("results_per_page") == 1 and checked.append(1))
                        or list_entities(self, **k))
    monkeypatch.setattr(queue_face, "run_target_with", lambda settings, journal: journaling_run(journal, []))
    for name in ("alpha", "beta", "gamma"):
        assert queue_face.run_queued(FleetMessage(this_month(), name).to_json(), 1)["action"] == "ran"
    assert len(built) == 1 and len(checked) == 1
    assert len(Journal.from_settings(settings_of(fleet_env)).list_runs(this_month())) == 3


def test_one_instance_runs_its_batch_at_once_and_each_message_once(fleet_env, host):
    """devtools serve(): the host's batchSize / newBatchThreshold, as the bench's instances use it."""
    import threading
    import time as clock

    settings = settings_of(fleet_env)
    enqueue(settings, [FleetMessage(this_month(), name, attempt) for name in ("alpha", "beta") for attempt in (1, 2, 3)])
    lock, now_running, most, seen = threading.Lock(), [0], [0], []

    def slow(body, count):
        with lock:
            now_running[0] += 1
            most[0] = max(most[0], now_running[0])
            seen.append(FleetMessage.from_text(body).key)
        clock.sleep(0.3)
        with lock:
            now_running[0] -= 1

    assert host.serve(slow, concurrency=4, new_batch_threshold=2) == 6
    assert sorted(seen) == sorted(f"{n}.000{a}" for n in ("alpha", "beta") for a in (1, 2, 3))
    assert 2 <= most[0] <= 4 and len(host.deliveries) == 6 and host.client().peek_messages() == []


# --- discovered targets (DISCOVER_TAG, no TARGETS) through the queue -------------------------------------------

@pytest.fixture
def tagged_env(fleet_env, env_patch, monkeypatch):
    """DISCOVER_TAG instead of TARGETS; Resource Graph itself is tests/test_discovery.py's (canned answers)."""
    from checks.connect import discovery
    from checks.dispatch import targets
    env = {k: v for k, v in fleet_env.items() if k != "TARGETS"} | {
        "DISCOVER_TAG": "backup-verify", "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"}
    env_patch(env)
    monkeypatch.delenv("TARGETS", raising=False)
    monkeypatch.setattr(targets, "_found", {})  # a new worker process: nothing discovered yet
    asked: list[str] = []
    monkeypatch.setattr(discovery, "discover_targets", lambda ctx: asked.append(ctx.settings.discover_tag) or (
        FleetTarget("alpha"), FleetTarget("beta")))
    return env, asked


def test_message_targets_discovers_once_per_process_then_again_after_its_ttl(tagged_env):
    from checks.dispatch.targets import DISCOVERY_TTL_SECONDS, message_targets
    env, asked = tagged_env
    settings, now = settings_of(env), [1000.0]
    for _ in range(3):
        assert [t.name for t in message_targets(settings, clock=lambda: now[0])] == ["alpha", "beta"]
    assert asked == ["backup-verify"]
    now[0] += DISCOVERY_TTL_SECONDS
    message_targets(settings, clock=lambda: now[0])
    assert asked == ["backup-verify"] * 2
    listed = settings_of(dict(env, TARGETS=json.dumps(FLEET)))
    assert [t.name for t in message_targets(listed)] == ["alpha", "beta", "gamma"] and len(asked) == 2


def test_timer_with_discover_tag_fans_the_tagged_targets_out_through_the_queue(tagged_env, host):
    from checks import http_api
    env, asked = tagged_env
    result = http_api.run_timer(past_due=False)
    assert result["status"] == "enqueued" and [m["target"] for m in result["enqueued"]] == ["alpha", "beta"]
    settings, calls = settings_of(env), []
    journal = Journal.from_settings(settings)
    outcomes = []
    host.drain(lambda body, count: outcomes.append(handle_message(body, count, settings, journal,
                                                                  journaling_run(journal, calls))), workers=2)
    assert sorted(o.action for o in outcomes) == ["ran", "ran"] and sorted(calls) == ["alpha", "beta"]
    assert asked == ["backup-verify"]  # the timer's discovery served its process's deliveries too
    untagged = handle_message(FleetMessage(this_month(), "gamma").to_json(), 1, settings, journal, None)
    assert untagged.action == "unknown-target" and "known targets: alpha, beta" in untagged.detail


def test_a_poisoned_discovered_target_is_journaled_even_when_discovery_fails(tagged_env, monkeypatch):
    from checks.connect import discovery
    env, _ = tagged_env

    def refused(ctx):
        raise discovery.DiscoveryError("Resource Graph refused the query (403)")
    monkeypatch.setattr(discovery, "discover_targets", refused)
    settings = settings_of(env)
    journal = Journal.from_settings(settings)
    reserved(journal, FleetMessage(this_month(), "alpha"))
    with pytest.raises(discovery.DiscoveryError):  # the host retries the message, then poisons it
        handle_message(FleetMessage(this_month(), "alpha").to_json(), 1, settings, journal, None)
    assert handle_poison(FleetMessage(this_month(), "alpha").to_json(), settings, journal).action == "poisoned"
    assert [r["status"] for r in runs_of(journal, "alpha")] == ["error"]


# --- a busy target is deferred, not failed -------------------------------------------------------------------

def test_a_busy_target_is_sent_again_later_without_failing_the_invocation(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    calls: list[str] = []
    run, busy, delays, outcomes = journaling_run(journal, calls), {"left": 2}, [], []

    def lease_held_twice(target, message, requested_by=None):
        if busy["left"]:
            busy["left"] -= 1
            raise RunInProgress("run-x", "20261126T000000Z-aaaaaa")
        return run(target, message, requested_by)

    def defer(later, seconds):  # the deployed one hides the copy `seconds`; here it is visible at once
        delays.append((later.deferred, seconds))
        enqueue(settings, [later])

    enqueue(settings, reserved(journal, FleetMessage(this_month(), "alpha")))
    host.drain(lambda body, count: outcomes.append(
        handle_message(body, count, settings, journal, lease_held_twice, defer=defer)))
    assert host.errors == [] and [o.action for o in outcomes] == ["deferred", "deferred", "ran"]
    assert delays == [(1, DEFER_SECONDS), (2, DEFER_SECONDS)] and "deferral 2 of" in outcomes[1].detail
    assert calls == ["alpha"] and len(runs_of(journal, "alpha")) == 1


def test_deferral_ends_in_the_hosts_retries_after_its_limit_or_when_the_queue_refuses(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)

    def busy(target, message, requested_by=None):
        raise RunInProgress("run-x", "20261126T000000Z-aaaaaa")

    def refused(later, seconds):
        raise DispatchError("fleet queue 'q': This request is not authorized (403)")

    reserved(journal, FleetMessage(this_month(), "beta"), FleetMessage(this_month(), "gamma"))
    last = FleetMessage(this_month(), "beta", deferred=MAX_DEFERRALS).to_json()
    with pytest.raises(RetryLater):
        handle_message(last, 1, settings, journal, busy, defer=lambda later, seconds: pytest.fail("deferred again"))
    with pytest.raises(RetryLater, match="not deferred: fleet queue"):
        handle_message(FleetMessage(this_month(), "gamma").to_json(), 1, settings, journal, busy, defer=refused)


def test_the_queue_function_defers_a_busy_target_with_a_hidden_copy(fleet_env, host, monkeypatch):
    from checks import queue_face

    def busy(settings, journal):
        def run_target(target, message, requested_by=None):
            raise RunInProgress("run-x", "20261126T000000Z-aaaaaa")
        return run_target

    monkeypatch.setattr(queue_face, "run_target_with", busy)
    reserved(Journal.from_settings(settings_of(fleet_env)), FleetMessage(this_month(), "alpha"))
    answer = queue_face.run_queued(FleetMessage(this_month(), "alpha").to_json(), 1)
    assert answer["action"] == "deferred"
    assert host.client().peek_messages() == []  # hidden for DEFER_SECONDS
    assert host.client().get_queue_properties().approximate_message_count == 1


def test_deferred_copies_say_so_and_bad_counts_are_refused():
    copy = FleetMessage("2026-11", "prod", deferred=3)
    assert FleetMessage.from_text(copy.to_json()) == copy and '"deferred":3' in copy.to_json()
    assert "deferred" not in FleetMessage("2026-11", "prod").to_json()
    for bad in (-1, True, "2", MAX_DEFERRED + 1):
        text = json.dumps({"schema": 1, "month": "2026-11", "target": "prod", "attempt": 1, "trigger": "timer",
                           "deferred": bad})
        with pytest.raises(BadMessage, match="deferred: expected an integer"):
            FleetMessage.from_text(text)
