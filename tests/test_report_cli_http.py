"""`python -m checks report|signoff` and GET /api/report, POST /api/report/{month}/signoff."""
from __future__ import annotations

import io
import json
import re

import azure.functions as func
import pytest

from checks.cli import main
from checks.engine.config import Settings
from checks.journal.store import Journal
from test_function_app import FUNCTIONS  # app.get_functions() may only be called once per process
from test_report import FULL, SOFT_DELETE, at, make_run


def fn(name):
    return FUNCTIONS[name].get_user_function()


def run_cli(args, env):
    out = io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


@pytest.fixture
def journal(base_env):
    return Journal.from_settings(Settings.from_env(base_env))


@pytest.fixture
def filled(journal):
    """2026-09: complete; 2026-10: only soft delete checked."""
    journal.write_run(make_run("20260901T060000Z-a1a1a1", at(1, month=9), FULL))
    journal.write_run(make_run("20261001T060000Z-b2b2b2", at(1), [SOFT_DELETE]))
    return journal


def test_cli_report_exit_codes_and_formats(base_env, filled):
    code, out = run_cli(["report", "--month", "2026-09"], base_env)
    assert code == 0 and "**5 of 5 boxes ticked.**" in out
    code, out = run_cli(["report", "--month", "2026-10", "--format", "json"], base_env)
    assert code == 1
    data = json.loads(out)
    assert data["boxes_ticked"] == 2 and data["complete"] is False
    assert data["boxes"][2]["evidence"]["run_id"] == "20261001T060000Z-b2b2b2"
    code, out = run_cli(["report", "--month", "2026-08", "--format", "html"], base_env)
    assert code == 1 and out.startswith("<!DOCTYPE html>") and "0 of 5 boxes ticked" in out
    code, out = run_cli(["report", "--month", "2026-10", "--months", "2", "--format", "json"], base_env)
    assert code == 1 and [m["boxes_ticked"] for m in json.loads(out)["months"]] == [5, 2]
    code, out = run_cli(["report", "--month", "2026-09", "--months", "1"], base_env)
    assert code == 0


def test_cli_report_usage_errors_exit_two(base_env, capsys):
    assert run_cli(["report", "--month", "2026-9"], base_env)[0] == 2
    assert run_cli(["report", "--format", "pdf"], base_env)[0] == 2
    assert run_cli(["report", "--months", "0"], base_env)[0] == 2
    assert "months must be an integer between 1 and 36" in capsys.readouterr().err
    assert run_cli(["report", "--months", "37"], base_env)[0] == 2
    assert run_cli(["report"], dict(base_env, JOURNAL_TABLE="x"))[0] == 2  # bad configuration
    assert "JOURNAL_TABLE" in capsys.readouterr().err


def test_cli_signoff_stores_and_report_shows_it(base_env, filled, capsys):
    code, out = run_cli(["signoff", "--month", "2026-09", "--by", "Dr. A. Example", "--comment", "all fine"], base_env)
    assert code == 0, capsys.readouterr().err
    assert out.startswith("Signed off 2026-09 by Dr. A. Example at ") and "5 of 5 boxes ticked, 1 run" in out
    # the moment as the reports show it ("2026-12-06 22:44 UTC"), never raw ISO with microseconds
    assert re.search(r" at \d{4}-\d\d-\d\d \d\d:\d\d UTC: ", out), out
    code, out = run_cli(["report", "--month", "2026-09"], base_env)
    assert "- Signed off by **Dr. A. Example** on " in out and "Comment: all fine" in out
    code, out = run_cli(["signoff", "--month", "2026-10", "--by", "B"], base_env)
    assert code == 0 and "Note: not every box is ticked" in out


def test_cli_signoff_usage_errors_exit_two(base_env, capsys):
    assert run_cli(["signoff", "--month", "2026-09"], base_env)[0] == 2  # --by missing
    assert run_cli(["signoff", "--month", "2026-09", "--by", ""], base_env)[0] == 2
    assert "must not be empty" in capsys.readouterr().err
    assert run_cli(["signoff", "--month", "2026-09", "--by", "A", "--comment", "c" * 600], base_env)[0] == 2
    assert "too long: 600" in capsys.readouterr().err
    assert run_cli(["signoff", "--month", "2099-01", "--by", "A"], base_env)[0] == 2
    assert Journal.from_settings(Settings.from_env(base_env)).partition("2026-09") == []


def test_cli_report_unreachable_journal_exits_one(capsys):
    env = {"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;"
                                  "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;", "JOURNAL_TABLE": "Nowhere"}
    assert run_cli(["report", "--month", "2026-09"], env)[0] == 1
    err = capsys.readouterr().err
    assert "journal read failed" in err and "c2VjcmV0" not in err


# --- HTTP ------------------------------------------------------------------------------------

def get(params):
    return func.HttpRequest(method="GET", url="/api/report", body=b"", params=params)


def post(month, body, content_type="application/json"):
    return func.HttpRequest(method="POST", url=f"/api/report/{month}/signoff", body=body,
                            headers={"content-type": content_type}, route_params={"month": month})


@pytest.fixture
def http_env(env_patch, base_env):
    env_patch(base_env)
    return base_env


def test_routes_are_registered():
    spec = json.loads(FUNCTIONS["report"].get_function_json())["bindings"][0]
    assert spec["route"] == "report" and spec["methods"] == ["GET"] and spec["authLevel"] == "ANONYMOUS"
    spec = json.loads(FUNCTIONS["report_signoff"].get_function_json())["bindings"][0]
    assert spec["route"] == "report/{month}/signoff" and spec["methods"] == ["POST"]


def test_http_report_formats(http_env, filled):
    resp = fn("report")(get({"month": "2026-09"}))
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert json.loads(resp.get_body())["complete"] is True
    resp = fn("report")(get({"month": "2026-10", "format": "html"}))
    assert resp.status_code == 200 and resp.mimetype == "text/html" and resp.charset == "utf-8"
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "2 of 5 boxes ticked" in resp.get_body().decode()
    resp = fn("report")(get({"month": "2026-10", "format": "md", "months": "12"}))
    assert resp.mimetype == "text/markdown"
    assert "# Backup checklist overview — 2025-11 to 2026-10" in resp.get_body().decode()


@pytest.mark.parametrize("params,fragment", [
    ({"month": "2026-13"}, "month must be YYYY-MM"),
    ({"month": "../etc"}, "month must be YYYY-MM"),
    ({"month": "2026-10", "format": "pdf"}, "format must be one of md, html, json"),
    ({"month": "2026-10", "months": "x"}, "months must be an integer"),
    ({"month": "2026-10", "months": "100"}, "got 100"),
])
def test_http_report_bad_input_is_400_json(http_env, params, fragment):
    resp = fn("report")(get(params))
    assert resp.status_code == 400 and resp.mimetype == "application/json"
    assert fragment in json.loads(resp.get_body())["error"]


def test_http_signoff(http_env, filled):
    resp = fn("report_signoff")(post("2026-09", json.dumps({"by": "<script>x</script>", "comment": "ok"}).encode()))
    assert resp.status_code == 201, resp.get_body()
    body = json.loads(resp.get_body())
    assert body["signoff"]["by"] == "<script>x</script>" and body["signoff"]["via"] == "http"
    assert body["complete"] is True and body["boxes_ticked"] == 5
    html = fn("report")(get({"month": "2026-09", "format": "html"})).get_body().decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script" not in html


@pytest.mark.parametrize("month,body,ctype,status,fragment", [
    ("2026-13", b'{"by": "A"}', "application/json", 400, "month must be YYYY-MM"),
    ("2026-09", b'{}', "application/json", 400, "field 'by'"),
    ("2026-09", b'{"by": "A", "role": "x"}', "application/json", 400, "unknown field"),
    ("2026-09", b'{"by": 1}', "application/json", 400, "must be a str"),
    ("2026-09", json.dumps({"by": "A", "comment": "c" * 501}).encode(), "application/json", 400, "too long"),
    ("2026-09", b'{"by": "A"}', "text/plain", 415, "Content-Type"),
    ("2099-01", b'{"by": "A"}', "application/json", 400, "has not started"),
])
def test_http_signoff_bad_input(http_env, month, body, ctype, status, fragment):
    resp = fn("report_signoff")(post(month, body, ctype))
    assert resp.status_code == status and resp.mimetype == "application/json"
    assert fragment in json.loads(resp.get_body())["error"]
    assert Journal.from_settings(Settings.from_env(http_env)).partition("2026-09") == []
