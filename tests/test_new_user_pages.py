"""What a new user sees (issue 29 items 6 and 10): which target each listed run was for, run pages that
group skipped checks in one table and show counts as a table, the month's warnings once per check,
"did you mean" for a mistyped check id, the sign-in hint of drill start, and ruff over the tree."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import azure.functions as func
import pytest

from checks import http_api, http_report
from checks.cli import main
from checks.engine.config import Settings
from checks.engine.i18n import language
from checks.engine.model import Status
from checks.engine.registry import UnknownCheck, select
from checks.engine.target import Target
from checks.journal.store import Journal
from checks.report.checklist import month_report
from checks.report.pages import run_page
from checks.report.render import render
from test_report import make_run

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = Target(name="production", subscription="sub-1", resource_group="rg-medicapp", server="medicapp-db",
                    storage_account="medicappdocs")


def _now() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _journal(env) -> Journal:
    return Journal.from_settings(Settings.from_env(env))


# --- journal listings name the target ---------------------------------------------------------

@pytest.fixture
def listed(base_env):
    journal, start = _journal(base_env), _now()
    runs = [make_run(f"{start:%Y%m%d}T0001{i}0Z-a1a1a{i}", start + timedelta(minutes=1, seconds=10 * i),
                     [("database.connectivity", Status.PASS, "connected", {})]) for i in range(3)]
    runs[0].target = PRODUCTION
    runs[1].target = Target(database_host="127.0.0.1:55432", database_name="medicapp")
    runs[2].target = Target()
    for run in runs:
        journal.write_run(run)
    return base_env, runs


def _target_line(text: str, run_id: str) -> str:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if run_id in line)
    return lines[index + 1]


def test_journal_listing_names_each_runs_target(listed):
    env, runs = listed
    out = io.StringIO()
    assert main(["journal"], out=out, env=env) == 0
    text = out.getvalue()
    assert "target: production" in _target_line(text, runs[0].run_id)
    assert "target: 127.0.0.1:55432/medicapp" in _target_line(text, runs[1].run_id)
    assert "target: local stack (no Azure target)" in _target_line(text, runs[2].run_id)
    out = io.StringIO()
    assert main(["--lang", "fr", "journal"], out=out, env=env) == 0
    assert "cible : environnement local (aucune cible Azure)" in _target_line(out.getvalue(), runs[2].run_id)


def test_http_journal_listing_has_a_target_label(listed, env_patch, monkeypatch):
    env, runs = listed
    env_patch(env)
    monkeypatch.setenv("HTTP_AUTH_MODE", "function-key")  # the route itself, without a signed-in caller
    answer = http_report.journal_month(func.HttpRequest(method="GET", url="/api/journal", body=b"", params={}))
    assert answer.status_code == 200
    labels = {r["run_id"]: r["target_label"] for r in json.loads(answer.get_body())["runs"]}
    assert labels[runs[0].run_id] == "production"
    assert labels[runs[1].run_id] == "127.0.0.1:55432/medicapp"
    assert labels[runs[2].run_id] == "local stack (no Azure target)"


# --- run pages --------------------------------------------------------------------------------

class Structure(HTMLParser):
    """Counts of sections and tables by class."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.tables: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        if tag == "section":
            self.sections.append(cls)
        if tag == "table":
            self.tables.append(cls)


def _many_skipped_run():
    results = [("database.essential_counts", Status.PASS, "all essential tables have rows",
                {"counts": {"public.patients": 12345, "public.visits": 7}, "ratio": 0.5})]
    results += [(f"blob.skipped_{i:02d}", Status.SKIPPED, f"BLOB_SETTING_{i} not set", {}) for i in range(30)]
    return make_run(f"{_now():%Y%m%d}T060000Z-abcdef", _now() + timedelta(hours=6), results)


def test_run_page_groups_thirty_skipped_checks_in_one_table():
    html = run_page(_many_skipped_run())
    page = Structure(html)
    assert page.sections.count("result") == 1  # only the check that ran has a full block
    assert page.sections.count("skipped") == 1
    assert len([t for t in page.tables if "skipped-checks" in t]) == 1
    skipped_table = html[html.index('class="results skipped-checks"'):]
    skipped_table = skipped_table[:skipped_table.index("</table>")]
    assert skipped_table.count("<tr>") == 31  # header + 30 checks
    assert "BLOB_SETTING_29 not set" in skipped_table


def test_counts_are_a_table_with_the_languages_numbers():
    run = _many_skipped_run()
    html = run_page(run)
    assert "<pre>" not in html  # no raw JSON for an object of counts
    assert '<td>public.patients</td><td class="num">12345</td>' in html
    with language("fr"):
        html = run_page(run)
    assert '<td>public.patients</td><td class="num">12\u202f345</td>' in html or \
        '<td>public.patients</td><td class="num">12\xa0345</td>' in html
    assert "Contrôles ignorés" in html


# --- the month's failures and warnings, once per check ------------------------------------------

def test_month_lists_a_repeated_warning_once_with_its_runs(base_env):
    journal, start = _journal(base_env), _now()
    ids = []
    for i, hours in enumerate((1, 2, 3)):
        run = make_run(f"{start:%Y%m%d}T0{hours}0000Z-c{i}c{i}c{i}", start + timedelta(hours=hours),
                       [("postgres.retention", Status.WARN, f"earliest restore point {30 + i} h short", {})])
        journal.write_run(run)
        ids.append(run.run_id)
    journal.write_run(make_run(f"{start:%Y%m%d}T040000Z-d0d0d0", start + timedelta(hours=4),
                               [("blob.soft_delete", Status.FAIL, "soft delete is off", {})]))
    report = month_report(journal, f"{start:%Y-%m}")
    md = render(report, "markdown")
    section = md[md.index("Failures and warnings"):md.index("## Protections")]
    assert section.count("`postgres.retention`") == 1
    assert "3 runs" in section and "earliest restore point 32 h short" in section  # the latest reason
    assert "earliest restore point 30 h short" not in section
    assert section.count("`blob.soft_delete`") == 1
    html = render(report, "html")
    problems = html[html.index('<ul class="problems">'):]
    problems = problems[:problems.index("</ul>")]
    assert problems.count("<li>") == 2 and "3 runs" in problems and f"run {ids[-1]}" in problems
    fr = render(report, "markdown", lang="fr")
    assert "3 exécutions" in fr


# --- did you mean ---------------------------------------------------------------------------------

def test_cli_suggests_the_check_id_meant(base_env, capsys):
    assert main(["run", "--check", "postgres.retenton", "--no-journal"], out=io.StringIO(), env=base_env) == 2
    err = capsys.readouterr().err
    assert "did you mean postgres.retention?" in err
    assert main(["run", "--check", "retention", "--no-journal"], out=io.StringIO(), env=base_env) == 2
    assert "did you mean postgres.retention?" in capsys.readouterr().err  # the family left out
    assert main(["run", "--check", "zzzz", "--no-journal"], out=io.StringIO(), env=base_env) == 2
    assert "did you mean" not in capsys.readouterr().err
    assert main(["--lang", "fr", "run", "--check", "postgres.retenton", "--no-journal"], out=io.StringIO(),
                env=base_env) == 2
    assert "vouliez-vous dire postgres.retention" in capsys.readouterr().err


def test_http_unknown_check_answers_400_with_did_you_mean(base_env, env_patch, monkeypatch):
    env_patch(base_env)
    monkeypatch.setenv("HTTP_AUTH_MODE", "function-key")
    body = json.dumps({"checks": ["database.conectivity", "blob.*x*y*z"]}).encode()
    answer = http_api.verify(func.HttpRequest(method="POST", url="/api/verify", body=body,
                                              headers={"content-type": "application/json"}))
    data = json.loads(answer.get_body())
    assert answer.status_code == 400
    assert data["did_you_mean"] == ["database.connectivity"]
    assert "did you mean database.connectivity?" in data["error"]
    assert "database.connectivity" in data["known_checks"]


@pytest.mark.parametrize("typed", ["\x00", "x" * 100_000, "'\\\"", "pg.*"])
def test_did_you_mean_survives_odd_input(typed):
    with pytest.raises(UnknownCheck) as caught:
        select([typed])
    assert isinstance(caught.value.did_you_mean, list) and len(str(caught.value)) < 5000


# --- drill start without a credential ----------------------------------------------------------------

class NoCredential:
    """What DefaultAzureCredential raises on a machine with no sign-in (no network: raised before any request)."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.exceptions import ClientAuthenticationError
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included "
                                        "credentials.\nAttempted credentials:\n\tEnvironmentCredential: missing")

    get_token_info = get_token


def test_drill_start_without_credential_gives_the_sign_in_hint(base_env, monkeypatch, capsys):
    from checks.drill import restore_drill
    from checks.engine.context import RunContext

    env = dict(base_env, AZURE_SUBSCRIPTION_ID="00000000-0000-0000-0000-000000000000", PG_RESOURCE_GROUP="rg-medicapp",
               PG_SERVER_NAME="medicapp-db", RESTORE_DRILL_ENABLED="true",
               RESTORE_DRILL_RESOURCE_GROUP="rg-medicapp-drills")
    monkeypatch.setattr(restore_drill, "make_context",
                        lambda settings: RunContext(settings=settings, credential=NoCredential()))
    assert main(["drill", "start"], out=io.StringIO(), env=env) == 1
    err = capsys.readouterr().err
    assert "no Azure credential available" in err
    assert "→ Give the Function App a managed identity, or sign in locally (az login" in err
    assert "Traceback" not in err


# --- make lint ----------------------------------------------------------------------------------

def test_ruff_passes_over_the_tree():
    """`make lint` (ruff.toml's rule set), as CI runs it: ruff is pinned in requirements-dev.txt."""
    assert re.search(r"^ruff==\S+", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert re.search(r"^lint:.*\n\t.*ruff check", (ROOT / "Makefile").read_text(), re.M)
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_finds_an_unused_import(tmp_path):
    """The rule set is live: a planted unused import and a mutable default are found."""
    (tmp_path / "planted.py").write_text("import os\n\n\ndef f(x=[]):\n    return x\n")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(ROOT / "ruff.toml"), str(tmp_path / "planted.py")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "F401" in done.stdout and "B006" in done.stdout

