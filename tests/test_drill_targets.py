"""Restore drills of a fleet target (issue 19): the drill records its target (TargetName, as runs do),
`drill start --target NAME` / POST /api/drill {"target": NAME} drill that target with its own settings,
later invocations advance it with the same target's settings, and the fleet report's drill box of a
target is filled by that target's drills only. Drills recorded before drills named their target still
read and render. Real PostgreSQL management client over canned ARM, journal in Azurite, two real
PostgreSQL clusters (production and the restored stand-in), as tests/test_drill.py."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest

from azure_fakes import Canned, CannedTransport, StaticCredential, derive, sdk_kwargs
from checks.drill import restore_drill as drill_mod
from checks.drill import schedule
from checks.drill.state import FAILED, PROVISIONING, SUCCEEDED, Drill
from checks.drill.targets import UnknownTarget, drill_context, fleet_lookup
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.journal.store import Journal
from devtools.localstack import DEMO_SQL
from stand_in import count
from test_drill import (DRILL_RG, RG, SOURCE, SUB, T0, TARGET, Arm, Clock, env, make, server_url,  # noqa: F401
                        source_body)

# staging: the second production server the test deployment of tests/test_permissions.py grants Reader on
STAGING_RG, STAGING_SERVER, STAGING_DB = "exampleresourcegroup", "exampleserver", "medicapp_staging"


def targets_json(database: str = STAGING_DB) -> str:
    return json.dumps([
        {"name": "prod", "postgres": {"resource_group": RG, "server": SOURCE}},
        {"name": "staging", "postgres": {"resource_group": STAGING_RG, "server": STAGING_SERVER,
                                         "database": database, "host": "127.0.0.1"}}])


def staging_body() -> dict:
    body = derive(source_body(), "name", STAGING_SERVER)
    return derive(body, "id", f"/subscriptions/{SUB}/resourceGroups/{STAGING_RG}/providers/"
                              f"Microsoft.DBforPostgreSQL/flexibleServers/{STAGING_SERVER}")


def fleet_arm(**kwargs) -> Arm:
    """Canned ARM for a drill of either target: both source servers answer, one restore target."""
    arm = Arm(**kwargs)
    arm.t.json("GET", server_url(STAGING_SERVER, STAGING_RG), staging_body())
    return arm


@pytest.fixture
def fleet_env(env):
    return dict(env, TARGETS=targets_json())


# --- the whole drill of a fleet target ----------------------------------------------------------
def test_drill_of_a_fleet_target_uses_its_settings_across_invocations_and_records_it(
        fleet_env, pg_cluster, restored_cluster):
    for cluster in (pg_cluster, restored_cluster):  # staging's own database on both servers
        cluster.create_database(STAGING_DB, DEMO_SQL)
    pg_cluster.execute("INSERT INTO documents (patient_id, title) SELECT 1, 'staging ' || g "
                       "FROM generate_series(1, 7) g", STAGING_DB)  # staging's production differs from prod's
    staging_documents = count(pg_cluster.admin_url(STAGING_DB), "documents")
    assert staging_documents != count(pg_cluster.admin_url("medicapp"), "documents")
    arm = fleet_arm(create_status=["InProgress", "Succeeded"], delete_status=["Succeeded"])
    clock = Clock(T0)
    base, journal = make(fleet_env, arm, clock)
    own = RunContext(settings=fleet_lookup(base.settings)("staging"), clock=clock, credential=StaticCredential(),
                     azure_kwargs=sdk_kwargs(arm.t))

    drill = drill_mod.start_drill(own, journal, trigger="cli")
    assert drill.state == PROVISIONING and drill.target_name == "staging" and drill.source_server == STAGING_SERVER
    assert arm.put_body()["properties"]["sourceServerResourceId"].endswith(
        f"/resourceGroups/{STAGING_RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{STAGING_SERVER}")
    assert journal.get_entity("drill", drill.drill_id)[0]["TargetName"] == "staging"

    # the next invocation holds the deployment's settings only: the drill's target gives it staging's
    clock.advance(minutes=40)
    _, journal2 = make(fleet_env, arm, clock)
    (drill,) = drill_mod.advance_all(base, journal2)
    assert drill.state in (SUCCEEDED, FAILED) and drill.verification, drill.events  # verified, then cleaned up
    counts = drill.verification["counts"]["public.documents"]
    assert counts["production"] == staging_documents  # production's counts are staging's, not prod's

    run = journal2.get_run(drill.drill_id)
    assert run.target.name == "staging" and run.target.server == STAGING_SERVER
    assert run.results[0].details["target"] == "staging"
    rows = [r for r in journal2.partition("2026-11") if r.get("RunId") == drill.drill_id]
    assert {r["Kind"] for r in rows} == {"run", "check"}
    assert {r["TargetName"] for r in rows} == {"staging"}  # the run and its result row


# --- the fleet report: a target's drill box from its own drills only -----------------------------
def finished_drill(drill_id: str, target: str, source: str) -> Drill:
    return Drill(drill_id=drill_id, state=SUCCEEDED, trigger="cli", source_server=source, resource_group=DRILL_RG,
                 target_server=TARGET, requested_at="2026-11-01T06:00:00Z", restore_point="2026-11-01T05:50:00Z",
                 restore_point_mode="latest", expires_at="2026-11-01T12:00:00Z", ready_at="2026-11-01T06:34:00Z",
                 outcome="pass", summary="ok", cleanup="deleted", target_name=target,
                 verification={"status": "pass", "checks": {}, "counts": {}})


def test_fleet_overview_fills_each_targets_drill_box_from_its_own_drills(fleet_env):
    from checks.report.checklist import month_report
    from checks.report.fleet import fleet_overview, target_report
    from checks.report.render import render
    settings = Settings.from_env(fleet_env)
    journal = Journal.from_settings(settings)
    staging = fleet_lookup(settings)("staging")
    done = T0 + timedelta(hours=1)
    journal.write_run(drill_mod.drill_run(finished_drill("20261101T060000Z-aaaaaa", "staging", STAGING_SERVER),
                                          done, staging))
    legacy = finished_drill("20261102T060000Z-bbbbbb", "", SOURCE)  # recorded before drills named their target
    journal.write_run(drill_mod.drill_run(legacy, done + timedelta(days=1), settings))

    fleet = fleet_overview(journal, "2026-11", settings, now=done + timedelta(days=2))
    drills = {row.name: row.to_dict()["drill"] for row in fleet.rows}
    assert drills["staging"]["run_id"] == "20261101T060000Z-aaaaaa"
    assert drills["prod"] is None  # staging's drill never ticks prod's box
    assert drills[""]["run_id"] == "20261102T060000Z-bbbbbb"  # the old drill: target not recorded
    assert target_report(journal, "2026-11", settings, "prod").drill is None
    assert target_report(journal, "2026-11", settings, "staging").drill.target_name == "staging"
    html, md = render(fleet, "html"), render(fleet, "md")
    assert "Restore drill" in html and "RTO 34.0 min" in html
    staging_line = next(line for line in md.splitlines() if line.startswith("| staging |"))
    prod_line = next(line for line in md.splitlines() if line.startswith("| prod "))
    assert "RTO 34.0 min" in staging_line and "RTO" not in prod_line

    # a deployment without a fleet: the old drill still fills its one target's box, as before
    single = Settings.from_env({k: v for k, v in fleet_env.items() if k != "TARGETS"})
    assert month_report(Journal.from_settings(single), "2026-11", production=None).drill.run_id == \
        "20261102T060000Z-bbbbbb"


def test_a_drill_recorded_without_a_target_reads_and_renders(fleet_env):
    from checks.drill_face import describe
    from checks.report.pages import drill_page
    entity = finished_drill("20261001T060000Z-cccccc", "prod", SOURCE).to_entity()
    del entity["TargetName"]  # as journaled before drills named their target
    old = Drill.from_entity(entity)
    assert old.target_name == ""
    assert "  target (target not recorded)\n" in describe(old)
    assert "(target not recorded)" in drill_page(old)
    assert drill_mod.drill_run(old, T0, Settings.from_env(fleet_env)).target is None  # as old runs: no target
    named = Drill.from_entity(finished_drill("20261001T060000Z-cccccc", "staging", STAGING_SERVER).to_entity())
    assert "  target staging\n" in describe(named) and "<dd>staging</dd>" in drill_page(named)


# --- which settings advance a drill --------------------------------------------------------------
def test_drill_context_per_target(fleet_env, env):
    base = RunContext(settings=Settings.from_env(fleet_env))
    with drill_context(base, "", None) as (ctx, problem):  # an old drill: the deployment's own settings
        assert ctx is base and problem == ""
    with drill_context(base, "staging", None) as (ctx, problem):
        assert ctx is not base and ctx.settings.pg_server_name == STAGING_SERVER and problem == ""
        assert ctx.settings.target_name == "staging"
    with drill_context(base, "gone", None) as (ctx, problem):
        assert ctx is base and "target gone is no longer configured" in problem and "prod, staging" in problem
    single = RunContext(settings=Settings.from_env(env))  # no fleet: TARGET_NAME's drills use the settings as they are
    with drill_context(single, "production", None) as (ctx, problem):
        assert ctx is single and problem == ""
    with pytest.raises(UnknownTarget, match="unknown target 'nope'; known targets: prod, staging"):
        fleet_lookup(base.settings)("nope")


def test_a_drill_whose_target_left_the_fleet_stops_and_is_cleaned_up(fleet_env, env):
    arm = fleet_arm(create_status=["InProgress"], delete_status=["Succeeded"])
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock, TARGETS=json.dumps([{"name": "gone", "postgres": {"server": SOURCE}}]))
    own = RunContext(settings=fleet_lookup(ctx.settings)("gone"), clock=clock, credential=StaticCredential(),
                     azure_kwargs=sdk_kwargs(arm.t))
    drill_mod.start_drill(own, journal, trigger="cli")
    clock.advance(minutes=10)
    base, journal = make(fleet_env, arm, clock)  # TARGETS changed: "gone" is no longer a target
    (drill,) = drill_mod.advance_all(base, journal)
    assert drill.state == FAILED and drill.cleanup == "deleted"
    assert "target gone is no longer configured" in drill.error
    run = journal.get_run(drill.drill_id)
    assert run.target.name == "gone" and run.target.server == SOURCE and run.results[0].status.value == "error"


# --- the monthly hook takes the fleet's targets in turn -------------------------------------------
def drill_at(target: str, at: str, state: str = SUCCEEDED) -> Drill:
    return Drill(drill_id=at.replace("-", "").replace(":", "")[:15] + "Z-" + target[:6].ljust(6, "x"),
                 state=state, trigger="timer", source_server="s", resource_group=DRILL_RG, target_server="t",
                 requested_at=at, restore_point="", restore_point_mode="", expires_at=at, target_name=target)


def test_monthly_hook_of_a_fleet_starts_the_target_not_drilled_yet(fleet_env):
    arm = fleet_arm(create_status=["InProgress"])
    ctx, journal = make(fleet_env, arm, Clock(T0))
    journal.upsert(drill_at("prod", "2026-10-01T06:00:00Z").to_entity())
    out = schedule.monthly_hook(ctx, journal, ["prod", "staging"])
    (started,) = out["started"]  # prod's drill last month is within its 3 months
    assert started["drill"] == PROVISIONING and started["target"] == "staging" and out["waiting"] == []
    assert arm.put_body()["properties"]["sourceServerResourceId"].endswith(f"/flexibleServers/{STAGING_SERVER}")
    assert schedule.monthly_hook(ctx, journal, ["prod", "staging"])["drill"] == "already active"


# --- CLI and HTTP ---------------------------------------------------------------------------------
@pytest.fixture
def canned(monkeypatch):
    arm = fleet_arm(create_status=["InProgress"])
    clock = Clock(T0)
    monkeypatch.setattr(drill_mod, "make_context", lambda settings: RunContext(
        settings=settings, clock=clock, credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t)))
    return arm


def test_cli_drill_start_target_drills_that_target(fleet_env, canned, capsys):
    from checks import cli
    out = io.StringIO()
    assert cli.main(["drill", "start", "--target", "nope"], out=out, env=fleet_env) == 2
    err = capsys.readouterr().err
    assert "error: --target: unknown target 'nope'; known targets: prod, staging" in err
    assert canned.t.requests == []  # refused before Azure
    assert cli.main(["drill", "start", "--target", "staging", "--target-server", STAGING_SERVER], out=out,
                    env=fleet_env) == 2  # staging's own server is production's for that target
    assert f"--target-server: '{STAGING_SERVER}' is production's server" in capsys.readouterr().err

    assert cli.main(["drill", "start", "--target", "staging", "--json"], out=out, env=fleet_env) == 0
    (started,) = json.loads(out.getvalue())
    assert started["target_name"] == "staging" and started["source_server"] == STAGING_SERVER
    assert started["state"] == PROVISIONING
    again = io.StringIO()
    assert cli.main(["drill", "start", "--target", "staging"], out=again, env=fleet_env) == 1  # one per target
    assert f"restore drill {started['drill_id']} of target staging is already active" in capsys.readouterr().err
    status = io.StringIO()
    assert cli.main(["drill", "status", "--target", "staging"], out=status, env=fleet_env) == 0
    assert "  target staging\n" in status.getvalue() and f"{STAGING_SERVER} → {TARGET}" in status.getvalue()
    other = io.StringIO()
    assert cli.main(["drill", "status", "--target", "prod"], out=other, env=fleet_env) == 0
    assert other.getvalue().startswith("No restore drill recorded.\n")  # then the month's round


def test_http_drill_start_target_in_body_or_query(fleet_env, env_patch, canned, monkeypatch):
    import azure.functions as func
    import function_app

    monkeypatch.setattr(function_app.app, "functions_bindings", {})
    handler = {f.get_function_name(): f for f in function_app.app.get_functions()}["drill_start"].get_user_function()

    def post(body: dict, query: str = ""):
        resp = handler(func.HttpRequest(method="POST", url="/api/drill" + query, body=json.dumps(body).encode(),
                                        headers={"content-type": "application/json"},
                                        params=dict(p.split("=") for p in query[1:].split("&")) if query else {}))
        return resp.status_code, json.loads(resp.get_body())

    env_patch(fleet_env)
    code, body = post({"target": "nope"})
    assert code == 400 and body["known_targets"] == ["prod", "staging"]
    assert "unknown target 'nope'; known targets: prod, staging" in body["problems"]["target"]
    code, body = post({"target": "Bad_Name"})
    assert code == 400 and "field 'target'" in body["error"]
    code, body = post({"target": "prod"}, "?target=staging")
    assert code == 400 and "differ" in body["problems"]["target"]
    assert canned.t.requests == []
    code, body = post({}, "?target=staging")
    assert code == 202 and body["target_name"] == "staging" and body["source_server"] == STAGING_SERVER
    code, again = post({"target": "staging"})  # one drill per target at a time
    assert code == 409 and again["drill_id"] == body["drill_id"] and again["target"] == "staging"


# --- the sweeper of a fleet ---------------------------------------------------------------------
def test_sweeper_of_a_fleet_needs_no_pg_server_name_and_spares_every_targets_server(env):
    """With TARGETS and no PG_SERVER_NAME the sweeper still runs; a server named like ANY target's server,
    even tagged as an expired drill's, is never a candidate; a real expired drill server is deleted."""
    tags = {"created-by": "medicapp-backup-verifier", "drill-id": "20261001T060000Z-aaaaaa", "source": STAGING_SERVER,
            "expires-at": "2026-10-01T00:00:00Z"}
    disguised = dict(derive(staging_body(), "name", STAGING_SERVER.upper()), tags=tags)
    expired = derive(derive(source_body(), "name", TARGET), "id", source_body()["id"].replace(SOURCE, TARGET)
                     .replace(f"/{RG}/", f"/{DRILL_RG}/"))
    expired["tags"] = tags
    arm = Arm(target_get=[Canned(200, expired)])
    fleet = {k: v for k, v in env.items() if k != "PG_SERVER_NAME"}
    ctx, _ = make(fleet, arm, Clock(T0), TARGETS=targets_json())
    assert ctx.settings.pg_server_name is None
    arm.t.json("GET", rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?",
               {"value": [disguised, expired]})
    assert schedule.sweep(ctx) == [{"server": TARGET, "drill_id": "20261001T060000Z-aaaaaa", "resource_group": DRILL_RG,
                                  "result": "deleted"}]
    assert [u for m, u in arm.methods() if m == "DELETE"] == [TARGET]
    bare, _ = make(fleet, Arm(), Clock(T0))  # no fleet and no PG_SERVER_NAME: still a configuration error
    with pytest.raises(drill_mod.NotConfigured, match="PG_SERVER_NAME"):
        schedule.sweep(bare)


def test_monthly_entry_of_a_fleet_drills_a_configured_target_not_the_base_settings(fleet_env, canned):
    """The monthly run's hook with TARGETS: the first target never drilled, with its own settings."""
    from checks.drill_face import monthly_entry
    settings = Settings.from_env(dict(fleet_env, PG_SERVER_NAME="", PG_RESOURCE_GROUP="",  # no base server at all
                                      RESTORE_DRILL_MAX_CONCURRENT="1"))
    out = monthly_entry(settings, Journal.from_settings(settings))
    (started,) = out["started"]
    assert started["drill"] == PROVISIONING and started["target"] == "prod", out
    assert out["waiting"] == ["staging"]  # the bound: the drill timer starts it when prod's drill finishes
    assert canned.put_body()["properties"]["sourceServerResourceId"].endswith(f"/resourceGroups/{RG}/providers/"
                                                                              f"Microsoft.DBforPostgreSQL/flexibleServers/{SOURCE}")


# --- discovered targets (DISCOVER_TAG, no TARGETS) -----------------------------------------------
def test_discovered_targets_are_looked_up_once_and_only_when_a_drill_needs_one():
    from azure_fakes import arm_error_body
    from checks.drill_face import target_lookup
    from checks.engine.model import CheckError
    from test_discovery import BASE, GRAPH, context, page, row
    transport = CannedTransport().json("POST", GRAPH, page([row("server", "medicapp-db", "Prod"),
                                                            row("server", "medicapp-pre-db", "Pre Prod", rg="rg-pre")]))
    ctx = context(transport)
    lookup = target_lookup(ctx.settings, ctx)
    assert transport.requests == []  # a drill timer tick without an active drill asks Resource Graph nothing
    pre = lookup("pre-prod")
    assert (pre.target_name, pre.pg_server_name, pre.pg_resource_group) == ("pre-prod", "medicapp-pre-db", "rg-pre")
    assert lookup("prod").pg_server_name == "medicapp-db"
    with pytest.raises(UnknownTarget, match="unknown target 'staging'; known targets: pre-prod, prod"):
        lookup("staging")
    assert len(transport.requests) == 1  # one discovery for every lookup of the invocation
    denied = CannedTransport().add("POST", GRAPH, Canned(403, arm_error_body("AuthorizationFailed", "no access")))
    with pytest.raises(CheckError):  # the caller retries on the next invocation; never a traceback
        target_lookup(Settings.from_env(BASE), context(denied))("prod")
