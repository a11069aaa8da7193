"""Who asked for a queued run (issue 28): POST /api/verify {"targets": [...]} reserves each message in the journal
with the Entra caller (checks/dispatch/claims.py); the worker journals the run under the reservation's caller,
never a field of the message. Timer messages say `timer`, reservations of earlier versions `unknown`.
Real function handlers, real Azurite queue and journal."""
from __future__ import annotations

import json

from checks.dispatch.claims import FUNCTION_KEY, TIMER, UNKNOWN, Claims, _entity, partition, reserved_caller
from checks.dispatch.handler import handle_message, handle_poison
from checks.dispatch.message import FleetMessage
from checks.engine.principal import RUN
from checks.engine.timeutil import this_month, utcnow
from checks.journal.store import Journal
from principal_headers import NAME, OID, signed_in
from test_dispatch import QueueMsg, fleet_env, host, journaling_run, post, runs_of, settings_of  # noqa: F401

OTHER = {"object_id": "0b7e1c2d-3a4f-4e5d-8c9b-1a2b3c4d5e6f", "name": "Mallory"}


def queued(host) -> list[str]:
    """The bodies waiting on the fleet queue (peeked: the test delivers them itself)."""
    return [m.content for m in host.client().peek_messages(max_messages=10)]


def test_a_queued_run_is_journaled_under_the_caller_who_asked_for_it(fleet_env, host, demo_db_url, env_patch, entra):
    from test_function_app import fn
    env_patch(dict(fleet_env, DATABASE_URL=demo_db_url))
    request = post({"targets": ["alpha"]})
    resp = fn("verify")(type(request)(method="POST", url="/api/verify", body=request.get_body(),
                                      headers=signed_in(dict(request.headers), roles=[RUN])))
    assert resp.status_code == 202, resp.get_body()
    (body,) = queued(host)
    assert OID not in body and NAME not in body  # the message names no caller: the reservation does
    fn("fleet_target_run")(QueueMsg(body))  # the real worker: service.verify on alpha's checks
    journal = Journal.from_settings(settings_of(fleet_env))
    (summary,) = runs_of(journal, "alpha")
    assert summary["requested_by"] == {"object_id": OID, "name": NAME}
    assert journal.get_run(summary["run_id"]).requested_by == {"object_id": OID, "name": NAME}


def test_timer_messages_say_timer_and_a_function_key_caller_says_so(fleet_env, host):
    from checks import http_api
    from test_function_app import fn
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    assert http_api.run_timer(past_due=False)["status"] == "enqueued"
    assert fn("verify")(post({"targets": ["beta"]})).status_code == 202  # the function-key opt-out: no Entra caller
    host.drain(lambda body, count: handle_message(body, count, settings, journal, journaling_run(journal, [])))
    callers = {(r["target"]["name"], r["trigger"]): r["requested_by"] for r in journal.list_runs(this_month())}
    assert callers == {("alpha", "timer"): {"object_id": "", "name": TIMER},
                       ("beta", "timer"): {"object_id": "", "name": TIMER},
                       ("gamma", "timer"): {"object_id": "", "name": TIMER},
                       ("beta", "http"): {"object_id": "", "name": FUNCTION_KEY}}


def test_a_message_cannot_claim_a_caller_the_reservation_names_it(fleet_env, host, caplog):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    (message,) = Claims(journal).allocate(this_month(), ["gamma"], "http", utcnow(), {"object_id": OID, "name": NAME})
    calls: list[str] = []
    # the same message with a caller of its own: nested, or flat as the reservation's columns
    for field, value in (("requested_by", OTHER), ("caller", OTHER["name"]), ("RequestedByName", OTHER["name"]),
                         ("RequestedByObjectId", OTHER["object_id"])):
        forged = json.dumps(dict(json.loads(message.to_json()), **{field: value}))
        outcome = handle_message(forged, 1, settings, journal, journaling_run(journal, calls))
        assert outcome.action == "bad-message", (field, outcome)
    assert calls == [] and journal.list_runs(this_month()) == []
    assert "fleet message dropped" in caplog.text
    outcome = handle_message(message.to_json(), 1, settings, journal, journaling_run(journal, calls))
    assert outcome.action == "ran"
    assert journal.get_run(outcome.run_id).requested_by == {"object_id": OID, "name": NAME}
    # a redelivery or a take-over keeps the reservation's caller; the claim never takes one from elsewhere
    claim = journal.get_entity(partition(message.month), message.key)[0]
    assert reserved_caller(claim) == {"object_id": OID, "name": NAME}


def test_a_reservation_written_before_callers_were_recorded_reads_as_unknown(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    old = FleetMessage(this_month(), "alpha", 2, "http")
    entity = dict(_entity(old, "enqueued", utcnow(), 0), EnqueuedAt=utcnow())  # as the previous version wrote it
    del entity["ClaimedAt"]
    assert not any(k.startswith("RequestedBy") for k in entity) and journal.insert(entity)
    outcome = handle_message(old.to_json(), 1, settings, journal, journaling_run(journal, []))
    assert outcome.action == "ran"
    assert journal.get_run(outcome.run_id).requested_by == {"object_id": "", "name": UNKNOWN}


def test_crafted_caller_columns_read_as_unknown():
    good = {"RequestedByObjectId": OID, "RequestedByName": NAME}
    assert reserved_caller(good) == {"object_id": OID, "name": NAME}
    for bad in ({}, {"RequestedByObjectId": OID}, {"RequestedByObjectId": OID, "RequestedByName": ""},
                {"RequestedByObjectId": OID, "RequestedByName": 7}, {"RequestedByObjectId": 7, "RequestedByName": NAME},
                {"RequestedByObjectId": OID, "RequestedByName": "a\x00b"},
                {"RequestedByObjectId": OID, "RequestedByName": "x" * 201},
                {"RequestedByObjectId": "\n" + OID, "RequestedByName": NAME}):
        assert reserved_caller(bad) == {"object_id": "", "name": UNKNOWN}, bad


def test_a_poisoned_message_is_journaled_under_its_reservations_caller(fleet_env, host):
    settings = settings_of(fleet_env)
    journal = Journal.from_settings(settings)
    (message,) = Claims(journal).allocate(this_month(), ["beta"], "http", utcnow(), {"object_id": OID, "name": NAME})
    outcome = handle_poison(message.to_json(), settings, journal)
    assert outcome.action == "poisoned"
    assert journal.get_run(outcome.run_id).requested_by == {"object_id": OID, "name": NAME}
