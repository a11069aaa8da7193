"""Fault tolerance and abuse: concurrent runs, journal outages, leases, secrets in logs, ARM errors."""
import json
import logging
import time

import pytest

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.journal.spool import Spool
from checks.journal.store import Journal
from checks.journal.lease import RunInProgress, RunLease
from checks.engine.model import CheckSpec, Outcome, Severity, Status
from checks import service
from checks.service import RunRequest, verify
from devtools.localstack import Azurite

DOWN_STORAGE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0a2V5;"
                "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")


def spec(cid, fn):
    return CheckSpec(id=cid, title=cid, severity=Severity.HIGH, remediation="r", risk="r", run=fn)


@pytest.fixture
def isolated_spool(tmp_path):
    return tmp_path / "spool"  # = base_env's VERIFIER_SPOOL_DIR


@pytest.fixture
def only(monkeypatch):
    """Make the service run exactly these checks (the registry stays untouched)."""
    def use(*specs):
        monkeypatch.setattr(service, "select", lambda patterns, read_only_only=False: list(specs))
    return use


def fast_journal(settings):
    return Journal.from_settings(settings, retry_total=1, retry_backoff_factor=0.01)


def test_second_run_is_refused_while_one_holds_the_lease(base_env, only):
    settings = Settings.from_env(base_env)
    held = RunLease(settings).acquire("20261126T000000Z-aaaaaa")
    try:
        only(spec("t.ok", lambda c: Outcome.passed("ok")))
        with pytest.raises(RunInProgress) as info:
            verify(RunRequest(trigger="http"), settings, Journal.from_settings(settings))
        assert info.value.running_run_id == "20261126T000000Z-aaaaaa"
    finally:
        held.release("20261126T000000Z-aaaaaa")
    run = verify(RunRequest(trigger="http"), settings, Journal.from_settings(settings))
    assert run.journal_status == "written"


def test_http_answers_409_with_the_running_run_id(base_env, env_patch, only):
    import azure.functions as func
    from checks import http_api
    env_patch(base_env)
    settings = Settings.from_env(base_env)
    held = RunLease(settings).acquire("20261126T000000Z-bbbbbb")
    try:
        resp = http_api.verify(func.HttpRequest(method="POST", url="/api/verify", body=b""))
        assert resp.status_code == 409
        assert json.loads(resp.get_body())["running_run_id"] == "20261126T000000Z-bbbbbb"
        assert http_api.run_timer(past_due=False) == {"status": "busy", "running_run_id": "20261126T000000Z-bbbbbb"}
    finally:
        held.release("20261126T000000Z-bbbbbb")


def test_crashed_runs_lease_expires_by_itself(base_env):
    settings = Settings.from_env(dict(base_env, RUN_LEASE_SECONDS="15"))
    crashed = RunLease(settings).acquire("20261126T000000Z-cccccc")
    crashed._stop.set()  # the process "dies": no more renewals, no release
    with pytest.raises(RunInProgress):
        RunLease(settings).acquire("20261126T000001Z-dddddd")
    time.sleep(16)
    again = RunLease(settings).acquire("20261126T000002Z-eeeeee")
    assert again.previous_run_id == "20261126T000000Z-cccccc"
    again.release("20261126T000002Z-eeeeee")


def test_lease_is_renewed_while_a_long_run_lasts(base_env):
    settings = Settings.from_env(dict(base_env, RUN_LEASE_SECONDS="15"))
    held = RunLease(settings).acquire("20261126T000000Z-ffffff")
    try:
        time.sleep(17)  # past one lease period: only the renewals keep it
        with pytest.raises(RunInProgress):
            RunLease(settings).acquire("20261126T000001Z-000000")
    finally:
        held.release("20261126T000000Z-ffffff")


def test_journal_down_before_the_run_loses_nothing(only, caplog, isolated_spool):
    settings = Settings.from_env({"AzureWebJobsStorage": DOWN_STORAGE, "JOURNAL_TABLE": "Down",
                                  "VERIFIER_SPOOL_DIR": str(isolated_spool)})
    only(spec("t.ok", lambda c: Outcome.passed("all good", value=42)))
    caplog.set_level(logging.INFO)
    run = verify(RunRequest(trigger="timer"), settings, fast_journal(settings))
    assert run.results[0].status is Status.PASS and run.results[0].details == {"value": 42}
    assert run.journal_status.startswith("error: journal")
    assert any("run lease not taken" in n for n in run.notes)
    assert "full run follows" in caplog.text and '"value": 42' in caplog.text
    assert "c2VjcmV0a2V5" not in caplog.text
    assert (Spool(isolated_spool).own / f"{run.run_id}.json").exists()


def test_journal_comes_back_and_next_run_says_so(base_env, only, isolated_spool):
    down = Settings.from_env({"AzureWebJobsStorage": DOWN_STORAGE, "JOURNAL_TABLE": "Down",
                              "VERIFIER_SPOOL_DIR": str(isolated_spool)})
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    lost = verify(RunRequest(trigger="timer"), down, fast_journal(down))
    assert lost.journal_status.startswith("error")
    up = Settings.from_env(base_env)
    journal = Journal.from_settings(up)
    nxt = verify(RunRequest(trigger="timer"), up, journal)
    assert nxt.journal_status == "written"
    assert any(lost.run_id in n and "recorded now" in n for n in nxt.notes)
    replayed = journal.get_run(lost.run_id)
    assert replayed is not None and replayed.results[0].summary == "ok"
    assert any("recorded late" in n for n in replayed.notes)
    assert Spool(isolated_spool).pending() == []
    assert journal.get_run(nxt.run_id).notes == nxt.notes


def test_storage_goes_down_during_the_run(only, journal_table_name, isolated_spool):
    azurite = Azurite.start()
    try:
        settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string,
                                      "JOURNAL_TABLE": journal_table_name, "VERIFIER_SPOOL_DIR": str(isolated_spool)})

        def pulls_the_plug(_ctx):
            azurite.stop()
            return Outcome.passed("checked before the outage")

        only(spec("t.plug", pulls_the_plug))
        run = verify(RunRequest(trigger="cli"), settings, fast_journal(settings))
        assert run.results[0].status is Status.PASS
        assert run.journal_status.startswith("error")
        assert (Spool(isolated_spool).own / f"{run.run_id}.json").exists()
    finally:
        azurite.stop()


def test_previous_run_that_crashed_is_reported(base_env, only):
    settings = Settings.from_env(base_env)
    crashed = RunLease(settings).acquire("20261126T010000Z-abcabc")
    crashed.release("20261126T010000Z-abcabc")  # it held the lease but never wrote the journal
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    run = verify(RunRequest(trigger="timer"), settings, Journal.from_settings(settings))
    assert any("20261126T010000Z-abcabc never reached the journal: it was stopped (killed or crashed)" in n
               for n in run.notes)
    assert not any("in the logs" in n for n in run.notes)  # nothing of a crashed run was logged
    again = verify(RunRequest(trigger="timer"), settings, Journal.from_settings(settings))
    assert not any("not recorded" in n for n in again.notes)  # the last one was recorded


def test_secrets_never_reach_logs_results_or_journal(base_env, pg_cluster, caplog, env_patch):
    from checks.cli import main
    import io
    sentinel = "Sentinel-Secret-0042"
    env = dict(base_env, DATABASE_URL=pg_cluster.url("verifier", sentinel, "medicapp"))
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    code = main(["-v", "run", "--check", "database.connectivity", "--json"], out=out, env=env)
    assert code == 1
    run = json.loads(out.getvalue())
    assert run["results"][0]["status"] == "error"
    assert sentinel not in out.getvalue()
    assert sentinel not in caplog.text
    journal = Journal.from_settings(Settings.from_env(env))
    assert sentinel not in json.dumps(journal.partition(run["run_id"][:4] + "-" + run["run_id"][4:6]), default=str)


def test_redacting_filter_on_log_records(caplog):
    from checks.engine.logsetup import configure_logging
    configure_logging()
    caplog.set_level(logging.INFO)
    logging.getLogger("checks.test").info("conn %s", "AccountName=x;AccountKey=abcd1234XYZ==;EndpointSuffix=core")
    logging.getLogger("checks.test").info("url https://acct.blob.core.windows.net/c/b?sv=2024&sig=SIGNATURE123")
    assert "abcd1234XYZ" not in caplog.text and "SIGNATURE123" not in caplog.text


def test_one_log_record_per_check_with_run_id(base_env, only, caplog):
    only(spec("t.a", lambda c: Outcome.passed("a")), spec("t.b", lambda c: Outcome.warn("b")))
    caplog.set_level(logging.INFO, logger="checks.engine.runner")
    settings = Settings.from_env(base_env)
    run = verify(RunRequest(trigger="cli"), settings, Journal.from_settings(settings))
    records = [r for r in caplog.records if r.name == "checks.engine.runner"]
    assert sorted((r.check_id, r.status) for r in records) == [("t.a", "pass"), ("t.b", "warn")]
    assert {r.run_id for r in records} == {run.run_id}
    # the message alone carries them too (what the Functions host forwards to Application Insights)
    assert sorted(r.getMessage() for r in records) == [f"run {run.run_id} check t.a: pass - a",
                                                       f"run {run.run_id} check t.b: warn - b"]


@pytest.mark.parametrize("status,fragment,remedy", [
    (401, "access denied (401)", "Reader on server medicapp-db"),
    (403, "access denied (403)", "Reader on server medicapp-db"),
    (404, "not found in resource group rg-medicapp", "Check the name"),
    (429, "429", "throttling"),
    (500, "500", "Transient"),
])
def test_arm_errors_map_to_actionable_results(status, fragment, remedy):
    from azure_fakes import CannedTransport, StaticCredential, arm_error_body, sdk_kwargs
    from checks.connect.azure import arm_error, postgres_client
    transport = CannedTransport().json("GET", r"/flexibleServers/medicapp-db\?",
                                       arm_error_body("Code", "nope"), status=status)
    ctx = RunContext(settings=Settings.from_env({"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000"}),
                     credential=StaticCredential(), azure_kwargs=sdk_kwargs(transport))
    with pytest.raises(Exception) as info:
        postgres_client(ctx).servers.get("rg-medicapp", "medicapp-db")
    err = arm_error(info.value, "server medicapp-db", "resource group rg-medicapp (subscription 0000)")
    assert fragment in err.reason and remedy in err.remediation


def test_no_credential_is_an_error_naming_the_sources(monkeypatch):
    from azure.core.exceptions import ClientAuthenticationError
    from checks.connect.azure import arm_error
    err = arm_error(ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token: "
                                              "EnvironmentCredential: unavailable. ManagedIdentityCredential: "
                                              "unavailable"), "server x", "rg")
    assert "no Azure credential" in err.reason and "ManagedIdentityCredential" in err.reason
    assert "managed identity" in err.remediation
