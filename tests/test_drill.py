"""Restore drill over the REAL PostgreSQL management client (CannedTransport), the journal in Azurite,
and a SECOND real PostgreSQL cluster standing in for the restored server (the `restored_cluster`
fixture of conftest.py, shared with the incident-restore tests; tests/stand_in.py).

Host seam: the drill connects to the restored server at the FQDN that ARM reports
(`properties.fullyQualifiedDomainName`), with production's credentials and port (exactly what it
does in Azure). The stand-in cluster listens on 127.0.0.2 with the SAME port as the production
cluster on 127.0.0.1, and the canned ARM bodies report FQDN "127.0.0.2": same URL, other server, no
test hook in the product. (DATABASE_URL carries sslmode=disable because 127.0.0.2 is not "local"
to pgconn, which would otherwise require TLS the test clusters do not offer.)
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from azure_fakes import (Canned, CannedTransport, StaticCredential, arm_error_body, arm_example, arm_fixture,
                         derive, sdk_kwargs)
from checks.drill import restore_drill as drill_mod
from checks.drill import schedule
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.drill.state import (CLEANING_UP, FAILED, PROVISIONING, SUCCEEDED, DrillGuardError,
                                begin_guarded_delete, begin_restore)
from checks.journal.store import Journal
from devtools.localstack import DEMO_SQL
from stand_in import RESTORED_CONSULTATIONS, RESTORED_HOST, count

SUB = "11111111-2222-3333-4444-555555555555"
RG = "rg-medicapp"
DRILL_RG = "rg-medicapp-drills"  # RESTORE_DRILL_RESOURCE_GROUP: restored servers live here, never in RG
SOURCE = "medicapp-db"
TARGET = "medicapp-db-restore-20261101"
T0 = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
API = "api-version=2026-10-01"
CREATE_HEADERS = arm_example("postgresql_ServersCreatePointInTimeRestore.json")["responses"]["202"]["headers"]
# the delete example reuses the create example's operation ids: derive distinct ones for delete
DELETE_HEADERS = {k: v.replace("aaaaaaaa-aaaa", "cccccccc-cccc").replace("bbbbbbbb-bbbb", "dddddddd-dddd")
                  for k, v in arm_example("postgresql_ServersDelete.json")["responses"]["202"]["headers"].items()}


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def server_url(name: str, rg: str = DRILL_RG) -> str:
    return rf"/resourceGroups/{rg}/providers/Microsoft\.DBforPostgreSQL/flexibleServers/{name}\?"


def source_body() -> dict:
    body = arm_fixture("postgresql_ServersGet.json")
    body = derive(body, "name", SOURCE)
    body = derive(body, "id", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/"
                              f"flexibleServers/{SOURCE}")
    body = derive(body, "properties.backup.earliestRestoreDate", "2026-10-25T06:00:00Z")
    # the fixture's server is public access: production here is VNet-integrated, as deployed by default
    return derive(body, "properties.network", PRIVATE_NETWORK)


PRIVATE_NETWORK = {"publicNetworkAccess": "Disabled",
                   "delegatedSubnetResourceId": f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/"
                                                "Microsoft.Network/virtualNetworks/vnet/subnets/snet-pg",
                   "privateDnsZoneArmResourceId": f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/"
                                                  "Microsoft.Network/privateDnsZones/pg.private.postgres"}


class Arm:
    """Canned ARM for one drill: the source, the target (404 until created, and again once its delete
    operation answered Succeeded unless `gone_after_delete` is False) and the LROs."""

    def __init__(self, create_status=(), delete_status=("Succeeded",), target_get=None, gone_after_delete=True):
        self.t = CannedTransport()
        self.gone = False
        self.t.json("GET", server_url(SOURCE, RG), source_body())
        self.t.add("GET", server_url(TARGET), *[self.unless_gone(r) for r in
                                                (target_get or [self.not_found, self.not_found, self.restored])])
        self.t.add("PUT", server_url(TARGET), Canned(202, None, dict(CREATE_HEADERS)))
        self.t.add("GET", r"azureAsyncOperation/aaaaaaaa", *[self.op(s) for s in create_status])
        self.t.add("DELETE", server_url(TARGET), Canned(202, None, dict(DELETE_HEADERS)))
        self.t.add("GET", r"azureAsyncOperation/cccccccc", *[self.delete_op(s, gone_after_delete)
                                                               for s in delete_status])
        self.t.add("GET", r"operationResults/dddddddd", Canned(204))

    not_found = Canned(404, arm_error_body("ResourceNotFound", f"server {TARGET} not found"))

    @staticmethod
    def op(status: str) -> Canned:
        body = {"name": "aaaaaaaa", "status": status, "startTime": "2026-11-01T06:00:05Z"}
        if status == "Succeeded":
            body["endTime"] = "2026-11-01T06:34:00Z"
        if status == "Failed":
            body["error"] = {"code": "PointInTimeRestoreFailed", "message": "restore of the backup failed"}
        return Canned(200, body)

    def unless_gone(self, answer):
        """The target's GET: `answer`, or 404 once its deletion succeeded."""
        return lambda request: self.not_found if self.gone else answer(request) if callable(answer) else answer

    def delete_op(self, status: str, gone: bool):
        def answer(request):
            self.gone = self.gone or (gone and status == "Succeeded")
            return self.op(status)
        return answer

    def put_body(self) -> dict:
        put = next(r for r in self.t.requests if r.method == "PUT")
        return json.loads(getattr(put, "content", None) or put.body)

    def restored(self, request=None) -> Canned:
        """The restored server as ARM shows it: the tags of our PUT, FQDN = the stand-in cluster."""
        body = derive(source_body(), "name", TARGET)
        body = derive(body, "id", body["id"].replace(SOURCE, TARGET).replace(f"/{RG}/", f"/{DRILL_RG}/"))
        body = derive(body, "properties.fullyQualifiedDomainName", RESTORED_HOST)
        body["tags"] = self.put_body()["tags"]
        return Canned(200, body)

    def methods(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.split("?")[0].rsplit("/", 1)[-1]) for r in self.t.requests]


@pytest.fixture
def env(base_env, demo_db_url):
    return dict(base_env, AZURE_SUBSCRIPTION_ID=SUB, PG_RESOURCE_GROUP=RG, PG_SERVER_NAME=SOURCE,
                RESTORE_DRILL_ENABLED="true", RESTORE_DRILL_RESOURCE_GROUP=DRILL_RG,
                DATABASE_URL=demo_db_url + "?sslmode=disable",
                ESSENTIAL_TABLES="public.patients>=1,public.consultations>=1,public.documents>=1")


def make(env: dict, arm: Arm, clock: Clock, **extra: str):
    settings = Settings.from_env(dict(env, **extra))
    journal = Journal.from_settings(settings)
    ctx = RunContext(settings=settings, clock=clock, credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t))
    return ctx, journal


def drill_run(journal: Journal, drill_id: str):
    run = journal.get_run(drill_id)
    assert run is not None and run.trigger == "drill"
    assert [r.check_id for r in run.results] == ["drill.restore"]
    return run.results[0]


# --- the whole drill across invocations ---------------------------------------------------------
def test_drill_across_invocations_restores_verifies_measures_and_deletes(env, restored_cluster, pg_cluster):
    arm = Arm(create_status=["InProgress", "InProgress", "Succeeded"], delete_status=["InProgress", "Succeeded"])
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock)

    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.state == PROVISIONING and drill.target_server == TARGET and drill.created
    put = arm.put_body()
    assert put["location"] == "eastus" and put["properties"]["createMode"] == "PointInTimeRestore"
    assert put["properties"]["sourceServerResourceId"].endswith(f"/resourceGroups/{RG}/providers/"
                                                                f"Microsoft.DBforPostgreSQL/flexibleServers/{SOURCE}")
    assert put["properties"]["pointInTimeUTC"] == "2026-11-01T05:50:00Z"  # latest = now - 10 min margin
    assert put["tags"] == {"created-by": "medicapp-backup-verifier", "drill-id": drill.drill_id, "source": SOURCE,
                           "expires-at": "2026-11-01T12:00:00Z"}
    assert all(API in r.url for r in arm.t.requests)
    # GET source, GET target (404: name free), GET target (404: guard right before the PUT), PUT, one poll
    assert arm.methods() == [("GET", SOURCE), ("GET", TARGET), ("GET", TARGET), ("PUT", TARGET),
                             ("GET", "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")]
    stored = drill_mod.load_drills(journal)
    assert [(d.drill_id, d.state) for d in stored] == [(drill.drill_id, PROVISIONING)]
    assert stored[0].create_token  # the continuation token survives in the journal

    # a later invocation (a fresh context, as the next timer run would have): one poll, still running
    clock.advance(minutes=20)
    ctx2, journal2 = make(env, arm, clock)
    before = len(arm.t.requests)
    assert [d.state for d in drill_mod.advance_all(ctx2, journal2)] == [PROVISIONING]
    assert len(arm.t.requests) == before + 1

    # next: Succeeded → final GET → verify against the stand-in → delete requested (202, in progress)
    clock.advance(minutes=20)
    ctx3, journal3 = make(env, arm, clock)
    (drill,) = drill_mod.advance_all(ctx3, journal3)
    assert drill.state == CLEANING_UP and drill.cleanup == "deleting"
    assert drill.ready_at == "2026-11-01T06:34:00Z" and drill.target_host == RESTORED_HOST
    assert ("DELETE", TARGET) in arm.methods()

    # last: deletion done → succeeded, the run is in the journal
    clock.advance(minutes=10)
    ctx4, journal4 = make(env, arm, clock)
    (drill,) = drill_mod.advance_all(ctx4, journal4)
    assert drill.state == SUCCEEDED and drill.cleanup == "deleted"
    assert drill_mod.advance_all(ctx4, journal4) == []  # nothing active any more

    result = drill_run(journal4, drill.drill_id)
    assert result.status.value == "pass", result.summary
    d = result.details
    assert d["rto_minutes"] == 34.0 and d["restore_point"] == "2026-11-01T05:50:00Z"
    assert d["target_server"] == TARGET and d["drill_id"] == drill.drill_id
    v = d["verification"]
    assert v["status"] == "pass"
    assert v["checks"]["database.connectivity"]["status"] == "pass"
    prod_consultations = count(pg_cluster.admin_url("medicapp"), "consultations")
    assert v["counts"]["public.consultations"] == {
        "restored": RESTORED_CONSULTATIONS, "production": prod_consultations,
        "shortfall_percent": round(100 * (prod_consultations - RESTORED_CONSULTATIONS) / prod_consultations, 1)}
    assert v["counts"]["public.patients"]["restored"] == v["counts"]["public.patients"]["production"]
    assert v["alembic_revision"]["restored"] == v["alembic_revision"]["production"] == "4f2b9c1d7e3a"
    assert "RTO 34 min" in result.summary and "server medicapp-db-restore-20261101: deleted" in result.summary
    # the month's runs list the drill run (the monthly report reads it from there)
    assert [r["trigger"] for r in journal4.list_runs("2026-11")] == ["drill"]


def test_restored_server_larger_than_production_fails_and_is_still_cleaned_up(env, restored_cluster, pg_cluster):
    """The comparison is real: a restored table with MORE rows than production fails the drill."""
    for cluster in (pg_cluster, restored_cluster):  # a database of this test's own on both servers
        cluster.create_database("medicapp_larger", DEMO_SQL)
    restored_cluster.execute("INSERT INTO documents (patient_id, title) SELECT 1, 'extra ' || g "
                             "FROM generate_series(1, 5) g", "medicapp_larger")
    production = count(pg_cluster.admin_url("medicapp_larger"), "documents")
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])
    url = env["DATABASE_URL"].replace("/medicapp?", "/medicapp_larger?")
    ctx, journal = make(env, arm, Clock(T0 + timedelta(hours=1)), DATABASE_URL=url,
                        ESSENTIAL_TABLES="public.documents")
    drill = drill_mod.start_drill(ctx, journal, trigger="http")
    assert drill.state == FAILED and drill.cleanup == "deleted"
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == "fail"
    assert "more rows restored than in production" in result.summary
    assert f"public.documents {production + 5}>{production}" in result.summary
    assert result.details["verification"]["counts"]["public.documents"]["restored"] == production + 5


# --- LRO outcomes ------------------------------------------------------------------------------
def test_restore_failed_in_azure_fails_the_drill_and_cleans_nothing_foreign(env):
    arm = Arm(create_status=["InProgress", "Failed"], target_get=[Arm.not_found])
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock)
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.state == PROVISIONING
    clock.advance(minutes=15)
    (drill,) = drill_mod.advance_all(ctx, journal)
    assert drill.state == FAILED
    assert "PointInTimeRestoreFailed" in drill.error and "restore of the backup failed" in drill.error
    assert drill.cleanup.startswith("not needed")  # GET said 404: nothing to delete
    assert "DELETE" not in [m for m, _ in arm.methods()]
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == "fail" and result.details["rto_minutes"] is None
    assert result.details["verification"]["status"] == "not run"


def test_create_conflict_409_is_a_failed_drill_without_any_delete(env):
    arm = Arm(target_get=[Arm.not_found])
    arm.t.routes[2].responses = [Canned(409, arm_error_body("ServerNameAlreadyExists", "name in use"))]
    ctx, journal = make(env, arm, Clock(T0))
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.state == FAILED and not drill.created
    assert "name in use" in drill.error
    assert [m for m, _ in arm.methods()] == ["GET", "GET", "GET", "PUT"]
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == "fail" and "drill not started" in result.summary


def test_past_max_hours_fails_and_deletes_the_tagged_server(env):
    arm = Arm(create_status=["InProgress"], delete_status=["Succeeded"])
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock, RESTORE_DRILL_MAX_HOURS="2")
    drill_mod.start_drill(ctx, journal, trigger="cli")
    clock.advance(hours=1)
    assert [d.state for d in drill_mod.advance_all(ctx, journal)] == [PROVISIONING]
    clock.advance(hours=1, minutes=1)
    (drill,) = drill_mod.advance_all(ctx, journal)
    assert drill.state == FAILED and "RESTORE_DRILL_MAX_HOURS (2 h)" in drill.error
    assert drill.cleanup == "deleted" and ("DELETE", TARGET) in arm.methods()


# --- guards ------------------------------------------------------------------------------------
def test_guard_target_is_production_refused_without_put(env):
    arm = Arm()
    ctx, journal = make(env, arm, Clock(T0))
    drill = drill_mod.start_drill(ctx, journal, trigger="cli", target_server=SOURCE)
    assert drill.state == FAILED and "is the production server itself" in drill.error
    assert "PUT" not in [m for m, _ in arm.methods()]


def test_guard_existing_target_refused_and_day_name_falls_back_to_hhmm(env):
    taken = Canned(200, derive(source_body(), "name", TARGET))
    arm = Arm(target_get=[taken])
    ctx, journal = make(env, arm, Clock(T0))
    # every candidate name exists (day, day-HHMM, day-HHMM-<drill id's suffix>) → refused, no PUT
    arm.t.add("GET", server_url(TARGET + "-0600"), taken)
    arm.t.add("GET", server_url(TARGET + "-0600-[a-z0-9]{6}"), taken)
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.state == FAILED and "already exists" in drill.error
    assert f"{TARGET}-0600-{drill.drill_id[-6:]}" in drill.error
    assert "PUT" not in [m for m, _ in arm.methods()]


def test_third_drill_in_the_same_minute_takes_the_drill_ids_suffix(env):
    """Several targets' drills start in the same minute into one drill group (RESTORE_DRILL_MAX_CONCURRENT):
    with the day's and the minute's names taken, the third takes its drill id's suffix instead of failing."""
    taken = Canned(200, derive(source_body(), "name", TARGET))
    arm = Arm(create_status=["InProgress"], target_get=[taken])
    arm.t.add("GET", server_url(TARGET + "-0600"), taken)
    arm.t.add("GET", server_url(TARGET + "-0600-[a-z0-9]{6}"), Arm.not_found)
    arm.t.add("PUT", server_url(TARGET + "-0600-[a-z0-9]{6}"), Canned(202, None, dict(CREATE_HEADERS)))
    ctx, journal = make(env, arm, Clock(T0))
    drill = drill_mod.start_drill(ctx, journal, trigger="timer")
    assert drill.state == PROVISIONING and drill.target_server == f"{TARGET}-0600-{drill.drill_id[-6:]}"
    assert len(drill.target_server) <= 63


def test_guard_delete_of_untagged_or_production_server_refused(env):
    arm = Arm(target_get=[Canned(200, derive(source_body(), "name", TARGET))])  # no drill tags
    ctx, _ = make(env, arm, Clock(T0))
    client = __import__("checks.connect.azure", fromlist=["x"]).postgres_client(ctx)
    with pytest.raises(DrillGuardError, match="does not carry"):
        begin_guarded_delete(client, DRILL_RG, TARGET, SOURCE, drill_group=DRILL_RG)
    with pytest.raises(DrillGuardError, match="it is the production server"):
        begin_guarded_delete(client, DRILL_RG, SOURCE, SOURCE, drill_group=DRILL_RG)
    # tagged, but by ANOTHER drill: refused for this drill's cleanup
    tagged = derive(source_body(), "name", TARGET)
    tagged["tags"] = {"created-by": "medicapp-backup-verifier", "drill-id": "20261001T060000Z-aaaaaa"}
    arm.t.routes[1].responses = [Canned(200, tagged)]
    with pytest.raises(DrillGuardError, match="drill 20261101T060000Z-bbbbbb's tags"):
        begin_guarded_delete(client, DRILL_RG, TARGET, SOURCE, drill_id="20261101T060000Z-bbbbbb",
                             drill_group=DRILL_RG)
    assert "DELETE" not in [m for m, _ in arm.methods()]


def test_guard_create_and_delete_only_in_the_drill_resource_group(env):
    """Outside RESTORE_DRILL_RESOURCE_GROUP (or in the source's group) nothing is even read: refused first."""
    arm = Arm()
    ctx, _ = make(env, arm, Clock(T0))
    client = __import__("checks.connect.azure", fromlist=["x"]).postgres_client(ctx)
    with pytest.raises(DrillGuardError, match=f"resource group {RG} is not the drill resource group"):
        begin_guarded_delete(client, RG, TARGET, SOURCE, drill_group=DRILL_RG)
    with pytest.raises(DrillGuardError, match="RESTORE_DRILL_RESOURCE_GROUP not set"):
        begin_guarded_delete(client, DRILL_RG, TARGET, SOURCE, drill_group=None)
    source = client.servers.get(RG, SOURCE)
    with pytest.raises(DrillGuardError, match=f"resource group {RG} holds the source server"):
        begin_restore(client, RG, TARGET, source, T0, {}, drill_group=RG)
    with pytest.raises(DrillGuardError, match="is not the drill resource group"):
        begin_restore(client, "rg-other", TARGET, source, T0, {}, drill_group=DRILL_RG)
    assert arm.methods() == [("GET", SOURCE)]  # only the source read above; no target GET, PUT or DELETE


def test_drill_needs_its_own_resource_group_distinct_from_production(env):
    from checks.engine.config import ConfigError
    arm = Arm()
    ctx, journal = make(env, arm, Clock(T0), RESTORE_DRILL_RESOURCE_GROUP="")
    with pytest.raises(drill_mod.NotConfigured, match="RESTORE_DRILL_RESOURCE_GROUP not set"):
        drill_mod.start_drill(ctx, journal, trigger="cli")
    assert arm.t.requests == []
    with pytest.raises(ConfigError) as err:
        Settings.from_env(dict(env, RESTORE_DRILL_RESOURCE_GROUP=RG.upper()))
    assert "other than PG_RESOURCE_GROUP" in err.value.problems["RESTORE_DRILL_RESOURCE_GROUP"]


# --- keep, sweeper, timer, monthly, opt-in ------------------------------------------------------
def test_keep_then_sweeper_deletes_only_expired_tagged_servers(env, restored_cluster):
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock, RESTORE_DRILL_KEEP="true", RESTORE_DRILL_KEEP_HOURS="24")
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.state == SUCCEEDED and drill.cleanup.startswith("kept until 2026-11-02T12:00:00Z")
    assert "DELETE" not in [m for m, _ in arm.methods()]
    assert arm.put_body()["tags"]["expires-at"] == "2026-11-02T12:00:00Z"  # max 6 h + keep 24 h

    clock.advance(hours=2)
    assert schedule.timer_tick(ctx, journal) == {"advanced": []}  # not expired: nothing at all
    listing = [arm.restored().body, derive(source_body(), "name", "someone-elses-server"), source_body()]
    listing[1]["tags"] = {"expires-at": "2026-01-01T00:00:00Z"}  # expired but not a drill's: untouched
    arm.t.json("GET", rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?",
               {"value": listing})
    clock.advance(hours=29)
    out = schedule.timer_tick(ctx, journal)
    assert out["swept"] == [{"server": TARGET, "drill_id": drill.drill_id, "resource_group": DRILL_RG, "result": "deleted"}]
    assert [u for m, u in arm.methods() if m == "DELETE"] == [TARGET]
    assert drill_mod.load_drills(journal)[0].cleanup == "deleted by the sweeper after expiry"


def test_timer_does_nothing_without_an_active_drill(env):
    arm = Arm()
    ctx, journal = make(env, arm, Clock(T0))
    assert schedule.timer_tick(ctx, journal) == {"advanced": []}
    assert arm.t.requests == []


def test_opt_in_and_one_drill_at_a_time(env):
    arm = Arm(create_status=["InProgress"])
    ctx, journal = make(env, arm, Clock(T0), RESTORE_DRILL_ENABLED="false")
    with pytest.raises(drill_mod.NotConfigured, match="RESTORE_DRILL_ENABLED"):
        drill_mod.start_drill(ctx, journal, trigger="cli")
    assert arm.t.requests == []
    ctx, journal = make(env, arm, Clock(T0))
    first = drill_mod.start_drill(ctx, journal, trigger="cli")
    with pytest.raises(drill_mod.DrillActive, match=first.drill_id):
        drill_mod.start_drill(ctx, journal, trigger="cli")


def test_monthly_hook_starts_every_n_months(env):
    arm = Arm(create_status=["InProgress"])
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock, RESTORE_DRILL_EVERY_MONTHS="3")
    (started,) = schedule.monthly_hook(ctx, journal)["started"]
    assert started["drill"] == PROVISIONING and started["target_server"] == TARGET
    assert schedule.monthly_hook(ctx, journal)["drill"] == "already active"
    drill = drill_mod.load_drills(journal)[0]
    drill.state = SUCCEEDED
    journal.upsert(drill.to_entity())
    clock.now = datetime(2027, 1, 1, 6, 0, tzinfo=timezone.utc)  # 2 months later
    assert schedule.monthly_hook(ctx, journal)["drill"] == "not due"
    clock.now = datetime(2027, 2, 1, 6, 0, tzinfo=timezone.utc)  # 3 months later: due again
    arm.t.add("GET", server_url("medicapp-db-restore-20270201"), Arm.not_found)
    arm.t.add("PUT", server_url("medicapp-db-restore-20270201"), Canned(202, None, dict(CREATE_HEADERS)))
    assert schedule.monthly_hook(ctx, journal)["started"][0]["target_server"] == "medicapp-db-restore-20270201"


# --- entry points: HTTP, CLI, timer binding -----------------------------------------------------
def test_http_post_drill_cli_status_and_timer_binding(env, env_patch, monkeypatch):
    import io
    import azure.functions as func
    import function_app
    from checks import cli

    # get_functions() validates names against what earlier calls registered: start from a clean slate
    monkeypatch.setattr(function_app.app, "functions_bindings", {})
    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    timer = json.loads(functions["restore_drill_timer"].get_function_json())["bindings"][0]
    assert timer["schedule"] == "%RESTORE_DRILL_SCHEDULE%"
    post = json.loads(functions["drill_start"].get_function_json())["bindings"][0]
    assert post["methods"] == ["POST"] and post["route"] == "drill"  # auth level: tests/test_function_app.py

    arm = Arm(create_status=["InProgress"])
    clock = Clock(T0)
    monkeypatch.setattr(drill_mod, "make_context", lambda settings: RunContext(
        settings=settings, clock=clock, credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t)))
    handler = functions["drill_start"].get_user_function()

    def request(body: dict):
        return func.HttpRequest(method="POST", url="/api/drill", body=json.dumps(body).encode(),
                                headers={"content-type": "application/json"})

    env_patch(dict(env, RESTORE_DRILL_ENABLED="false"))
    resp = handler(request({}))
    assert resp.status_code == 400 and "opt-in" in json.loads(resp.get_body())["error"]
    env_patch(env)
    resp = handler(request({"restore_point": "2026-10-30T03:00:00Z"}))
    assert resp.status_code == 202, resp.get_body()
    started = json.loads(resp.get_body())
    assert started["state"] == PROVISIONING and started["restore_point"] == "2026-10-30T03:00:00Z"
    assert "create_token" not in started
    again = handler(request({}))
    assert again.status_code == 409 and json.loads(again.get_body())["drill_id"] == started["drill_id"]
    assert handler(request({"tagret": "x"})).status_code == 400

    out = io.StringIO()
    assert cli.main(["drill", "status"], out=out, env=env) == 0
    text = out.getvalue()
    assert f"Drill {started['drill_id']}: PROVISIONING" in text and f"{SOURCE} → {TARGET}" in text
    assert "  target production\n" in text  # the deployment's own target (TARGET_NAME)
    # the drill timer entry point: advances the active drill (one more poll), never raises
    polls = len(arm.t.urls("GET"))
    result = function_app.http_api.run_drill_timer(past_due=False)
    assert result == {"advanced": [{"drill_id": started["drill_id"], "state": PROVISIONING, "target": "production"}]}
    assert len(arm.t.urls("GET")) == polls + 1


# --- measured RPO (RPO_PROBE) on two real clusters ------------------------------------------------
RPO_T = datetime(2026, 11, 1, 6, 30, tzinfo=timezone.utc)
RPO_ROWS = {"before": [RPO_T - timedelta(hours=3), RPO_T - timedelta(hours=2), RPO_T - timedelta(seconds=90)],
            "after": [RPO_T + timedelta(seconds=60), RPO_T + timedelta(minutes=5)]}


def visits_db(cluster, name: str, times: list[datetime]) -> None:
    """The demo database plus an append-mostly table `public.visits(created_at)` holding `times`."""
    cluster.create_database(name, DEMO_SQL)
    values = ", ".join(f"('{t.isoformat()}')" for t in times) or "(NULL)"
    cluster.execute("CREATE TABLE public.visits (id bigserial PRIMARY KEY, created_at timestamptz);"
                    f"INSERT INTO public.visits (created_at) VALUES {values};"
                    "DELETE FROM public.visits WHERE created_at IS NULL;"
                    "GRANT SELECT ON public.visits TO verifier;", name)


@pytest.mark.parametrize("case,restored,status,rpo_seconds,rows_lost,fragment", [
    ("exact", RPO_ROWS["before"], "pass", 90.0, 0, "RPO 90 s"),
    ("loss", RPO_ROWS["before"][1:], "fail", 90.0, 1, "1 row of public.visits.created_at up to"),
    ("not_at_t", RPO_ROWS["before"] + RPO_ROWS["after"][:1], "fail", -60.0, 0, "restore is not at"),
])
def test_drill_measures_rpo_and_zero_loss_up_to_t(env, restored_cluster, pg_cluster, case, restored, status,
                                                  rpo_seconds, rows_lost, fragment):
    """Production holds rows before AND after T; the restored server what a restore to T holds (or not)."""
    name = f"medicapp_rpo_{case}"
    visits_db(pg_cluster, name, RPO_ROWS["before"] + RPO_ROWS["after"])
    visits_db(restored_cluster, name, restored)
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])
    ctx, journal = make(env, arm, Clock(T0 + timedelta(hours=1)), DATABASE_URL=env["DATABASE_URL"].replace(
        "/medicapp?", f"/{name}?"), ESSENTIAL_TABLES="public.patients", RPO_PROBE="public.visits.created_at")
    drill = drill_mod.start_drill(ctx, journal, trigger="cli", restore_point="2026-11-01T06:30:00Z")
    assert drill.cleanup == "deleted"
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == status, result.summary
    assert fragment in result.summary
    assert result.details["rpo_seconds"] == rpo_seconds and result.details["rows_lost"] == rows_lost
    rpo = result.details["verification"]["rpo"]
    assert rpo["production_rows_upto_t"] == 3 and rpo["restored_rows_upto_t"] == 3 - rows_lost
    assert rpo["restore_point"] == "2026-11-01T06:30:00Z"


def test_drill_without_rpo_probe_records_no_rpo(env, restored_cluster):
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])
    ctx, journal = make(env, arm, Clock(T0 + timedelta(hours=1)))
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    result = drill_run(journal, drill.drill_id)
    assert result.details["rpo_seconds"] is None and result.details["rows_lost"] is None
    assert "rpo" not in result.details["verification"]


def test_rpo_probe_missing_table_warns_not_measured(env, restored_cluster):
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])
    ctx, journal = make(env, arm, Clock(T0 + timedelta(hours=1)), RPO_PROBE="public.nosuch.created_at")
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    result = drill_run(journal, drill.drill_id)
    assert "RPO not measured" in result.summary and result.status.value == "warn"
    assert result.details["verification"]["rpo"]["error"] and result.details["rpo_seconds"] is None


def test_sweeper_never_selects_the_source_server_even_when_tagged_and_expired(env):
    """A server named like production (any case) carrying drill tags with a past expiry is never a sweep candidate."""
    from checks.drill.state import expired_drill_servers
    tagged_source = source_body()
    tagged_source["tags"] = {"created-by": "medicapp-backup-verifier", "drill-id": "20261001T060000Z-aaaaaa",
                             "expires-at": "2026-10-01T00:00:00Z"}
    upper = derive(tagged_source, "name", SOURCE.upper())
    expired_drill = derive(tagged_source, "name", TARGET)
    drill_id_path = expired_drill["id"].replace(SOURCE, TARGET).replace(f"/{RG}/", f"/{DRILL_RG}/")
    expired_drill = derive(expired_drill, "id", drill_id_path)
    arm = Arm(target_get=[Canned(200, expired_drill)])
    ctx, _ = make(env, arm, Clock(T0))
    arm.t.json("GET", rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?",
               {"value": [tagged_source, upper, expired_drill]})
    client = __import__("checks.connect.azure", fromlist=["x"]).postgres_client(ctx)
    assert [s.name for s in expired_drill_servers(client, DRILL_RG, SOURCE, T0)] == [TARGET]
    assert schedule.sweep(ctx) == [{"server": TARGET, "drill_id": "20261001T060000Z-aaaaaa", "resource_group": DRILL_RG,
                                  "result": "deleted"}]
    assert [u for m, u in arm.methods() if m == "DELETE"] == [TARGET]


# --- the source's network and encryption (issue 28, item 4) ------------------------------------------
def test_public_access_source_is_refused_before_any_put_and_recorded(env):
    """The vendored example server is public access (no delegated subnet): the drill is refused, no PUT."""
    public = derive(source_body(), "properties.network", arm_fixture("postgresql_ServersGet.json")
                    ["properties"]["network"])
    assert public["properties"]["network"] == {"publicNetworkAccess": "Enabled"}
    arm = Arm(create_status=["InProgress"])
    arm.t.routes[0].responses = [Canned(200, public)]
    ctx, journal = make(env, arm, Clock(T0))
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.state == FAILED and drill.cleanup.startswith("not needed") and not drill.created
    assert f"source server {SOURCE} uses public network access" in drill.error
    assert "PUT" not in [m for m, _ in arm.methods()]
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == "fail" and "public network access" in result.summary
    assert result.remediation


def test_cmk_source_restores_with_its_user_assigned_identity_and_key(env):
    """A customer-managed-key source: the restore PUT carries its identity and dataEncryption (ARM example shape)."""
    example = arm_example("postgresql_ServersUpdateWithDataEncryptionEnabled.json")["parameters"]["parameters"]
    cmk = derive(source_body(), "identity", example["identity"])
    cmk = derive(cmk, "properties.dataEncryption", example["properties"]["dataEncryption"])
    arm = Arm(create_status=["InProgress"])
    arm.t.routes[0].responses = [Canned(200, cmk)]
    ctx, journal = make(env, arm, Clock(T0))
    assert drill_mod.start_drill(ctx, journal, trigger="cli").state == PROVISIONING
    put = arm.put_body()
    assert put["identity"] == {"type": "UserAssigned",
                               "userAssignedIdentities": {i: {} for i in example["identity"]["userAssignedIdentities"]}}
    assert put["properties"]["dataEncryption"] == example["properties"]["dataEncryption"]
    assert put["properties"]["createMode"] == "PointInTimeRestore"


def test_system_managed_source_restores_without_identity_or_key(env):
    arm = Arm(create_status=["InProgress"])
    ctx, journal = make(env, arm, Clock(T0))
    drill_mod.start_drill(ctx, journal, trigger="cli")
    assert "identity" not in arm.put_body() and "dataEncryption" not in arm.put_body()["properties"]
