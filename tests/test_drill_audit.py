"""The drill record an auditor accepts (issue 30 item 3): who started it, the backup used, RTO and RPO scored
against RTO_TARGET_MINUTES / RPO_TARGET_SECONDS, the access-parity check before any data is read (BSI C5
OPS-08) and the proof of the drill server's disposal.

Pure rules first (two server records in ARM's shape, from the vendored examples), then the whole drill on the
local stack as tests/test_drill.py runs it (real PostgreSQL clusters, the journal in Azurite, canned ARM).
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from azure_fakes import Canned, arm_example, arm_fixture, derive
from checks.drill import restore_drill as drill_mod
from checks.drill.objectives import score_objectives
from checks.drill.parity import access_of, evaluate_parity
from checks.drill.records import read_drill
from checks.drill.state import CLEANING_UP, FAILED, SUCCEEDED, Drill
from checks.drill.verify import DrillFacts, evaluate_drill
from checks.drill_face import describe
from checks.engine.config import ConfigError, Settings
from checks.engine.i18n import language
from checks.journal.entities import EntityError
from checks.report.pages import drill_page
from test_drill import (DRILL_RG, PRIVATE_NETWORK, SUB, T0, TARGET, Arm, Clock, drill_run, env, make,  # noqa: F401
                        server_url, source_body)

CMK = arm_example("postgresql_ServersUpdateWithDataEncryptionEnabled.json")["parameters"]["parameters"]
KEY = CMK["properties"]["dataEncryption"]["primaryKeyURI"]
OPEN_TO_ALL = {"name": "AllowAll", "properties": {"startIpAddress": "0.0.0.0", "endIpAddress": "255.255.255.255"}}


def production() -> dict:
    """Production as deployed: the vendored server, VNet-integrated."""
    return derive(arm_fixture("postgresql_ServersGet.json"), "properties.network", PRIVATE_NETWORK)


def with_(body: dict, path: str, value) -> dict:
    return derive(body, path, value)


def rules_of(result: dict) -> list[tuple[str, str, str]]:
    return [(f["field"], f["severity"], f["rule"]) for f in result["findings"]]


# --- access parity: pure -------------------------------------------------------------------------------
def test_parity_identical_servers_pass_without_findings():
    result = evaluate_parity(production(), production())
    assert result["status"] == "pass" and result["findings"] == []
    assert "firewallRules" in result["compared"] and "authConfig.passwordAuth" in result["compared"]


def test_parity_public_drill_server_of_a_private_production_fails():
    public = arm_fixture("postgresql_ServersGet.json")  # the vendored example: public network access
    result = evaluate_parity(production(), dict(public, firewallRules=[OPEN_TO_ALL]))
    assert result["status"] == "fail"
    assert ("network.mode", "fail", "public_copy") in rules_of(result)
    assert ("network.publicNetworkAccess", "fail", "wider_access") in rules_of(result)
    assert ("network.delegatedSubnetResourceId", "warn", "not_reported") in rules_of(result)
    extra = next(f for f in result["findings"] if f["field"] == "firewallRules")
    assert (extra["severity"], extra["rule"], extra["drill"]) == ("fail", "extra_rule", "0.0.0.0-255.255.255.255")


def test_parity_firewall_rules_compared_as_open_ranges():
    public = arm_fixture("postgresql_ServersGet.json")
    office = {"name": "office", "properties": {"startIpAddress": "203.0.113.1", "endIpAddress": "203.0.113.9"}}
    same = evaluate_parity(dict(public, firewallRules=[office]), dict(public, firewallRules=[dict(office, name="x")]))
    assert same["status"] == "pass"  # the same range under another name: the same access
    wider = evaluate_parity(dict(public, firewallRules=[office]), dict(public, firewallRules=[office, OPEN_TO_ALL]))
    assert rules_of(wider) == [("firewallRules", "fail", "extra_rule")]
    fewer = evaluate_parity(dict(public, firewallRules=[office]), dict(public, firewallRules=[]))
    assert rules_of(fewer) == [("firewallRules", "warn", "missing_rule")]
    unlisted = evaluate_parity(dict(public, firewallRules=[office]), public)
    assert rules_of(unlisted) == [("firewallRules", "warn", "not_reported")]
    # public access off: rules are inert, whatever is listed
    assert evaluate_parity(production(), dict(production(), firewallRules=[OPEN_TO_ALL]))["status"] == "pass"


def test_parity_vnet_against_private_endpoint_warns():
    endpoint = with_(production(), "properties.network", {"publicNetworkAccess": "Disabled"})
    result = evaluate_parity(production(), endpoint)
    assert result["status"] == "warn"
    assert ("network.mode", "warn", "different") in rules_of(result)


def test_parity_customer_managed_key():
    prod = with_(production(), "properties.dataEncryption", CMK["properties"]["dataEncryption"])
    downgrade = evaluate_parity(prod, production())  # the copy under the platform's key
    assert rules_of(downgrade) == [("dataEncryption.type", "fail", "key_downgrade")]
    other_version = with_(prod, "properties.dataEncryption.primaryKeyURI", KEY.rsplit("/", 1)[0] + "/" + "z" * 32)
    assert rules_of(evaluate_parity(prod, other_version)) == [("dataEncryption.primaryKeyURI", "warn", "different")]
    other_key = with_(prod, "properties.dataEncryption.primaryKeyURI", KEY.replace("examplekey", "otherkey"))
    assert rules_of(evaluate_parity(prod, other_key)) == [("dataEncryption.primaryKeyURI", "fail", "other_key")]
    stricter = evaluate_parity(production(), prod)
    assert rules_of(stricter) == [("dataEncryption.type", "warn", "narrower")]


def test_parity_entra_only_authentication():
    entra_only = with_(production(), "properties.authConfig", {"activeDirectoryAuth": "Enabled", "passwordAuth": "Disabled",
                                                               "tenantId": "tttttttt-0000-0000-0000-000000000000"})
    passwords = with_(entra_only, "properties.authConfig.passwordAuth", "Enabled")
    assert rules_of(evaluate_parity(entra_only, passwords)) == [("authConfig.passwordAuth", "fail", "password_login")]
    assert rules_of(evaluate_parity(passwords, entra_only)) == [("authConfig.passwordAuth", "warn", "narrower")]
    tenant = with_(entra_only, "properties.authConfig.tenantId", "uuuuuuuu-0000-0000-0000-000000000000")
    assert rules_of(evaluate_parity(entra_only, tenant)) == [("authConfig.tenantId", "fail", "other_tenant")]


def test_parity_reads_the_sdk_model_as_its_arm_dict_and_survives_odd_shapes():
    from azure.mgmt.postgresqlflexibleservers.models import Server
    model = access_of(Server(production()))
    assert model["properties"]["network"] == PRIVATE_NETWORK and evaluate_parity(production(), model)["status"] == "pass"
    for odd in ({}, {"properties": "x"}, {"properties": {"network": ["x"], "authConfig": None}}, None):
        result = evaluate_parity(production(), odd)
        assert result["status"] == "warn" and all(f["rule"] == "not_reported" for f in result["findings"])


# --- RTO and RPO against their targets: pure ---------------------------------------------------------------
def settings(**env) -> Settings:
    return Settings.from_env(env)


def test_objectives_scored_against_their_targets():
    problems, warnings, record = score_objectives(34.0, {"rpo_seconds": 90.0}, settings())
    assert (problems, warnings) == ([], []) and record["rto"]["met"] is None and record["rpo"]["target_seconds"] is None
    s = settings(RTO_TARGET_MINUTES="30", RPO_TARGET_SECONDS="60", RPO_PROBE="public.visits.created_at")
    problems, _, record = score_objectives(34.0, {"rpo_seconds": 90.0}, s)
    assert problems == ["RTO 34 min exceeds RTO_TARGET_MINUTES (30 min)", "RPO 90 s exceeds RPO_TARGET_SECONDS (60 s)"]
    assert record == {"rto": {"measured_minutes": 34.0, "target_minutes": 30, "met": False},
                      "rpo": {"measured_seconds": 90.0, "target_seconds": 60, "met": False}}
    problems, warnings, record = score_objectives(30.0, {"rpo_seconds": None}, s)
    assert problems == [] and record["rto"]["met"] is True
    assert warnings == ["RPO not measured: not scored against RPO_TARGET_SECONDS (60 s)"]


def test_rto_breach_fails_the_drill_with_reason_and_remediation():
    facts = DrillFacts("srv", restored_checks={"database.connectivity": ("pass", "ok")}, restored_revision="r",
                       production_revision="r", rto_minutes=45.0, restore_point="2026-11-01T05:50:00Z",
                       restored_counts={"public.patients": 3}, production_counts={"public.patients": 3})
    assert evaluate_drill(facts, settings()).status.value == "pass"
    outcome = evaluate_drill(facts, settings(RTO_TARGET_MINUTES="30"))
    assert outcome.status.value == "fail" and "RTO 45 min exceeds RTO_TARGET_MINUTES (30 min)" in outcome.summary
    assert "RTO_TARGET_MINUTES" in outcome.remediation
    assert outcome.details["verification"]["objectives"]["rto"] == {"measured_minutes": 45.0, "target_minutes": 30,
                                                                     "met": False}


def test_a_parity_difference_that_does_not_fail_warns_the_drill():
    facts = DrillFacts("srv", restored_checks={"database.connectivity": ("pass", "ok")}, restored_revision="r",
                       production_revision="r", rto_minutes=5.0, restored_counts={"public.patients": 3},
                       production_counts={"public.patients": 3}, parity_warnings=2)
    outcome = evaluate_drill(facts, settings())
    assert outcome.status.value == "warn"
    assert "access parity: 2 differences from production that do not fail the drill" in outcome.summary


@pytest.mark.parametrize("variables,variable", [
    ({"RTO_TARGET_MINUTES": "0"}, "RTO_TARGET_MINUTES"),
    ({"RTO_TARGET_MINUTES": "1e3"}, "RTO_TARGET_MINUTES"),
    ({"RTO_TARGET_MINUTES": "99999999999999999999"}, "RTO_TARGET_MINUTES"),
    ({"RPO_TARGET_SECONDS": "-1", "RPO_PROBE": "public.visits.created_at"}, "RPO_TARGET_SECONDS"),
    ({"RPO_TARGET_SECONDS": "60\x00"}, "RPO_TARGET_SECONDS"),
    ({"RPO_TARGET_SECONDS": "60"}, "RPO_TARGET_SECONDS"),  # nothing measures the RPO without RPO_PROBE
])
def test_objective_targets_are_validated(variables, variable):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(variables)
    assert list(err.value.problems) == [variable]


def test_objective_targets_may_differ_per_target_and_are_validated_there_too():
    from checks.engine.fleet import targets_of
    entry = {"name": "a", "postgres": {"server": "srv-a", "resource_group": "rg-a"},
             "settings": {"RTO_TARGET_MINUTES": "30"}}
    base = Settings.from_env({"TARGETS": json.dumps([entry]), "RTO_TARGET_MINUTES": "60"})
    assert [t.settings_for(base).rto_target_minutes for t in targets_of(base)] == [30]
    entry["settings"] = {"RPO_TARGET_SECONDS": "60"}
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"TARGETS": json.dumps([entry])})
    assert "target a: RPO_TARGET_SECONDS: expected RPO_PROBE" in err.value.problems["TARGETS"]


# --- old and crafted records ---------------------------------------------------------------------------------
def old_entity() -> dict:
    """A drill as recorded before the auditor's fields existed."""
    drill = Drill(drill_id="20261001T060000Z-aaaaaa", state=SUCCEEDED, trigger="timer", source_server="medicapp-db",
                  resource_group=DRILL_RG, target_server=TARGET, requested_at="2026-10-01T06:00:00Z",
                  restore_point="2026-10-01T05:50:00Z", restore_point_mode="latest", expires_at="2026-10-01T12:00:00Z",
                  created=True, outcome="pass", cleanup="deleted", verification={"status": "pass"})
    entity = drill.to_entity()
    for column in ("RequestedByUser", "RestoreWindow", "ProductionAccess", "Parity", "Disposal"):
        entity.pop(column)
    return entity


def test_an_old_drill_record_reads_and_its_page_says_not_recorded():
    drill = read_drill(old_entity())
    assert drill.parity == {} and drill.disposal == {} and drill.production_access == {}
    page = drill_page(drill)
    for text in ("Proof of disposal: not recorded.", "Access parity: not recorded.",
                 "RTO and RPO targets: not recorded", "a timer of the verifier (drill cadence RESTORE_DRILL_EVERY_MONTHS)"):
        assert text in page
    assert drill_mod.drill_run(drill, T0, settings()).results[0].details["disposal"] is None


@pytest.mark.parametrize("column,value", [
    ("Parity", json.dumps({"status": 5, "findings": "x"})),
    ("Parity", json.dumps({"status": "fail", "findings": [None, 3, {"field": {"a": 1}, "rule": [1], "severity": "x"}]})),
    ("Disposal", json.dumps({"status": "proven", "final_get_status": "404", "operation_id": {"a": 1},
                             "completed_at": "year 9999", "pending_reason": ["x"]})),
    ("Verification", json.dumps({"objectives": {"rto": "fast", "rpo": {"measured_seconds": True, "met": "yes"}}})),
    ("RestoreWindow", json.dumps({"earliest": ["x"], "latest": "<script>"})),
    ("RequestedByUser", "eve\\\"<b>"),
])
def test_a_crafted_record_renders_what_reads_and_not_recorded_for_the_rest(column, value):
    entity = dict(old_entity(), Trigger="cli", **{column: value})
    page = drill_page(read_drill(entity))
    assert "<script>" not in page and "<b>" not in page  # escaped like every journal value


@pytest.mark.parametrize("column,value", [("Parity", "not json"), ("Disposal", "[1, 2]"), ("ProductionAccess", "7")])
def test_a_record_whose_new_columns_are_not_json_objects_is_unreadable_not_a_crash(column, value):
    with pytest.raises(EntityError, match=column):
        read_drill(dict(old_entity(), **{column: value}))


# --- the whole drill on the local stack ---------------------------------------------------------------------
def finished(env, arm: Arm, clock: Clock, step: int = 10, **extra):
    ctx, journal = make(env, arm, clock, **extra)
    drill = drill_mod.start_drill(ctx, journal, trigger="cli", who={"user": "alice"})
    for _ in range(6):
        if drill.state in (SUCCEEDED, FAILED):
            break
        clock.advance(minutes=step)
        (drill,) = drill_mod.advance_all(ctx, journal)
    return drill, journal


def test_drill_records_who_backup_targets_parity_and_proven_disposal(env, restored_cluster):
    arm = Arm(create_status=["Succeeded"])

    def delete_status(status: str, end: str | None = None):
        def answer(request):
            arm.gone = arm.gone or status == "Succeeded"
            return Canned(200, {"name": "op", "status": status, "startTime": "2026-11-01T07:00:01Z",
                                **({"endTime": end} if end else {})})
        return answer
    arm.t.routes[5].responses = [delete_status("InProgress"), delete_status("Succeeded", "2026-11-01T07:05:30Z")]
    drill, journal = finished(env, arm, Clock(T0 + timedelta(hours=1)), RTO_TARGET_MINUTES="60")
    assert drill.state == SUCCEEDED and drill.cleanup == "deleted"
    result = drill_run(journal, drill.drill_id)
    d = result.details
    assert result.status.value == "pass", result.summary
    assert d["started_by"] == {"trigger": "cli", "object_id": None, "name": None, "user": "alice"}
    assert d["backup"] == {"restore_point": "2026-11-01T06:50:00Z", "chosen": "latest",
                           "window": {"earliest": "2026-10-25T06:00:00Z", "latest": "2026-11-01T06:50:00Z"}}
    assert d["objectives"]["rto"] == {"measured_minutes": 0.0, "target_minutes": 60, "met": True}
    assert d["parity"]["status"] == "pass" and d["parity"]["findings"] == []
    proof = d["disposal"]
    assert proof["status"] == "proven" and proof["by"] == "drill"
    assert proof["operation_id"] == "cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa"
    assert proof["operation_url"].endswith("/azureAsyncOperation/cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa")
    assert proof["delete_requested_at"] == "2026-11-01T07:00:00Z"
    assert proof["completed_at"] == "2026-11-01T07:05:30Z" and proof["completed_at_from"] == "azure"
    assert proof["final_get_status"] == 404 and proof["final_get_at"] >= proof["completed_at"]
    # the last request for the server: its GET, answered 404 after the delete operation succeeded
    target_requests = [(r.method, r.url) for r in arm.t.requests if f"flexibleServers/{TARGET}?" in r.url]
    assert target_requests[-1][0] == "GET" and target_requests[-2][0] == "DELETE"
    page = drill_page(drill_mod.load_drills(journal)[0])
    for text in ("the command line, user alice", "cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa", "404 Not Found at",
                 "60 min", "No difference: network"):
        assert text in page
    text = describe(drill_mod.load_drills(journal)[0])  # python -m checks drill status
    assert "access parity with production: pass; failing: -" in text
    assert "disposal proven: delete operation cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa, completed 2026-11-01T07:05:30Z" in text
    # the month's report (markdown, HTML, JSON): the drill against its targets, parity and disposal in one line
    from checks.report.checklist import month_report
    from checks.report.render import render
    report = month_report(journal, "2026-11")
    line = "Against targets: RTO met, RPO not scored; access parity with production: no difference; proof of " \
           "disposal: proven"
    assert line in render(report, "md") and line in render(report, "html")
    assert json.loads(render(report, "json"))["drill"]["disposal"] == "proven"
    assert "preuve de suppression : prouvée" in render(report, "md", lang="fr")
    with language("fr"):
        french = drill_page(drill_mod.load_drills(journal)[0])
        assert "suppression prouvée : opération de suppression cccccccc" in describe(drill_mod.load_drills(journal)[0])
    assert "Preuve de suppression" in french and "404 Not Found" not in french


def test_drill_missing_its_rto_target_fails_with_reason_and_remediation(env, restored_cluster):
    arm = Arm(create_status=["InProgress", "Succeeded"], delete_status=["Succeeded"])
    drill, journal = finished(env, arm, Clock(T0), 40, RTO_TARGET_MINUTES="30")  # ready at 06:34: RTO 34 min
    result = drill_run(journal, drill.drill_id)
    assert drill.state == FAILED and result.status.value == "fail"
    assert "RTO 34 min exceeds RTO_TARGET_MINUTES (30 min)" in result.summary
    assert "RTO_TARGET_MINUTES" in result.remediation
    assert result.details["objectives"]["rto"]["met"] is False and result.details["disposal"]["status"] == "proven"


def test_public_drill_server_of_private_production_fails_before_any_data_is_read(env):
    """No restored cluster at all: the drill must never connect to the copy."""
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])
    def restored_public(request):
        return Canned(200, derive(arm.restored(request).body, "properties.network", {"publicNetworkAccess": "Enabled"}))
    arm.t.routes[1].responses = [arm.unless_gone(r) for r in (Arm.not_found, Arm.not_found, restored_public)]
    arm.t.json("GET", rf"flexibleServers/{TARGET}/firewallRules\?", {"value": [OPEN_TO_ALL]})
    drill, journal = finished(env, arm, Clock(T0 + timedelta(hours=1)), DATABASE_URL="postgresql://nobody@127.0.0.9:1/x")
    assert drill.state == FAILED and drill.verification == {}
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == "fail" and "no data was read" in result.summary
    assert "access rules" in result.remediation
    assert result.details["verification"]["status"] == "not run"
    found = {(f["field"], f["rule"]) for f in result.details["parity"]["findings"]}
    assert {("network.mode", "public_copy"), ("firewallRules", "extra_rule")} <= found
    assert result.details["disposal"]["status"] == "proven"  # and the copy is deleted
    page = drill_page(drill_mod.load_drills(journal)[0])
    assert "the drill server is reachable from the internet, production is not" in page


def test_a_delete_that_never_reaches_404_leaves_the_disposal_pending(env, restored_cluster):
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"], gone_after_delete=False)
    clock = Clock(T0 + timedelta(hours=1))
    ctx, journal = make(env, arm, clock)
    drill = drill_mod.start_drill(ctx, journal, trigger="timer")
    assert drill.state == CLEANING_UP and drill.cleanup.startswith("disposal pending")
    assert drill.disposal["status"] == "pending" and drill.disposal["pending_reason"] == "still_exists"
    assert drill.disposal["operation_id"] == "cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa"
    deletes = len([r for r in arm.t.requests if r.method == "DELETE"])
    clock.advance(hours=2)
    (drill,) = drill_mod.advance_all(ctx, journal)  # GETs again, never deletes twice
    assert drill.state == CLEANING_UP and len([r for r in arm.t.requests if r.method == "DELETE"]) == deletes
    clock.advance(hours=30)  # past RESTORE_DRILL_MAX_HOURS and the grace: given up, still pending
    (drill,) = drill_mod.advance_all(ctx, journal)
    assert drill.state == SUCCEEDED and drill.cleanup.startswith("disposal pending")
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == "warn" and "disposal pending" in result.summary
    assert result.details["disposal"]["status"] == "pending" and "final_get_status" not in result.details["disposal"]
    from checks.report.checklist import month_report
    from checks.report.render import render
    assert "proof of disposal: DISPOSAL PENDING" in render(month_report(journal, "2026-11"), "md")
    page = drill_page(drill_mod.load_drills(journal)[0])
    assert "DISPOSAL PENDING" in page and "the delete completed but the server still answers its GET" in page
    assert "not answered 404 yet" in page
    assert "DISPOSAL PENDING: delete operation cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa; the delete completed but the " \
           "server still answers its GET" in describe(drill_mod.load_drills(journal)[0])


def test_the_sweepers_deletion_of_a_kept_server_records_the_same_proof(env, restored_cluster):
    from checks.drill import schedule
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"], gone_after_delete=False)
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock, RESTORE_DRILL_KEEP="true", RESTORE_DRILL_KEEP_HOURS="24")
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.cleanup.startswith("kept until") and drill.disposal == {}
    assert "Not yet: the server is kept until its expiry" in drill_page(drill)
    listed = {"value": [arm.restored().body]}
    arm.t.add("GET", rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?",
              lambda request: Canned(200, {"value": []} if arm.gone else listed))
    clock.advance(hours=31)  # expired: the sweeper deletes it; the server still answers its GET
    schedule.timer_tick(ctx, journal)
    (drill,) = drill_mod.load_drills(journal)
    assert drill.disposal["by"] == "sweeper" and drill.disposal["status"] == "pending"
    assert drill.disposal["operation_id"] == "cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa"
    assert drill.disposal["pending_reason"] == "still_exists" and drill.cleanup.startswith("disposal pending")
    arm.gone = True  # gone now: no longer listed; the next tick's GET answers 404
    clock.advance(minutes=10)
    schedule.timer_tick(ctx, journal)
    (drill,) = drill_mod.load_drills(journal)
    assert drill.disposal["status"] == "proven" and drill.disposal["final_get_status"] == 404
    assert drill.disposal["operation_id"] == "cccccccc-cccc-aaaa-aaaa-aaaaaaaaaaaa" and "pending_reason" not in drill.disposal
    assert drill.cleanup == "deleted by the sweeper after expiry"
    page = drill_page(drill)
    assert "the sweeper (after the kept server" in page and "404 Not Found at" in page


def test_a_drill_server_in_another_subnet_is_verified_and_warns(env, restored_cluster):
    """Both private, another delegated subnet: a finding that warns; the verification still runs."""
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])
    other = dict(PRIVATE_NETWORK, delegatedSubnetResourceId=PRIVATE_NETWORK["delegatedSubnetResourceId"] + "-drills")

    def restored_elsewhere(request):
        return Canned(200, derive(arm.restored(request).body, "properties.network", other))
    arm.t.routes[1].responses = [arm.unless_gone(r) for r in (Arm.not_found, Arm.not_found, restored_elsewhere)]
    drill, journal = finished(env, arm, Clock(T0 + timedelta(hours=1)))
    result = drill_run(journal, drill.drill_id)
    assert drill.state == SUCCEEDED and result.details["verification"]["status"] == "warn"
    assert result.status.value == "warn" and "access parity: 1 difference from production" in result.summary
    (finding,) = result.details["parity"]["findings"]
    assert (finding["field"], finding["severity"], finding["rule"]) == ("network.delegatedSubnetResourceId", "warn",
                                                                       "different")
    assert finding["drill"].endswith("snet-pg-drills")
    assert "differs from production" in drill_page(drill_mod.load_drills(journal)[0])


def test_a_drill_started_before_production_access_was_recorded_is_not_checked_and_still_verified(env, restored_cluster):
    arm = Arm(create_status=["InProgress", "Succeeded"], delete_status=["Succeeded"])
    clock = Clock(T0)
    ctx, journal = make(env, arm, clock)
    drill = drill_mod.start_drill(ctx, journal, trigger="timer")
    entity = drill_mod.load_drills(journal)[0].to_entity()
    for column in ("ProductionAccess", "RestoreWindow"):
        entity[column] = "{}"  # as the previous version had it: nothing (an upsert merges: a column stays)
    journal.upsert(entity)
    clock.advance(minutes=40)
    (drill,) = drill_mod.advance_all(ctx, journal)
    assert drill.state == SUCCEEDED and drill.parity == {"status": "not checked", "findings": []}
    result = drill_run(journal, drill.drill_id)
    assert result.status.value == "pass" and result.details["disposal"]["status"] == "proven"
    assert result.details["backup"]["window"] is None
    assert "Not checked: production" in drill_page(drill)


@pytest.mark.parametrize("variables,expected", [
    ({"LOGNAME": "alice"}, "alice"),
    ({"USER": "eve\x1b[31m\x00\n" + "x" * 100}, "eve[31m" + "x" * 57),
    ({"USERNAME": "bob", "LOGNAME": ""}, "bob"),
])
def test_the_cli_user_is_printable_and_bounded(variables, expected):
    from checks.drill_face import cli_user
    assert cli_user(variables) == expected


def test_a_cli_start_records_the_login_name(env, monkeypatch):
    import io
    from checks import cli
    from checks.engine.context import RunContext
    from azure_fakes import StaticCredential, sdk_kwargs
    arm = Arm(create_status=["InProgress"])
    monkeypatch.setattr(drill_mod, "make_context", lambda s: RunContext(
        settings=s, clock=Clock(T0), credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t)))
    out = io.StringIO()
    assert cli.main(["drill", "start", "--json"], out=out, env=dict(env, LOGNAME="carol")) == 0
    (started,) = json.loads(out.getvalue())
    assert started["trigger"] == "cli" and started["requested_by_user"] == "carol"
    assert started["production_access"]["properties"]["network"] == PRIVATE_NETWORK


def test_firewall_rules_that_cannot_be_listed_are_not_reported_and_the_public_copy_still_fails(env):
    from azure_fakes import arm_error_body
    arm = Arm(create_status=["Succeeded"], delete_status=["Succeeded"])

    def restored_public(request):
        return Canned(200, derive(arm.restored(request).body, "properties.network", {"publicNetworkAccess": "Enabled"}))
    arm.t.routes[1].responses = [arm.unless_gone(r) for r in (Arm.not_found, Arm.not_found, restored_public)]
    arm.t.add("GET", rf"flexibleServers/{TARGET}/firewallRules\?",
              Canned(403, arm_error_body("AuthorizationFailed", "no firewallRules/read")))
    drill, journal = finished(env, arm, Clock(T0 + timedelta(hours=1)), DATABASE_URL="postgresql://nobody@127.0.0.9:1/x")
    assert drill.state == FAILED and drill.verification == {}  # not held up until RESTORE_DRILL_MAX_HOURS
    found = {(f["field"], f["severity"], f["rule"]) for f in drill_run(journal, drill.drill_id).details["parity"]["findings"]}
    assert ("network.mode", "fail", "public_copy") in found and ("firewallRules", "warn", "not_reported") in found
