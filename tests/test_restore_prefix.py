"""An incident restore's blob prefix (`restore blobs --prefix`, with or without --point, and the prefix of
POST /api/restore/plan) is checked as a blob name prefix before the journal or Azure is asked, like
BLOB_RECENT_PREFIX: a lone surrogate (a byte that is not UTF-8 on the command line, or "\\ud800" in JSON)
made the SDK raise UnicodeEncodeError out of the listing, a NUL went to Azure and came back as a
--container error.
"""
from __future__ import annotations

import io
import json

import pytest

from checks import cli
from test_restore_blobs import RangeArm, azurite_env, range_env  # noqa: F401 (fixtures)
from test_restore_postgres import Arm, Harness, env  # noqa: F401 (fixtures)

BAD_PREFIXES = [("a/\udc80", "U+DC80"), ("a/\x00", "U+0000"), ("a/\x1b[2J", "U+001B"), ("a" * 1025, "1025 characters"),
                ("a/\U0010ffff", "U+10FFFF")]  # the range's end was chr(0x110000): "--container: chr() arg not in range"
FORM = "--prefix: expected a blob name prefix of at most 1024 characters without control characters"


def no_journal(env: dict) -> dict:
    return {k: v for k, v in env.items() if k not in ("AzureWebJobsStorage", "JOURNAL_ACCOUNT_URL")}


@pytest.mark.parametrize("prefix,shown", BAD_PREFIXES)
def test_restore_blobs_prefix_a_blob_name_cannot_hold_is_exit_2_before_the_journal(azurite_env, prefix, shown):
    for extra, environment in (([], azurite_env), (["--apply", "--yes", "--by", "On-call"], no_journal(azurite_env))):
        out = io.StringIO()
        code = cli.main(["restore", "blobs", "--container", "documents-r18", "--prefix", prefix, *extra], out=out,
                        env=environment)
        text = out.getvalue()
        assert code == 2 and FORM in text and shown in text, text
        assert "--container" not in text and "journal" not in text.lower()


@pytest.mark.parametrize("prefix,shown", BAD_PREFIXES)
def test_blob_range_restore_prefix_is_checked_before_any_azure_call(range_env, prefix, shown):
    arm = RangeArm({"enabled": True, "days": 6})
    out = io.StringIO()
    code = cli.main(["restore", "blobs", "--container", "docs", "--prefix", prefix, "--point", "2026-11-26T03:00:00Z",
                     "--apply", "--yes", "--by", "On-call"], out=out, env=range_env(arm))
    assert code == 2 and FORM in out.getvalue() and shown in out.getvalue(), out.getvalue()
    assert "--container" not in out.getvalue() and arm.t.requests == []


def test_a_valid_unicode_prefix_still_plans(azurite_env):
    out = io.StringIO()
    code = cli.main(["restore", "blobs", "--container", "documents-r18", "--prefix", "dossiers/été 2026/"], out=out,
                    env=azurite_env)
    assert "--prefix" not in out.getvalue() and code != 2, out.getvalue()


@pytest.mark.parametrize("prefix,shown", BAD_PREFIXES)
def test_http_restore_plan_prefix_is_422_naming_it(env, env_patch, monkeypatch, azurite_env, prefix, shown):
    import azure.functions as func
    from checks import http_api

    Harness(env, Arm(), monkeypatch)
    env_patch(dict(env, BLOB_CONNECTION_STRING=azurite_env["BLOB_CONNECTION_STRING"]))
    body = json.dumps({"kind": "blobs", "container": "documents-r18", "prefix": prefix}).encode()  # "\udc80" escaped
    resp = http_api.restore_plan(func.HttpRequest(method="POST", url="/api/restore/plan", body=body,
                                                  headers={"content-type": "application/json"}))
    plan = json.loads(resp.get_body())
    assert resp.status_code == 422 and len(plan["reasons"]) == 1, plan
    assert plan["reasons"][0].startswith(FORM) and shown in plan["reasons"][0]
