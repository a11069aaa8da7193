"""What a new user sees (issue 29 items 2 and 4), through the real CLI and report code: the target of a
run named in one readable line (CLI, Markdown, HTML, JSON, fleet rows; English and French), and a restore
plan made without an Azure credential that says what it did not check and echoes the point as given."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone

import pytest

from checks import restore
from checks.cli import main
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.target import Target
from checks.journal.store import Journal
from test_report import FULL, at, make_run

SUB = "00000000-0000-0000-0000-000000000000"
AZURE = {"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": "rg-medicapp", "PG_SERVER_NAME": "medicapp-db",
         "STORAGE_RESOURCE_GROUP": "rg-data", "STORAGE_ACCOUNT_NAME": "medicappdocs"}


def cli(*args: str, env: dict) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out=out, env=env), out.getvalue()


def lines_with(text: str, start: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(start)]


@pytest.fixture
def local(base_env, demo_db_url, pg_cluster):
    """The local stack as `make stack` leaves it: the demo database and Azurite, no Azure target."""
    env = dict(base_env, DATABASE_URL=demo_db_url + "?sslmode=disable")
    return env, f"{pg_cluster.host}:{pg_cluster.port}/medicapp"


# --- item 2: the target line -----------------------------------------------------------------------------------

def test_a_local_run_names_its_target_in_one_line_in_the_cli_and_every_report(local):
    env, database = local
    code, text = cli("run", "--check", "database.connectivity", env=env)
    line = f"Target: production — local stack (no Azure target), database {database}"
    assert code == 0 and lines_with(text, "Target") == [line], text
    month = f"{datetime.now(timezone.utc):%Y-%m}"
    _, md = cli("report", "--month", month, env=env)
    assert lines_with(md, "Target") == [line.replace("_", "\\_")]  # as Markdown escapes it (none here)
    _, html = cli("report", "--month", month, "--format", "html", env=env)
    assert f'<p class="meta">{line}</p>' in html
    _, data = cli("report", "--month", month, "--format", "json", env=env)
    assert json.loads(data)["target"] == line.removeprefix("Target: ")
    _, run_json = cli("run", "--check", "database.connectivity", "--json", "--no-journal", env=env)
    assert json.loads(run_json)["target"]["label"] == line.removeprefix("Target: ")
    for garbled in ("no server", "no storage account", "server ;", "storage account ;"):
        assert garbled not in text + md + html


def test_the_target_line_in_french(local):
    env, database = local
    code, text = cli("--lang", "fr", "run", "--check", "database.connectivity", "--no-journal", env=env)
    assert lines_with(text, "Cible") == [
        f"Cible : production — environnement local (aucune cible Azure), base de données {database}"], text


def test_an_azure_target_is_named_with_its_server_account_database_and_subscription(local):
    env, database = local
    code, text = cli("run", "--check", "database.connectivity", "--no-journal", env=dict(env, **AZURE))
    assert lines_with(text, "Target") == [
        "Target: production — PostgreSQL server medicapp-db (resource group rg-medicapp), storage account "
        f"medicappdocs (resource group rg-data), database {database}, subscription {SUB}"], text


def test_an_override_run_names_its_target_once(local):
    env, database = local
    code, text = cli("run", "--check", "database.connectivity", "--no-journal", "--azure-server", "other-db",
                     "--azure-resource-group", "rg-other", env=dict(env, **AZURE))
    assert lines_with(text, "Target") == [
        "Target: production (override) — PostgreSQL server other-db (resource group rg-other), storage account "
        f"medicappdocs (resource group rg-data), database {database}, subscription {SUB}"], text
    assert lines_with(text, "Note") == [
        "Note: run against an override of the configured target: never evidence for production's checklist"]
    assert text.count("other-db") == 1 and text.count("(override)") == 1


PROD_HOST = "medicapp-db.postgres.database.azure.com"


def test_each_fleet_row_names_its_target_in_one_line(base_env):
    targets = [{"name": "prod", "postgres": {"subscription": SUB, "resource_group": "rg-prod", "server": "medicapp-db"},
                "storage": {"resource_group": "rg-prod", "account": "medicappdocs"}},
               {"name": "local-b", "postgres": {"database": "medicapp_b"}}]
    env = dict(base_env, TARGETS=json.dumps(targets), DATABASE_URL="postgresql://verifier@127.0.0.1/medicapp")
    settings = Settings.from_env(env)
    journal = Journal.from_settings(settings)
    for run_id, target in (("20261001T060000Z-a00001", Target(name="prod", subscription=SUB, resource_group="rg-prod",
                                                                 server="medicapp-db", storage_account="medicappdocs",
                                                                 storage_resource_group="rg-prod",
                                                                 database_host=PROD_HOST,
                                                                 database_name="medicapp")),
                           ("20261002T060000Z-b00001", Target(name="local-b", database_host="127.0.0.1",
                                                              database_name="medicapp_b"))):
        run = make_run(run_id, at(1), FULL)
        run.target = target
        journal.write_run(run)
    prod = ("prod — PostgreSQL server medicapp-db (resource group rg-prod), storage account medicappdocs (resource "
            f"group rg-prod), database {PROD_HOST}/medicapp, subscription {SUB}")  # the server's host, its database
    local_b = "local-b — local stack (no Azure target), database 127.0.0.1/medicapp_b"
    _, html = cli("report", "--month", "2026-10", "--format", "html", env=env)
    assert sorted(re.findall(r'<div class="meta target-line">([^<]*)</div>', html)) == [local_b, prod]
    _, data = cli("report", "--month", "2026-10", "--format", "json", env=env)
    assert sorted(row["label"] for row in json.loads(data)["rows"]) == [local_b, prod]
    _, french = cli("report", "--month", "2026-10", "--format", "html", "--lang", "fr", env=env)
    assert "local-b — environnement local (aucune cible Azure), base de données 127.0.0.1/medicapp_b" in french


# --- item 4: the restore plan without Azure --------------------------------------------------------------------

class NoCredential:
    """What DefaultAzureCredential raises on a machine with no sign-in (raised before any request)."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.exceptions import ClientAuthenticationError
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token from the included "
                                        "credentials.")

    get_token_info = get_token


T0 = datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)
TARGET = "medicapp-db-pitr-20261126-1400"


@pytest.fixture
def no_credential(base_env, monkeypatch):
    monkeypatch.setattr(restore, "make_context", lambda settings: RunContext(
        settings=settings, credential=NoCredential(), clock=lambda: T0))
    return dict(base_env, **AZURE, RESTORE_DRILL_RESOURCE_GROUP="rg-medicapp-restore")


LABELS = ("restore point", "target", "location", "network", "estimated time", "point de restauration", "cible")


def plan_rows(text: str) -> dict[str, str]:
    """The plan's rows by label (labels padded to line up values, one space at least)."""
    rows = {}
    for line in text.splitlines():
        label = next((label for label in LABELS if line.startswith(f"  {label} ")), None)
        if label:
            rows[label] = line[len(label) + 2:].strip()
    return rows


def test_restore_plan_without_a_credential_says_what_it_did_not_check_and_echoes_the_point(no_credential):
    code, text = cli("restore", "postgres", "--point", "2026-11-26T03:00:00+01:00", env=no_credential)
    unread = "not checked: the source server could not be read (see below)"
    assert code == 2 and text.startswith("Plan (INVALID)"), text
    rows = plan_rows(text)
    assert rows["restore point"] == f"2026-11-26T02:00:00Z (given as '2026-11-26T03:00:00+01:00'); window {unread}"
    assert rows["target"] == f"{TARGET} in resource group rg-medicapp-restore: {unread}"
    assert rows["location"] == unread and rows["network"] == unread
    assert "not free" not in text and "(given)" not in text and "-" not in rows.values()
    assert len([line for line in text.splitlines() if line.startswith("  ✗")]) == 1  # asked once, said once
    assert "✗ source server medicapp-db: no Azure credential available" in text


def test_restore_plan_latest_without_a_credential_in_french(no_credential):
    code, text = cli("--lang", "fr", "restore", "postgres", "--point", "latest", env=no_credential)
    assert code == 2
    rows = plan_rows(text)
    assert rows["point de restauration"] == ("le dernier instant restaurable (saisi : 'latest') ; fenêtre non "
                                             "vérifiée : le serveur source n'a pas pu être lu (voir ci-dessous)")
    assert rows["cible"] == (f"{TARGET} dans le groupe de ressources rg-medicapp-restore : non vérifié : le serveur "
                             "source n'a pas pu être lu (voir ci-dessous)")
    assert "déjà pris" not in text and "inconnu" not in text


@pytest.mark.parametrize("given,shown", [
    ("2026-11-26T03:00:00", "2026-11-26T03:00:00"),  # no zone
    ("yesterday", "yesterday"),
    ("2026-11-26\x00T03:00Z", "2026-11-26\\x00T03:00Z"),  # control characters shown escaped, never raw
    ("9" * 5000, "9" * 99 + "…"),  # a huge value is echoed shortened
])
def test_a_refused_point_is_echoed_and_nothing_is_looked_up(no_credential, given, shown):
    code, text = cli("restore", "postgres", "--point", given, env=no_credential)
    refused = "not checked: the request is refused (see below)"
    rows = plan_rows(text)
    assert code == 2 and rows["restore point"] == f"not a time we accept (given as '{shown}'); window {refused}"
    assert rows["target"] == f"{TARGET} in resource group rg-medicapp-restore: {refused}"
    assert rows["location"] == rows["network"] == rows["estimated time"] == refused
    assert "\x00" not in text and max(len(line) for line in text.splitlines()) < 400


def test_restore_plan_json_and_http_say_why_fields_were_not_checked(no_credential, env_patch):
    import azure.functions as func
    from checks import http_api

    code, text = cli("restore", "postgres", "--point", "latest", "--json", env=no_credential)
    plan = json.loads(text)
    assert code == 2 and plan["point_given"] == "latest" and plan["target_free"] is None
    assert plan["not_checked"] == {name: "the source server could not be read (see below)"
                                   for name in ("window", "location", "network", "rights", "target")}
    env_patch(dict(no_credential, LANGUAGE="fr"))
    resp = http_api.restore_plan(func.HttpRequest(method="POST", url="/api/restore/plan",
                                                  headers={"Content-Type": "application/json"},
                                                  body=json.dumps({"kind": "postgres", "point": "latest"}).encode()))
    body = json.loads(resp.get_body())
    assert resp.status_code == 422 and body["target_free"] is None
    assert body["not_checked"]["target"] == "le serveur source n'a pas pu être lu (voir ci-dessous)"
