"""Deviations through their faces (issue 30 item 1): `python -m checks deviations`, GET /api/deviations and
POST /api/deviations/{id}/close through function_app's decorated functions (Entra principal headers), the
monthly report's section in Markdown, HTML and JSON, English and French, and crafted deviation entities
read by the tolerant parser. The journal is Azurite's."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import azure.functions as func
import pytest

from checks.engine.config import Settings
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.engine.principal import READ, SIGN_OFF
from checks.engine.target import Target
from checks.journal.deviation_log import update
from checks.journal.deviations import PARTITION, deviation_id, read_deviations, read_state
from checks.journal.store import Journal
from principal_headers import NAME, OID, signed_in
from test_function_app import FUNCTIONS

CHECK = "postgres.retention"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
MONTH = NOW.strftime("%Y-%m")
DUE = {"critical": 7, "high": 30, "medium": 60, "low": 90}
_SEQ = iter(range(10 ** 6))


@pytest.fixture
def app_env(env_patch, base_env):
    env = dict(base_env, TARGET_NAME="production")
    env_patch(env)
    return env


@pytest.fixture
def journal(app_env):
    return Journal.from_settings(Settings.from_env(app_env))


def production(env):
    return Target.from_settings(Settings.from_env(env))


def recorded(journal, env, status, at, dry_run=False, check=CHECK):
    """A run of the configured target, as service.verify records it (deviations, then the run)."""
    run = Run(run_id=at.strftime("%Y%m%dT%H%M%SZ") + f"-{next(_SEQ):06x}", trigger="timer", started_at=at,
              finished_at=at + timedelta(seconds=1), dry_run=dry_run, target=production(env))
    run.results.append(CheckResult(check, "Retention", status, Severity.HIGH, f"retention {status.value}", {}, "",
                                   at, 5))
    update(journal, run, production(env), DUE)
    journal.write_run(run)
    return run


DEV = deviation_id("production", CHECK, 1)


# --- CLI -------------------------------------------------------------------------------------

def cli(args, env):
    from checks.cli import main
    out, err = io.StringIO(), io.StringIO()
    import contextlib
    with contextlib.redirect_stderr(err):
        code = main(args, out=out, env=env)
    return code, out.getvalue(), err.getvalue()


def test_cli_lists_open_deviations_with_age_owner_and_due(journal, app_env):
    first = recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=40))
    code, out, err = cli(["deviations", "--open"], app_env)
    assert code == 0, err
    assert DEV in out and "OVERDUE" in out and first.run_id in out and "40 days old" in out and "unassigned" in out
    code, out, _ = cli(["deviations", "--json", "--target", "production"], app_env)
    [dev] = json.loads(out)["deviations"]
    assert dev["id"] == DEV and dev["status"] == "open" and dev["overdue"] and dev["age_days"] == 40
    code, out, _ = cli(["--lang", "fr", "deviations"], app_env)
    assert code == 0 and "EN RETARD" in out and "non attribué" in out


def test_cli_close_is_refused_while_failing_then_records_the_passing_run(journal, app_env):
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=3))
    code, out, err = cli(["deviations", "close", DEV, "--note", "raised retention", "--by", "alice"], app_env)
    assert code == 2 and "still fails" in err and "Traceback" not in err
    dry = recorded(journal, app_env, Status.PASS, NOW - timedelta(days=1), dry_run=True)
    code, out, err = cli(["deviations", "close", DEV, "--note", "raised retention", "--by", "alice"], app_env)
    assert code == 0, err
    assert dry.run_id in out
    [dev] = read_deviations(journal)
    assert (dev.closed_by, dev.closing_note, dev.evidence_run_id, dev.closed_via) == \
        ("alice", "raised retention", dry.run_id, "cli")
    code, _, err = cli(["deviations", "close", DEV, "--note", "again", "--by", "bob"], app_env)
    assert code == 2 and "closed already" in err


def test_cli_assign_records_the_owner_as_an_event(journal, app_env):
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=1))
    code, out, err = cli(["deviations", "assign", DEV, "--owner", "DBA team", "--by", "alice"], app_env)
    assert code == 0, err
    assert read_deviations(journal)[0].owner == "DBA team"


BAD_CLI = {
    "id of another form": ["deviations", "close", "20261101T000000Z-abcdef", "--note", "x"],
    "id with a quote": ["deviations", "close", "dev-'; drop-0001", "--note", "x"],
    "no id": ["deviations", "close", "--note", "x"],
    "no note": ["deviations", "close", DEV],
    "empty note": ["deviations", "close", DEV, "--note", "   "],
    "note too long": ["deviations", "close", DEV, "--note", "x" * 1001],
    "note with NUL": ["deviations", "close", DEV, "--note", "fixed\x00"],
    "note with escape": ["deviations", "close", DEV, "--note", "fixed \x1b[31m"],
    "owner too long": ["deviations", "assign", DEV, "--owner", "o" * 101],
    "owner with newline": ["deviations", "assign", DEV, "--owner", "a\u2028b"],
    "by with control": ["deviations", "close", DEV, "--note", "x", "--by", "a\x07"],
    "target of another form": ["deviations", "--target", "Prod uction"],
    "unknown target": ["deviations", "--target", "staging"],
    "list with a note": ["deviations", "--note", "x"],
    "assign without owner": ["deviations", "assign", DEV],
}


@pytest.mark.parametrize("args", list(BAD_CLI.values()), ids=list(BAD_CLI))
def test_cli_bad_input_is_exit_2_before_any_journal_io(app_env, args, monkeypatch):
    from checks.journal import store
    monkeypatch.setattr(store.Journal, "query", lambda *a, **k: pytest.fail("journal read on bad input"))
    code, out, err = cli(args, app_env)
    assert code == 2 and err.startswith("error:") and "Traceback" not in err, err


# --- HTTP ------------------------------------------------------------------------------------

def call(name, headers, body=None, params=None, route_params=None, method="POST", raw=False):
    req = func.HttpRequest(method=method, url=f"/api/{name}", body=json.dumps(body).encode() if body is not None
                           else b"", headers={"content-type": "application/json", **headers}, params=params or {},
                           route_params=route_params or {})
    resp = FUNCTIONS[name].get_user_function()(req)
    return resp if raw else (resp.status_code, json.loads(resp.get_body().decode()))


def test_http_lists_and_closes_under_the_tokens_caller(journal, app_env, entra):
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=2))
    status, body = call("deviations", signed_in(roles=[READ]), params={"open": "1"}, method="GET")
    assert status == 200 and [d["id"] for d in body["deviations"]] == [DEV] and body["intact"]
    route = {"id": DEV}
    status, body = call("deviation_close", signed_in(roles=[READ]), {"note": "fixed"}, route_params=route)
    assert status == 403 and body["missing_role"] == SIGN_OFF
    status, body = call("deviation_close", signed_in(roles=[SIGN_OFF]), {"note": "fixed"}, route_params=route)
    assert status == 409 and "still fails" in body["error"]
    passing = recorded(journal, app_env, Status.PASS, NOW - timedelta(days=1), dry_run=True)
    status, body = call("deviation_close", signed_in(roles=[SIGN_OFF]), {"note": "fixed", "by": "Mallory"},
                        route_params=route)
    assert status == 400 and "'by'" in body["error"]  # a typed name is never recorded
    status, body = call("deviation_close", signed_in(roles=[SIGN_OFF]), {"note": "fixed"}, route_params=route)
    assert status == 200, body
    [dev] = read_deviations(journal)
    assert (dev.closed_by, dev.closed_by_object_id, dev.evidence_run_id, dev.closed_via) == \
        (NAME, OID, passing.run_id, "http")


BAD_HTTP = {
    "id of another form": ({"id": "../../etc"}, {"note": "x"}, 400),
    "id with NUL": ({"id": DEV + "\x00"}, {"note": "x"}, 400),
    "unknown id": ({"id": deviation_id("production", CHECK, 9)}, {"note": "x"}, 404),
    "note missing": ({"id": DEV}, {}, 400),
    "note not text": ({"id": DEV}, {"note": ["x"]}, 400),
    "note too long": ({"id": DEV}, {"note": "x" * 1001}, 400),
    "note with control": ({"id": DEV}, {"note": "a\x1b]0;x\x07"}, 400),
    "unknown field": ({"id": DEV}, {"note": "x", "owner": "me"}, 400),
}


@pytest.mark.parametrize("route,body,expected", list(BAD_HTTP.values()), ids=list(BAD_HTTP))
def test_http_close_bad_input_is_a_4xx_naming_it(journal, app_env, entra, route, body, expected):
    status, answer = call("deviation_close", signed_in(roles=[SIGN_OFF]), body, route_params=route)
    assert status == expected and answer["error"], answer


@pytest.mark.parametrize("params", [{"open": "yes"}, {"target": "Prod"}, {"target": "staging"},
                                    {"target": "x" * 200}])
def test_http_list_bad_query_is_400(app_env, entra, params):
    status, answer = call("deviations", signed_in(roles=[READ]), params=params, method="GET")
    assert status == 400 and answer["error"]


# --- the monthly report ----------------------------------------------------------------------

def report(env, fmt, lang="en"):
    code, out, err = cli(["--lang", lang, "report", "--month", MONTH, "--format", fmt], env)
    assert code in (0, 1), err
    return out


def test_the_report_shows_open_and_closed_deviations_in_both_languages(journal, app_env):
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=40), check="blob.soft_delete")  # overdue
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(seconds=30))
    passing = recorded(journal, app_env, Status.PASS, NOW - timedelta(seconds=10))  # closes the second
    md = report(app_env, "md")
    assert "## Deviations" in md and "OVERDUE" in md and "40 days" in md and "unassigned" in md
    assert "Closed this month:" in md and f"evidence: run {passing.run_id}" in md
    status = call("pages", {}, route_params={"page": f"month-{MONTH}.html"}, method="GET", raw=True)
    html = status.get_body().decode()
    assert f'href="run-{passing.run_id}.html"' in html and 'class="overdue"' in html
    data = json.loads(report(app_env, "json"))["deviations"]
    assert [d["check_id"] for d in data["open"]] == ["blob.soft_delete"] and data["open"][0]["overdue"]
    assert [d["evidence_run_id"] for d in data["closed"]] == [passing.run_id]
    fr = report(app_env, "md", "fr")
    assert "## Écarts" in fr and "EN RETARD" in fr and "non attribué" in fr and "Clos ce mois-ci" in fr
    assert "` : clos le " in fr and " UTC ; preuve : exécution " in fr  # French punctuation


def test_the_linked_sites_month_page_shows_the_deviations_too(journal, app_env, tmp_path):
    """`report --site` (the demo's and the auditor's folder) writes the month page with the same section."""
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=40), check="blob.soft_delete")  # overdue
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(seconds=30))
    passing = recorded(journal, app_env, Status.PASS, NOW - timedelta(seconds=10))
    for lang, heading in (("en", "Deviations"), ("fr", "Écarts")):
        code, out, err = cli(["report", "--site", str(tmp_path / lang), "--month", MONTH, "--lang", lang], app_env)
        assert code == 0, out + err
        html = (tmp_path / lang / f"month-{MONTH}.html").read_text(encoding="utf-8")
        assert f">{heading}<" in html and 'class="overdue"' in html and "blob.soft_delete" in html, lang
        assert f'href="run-{passing.run_id}.html"' in html and 'class="deviations-closed"' in html, lang


# --- crafted entities ------------------------------------------------------------------------

def test_crafted_deviation_entities_are_named_never_a_crash(journal, app_env):
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=1))
    table = journal.table_client
    table.create_entity({"PartitionKey": PARTITION, "RowKey": "dev-0000000000000000-0001", "Kind": "deviation",
                         "DeviationId": "dev-0000000000000000-0001", "FirstSeenAt": "year 9999"})
    table.create_entity({"PartitionKey": PARTITION, "RowKey": f"{DEV}-close", "Kind": "deviation-close",
                         "DeviationId": DEV, "ClosedAt": NOW, "TargetName": "production"})
    state = read_state(journal)
    assert state.deviations[DEV].is_open  # an unchained close is not believed
    named = {f.row_key for f in state.findings}
    assert {"dev-0000000000000000-0001", f"{DEV}-close"} <= named
    code, out, err = cli(["deviations"], app_env)
    assert code == 0 and "BROKEN" in out and f"{DEV}-close" in out
    status, body = call("deviations", {}, method="GET")  # function-key mode: no caller needed
    assert status == 200 and not body["intact"] and [d["id"] for d in body["deviations"]] == [DEV]
    assert any(f"{DEV}-close" in n for n in body["notes"])


def test_an_unreadable_chained_event_is_named_and_the_rest_read():
    from checks.journal.chain import link
    from checks.journal.deviations import read_rows
    good = {"PartitionKey": PARTITION, "RowKey": DEV, "Kind": "deviation", "DeviationId": DEV,
            "TargetName": "production", "TargetOverride": False, "CheckId": CHECK, "Severity": "high",
            "FirstRunId": "20261101T000000Z-abcdef", "FirstSeenAt": NOW, "FirstStatus": "fail", "DueAt": NOW,
            "Summary": "retention \x1b[2J\x1b]0;pwned\x07 fail"}
    bad = dict(good, RowKey=deviation_id("production", "blob.soft_delete", 1),
               DeviationId=deviation_id("production", "blob.soft_delete", 1), CheckId="blob.soft_delete",
               FirstSeenAt="not a time", Severity=7)
    first, head = link(good, [], None, NOW)
    second, head = link(bad, [], head, NOW)
    state = read_rows([first, second, head])
    assert list(state.deviations) == [DEV] and not state.findings
    assert state.deviations[DEV].summary.isprintable()  # a terminal never receives the stored escapes
    [gone] = state.unreadable
    assert gone.row_key == bad["RowKey"] and "Severity" in gone.why


def test_http_close_without_a_caller_needs_a_typed_by(journal, app_env):
    """HTTP_AUTH_MODE=function-key (the opt-out): no token, so "by" is required and recorded as typed."""
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=2))
    recorded(journal, app_env, Status.PASS, NOW - timedelta(days=1), dry_run=True)
    route = {"id": DEV}
    status, body = call("deviation_close", {}, {"note": "fixed"}, route_params=route)
    assert status == 400 and "by" in body["error"]
    status, body = call("deviation_close", {}, {"note": "fixed", "by": "a\u0000b"}, route_params=route)
    assert status == 400
    status, body = call("deviation_close", {}, {"note": "fixed", "by": "Dr. B"}, route_params=route)
    assert status == 200 and read_deviations(journal)[0].closed_by == "Dr. B"


def test_cli_run_owner_owns_the_deviations_it_opens(app_env, monkeypatch):
    from checks import service
    from checks.engine.model import CheckSpec, Outcome
    spec = CheckSpec(id="t.broken", title="t", severity=Severity.LOW, remediation="r", risk="r",
                     run=lambda c: Outcome.fail("broken"))
    monkeypatch.setattr(service, "select", lambda patterns, read_only_only=False: [spec])
    code, out, err = cli(["run", "--owner", "DBA team"], app_env)
    assert code == 1, err  # the check failed
    [dev] = read_deviations(Journal.from_settings(Settings.from_env(app_env)))
    assert (dev.check_id, dev.owner, dev.owner_object_id) == ("t.broken", "DBA team", "")


@pytest.mark.parametrize("owner", ["", "x" * 101, "a\x00b", "a\nb"])
def test_cli_run_bad_owner_is_exit_2_before_any_check(app_env, owner, monkeypatch):
    from checks import service
    monkeypatch.setattr(service, "verify", lambda *a, **k: pytest.fail("ran with a bad --owner"))
    code, out, err = cli(["run", "--owner", owner], app_env)
    assert code == 2 and "--owner" in err and "Traceback" not in err, err


def test_a_deviation_of_a_target_no_longer_configured_is_judged_by_its_own_runs(journal, app_env):
    """The target left the fleet: its own journaled results still refuse a close while it fails (it must not
    slip through because none of them is about a configured target), over the CLI and HTTP."""
    gone = Target(name="old-clinic", server="psql-old", resource_group="rg-old")
    run = Run(run_id=f"{NOW:%Y%m%dT%H%M%SZ}-{next(_SEQ):06x}", trigger="timer", started_at=NOW - timedelta(days=1),
              target=gone)
    run.results.append(CheckResult(CHECK, "Retention", Status.FAIL, Severity.HIGH, "short", {}, "",
                                   NOW - timedelta(days=1), 5))
    update(journal, run, gone, DUE)
    journal.write_run(run)
    dev_id = deviation_id("old-clinic", CHECK, 1)
    code, _, err = cli(["deviations", "close", dev_id, "--note", "moved", "--by", "alice"], app_env)
    assert code == 2 and "still fails" in err
    status, body = call("deviation_close", {}, {"note": "moved", "by": "alice"}, route_params={"id": dev_id})
    assert status == 409 and "still fails" in body["error"]


def test_journal_verify_checks_the_deviation_chain_and_names_an_edit(journal, app_env):
    """`journal verify` (every month) verifies the deviation partition's own hash chain: an edited event is
    named by RowKey and the exit code is 1; an intact one is a line of its own."""
    import uuid
    env = dict(app_env, JOURNAL_SEAL_CONTAINER="seals-" + uuid.uuid4().hex[:12])
    recorded(journal, env, Status.FAIL, NOW - timedelta(days=2))
    code, out, err = cli(["journal", "verify"], env)
    assert code == 0 and "deviation: intact (1 link" in out, out + err
    table = journal.table_client
    entity = dict(table.get_entity(PARTITION, DEV))
    table.update_entity(dict(entity, DueAt=NOW + timedelta(days=3650)), mode="replace")  # a later due date
    code, out, err = cli(["journal", "verify"], env)
    assert code == 1 and "deviation: BROKEN" in out and DEV in out
    code, out, _ = cli(["journal", "verify", "--json"], env)
    data = json.loads(out)
    assert not data["intact"] and [f["row_key"] for f in data["deviations"]["findings"]] == [DEV]
    assert DEV not in [d.id for d in read_deviations(journal)]  # an edited event is never believed


@pytest.mark.parametrize("head", [{"ChainLength": "abc", "ChainHash": "0" * 64}, {"ChainLength": 3}],
                         ids=["length not a number", "no hash"])
def test_an_edited_chain_head_is_an_error_line_never_a_traceback(journal, app_env, head):
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=2))
    recorded(journal, app_env, Status.PASS, NOW - timedelta(days=1), dry_run=True)
    journal.table_client.upsert_entity({"PartitionKey": PARTITION, "RowKey": "chain-head", "Kind": "chain-head",
                                        **head}, mode="replace")
    code, out, err = cli(["deviations", "close", DEV, "--note", "fixed", "--by", "alice"], app_env)
    assert code == 1 and "chain head" in err and "Traceback" not in err, err
    run = Run(run_id=f"{NOW:%Y%m%dT%H%M%SZ}-{next(_SEQ):06x}", trigger="timer", started_at=NOW, target=production(app_env))
    run.results.append(CheckResult("blob.soft_delete", "t", Status.FAIL, Severity.HIGH, "off", {}, "", NOW, 5))
    from checks.journal.deviation_log import after_run
    [note] = after_run(journal, run, production(app_env), DUE)
    assert "deviations not updated" in note and "chain head" in note


def test_cli_an_unknown_deviation_is_exit_1_like_an_unknown_run(journal, app_env):
    code, _, err = cli(["deviations", "close", DEV, "--note", "x", "--by", "a"], app_env)
    assert code == 1 and "not found" in err


def test_cli_shows_a_closed_deviation_in_french_too(journal, app_env):
    recorded(journal, app_env, Status.FAIL, NOW - timedelta(days=3))
    passing = recorded(journal, app_env, Status.PASS, NOW - timedelta(days=1))
    code, out, _ = cli(["--lang", "fr", "deviations"], app_env)
    assert code == 0 and f"clos automatiquement le" in out and f"preuve : exécution {passing.run_id}" in out
    assert "  clos  " in out and "closed" not in out
