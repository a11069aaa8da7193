"""The Functions entry points called directly (no Functions host needed)."""
import json

import azure.functions as func
import pytest

import function_app
from checks import http_auth
from principal_headers import signed_in


FUNCTIONS = {f.get_function_name(): f for f in function_app.app.get_functions()}  # validates once


def fn(name):
    return FUNCTIONS[name].get_user_function()


def post(body=b"", content_type="application/json", route="verify"):
    return func.HttpRequest(method="POST", url=f"/api/{route}", body=body,
                            headers=signed_in({"content-type": content_type} if content_type else {}))


def get(route, params=None, route_params=None):
    return func.HttpRequest(method="GET", url=f"/api/{route}", body=b"", params=params or {},
                            route_params=route_params or {}, headers=signed_in())


@pytest.fixture
def app_env(env_patch, base_env, demo_db_url, entra):  # a deployment's default: callers from Entra ID
    env = dict(base_env, DATABASE_URL=demo_db_url)
    env_patch(env)
    return env


def test_bindings_schedule_and_auth():
    functions = FUNCTIONS
    assert set(functions) >= {"monthly_verification", "verify", "journal_month", "journal_run"}
    timer = json.loads(functions["monthly_verification"].get_function_json())["bindings"][0]
    assert timer["schedule"] == "%VERIFY_SCHEDULE%" and timer.get("runOnStartup") in (False, None)
    http = json.loads(functions["verify"].get_function_json())["bindings"][0]
    # Entra (the default) guards the routes in front of the app: no key; the opt-out keeps the function key
    assert http["authLevel"] == "ANONYMOUS" and http["methods"] == ["POST"]
    assert http_auth.auth_level({}) == func.AuthLevel.ANONYMOUS
    assert http_auth.auth_level({"HTTP_AUTH_MODE": "function-key"}) == func.AuthLevel.FUNCTION
    assert http_auth.auth_level({"HTTP_AUTH_MODE": "open"}) == func.AuthLevel.FUNCTION  # invalid: never open


def test_verify_runs_and_journals(app_env):
    resp = fn("verify")(post(json.dumps({"checks": ["database.*"]}).encode()))
    assert resp.status_code == 200, resp.get_body()
    run = json.loads(resp.get_body())
    assert run["trigger"] == "http" and run["journal"] == "written"
    assert sorted(r["check_id"] for r in run["results"]) == ["database.connectivity", "database.essential_counts",
                                                             "database.migration", "database.signed_document"]
    conn = next(r for r in run["results"] if r["check_id"] == "database.connectivity")
    assert conn["status"] == "pass"
    month = run["started_at"][:7]
    listing = json.loads(fn("journal_month")(get("journal", {"month": month})).get_body())
    assert listing["runs"][0]["run_id"] == run["run_id"]
    one = fn("journal_run")(get("journal/x", route_params={"run_id": run["run_id"]}))
    assert one.status_code == 200
    assert json.loads(one.get_body())["results"][0]["check_id"] == run["results"][0]["check_id"]


@pytest.mark.parametrize("body,ctype,status,fragment", [
    (b"{not json", "application/json", 400, "malformed JSON"),
    (b"[1,2]", "application/json", 400, "JSON object"),
    (b'{"checks": "postgres.*"}', "application/json", 400, "must be a list"),
    (b'{"checks": [1]}', "application/json", 400, "list of check ids"),
    (b'{"checks": ["nope.*"]}', "application/json", 400, "unknown check"),
    (b'{"chekcs": []}', "application/json", 400, "unknown field"),
    (b'{"checks": []}', "text/plain", 415, "Content-Type"),
    (b'{"checks": []}', None, 415, "Content-Type"),
    (b"x" * 20000, "application/json", 413, "too large"),
])
def test_verify_bad_bodies(app_env, body, ctype, status, fragment):
    resp = fn("verify")(post(body, ctype))
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    assert fragment in json.loads(resp.get_body())["error"]


def test_unknown_check_lists_known_ids(app_env):
    resp = fn("verify")(post(b'{"checks": ["nope"]}'))
    assert "database.connectivity" in json.loads(resp.get_body())["known_checks"]


def test_misconfiguration_is_a_json_500_naming_the_variable(env_patch, base_env, entra):
    env_patch(dict(base_env, CHECK_TIMEOUT_SECONDS="forever"))
    resp = fn("verify")(post(b""))
    assert resp.status_code == 500
    assert "CHECK_TIMEOUT_SECONDS" in json.loads(resp.get_body())["problems"]


def test_journal_bad_month_and_missing_run(app_env):
    assert fn("journal_month")(get("journal", {"month": "2026-13"})).status_code == 400
    assert fn("journal_run")(get("journal/x", route_params={"run_id": "../../etc"})).status_code == 400
    assert fn("journal_run")(get("journal/x", route_params={"run_id": "20261101T000000Z-abcdef"})).status_code == 404


class Timer:
    def __init__(self, past_due):
        self.past_due = past_due


def test_timer_runs_everything_and_records(app_env, caplog):
    caplog.set_level("INFO")
    fn("monthly_verification")(Timer(past_due=True))
    assert "past due" in caplog.text
    from checks.engine.config import Settings
    from checks.journal.store import Journal
    from datetime import datetime, timezone
    runs = Journal.from_settings(Settings.from_env(app_env)).list_runs(datetime.now(timezone.utc).strftime("%Y-%m"))
    assert runs and runs[0]["trigger"] == "timer"


def test_timer_with_bad_config_does_not_raise(env_patch, base_env, caplog):
    env_patch(dict(base_env, VERIFY_SCHEDULE="whenever"))
    fn("monthly_verification")(Timer(past_due=False))
    assert "VERIFY_SCHEDULE" in caplog.text
