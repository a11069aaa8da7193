"""A fleet run in one process (checks/fleet_run.py) on the real local PostgreSQL and Azurite: a
fleet of one is today's run, targets run side by side with their own lease and journal entities,
one target's failure never stops the others, and Entra tokens come from the run's credential."""
import json
import re
import threading
import uuid

import pytest

from azure_fakes import StaticCredential
from checks import fleet_run, service
from checks.connect.database import ENTRA_SCOPE
from checks.engine.config import Settings
from checks.engine.fleet import FleetTarget, targets_of
from checks.engine.model import Status
from checks.fleet_run import TargetOutcome, resolve_fleet, run_fleet
from checks.journal.lease import lease_target
from checks.journal.store import Journal
from checks.service import RunRequest, verify
from test_database_pg import scratch_db  # noqa: F401 (fixture)

DB_CHECKS = ("database.connectivity", "database.migration", "database.essential_counts")
VOLATILE = re.compile(r"\d+(\.\d+)? ?(ms|s)\b|\d{8}T\d{6}Z-[0-9a-f]{6}")  # durations and run ids


@pytest.fixture
def local_env(base_env, demo_db_url) -> dict[str, str]:
    return base_env | {"DATABASE_URL": demo_db_url, "ESSENTIAL_TABLES": "public.patients>=100",
                       "COUNT_DROP_THRESHOLD_PERCENT": "5"}


def comparable(run) -> list[tuple]:
    return [(r.check_id, r.status, VOLATILE.sub("…", r.summary)) for r in run.results]


def entities(journal: Journal, run) -> list[dict]:
    """The run's journal entities without what differs between two runs (ids, times, durations)."""
    volatile = {"RowKey", "RunId", "StartedAt", "FinishedAt", "DurationMs", "Timestamp", "etag", "Details",
                "Summary", "Messages", "CheckedAt", "Notes", "NoteFacts",
                "ChainedAt", "ChainMembers", "ChainHash"}  # the hash chain covers the ids and times above
    rows = journal.query("PartitionKey eq @pk and RunId eq @rid", {"pk": run.month, "rid": run.run_id})
    return sorted(({k: v for k, v in row.items() if k not in volatile} for row in rows),
                  key=lambda row: (row.get("Kind", ""), row.get("CheckId", "")))


def test_a_fleet_of_one_is_todays_run(local_env):
    # each in its own empty journal: the second run must not compare its counts with the first
    settings = Settings.from_env(local_env)
    fleet_settings = Settings.from_env(local_env | {"JOURNAL_TABLE": "F" + uuid.uuid4().hex[:20]})
    journal, fleet_journal = Journal.from_settings(settings), Journal.from_settings(fleet_settings)
    request = RunRequest(trigger="cli", checks=DB_CHECKS)
    today = verify(request, settings, journal)
    (only,) = targets_of(fleet_settings)
    fleet = run_fleet(request, fleet_settings, [only], fleet_journal, credential=StaticCredential())
    (outcome,) = fleet.outcomes
    assert outcome.name == "production" and outcome.error == "" and fleet.status is today.status is Status.PASS
    assert comparable(outcome.run) == comparable(today) and len(today.results) == 3
    assert outcome.run.target == today.target and outcome.run.journal_status == today.journal_status == "written"
    # the same lock blob as today's run: it hands over today's run id (not in the fleet's journal table)
    assert outcome.run.notes == [f"the previous run {today.run_id} never reached the journal: it was stopped "
                                 "(killed or crashed) before it could record its results"]
    assert entities(fleet_journal, outcome.run) == entities(journal, today)
    assert {e["TargetName"] for e in entities(journal, today)} == {"production"}
    # the same lock blob as before fleets existed
    assert lease_target(only.settings_for(settings)) == lease_target(settings) == "run-db-blob"


def test_two_targets_run_side_by_side_each_with_its_own_lease_and_journal_entities(local_env, scratch_db, monkeypatch):
    targets = [{"name": "site-a"}, {"name": "site-b", "postgres": {"database": scratch_db},
                                    "settings": {"ESSENTIAL_TABLES": "public.patients>=1000"}}]
    settings = Settings.from_env(local_env | {"TARGETS": json.dumps(targets)})
    journal = Journal.from_settings(settings)
    both_running, leases = threading.Barrier(2, timeout=20), []
    real_verify = fleet_run.verify

    def verify_in_step(request, target_settings, *args, **kwargs):
        leases.append(lease_target(target_settings))
        both_running.wait()  # proves the two targets run at the same time
        return real_verify(request, target_settings, *args, **kwargs)
    monkeypatch.setattr(fleet_run, "verify", verify_in_step)
    done: list[str] = []
    fleet = run_fleet(RunRequest(trigger="cli", checks=DB_CHECKS), settings, resolve_fleet(settings).targets,
                      journal, concurrency=2, credential=StaticCredential(), on_done=lambda o: done.append(o.name))
    a, b = fleet.outcomes
    assert sorted(done) == ["site-a", "site-b"] and sorted(leases) == ["run-site-a-db-blob", "run-site-b-db-blob"]
    assert a.run.status is Status.PASS and b.run.status is Status.FAIL  # b's own threshold
    assert b.run.results[0].details["database"] == scratch_db
    assert fleet.status is Status.FAIL and [o.name for o in fleet.worst_first()] == ["site-b", "site-a"]
    for outcome in (a, b):
        assert {e["TargetName"] for e in entities(journal, outcome.run)} == {outcome.name}
    assert fleet.counts() == {"pass": 1, "fail": 1}


def test_one_targets_failure_never_stops_the_others(local_env, monkeypatch):
    names = ["alpha", "beta", "gamma", "delta"]
    settings = Settings.from_env(local_env | {"TARGETS": json.dumps([{"name": n} for n in names])})
    real_verify = fleet_run.verify

    def sometimes_broken(request, target_settings, *args, **kwargs):
        if target_settings.target_name == "beta":
            raise RuntimeError("bug in one target\nsecond line")
        if target_settings.target_name == "gamma":
            raise service.RunInProgress("run-gamma-db-blob", "20261101T060000Z-abcdef")
        return real_verify(request, target_settings, *args, **kwargs)
    monkeypatch.setattr(fleet_run, "verify", sometimes_broken)
    fleet = run_fleet(RunRequest(trigger="cli", checks=("database.connectivity",)), settings,
                      settings.targets, None, concurrency=3, credential=StaticCredential())
    by_name = {o.name: o for o in fleet.outcomes}
    assert [o.name for o in fleet.outcomes] == names  # the targets' order
    assert by_name["alpha"].status is by_name["delta"].status is Status.PASS
    assert by_name["beta"].status is Status.ERROR and by_name["beta"].error == "RuntimeError: bug in one target"
    assert "already in progress" in by_name["gamma"].error and "20261101T060000Z-abcdef" in by_name["gamma"].error
    assert fleet.status is Status.ERROR and fleet.worst_first()[0].name in ("beta", "gamma")


def test_entra_tokens_for_every_targets_database_come_from_the_runs_credential(pg_cluster, scratch_db, base_env):
    token = "eyJ0eXAiOiJKV1Qi.Fleet-Entra-Sentinel-" + uuid.uuid4().hex
    role = "entra_fleet_" + uuid.uuid4().hex[:8]
    pg_cluster.execute(f"create role {role} login password '{token}'")
    targets = [{"name": "site-a"}, {"name": "site-b", "postgres": {"database": scratch_db}}]
    env = base_env | {"DATABASE_URL": f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/medicapp", "PG_AUTH": "entra",
                      "TARGETS": json.dumps(targets)}
    settings = Settings.from_env(env)
    credential = StaticCredential(token)
    fleet = run_fleet(RunRequest(trigger="cli", checks=("database.connectivity",), write_journal=False),
                      settings, settings.targets, None, credential=credential)
    assert [o.run.results[0].status for o in fleet.outcomes] == [Status.PASS, Status.PASS], \
        [o.run.results[0].summary for o in fleet.outcomes]
    assert [o.run.results[0].details["database"] for o in fleet.outcomes] == ["medicapp", scratch_db]
    assert credential.scopes == [(ENTRA_SCOPE,), (ENTRA_SCOPE,)]  # one token per target's session
    assert all(token not in json.dumps(o.run.to_dict(), default=str) for o in fleet.outcomes)
    assert "PGPASSWORD" not in env and ":" not in env["DATABASE_URL"].split("@")[0].split("//")[1]


def test_targets_win_over_discovery_with_a_note_and_bad_selection_stops_before_any_target(local_env):
    settings = Settings.from_env(local_env | {"TARGETS": '[{"name": "a"}]', "DISCOVER_TAG": "backup-verify"})
    fleet = resolve_fleet(settings)
    assert [t.name for t in fleet.targets] == ["a"] and fleet.source == "TARGETS"
    assert fleet.notes == ["TARGETS is set: it is used and DISCOVER_TAG=backup-verify is ignored"]
    assert resolve_fleet(Settings.from_env(local_env)).source == "TARGET_NAME"
    from checks.engine.registry import UnknownCheck
    with pytest.raises(UnknownCheck):
        run_fleet(RunRequest(trigger="cli", checks=("nope.*",)), settings, settings.targets, None,
                  credential=StaticCredential())
    with pytest.raises(ValueError, match="concurrency: expected 1 to 32"):
        run_fleet(RunRequest(trigger="cli"), settings, settings.targets, None, concurrency=0)


def test_an_outcome_without_a_run_is_an_error():
    assert TargetOutcome("x", error="boom").status is Status.ERROR
    assert FleetTarget(name="x").settings_for(Settings.from_env({})).target_name == "x"


def test_targets_replaying_the_shared_spool_at_once_write_each_spooled_run_once(tmp_path):
    from datetime import datetime, timezone
    from checks.engine.model import Run
    from checks.journal.spool import Spool

    spool = Spool(tmp_path / "spool")
    for i in range(3):
        spool.save(Run(run_id=f"20261101T06000{i}Z-abcde{i}", trigger="timer",
                       started_at=datetime(2026, 11, 1, 6, tzinfo=timezone.utc)))
    written, start = [], threading.Barrier(4, timeout=10)

    class SlowJournal:
        def write_run(self, run):
            written.append(run.run_id)
            threading.Event().wait(0.05)  # long enough for the other targets to reach the same files

    def replay():
        start.wait()
        return spool.replay(SlowJournal())
    threads = [threading.Thread(target=replay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(written) == [f"20261101T06000{i}Z-abcde{i}" for i in range(3)] and spool.pending() == []


def test_discovery_closes_the_resource_graph_client_of_the_context_it_made(local_env, monkeypatch):
    """resolve_fleet without a context makes one for the discovery and closes it (its client's HTTP session)."""
    from checks.connect import discovery
    settings = Settings.from_env(local_env | {"DISCOVER_TAG": "backup-verify",
                                              "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"})
    closed = []

    class Client:
        def close(self):
            closed.append(1)

    def discover(ctx):
        ctx.client("resource-graph", Client)
        return (FleetTarget("alpha"),)
    monkeypatch.setattr(discovery, "discover_targets", discover)
    assert [t.name for t in resolve_fleet(settings).targets] == ["alpha"] and closed == [1]
    monkeypatch.setattr(discovery, "discover_targets", lambda ctx: ctx.client("resource-graph", Client) and ())
    with pytest.raises(discovery.DiscoveryError, match="no PostgreSQL flexible server"):
        resolve_fleet(settings)
    assert closed == [1, 1]  # closed when discovery fails too


def test_monthly_timer_says_why_when_discovery_fails(env_patch, local_env, monkeypatch, caplog):
    from checks import http_api
    from checks.connect import discovery

    def refused(ctx):
        raise discovery.DiscoveryError("Resource Graph refused the query (403)", "Grant Reader on the subscription")
    env_patch(local_env | {"DISCOVER_TAG": "backup-verify", "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"})
    monkeypatch.setattr(discovery, "discover_targets", refused)
    result = http_api.run_timer(past_due=False)
    assert result["status"] == "error" and "Grant Reader" in result["error"]
    assert "monthly verification not run: target discovery failed" in caplog.text
