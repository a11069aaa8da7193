"""Incident restore of PostgreSQL through the public command (`python -m checks restore ...`):
the REAL PostgreSQL management client over canned ARM (the official point-in-time-restore example),
the journal in Azurite, and a SECOND real PostgreSQL cluster standing in for the restored server.

Host seam (as in tests/test_drill.py): the restored server is reached at the FQDN ARM reports; the
stand-in (the `restored_cluster` fixture shared with the drill tests, tests/stand_in.py) listens on
RESTORED_HOST with production's port, and the canned server body gives that as the FQDN.
"""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

import function_app  # at collection, as the host loads it: the deployment's default HTTP_AUTH_MODE (entra)
from azure_fakes import (Canned, CannedTransport, StaticCredential, arm_error_body, arm_example, arm_fixture,
                         derive, lro_status, sdk_kwargs, sent_json)
from checks import cli, restore, restore_cli
from checks.drill import schedule as drill_mod
from checks.drill.state import Drill, DrillGuardError, begin_guarded_delete
from checks.engine.context import RunContext
from checks.journal.store import Journal
from checks.engine.config import Settings
from checks.restore.record import PARTITION, load
from stand_in import RESTORED_CONSULTATIONS, RESTORED_HOST as HOST, count

SUB = "11111111-2222-3333-4444-555555555555"
RG = "rg-medicapp"
DRG = "rg-medicapp-restore"  # RESTORE_DRILL_RESOURCE_GROUP: where new servers go (never production's group)
SOURCE = "medicapp-db"
T0 = datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)
TARGET = "medicapp-db-pitr-20261126-1400"  # the default name at T0
CREATE_HEADERS = arm_example("postgresql_ServersCreatePointInTimeRestore.json")["responses"]["202"]["headers"]


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def server_url(name: str, rg: str = RG) -> str:
    return rf"/resourceGroups/{rg}/providers/Microsoft\.DBforPostgreSQL/flexibleServers/{name}\?"


def source_body() -> dict:
    body = derive(arm_fixture("postgresql_ServersGet.json"), "name", SOURCE)
    body = derive(body, "id", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/"
                              f"flexibleServers/{SOURCE}")
    return derive(body, "properties.backup.earliestRestoreDate", "2026-11-19T14:00:00Z")


not_found = Canned(404, arm_error_body("ResourceNotFound", "server not found"))


class Arm:
    """The source, the target (404 until created) and the restore's operation."""

    def __init__(self, create_status=("InProgress",), target=TARGET, target_get=None):
        self.target = target
        self.t = CannedTransport()
        self.t.json("GET", server_url(SOURCE), source_body())
        self.t.add("GET", server_url(target, DRG), *(target_get or [not_found, not_found, self.restored]))
        self.t.add("PUT", server_url(target, DRG), Canned(202, None, dict(CREATE_HEADERS)))
        self.t.add("GET", r"azureAsyncOperation/aaaaaaaa", *[self.op(s) for s in create_status])

    @staticmethod
    def op(status: str) -> Canned:
        return lro_status(status, "2026-11-26T14:00:05Z", "2026-11-26T14:34:00Z",
                          ("PointInTimeRestoreFailed", "restore of the backup failed"))

    def put_body(self) -> dict:
        return sent_json(self.t, "PUT")

    def restored(self, request=None) -> Canned:
        body = derive(source_body(), "name", self.target)
        body = derive(body, "id", body["id"].replace(SOURCE, self.target))
        body = derive(body, "properties.fullyQualifiedDomainName", HOST)
        body["tags"] = self.put_body()["tags"]
        return Canned(200, body)

    def methods(self) -> list[str]:
        return [r.method for r in self.t.requests]


@pytest.fixture
def env(base_env, demo_db_url):
    return dict(base_env, AZURE_SUBSCRIPTION_ID=SUB, PG_RESOURCE_GROUP=RG, PG_SERVER_NAME=SOURCE,
                RESTORE_DRILL_RESOURCE_GROUP=DRG, DATABASE_URL=demo_db_url + "?sslmode=disable",
                ESSENTIAL_TABLES="public.patients>=1,public.consultations>=1,public.documents>=1",
                COUNT_DROP_THRESHOLD_PERCENT="3")  # the stand-in's 290 of 300 consultations: a warned shortfall


class Harness:
    def __init__(self, env: dict, arm: Arm, monkeypatch, minutes_per_sleep: float = 20):
        self.env, self.arm, self.clock = env, arm, Clock(T0)
        self.sleeps: list[float] = []
        self.interrupt_on_sleep = False
        self.minutes_per_sleep = minutes_per_sleep
        monkeypatch.setattr(restore, "make_context", lambda settings: RunContext(
            settings=settings, clock=self.clock, credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t)))
        monkeypatch.setattr(restore_cli, "sleep", self.sleep)

    def sleep(self, seconds: float) -> None:
        if self.interrupt_on_sleep:
            raise KeyboardInterrupt
        self.sleeps.append(seconds)
        self.clock.now += timedelta(minutes=self.minutes_per_sleep)

    def run(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = cli.main(["restore", *argv], out=out, env=self.env)
        return code, out.getvalue()

    def journal(self) -> Journal:
        return Journal.from_settings(Settings.from_env(self.env))

    def incidents(self) -> list[dict]:
        return self.journal().partition(PARTITION)




# --- plan -------------------------------------------------------------------------------------------------------
def test_plan_is_valid_shows_window_target_network_estimate_and_writes_nothing(env, monkeypatch):
    h = Harness(env, Arm(target_get=[not_found]), monkeypatch)
    journal = h.journal()  # a past drill took 41 minutes to ready: the estimate comes from it
    journal.upsert(Drill(drill_id="20261101T060000Z-aaaaaa", state="succeeded", trigger="timer", source_server=SOURCE,
                         resource_group=RG, target_server="x-restore", requested_at="2026-11-01T06:00:00Z",
                         restore_point="", restore_point_mode="latest", expires_at="",
                         ready_at="2026-11-01T06:41:00Z").to_entity())
    code, text = h.run("postgres", "--point", "latest")
    assert code == 0, text
    assert "Plan (VALID)" in text
    assert f"target          {TARGET} in resource group {DRG}: free (no server of that name)" in text
    assert "2026-11-26T13:50:00Z (given as 'latest'); window 2026-11-19T14:00:00Z .. 2026-11-26T13:50:00Z" in text
    assert "public access Enabled (inherited from the source" in text
    assert "~41 min (median of the last 1 drill: [41.0] min)" in text
    assert set(h.arm.methods()) == {"GET"} and h.incidents() == []


def test_plan_json_and_given_point(env, monkeypatch):
    h = Harness(env, Arm(target="incident-copy", target_get=[not_found]), monkeypatch)
    code, text = h.run("postgres", "--point", "2026-11-25T08:30:00+01:00", "--name", "incident-copy", "--json")
    plan = json.loads(text)
    assert code == 0 and plan["valid"] and plan["point"] == "2026-11-25T07:30:00Z" and plan["point_mode"] == "given"
    assert plan["target_server"] == "incident-copy" and plan["target_free"] is True and plan["reasons"] == []


@pytest.mark.parametrize("argv,reason", [
    (["--point", "2026-11-25T03:00:00"], "has no time zone: add Z (UTC) or an offset"),
    (["--point", "yesterday"], "is not 'latest' or an ISO time with a zone"),
    (["--point", "2026-11-01T03:00:00Z"], "outside the restore window 2026-11-19T14:00:00Z .. 2026-11-26T13:50:00Z"),
    (["--point", "latest", "--name", "Bad_Name"], "--name: invalid server name 'Bad_Name'"),
    (["--point", "latest", "--name", SOURCE], "is the production server itself"),
    (["--point", "latest", "--resource-group", "rg with spaces"], "--resource-group: expected a resource group name"),
    (["--point", "latest", "--resource-group", RG], f"--resource-group: refused: resource group {RG} holds the source"),
])
def test_each_guard_refuses_through_the_command_exit_2_and_nothing_written(env, monkeypatch, argv, reason):
    h = Harness(env, Arm(), monkeypatch)
    for apply in ([], ["--apply", "--yes", "--by", "On-call"]):
        code, text = h.run("postgres", *argv, *apply)
        assert code == 2 and "Plan (INVALID)" in text and reason in text, text
    assert "PUT" not in h.arm.methods() and h.incidents() == []


def test_existing_target_refused_and_every_reason_listed(env, monkeypatch):
    taken = Canned(200, derive(source_body(), "name", TARGET))
    h = Harness(env, Arm(target_get=[taken]), monkeypatch)
    code, text = h.run("postgres", "--point", "2026-11-01T00:00:00Z", "--apply", "--yes", "--by", "On-call")
    assert code == 2
    assert f"server {TARGET} already exists in {DRG}; a restore never overwrites" in text
    assert "outside the restore window" in text  # both reasons, not just the first
    assert "PUT" not in h.arm.methods() and h.incidents() == []


def test_apply_refused_without_terminal_unless_yes_and_needs_by(env, monkeypatch, capsys):
    h = Harness(env, Arm(), monkeypatch)
    assert h.run("postgres", "--point", "latest", "--apply", "--by", "On-call")[0] == 2
    assert "refusing --apply without a terminal; add --yes" in capsys.readouterr().err
    assert h.run("postgres", "--point", "latest", "--apply", "--yes")[0] == 2
    assert "--apply needs --by NAME" in capsys.readouterr().err
    assert h.arm.t.requests == [] and h.incidents() == []


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_target_must_be_typed(env, monkeypatch):
    h = Harness(env, Arm(create_status=["Failed"], target_get=[not_found]), monkeypatch)
    monkeypatch.setattr("sys.stdin", Terminal("medicapp-db\n"))
    code, text = h.run("postgres", "--point", "latest", "--apply", "--by", "On-call")
    assert code == 2 and "Not confirmed: nothing was done." in text
    assert "PUT" not in h.arm.methods() and h.incidents() == []
    monkeypatch.setattr("sys.stdin", Terminal(TARGET + "\n"))
    code, text = h.run("postgres", "--point", "latest", "--apply", "--by", "On-call")
    assert code == 1 and "PUT" in h.arm.methods()
    assert "restore failed in Azure: PointInTimeRestoreFailed: restore of the backup failed" in text
    (record,) = h.incidents()
    assert record["State"] == "failed" and record["By"] == "On-call"


# --- apply, watch, verify ---------------------------------------------------------------------------------------
def test_apply_restores_to_a_new_tagged_server_verifies_and_journals(env, monkeypatch, restored_cluster, pg_cluster):
    h = Harness(env, Arm(create_status=["InProgress", "InProgress", "Succeeded"]), monkeypatch)
    code, text = h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "Dr. On-Call")
    assert code == 0, text
    put = h.arm.put_body()
    assert put["properties"]["createMode"] == "PointInTimeRestore"
    assert put["properties"]["pointInTimeUTC"] == "2026-11-26T13:50:00Z"
    assert put["properties"]["sourceServerResourceId"].endswith(f"/flexibleServers/{SOURCE}")
    assert put["tags"]["purpose"] == "incident-restore" and "drill-id" not in put["tags"]
    assert "00:00:00 elapsed" in text and "00:20:00 elapsed" in text and "(Azure: InProgress)" in text
    assert h.sleeps == [30.0, 30.0]  # bounded polling at the ARM cadence, through the injected sleep
    production = count(pg_cluster.admin_url("medicapp"), "consultations")
    assert f"public.consultations" in text and f"{RESTORED_CONSULTATIONS:>10} {production:>10}" in text
    assert "Runbook (nothing was switched over" in text and f"host={HOST}" in text
    assert "DELETE" not in h.arm.methods()
    (entity,) = h.incidents()
    record = load(h.journal(), entity["RowKey"])
    assert record.state == "ready" and record.by == "Dr. On-Call"
    # fewer consultations than production beyond COUNT_DROP_THRESHOLD_PERCENT (3 here): a warning, still exit 0
    assert record.outcome == "warn"
    assert f"shortfall above 3% vs production: public.consultations {RESTORED_CONSULTATIONS}/" in record.summary
    assert record.restore_point == "2026-11-26T13:50:00Z" and record.target_server == TARGET
    assert record.ready_at == "2026-11-26T14:34:00Z" and record.time_to_ready_minutes == 34.0
    v = record.verification
    assert v["checks"]["database.connectivity"]["status"] == "pass"
    assert v["counts"]["public.consultations"]["restored"] == RESTORED_CONSULTATIONS
    assert v["counts"]["public.consultations"]["production"] == production


def test_interrupt_then_resume_with_status(env, monkeypatch, restored_cluster):
    h = Harness(env, Arm(create_status=["InProgress", "InProgress", "Succeeded"]), monkeypatch)
    h.interrupt_on_sleep = True  # Ctrl-C while waiting for Azure
    code, text = h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "On-call")
    (entity,) = h.incidents()
    incident_id = entity["RowKey"]
    assert code == 130 and f"Resume watching: python -m checks restore status {incident_id}" in text
    kept = load(h.journal(), incident_id)
    assert kept.state == "provisioning" and kept.create_token and "interrupted" in kept.events[-1]

    h.interrupt_on_sleep = False
    code, text = h.run("status", incident_id)
    assert code == 0, text
    assert f"Incident {incident_id} (postgres): READY (warn)" in text
    assert load(h.journal(), incident_id).time_to_ready_minutes == 34.0
    code, text = h.run("status")  # the latest incidents, no Azure call
    assert code == 0 and incident_id in text


def test_wait_limit_stops_watching_exit_3(env, monkeypatch):
    h = Harness(env, Arm(create_status=["InProgress"]), monkeypatch, minutes_per_sleep=1)
    code, text = h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "On-call", "--wait-minutes", "3")
    assert code == 3 and "Still in progress after 3 min" in text and len(h.sleeps) == 3
    assert load(h.journal(), h.incidents()[0]["RowKey"]).state == "provisioning"


def test_status_of_unknown_incident_is_a_usage_error(env, monkeypatch, capsys):
    h = Harness(env, Arm(), monkeypatch)
    assert h.run("status", "20261126T140000Z-ffffff")[0] == 2
    assert "not found in the journal" in capsys.readouterr().err


# --- the drill's sweeper and cleanup never delete an incident server -------------------------------------------
def test_sweeper_and_drill_cleanup_never_delete_an_incident_server(env):
    incident = derive(source_body(), "name", TARGET)
    # even if it (wrongly) carried drill tags with an expiry long past, purpose=incident-restore wins
    incident["tags"] = {"created-by": "medicapp-backup-verifier", "purpose": "incident-restore",
                        "drill-id": "20261001T060000Z-aaaaaa", "expires-at": "2026-10-01T12:00:00Z"}
    t = CannedTransport()
    t.json("GET", rf"/resourceGroups/{DRG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?",
           {"value": [incident, source_body()]})
    t.json("GET", server_url(TARGET, DRG), incident)
    settings = Settings.from_env(dict(env, RESTORE_DRILL_ENABLED="true"))
    ctx = RunContext(settings=settings, clock=Clock(T0), credential=StaticCredential(), azure_kwargs=sdk_kwargs(t))
    assert drill_mod.sweep(ctx) == []
    from checks.connect.azure import postgres_client
    with pytest.raises(DrillGuardError, match="does not carry"):
        begin_guarded_delete(postgres_client(ctx), DRG, TARGET, SOURCE, drill_group=DRG)
    assert "DELETE" not in [r.method for r in t.requests]


# --- HTTP: plan only --------------------------------------------------------------------------------------------
def test_http_restore_plan_same_validation_json_and_never_writes(env, env_patch, monkeypatch):
    import azure.functions as func

    monkeypatch.setattr(function_app.app, "functions_bindings", {})  # get_functions() from a clean slate
    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    binding = json.loads(functions["restore_plan"].get_function_json())["bindings"][0]
    # behind Entra (App Service Authentication), no function key; the handler checks Verifier.Restore
    assert binding["route"] == "restore/plan" and binding["methods"] == ["POST"] and binding["authLevel"] == "ANONYMOUS"
    handler = functions["restore_plan"].get_user_function()
    h = Harness(env, Arm(target_get=[not_found]), monkeypatch)
    env_patch(env)

    def post(body) -> tuple[int, dict]:
        resp = handler(func.HttpRequest(method="POST", url="/api/restore/plan", body=json.dumps(body).encode(),
                                        headers={"content-type": "application/json"}))
        return resp.status_code, json.loads(resp.get_body())

    status, plan = post({"point": "latest"})
    assert status == 200 and plan["valid"] and plan["target_server"] == TARGET and plan["point"] == "2026-11-26T13:50:00Z"
    status, plan = post({"point": "2026-11-25T03:00:00", "name": SOURCE})
    assert status == 422 and not plan["valid"] and len(plan["reasons"]) == 2
    assert any("no time zone" in r for r in plan["reasons"]) and any("production server" in r for r in plan["reasons"])
    assert post({})[0] == 400 and "'point' is required" in post({})[1]["error"]
    assert post({"point": "latest", "apply": True})[0] == 400  # applying is not an HTTP action
    assert set(h.arm.methods()) == {"GET"} and h.incidents() == []
    env_patch({k: v for k, v in env.items() if k != "PG_SERVER_NAME"})
    status, body = post({"point": "latest"})
    assert status == 400 and "PG_SERVER_NAME not set" in body["error"]


def test_without_a_resource_group_for_the_new_server_the_plan_is_invalid(env, monkeypatch):
    env = {k: v for k, v in env.items() if k != "RESTORE_DRILL_RESOURCE_GROUP"}
    h = Harness(env, Arm(), monkeypatch)
    code, text = h.run("postgres", "--point", "latest")
    assert code == 2 and "--resource-group not given and RESTORE_DRILL_RESOURCE_GROUP not set" in text
    assert "PUT" not in h.arm.methods()


# --- in French (LANGUAGE=fr) ---------------------------------------------------------------------------------------
def test_plan_apply_and_runbook_in_french_then_the_record_in_english(env, monkeypatch, restored_cluster):
    h = Harness(dict(env, LANGUAGE="fr"), Arm(create_status=["InProgress", "Succeeded"]), monkeypatch)
    code, text = h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "Astreinte")
    assert code == 0, text
    assert "Plan (VALIDE) : restauration à un instant donné de medicapp-db vers un NOUVEAU serveur" in text
    assert "  point de restauration 26 nov. 2026 13:50 UTC (saisi : 'latest') ; fenêtre" in text  # the French way
    assert f"  cible                 {TARGET} dans le groupe de ressources {DRG} : libre (aucun serveur de ce nom)" in text
    assert "accès public Enabled (hérité de la source ; vérifier les règles de pare-feu)" in text
    assert "écoulé  " in text and "vérification : avertissement — " in text  # the status as a word
    assert f"écart supérieur à 3 % par rapport à la production : public.consultations {RESTORED_CONSULTATIONS}/" in text
    assert "Marche à suivre (aucune bascule n'a été faite ; la production n'est pas touchée) :" in text
    assert f"supprimer {TARGET} à la main une fois terminé." in text
    for english in ("Runbook", "Plan (VALID)", "elapsed", "shortfall above", "requested by"):
        assert english not in text, english
    # the record keeps language-neutral facts: `restore status` renders it in either language
    (entity,) = h.incidents()
    h.env = env  # English
    code, english = h.run("status", entity["RowKey"])
    assert "verification warn: restored" in english and "requested by Astreinte" in english
    assert "shortfall above 3% vs production" in english
    h.env = dict(env, LANGUAGE="fr")
    code, french = h.run("status", entity["RowKey"])
    assert "demandé par Astreinte" in french and "écart supérieur à 3 % par rapport à la production" in french
    assert "demandée par Astreinte" in french  # the first event, from its stored message id


def test_invalid_plan_reasons_in_french(env, monkeypatch):
    h = Harness(dict(env, LANGUAGE="fr"), Arm(target_get=[not_found]), monkeypatch)
    code, text = h.run("postgres", "--point", "2026-11-26T03:00:00", "--name", SOURCE)
    assert code == 2 and "Plan (INVALIDE)" in text
    assert "✗ --point '2026-11-26T03:00:00' n'a pas de fuseau horaire : ajouter Z (UTC) ou un décalage" in text
    assert f"✗ --name : {SOURCE} est le serveur de production lui-même" in text


# --- a customer-managed-key source (issue 28 item 4) --------------------------------------------------------------
ASSIGN = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
CMK = arm_example("postgresql_ServersUpdateWithDataEncryptionEnabled.json")["parameters"]["parameters"]


def test_plan_of_a_cmk_source_names_assign_on_each_identity_and_apply_sends_identity_and_key(env, monkeypatch):
    body = derive(derive(source_body(), "identity", CMK["identity"]), "properties.dataEncryption",
                  CMK["properties"]["dataEncryption"])
    identities = list(CMK["identity"]["userAssignedIdentities"])
    arm = Arm(create_status=["Failed"], target_get=[not_found])
    arm.t.routes[0].responses = [Canned(200, body)]
    h = Harness(env, arm, monkeypatch)
    code, text = h.run("postgres", "--point", "latest", "--json")
    plan = json.loads(text)
    assert code == 0 and plan["valid"], text
    assert plan["rights"] == [{"action": ASSIGN, "scope": i} for i in identities]
    assert "not asked of Azure" in plan["not_checked"]["rights"]  # named, never claimed as held
    code, text = h.run("postgres", "--point", "latest")
    assert code == 0 and all(f"{ASSIGN} on {i}" in text for i in identities), text
    assert "customer-managed key" in text and "not checked: whether you hold it is not asked of Azure" in text
    assert set(h.arm.methods()) == {"GET"}
    # applying: the restore request carries the source's identities and key, as the drill's does
    code, text = h.run("postgres", "--point", "latest", "--apply", "--yes", "--by", "On-call")
    put = h.arm.put_body()
    assert put["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {i: {} for i in identities}}
    assert put["properties"]["dataEncryption"] == CMK["properties"]["dataEncryption"]


def test_plan_without_azure_says_the_rights_were_not_checked(env, monkeypatch):
    denied = Canned(403, arm_error_body("AuthorizationFailed", "no access"))
    arm = Arm()
    arm.t.routes[0].responses = [denied]
    h = Harness(env, arm, monkeypatch)
    code, text = h.run("postgres", "--point", "latest", "--json")
    plan = json.loads(text)
    assert code == 2 and plan["rights"] == []
    assert plan["not_checked"]["rights"] == "the source server could not be read (see below)"
    code, text = h.run("postgres", "--point", "latest")
    assert "rights          not checked: the source server could not be read (see below)" in text, text
    # a source without a customer-managed key needs nothing more, and the plan says so
    h = Harness(env, Arm(target_get=[not_found]), monkeypatch)
    code, text = h.run("postgres", "--point", "latest", "--json")
    assert json.loads(text)["rights"] == [] and "rights" not in json.loads(text)["not_checked"]
    assert "nothing beyond creating the server (no customer-managed key)" in h.run("postgres", "--point", "latest")[1]
