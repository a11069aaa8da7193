"""Incident restore and drill inputs tried as an adversary would (issue 27, items 7, 8, 9, 14 and 15):
extreme times on every face, a restore whose journal write fails right after the PUT, resource
groups holding production, and a command line validated before the journal or Azure is touched.

Azure is the real SDKs over canned ARM (tests/azure_fakes.py); the journal is Azurite; the restored
server is the stand-in cluster of tests/stand_in.py (see tests/test_restore_postgres.py).
"""
from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pytest

from azure_fakes import Canned, StaticCredential, derive, sdk_kwargs
from checks import cli, restore
from checks.engine.config import ConfigError, Settings
from checks.engine.context import RunContext
from checks.journal.store import Journal, JournalUnavailable
from checks.restore.record import PARTITION, load
from test_restore_blobs import RangeArm, azurite_env, range_env  # noqa: F401 (fixtures)
from test_restore_postgres import DRG, RG, SOURCE, SUB, T0, TARGET, Arm, Harness, env, not_found, source_body  # noqa: F401

EXTREMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
OUTSIDE = EXTREMES + ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1999-12-31T23:59:59Z",
                      "2100-01-01T00:00:00Z"]
RANGE = "between 2000-01-01T00:00:00Z and 2099-12-31T23:59:59Z"
STORAGE_RG = "rg-medicapp-docs"
JOURNAL_RG = "rg-verifier"


# --- item 7: extreme times are input errors, on every face -----------------------------------------------------
def test_the_shared_input_time_refuses_both_ends_and_offsets_past_datetimes_limits():
    from checks.engine.timeutil import TimeInputError, input_day, input_time, shifted
    for text in OUTSIDE:
        with pytest.raises(TimeInputError) as err:
            input_time(text)
        assert err.value.kind == "range", text
    assert input_time("2000-01-01T01:00:00+01:00").isoformat() == "2000-01-01T00:00:00+00:00"  # the first instant
    assert input_time("2099-12-31T23:59:59Z").year == 2099
    assert [kind_of(t) for t in ("2026-11-01T03:00:00", "yesterday", "2026-11-01T03:00:00Z\x00", "")] == \
        ["zone", "form", "form", "form"]
    with pytest.raises(TimeInputError):
        input_day("9999-12-31")
    from datetime import datetime, timedelta, timezone
    assert shifted(datetime.max.replace(tzinfo=timezone.utc), timedelta(days=1)).year == 9999  # held, no overflow
    assert shifted(datetime.min.replace(tzinfo=timezone.utc), -timedelta(minutes=10)).year == 1


def kind_of(text: str) -> str:
    from checks.engine.timeutil import TimeInputError, input_time
    try:
        input_time(text)
    except TimeInputError as exc:
        return exc.kind
    return "ok"


@pytest.mark.parametrize("point", OUTSIDE)
def test_restore_postgres_point_out_of_range_exit_2_before_any_azure_call(env, monkeypatch, point):
    h = Harness(env, Arm(), monkeypatch)
    for apply in ([], ["--apply", "--yes", "--by", "On-call"]):
        code, text = h.run("postgres", "--point", point, *apply)
        assert code == 2 and "Plan (INVALID)" in text and f"--point {point!r} is out of range" in text, text
        assert RANGE in text
    assert h.arm.t.requests == [] and h.incidents() == []


@pytest.mark.parametrize("since", EXTREMES)
def test_restore_blobs_deleted_since_out_of_range_exit_2(azurite_env, since):
    out = io.StringIO()
    code = cli.main(["restore", "blobs", "--container", "documents-r18", "--deleted-since", since], out=out,
                    env=azurite_env)
    assert code == 2 and f"--deleted-since {since!r} is out of range" in out.getvalue(), out.getvalue()


@pytest.mark.parametrize("point", EXTREMES)
def test_blob_range_restore_point_out_of_range_exit_2_before_any_azure_call(range_env, point):
    arm = RangeArm({"enabled": True, "days": 6})
    out = io.StringIO()
    code = cli.main(["restore", "blobs", "--container", "docs", "--prefix", "a/", "--point", point, "--apply",
                     "--yes", "--by", "On-call"], out=out, env=range_env(arm))
    assert code == 2 and f"--point {point!r} is out of range" in out.getvalue(), out.getvalue()
    assert arm.t.requests == []


@pytest.mark.parametrize("point", EXTREMES)
def test_http_restore_plan_out_of_range_is_422_naming_the_field(env, env_patch, monkeypatch, azurite_env, point):
    import azure.functions as func
    from checks import http_api

    Harness(env, Arm(), monkeypatch)

    def post(body) -> tuple[int, dict]:
        resp = http_api.restore_plan(func.HttpRequest(method="POST", url="/api/restore/plan",
                                                      body=json.dumps(body).encode(),
                                                      headers={"content-type": "application/json"}))
        return resp.status_code, json.loads(resp.get_body())

    env_patch(dict(env, BLOB_CONNECTION_STRING=azurite_env["BLOB_CONNECTION_STRING"]))
    status, plan = post({"point": point})
    assert status == 422 and plan["reasons"] == [
        f"--point {point!r} is out of range: expected a time {RANGE}"], plan
    status, plan = post({"kind": "blobs", "container": "documents-r18", "deleted_since": point})
    assert status == 422 and "--deleted-since" in plan["reasons"][0] and "out of range" in plan["reasons"][0]


@pytest.mark.parametrize("point", EXTREMES)
def test_restore_point_setting_out_of_range_is_refused_in_settings_and_targets(point):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"RESTORE_POINT": point})
    assert "expected a time between 2000-01-01T00:00:00Z" in err.value.problems["RESTORE_POINT"]
    targets = json.dumps([{"name": "prod", "settings": {"RESTORE_POINT": point}}])
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"TARGETS": targets})
    assert "RESTORE_POINT" in err.value.problems["TARGETS"]


@pytest.mark.parametrize("point", EXTREMES)
def test_drill_start_restore_point_out_of_range_cli_and_http_never_reach_azure(point, env_patch, monkeypatch,
                                                                               base_env):
    import azure.functions as func
    from checks import http_api
    from checks.drill import restore_drill
    from test_drill import Arm as DrillArm, Clock, T0 as DRILL_T0, env as _unused  # noqa: F401

    arm = DrillArm()
    monkeypatch.setattr(restore_drill, "make_context", lambda settings: RunContext(
        settings=settings, clock=Clock(DRILL_T0), credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t)))
    drill_env = dict(base_env, AZURE_SUBSCRIPTION_ID=SUB, PG_RESOURCE_GROUP=RG, PG_SERVER_NAME=SOURCE,
                     RESTORE_DRILL_ENABLED="true", RESTORE_DRILL_RESOURCE_GROUP=DRG)
    out = io.StringIO()
    assert cli.main(["drill", "start", "--restore-point", point], out=out, env=drill_env) == 2
    env_patch(drill_env)
    resp = http_api.drill_start(func.HttpRequest(method="POST", url="/api/drill", body=json.dumps(
        {"restore_point": point}).encode(), headers={"content-type": "application/json"}))
    assert resp.status_code == 400 and "'restore_point'" in json.loads(resp.get_body())["error"]
    assert arm.t.requests == []


def test_journal_since_until_at_the_far_end_is_a_usage_error(base_env, capsys):
    assert cli.main(["journal", "--since", "9999-12-01", "--until", "9999-12-31"], out=io.StringIO(),
                    env=base_env) == 2
    assert "expected a date between 2000-01-01 and 2099-12-31, got '9999-12-01'" in capsys.readouterr().err


# --- item 8: a restore whose journal write fails right after the PUT can still be followed ----------------------
SECRET_BEARER = "bearer-secret-8c1f"


def flaky_journal(monkeypatch, fail_from: int):
    """Incident writes fail from the `fail_from`-th on (1 = the record before the PUT); reads fail once writes do."""
    original_upsert, original_query = Journal.upsert, Journal.query
    calls = {"writes": 0, "down": False}

    def upsert(self, entity):
        if entity.get("PartitionKey") == PARTITION:
            calls["writes"] += 1
            if calls["writes"] >= fail_from or calls["down"]:
                calls["down"] = True
                raise JournalUnavailable("journal write failed: connection reset")
        return original_upsert(self, entity)

    def query(self, filter_, parameters=None):
        if calls["down"]:
            raise JournalUnavailable("journal read failed: connection reset")
        return original_query(self, filter_, parameters)

    monkeypatch.setattr(Journal, "upsert", upsert)
    monkeypatch.setattr(Journal, "query", query)
    return calls


def harness(env, arm, monkeypatch, **kwargs) -> Harness:
    h = Harness(env, arm, monkeypatch, **kwargs)
    monkeypatch.setattr(restore, "make_context", lambda settings: RunContext(
        settings=settings, clock=h.clock, credential=StaticCredential(SECRET_BEARER), azure_kwargs=sdk_kwargs(arm.t)))
    return h


def test_journal_fails_after_the_put_the_token_is_kept_locally_printed_and_status_follows(
        env, monkeypatch, restored_cluster, tmp_path, capsys):
    h = harness(env, Arm(create_status=["InProgress", "InProgress", "Succeeded"]), monkeypatch)
    h.interrupt_on_sleep = True  # the on-call person's terminal goes away while Azure works
    calls = flaky_journal(monkeypatch, fail_from=2)  # the record before the PUT is written, then the journal is down
    code, text = h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "On-call")
    assert code == 130, text
    assert "PUT" in h.arm.methods() and calls["down"]
    assert "Azure accepted the restore. Continuation kept in " in text
    assert f"follow it from any machine: python -m checks restore status --server {TARGET}" in text
    kept = list((tmp_path / "spool" / "incidents").glob("*.json"))
    assert len(kept) == 1 and oct(kept[0].stat().st_mode & 0o777) == "0o600"
    local = json.loads(kept[0].read_text())
    token = json.loads(local["Data"])["create_token"]
    assert token and f"continuation token: {token}" in text  # printed before anything else could fail
    assert SECRET_BEARER not in kept[0].read_text() and SECRET_BEARER not in base64.b64decode(token).decode()
    assert "warning: journal write failed: connection reset; the incident record is kept on this machine" in \
        capsys.readouterr().err
    incident_id = kept[0].stem
    stored = Journal.from_settings(Settings.from_env(env)).table_client.get_entity(PARTITION, incident_id)
    assert stored["State"] == "provisioning" and not json.loads(stored["Data"])["create_token"]  # all it holds

    # the journal still down: follow by server name (from this machine's copy), to ready and verified
    h.interrupt_on_sleep = False
    code, text = h.run("status", "--server", TARGET)
    assert code == 0, text
    assert f"Incident {incident_id} (postgres): READY" in text and "Runbook" in text
    # the journal is back: `restore status ID` writes the newer local record to it, and the copy goes
    monkeypatch.undo()
    Harness(env, h.arm, monkeypatch)  # the same canned Azure again
    code, text = h.run("status", incident_id)
    assert code == 0 and "READY" in text, text
    assert load(h.journal(), incident_id).state == "ready" and load(h.journal(), incident_id).create_token
    assert not list((tmp_path / "spool" / "incidents").glob("*.json"))


def test_a_journal_record_without_token_is_followed_from_its_server_without_a_crash(env, monkeypatch,
                                                                                     restored_cluster):
    """The record stayed `provisioning` without a continuation token (written by a version without the local
    copy, or on another machine): `restore status ID` follows the restore by reading the server itself."""
    arm = Arm(create_status=["InProgress"])
    h = harness(env, arm, monkeypatch)
    h.interrupt_on_sleep = True
    h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "On-call")
    (entity,) = h.incidents()
    record = load(h.journal(), entity["RowKey"])
    record.create_token = ""
    h.journal().upsert(record.to_entity())
    for path in (Path(h.env["VERIFIER_SPOOL_DIR"]) / "incidents").glob("*.json"):
        path.unlink()  # another machine: no local copy either
    h.interrupt_on_sleep = False
    before = len(arm.t.requests)
    code, text = h.run("status", entity["RowKey"])
    assert code == 0, text
    assert f"Incident {entity['RowKey']} (postgres): READY" in text  # followed by the server's state, verified
    asked = arm.t.requests[before:]
    assert asked and all(r.method == "GET" and f"flexibleServers/{TARGET}?" in r.url for r in asked)
    assert load(h.journal(), entity["RowKey"]).state == "ready"


def test_status_from_the_server_name_alone_with_no_record_anywhere(env, monkeypatch, restored_cluster, capsys):
    arm = Arm(create_status=["InProgress"], target_get=[Canned(200, restored_server_body())])
    h = harness(dict(env, AzureWebJobsStorage=""), arm, monkeypatch)
    code, text = h.run("status", "--server", TARGET)
    assert code == 0, text
    assert "no incident record found: following the server" in text and "READY" in text
    assert [r.method for r in arm.t.requests if "flexibleServers" in r.url] and "PUT" not in arm.methods()


def restored_server_body() -> dict:
    body = derive(source_body(), "name", TARGET)
    body = derive(body, "properties.fullyQualifiedDomainName", "127.0.0.2")
    body["tags"] = {"created-by": "medicapp-backup-verifier", "purpose": "incident-restore"}
    return body


def test_status_never_follows_a_server_that_is_not_an_incident_restore(env, monkeypatch, capsys):
    untagged = derive(source_body(), "name", "someone-elses-db")
    arm = Arm(target="someone-elses-db", target_get=[Canned(200, untagged)])
    h = harness(dict(env, AzureWebJobsStorage=""), arm, monkeypatch)
    code, text = h.run("status", "--server", "someone-elses-db")
    assert code == 1 and "does not carry the tag purpose=incident-restore" in text, text


@pytest.mark.parametrize("argv,reason", [
    (["../../etc/passwd"], "is not an id like 20261126T140000Z-3f9a1c"),
    (["--server", "Bad_Name"], "--server: invalid server name"),
    (["20261126T140000Z-aaaaaa", "--server", TARGET], "not both"),
    (["--server", TARGET, "--resource-group", "rg with spaces"], "--resource-group: expected a resource group"),
])
def test_status_input_is_checked_before_anything_is_read(env, monkeypatch, capsys, argv, reason):
    h = harness(env, Arm(), monkeypatch)
    calls = flaky_journal(monkeypatch, fail_from=1)
    calls["down"] = True  # any journal read would fail loudly
    assert h.run("status", *argv)[0] == 2
    assert reason in capsys.readouterr().err and h.arm.t.requests == []


# --- item 9 (and 14): no restore or drill server in a group holding production ---------------------------------
OTHER = json.dumps([{"name": "production"},
                    {"name": "clinic", "postgres": {"resource_group": "rg-clinic-db", "server": "clinic-db"},
                     "storage": {"resource_group": "rg-clinic-docs", "account": "clinicdocs"}}])


@pytest.mark.parametrize("extra,group,held", [
    ({"STORAGE_RESOURCE_GROUP": STORAGE_RG, "STORAGE_ACCOUNT_NAME": "medicappdocs"}, STORAGE_RG.upper(),
     "the storage account medicappdocs of target production"),
    ({"JOURNAL_RESOURCE_GROUP": JOURNAL_RG}, "Rg-Verifier", "the verifier's journal (JOURNAL_RESOURCE_GROUP)"),
    ({"TARGETS": OTHER}, "RG-CLINIC-DB", "the PostgreSQL server clinic-db of target clinic"),
    ({"TARGETS": OTHER}, "rg-clinic-docs", "the storage account clinicdocs of target clinic"),
    ({}, RG.upper(), f"the source server {SOURCE} (target production)"),
])
def test_incident_restore_refuses_every_group_holding_production_ignoring_case(env, monkeypatch, extra, group, held):
    arm = Arm()
    arm.t.add("GET", rf"/resourceGroups/{group}/providers/Microsoft\.DBforPostgreSQL/flexibleServers/", not_found)
    h = harness(dict(env, **extra), arm, monkeypatch)
    code, text = h.run("postgres", "--point", "latest", "--resource-group", group, "--apply", "--yes", "--by", "X")
    assert code == 2 and f"--resource-group: refused: resource group {group} holds {held}" in text, text
    assert arm.t.requests == [] and h.incidents() == []


@pytest.mark.parametrize("extra,variable", [
    ({"STORAGE_RESOURCE_GROUP": DRG.upper()}, "STORAGE_RESOURCE_GROUP"),
    ({"JOURNAL_RESOURCE_GROUP": DRG.upper()}, "JOURNAL_RESOURCE_GROUP"),
])
def test_drill_group_holding_any_production_resource_is_a_config_error(extra, variable):
    base = {"PG_RESOURCE_GROUP": RG, "RESTORE_DRILL_RESOURCE_GROUP": DRG}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(dict(base, **extra))
    assert f"other than {variable}" in err.value.problems["RESTORE_DRILL_RESOURCE_GROUP"]
    targets = json.dumps([{"name": "clinic", "storage": {"resource_group": DRG.upper(), "account": "clinicdocs"}}])
    with pytest.raises(ConfigError) as err:
        Settings.from_env(dict(base, TARGETS=targets))
    assert "target clinic: RESTORE_DRILL_RESOURCE_GROUP" in err.value.problems["TARGETS"]


def test_a_discovered_targets_group_as_drill_group_is_refused_before_any_azure_call(base_env):
    """Discovered targets are not in the settings: the drill checks the drilled target's groups itself."""
    from checks.drill import restore_drill
    from checks.engine.fleet import FleetTarget
    from checks.engine.model import NotConfigured
    from test_drill import Arm as DrillArm, Clock, DRILL_RG, T0 as DRILL_T0

    settings = Settings.from_env(dict(base_env, AZURE_SUBSCRIPTION_ID=SUB, PG_RESOURCE_GROUP=RG, PG_SERVER_NAME=SOURCE,
                                      RESTORE_DRILL_ENABLED="true", RESTORE_DRILL_RESOURCE_GROUP=DRILL_RG))
    discovered = FleetTarget(name="clinic", changes={"storage_resource_group": DRILL_RG.upper(),
                                                     "storage_account_name": "clinicdocs"})
    arm = DrillArm(create_status=["InProgress"])
    ctx = RunContext(settings=discovered.settings_for(settings), clock=Clock(DRILL_T0), credential=StaticCredential(),
                     azure_kwargs=sdk_kwargs(arm.t))
    with pytest.raises(NotConfigured, match="holds the storage account clinicdocs of target clinic"):
        restore_drill.start_drill(ctx, Journal.from_settings(settings), trigger="cli")
    assert arm.t.requests == []


def test_the_drill_guard_compares_the_source_group_ignoring_case(env):
    """Azure's group names ignore case: a drill group spelled RG-MEDICAPP is production's rg-medicapp."""
    from checks.connect.azure import postgres_client
    from checks.drill.state import DrillGuardError, begin_restore

    arm = Arm()
    ctx = RunContext(settings=Settings.from_env(env), credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t))
    client = postgres_client(ctx)
    source = client.servers.get(RG, SOURCE)
    with pytest.raises(DrillGuardError, match=f"resource group {RG.upper()} holds the source server"):
        begin_restore(client, RG.upper(), "copy-db", source, T0, {}, drill_group=RG.upper())
    source.id = source.id.replace(f"/resourceGroups/{RG}/", f"/resourceGroups/{RG.upper()}/")  # ARM's own spelling
    with pytest.raises(DrillGuardError, match=f"resource group {RG} holds the source server"):
        begin_restore(client, RG, "copy-db", source, T0, {}, drill_group=RG)
    assert [r.method for r in arm.t.requests] == ["GET"]  # the source only: no target GET, no PUT


# --- item 15: the command line first, then the journal's setting, then I/O -------------------------------------
def no_journal(env: dict) -> dict:
    return {k: v for k, v in env.items() if k not in ("AzureWebJobsStorage", "JOURNAL_ACCOUNT_URL")}


def test_a_zoneless_point_is_the_answer_without_a_journal_or_with_one_that_is_down(env, monkeypatch, capsys):
    from devtools.localstack import free_port
    for journal in ({}, {"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                                f"AccountKey={base64.b64encode(b'k' * 64).decode()};"
                                                f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"}):
        h = harness(dict(no_journal(env), **journal), Arm(), monkeypatch)
        started = time.monotonic()
        code, text = h.run("postgres", "--point", "2026-10-30T03:00:00")
        assert code == 2 and "--point '2026-10-30T03:00:00' has no time zone" in text, (text, capsys.readouterr())
        assert time.monotonic() - started < 2 and h.arm.t.requests == []


def test_apply_without_a_journal_is_a_one_line_configuration_error_before_azure(env, monkeypatch, capsys):
    h = harness(no_journal(env), Arm(), monkeypatch)
    code, text = h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "On-call")
    err = capsys.readouterr().err
    assert code == 2 and err == "error: journal not configured: set JOURNAL_ACCOUNT_URL (managed identity) or " \
                                "AzureWebJobsStorage (connection string)\n", err
    assert h.arm.t.requests == []
    code, text = h.run("postgres", "--point", "2026-10-30T03:00:00", "--apply", "--yes", "--by", "On-call")
    assert code == 2 and "has no time zone" in text  # the input's own error comes first


def test_blob_input_errors_come_before_the_journal_setting(azurite_env):
    out = io.StringIO()
    code = cli.main(["restore", "blobs", "--container", "Bad_Name", "--apply", "--yes", "--by", "On-call"], out=out,
                    env=no_journal(azurite_env))
    assert code == 2 and "--container: expected container names" in out.getvalue(), out.getvalue()


def test_a_journal_outage_never_stops_a_valid_plan_it_only_loses_the_estimate(env, monkeypatch):
    h = harness(env, Arm(target_get=[not_found]), monkeypatch)
    flaky_journal(monkeypatch, fail_from=1)["down"] = True
    code, text = h.run("postgres", "--point", "latest")
    assert code == 0 and "Plan (VALID)" in text, text
    assert "journal not available: journal read failed: connection reset" in text
