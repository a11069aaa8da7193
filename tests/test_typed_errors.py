"""Errors are caught by type: an SDK, driver or journal error becomes a result (or a note) that says
what to do, while our own bug (TypeError, AttributeError...) is never dressed up as one: it reaches
the runner's single broad guard, becomes an `error` result naming the exception, and its traceback is
logged, redacted. (Which broad catches may exist at all: tests/test_layout.py.)
"""
from __future__ import annotations

import logging
import threading

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import CredentialUnavailableError
from azure_fakes import CannedTransport, StaticCredential, arm_error_body, arm_fixture, sdk_kwargs

from checks import service
from checks.connect.azure import postgres_client
from checks.connect.database import connect
from checks.drill import schedule, state
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import CheckError, CheckSpec, JournalUnavailable, Outcome, Severity, Status
from checks.engine.redact import register_secrets
from checks.engine.registry import all_checks
from checks.engine.runner import execute, run_checks
from checks.families.postgres import get_server
from checks.journal.lease import HeldLease
from checks.service import RunRequest, verify

SUB, RG, SERVER = "ffffffff-ffff-ffff-ffff-ffffffffffff", "exampleresourcegroup", "exampleserver"
SERVER_RE = r"/flexibleServers/[^/?]+\?api-version="
BACKUPS_RE = r"/flexibleServers/[^/?]+/backups\?api-version="
DRILL_RG = "rg-medicapp-drills"  # a drill resource group of tests/test_permissions.py's deployment


def pg_ctx(transport: CannedTransport, credential=None) -> RunContext:
    settings = Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": RG, "PG_SERVER_NAME": SERVER})
    return RunContext(settings=settings, credential=credential or StaticCredential(),
                      azure_kwargs=sdk_kwargs(transport))


class TokenBug:
    """Our credential plumbing returning nothing instead of a token: a bug, not an Azure answer."""

    def get_token(self, *scopes, **kwargs):
        return None


def unreachable(request):
    raise ServiceRequestError("Failed to establish a new connection: [Errno -2] Name or service not known")


# --- the runner's guard ---------------------------------------------------------------------------------
def test_a_crashing_check_is_an_error_result_with_its_traceback_logged_redacted(caplog):
    secret = "Sentinel-Crash-Secret-0042"
    register_secrets([secret])

    def gather_facts_with_a_bug(_ctx):
        return {"rows": 1} + [secret]  # TypeError, with the secret in the frame's source line

    spec = CheckSpec(id="t.bug", title="t", severity=Severity.HIGH, remediation="fix t", risk="r",
                     run=gather_facts_with_a_bug)
    caplog.set_level(logging.ERROR, logger="checks.engine.runner")
    run = run_checks([spec], RunContext(settings=Settings.from_env({})), "cli")
    (result,) = run.results
    assert result.status is Status.ERROR and result.summary.startswith("TypeError: unsupported operand")
    logged = caplog.text
    assert "check t.bug crashed" in logged and "Traceback (most recent call last)" in logged
    assert "gather_facts_with_a_bug" in logged and secret not in logged


# --- ARM reads: PostgreSQL families and the drill's guarded actions -------------------------------------------
def test_a_bug_under_the_postgres_read_is_not_dressed_up_as_an_azure_error(caplog):
    t = CannedTransport().json("GET", SERVER_RE, arm_fixture("postgresql_ServersGet.json"))
    with pytest.raises(AttributeError):  # before: CheckError("AttributeError for server exampleserver: ...")
        get_server(pg_ctx(t, TokenBug()))
    caplog.set_level(logging.ERROR, logger="checks.engine.runner")
    outcome = execute(all_checks()["postgres.retention"], pg_ctx(t, TokenBug()))
    assert outcome.status is Status.ERROR and outcome.summary.startswith("AttributeError: ")
    assert "server exampleserver" not in outcome.summary and "Traceback" in caplog.text
    assert t.requests == []


@pytest.mark.parametrize("check_id,route", [("postgres.retention", SERVER_RE), ("postgres.backup_recent", BACKUPS_RE)])
def test_sdk_errors_of_the_postgres_reads_stay_results_with_remediation(check_id, route):
    t = CannedTransport().add("GET", route, unreachable)
    outcome = execute(all_checks()[check_id], pg_ctx(t))
    assert outcome.status is Status.ERROR
    assert outcome.summary.startswith(f"cannot reach Azure for server {SERVER}: Failed to establish")
    assert "management.azure.com" in outcome.remediation

    class NoIdentity:
        def get_token(self, *scopes, **kwargs):
            raise CredentialUnavailableError("ManagedIdentityCredential: no endpoint")

    outcome = execute(all_checks()[check_id], pg_ctx(CannedTransport(), NoIdentity()))
    assert outcome.status is Status.ERROR and outcome.summary.startswith("no Azure credential available")
    assert "managed identity" in outcome.remediation


def test_drill_arm_actions_map_sdk_errors_and_let_bugs_through():
    t = (CannedTransport().add("GET", r"/flexibleServers/gone\?", unreachable)
         .json("GET", r"/flexibleServers/denied\?", arm_error_body("AuthorizationFailed", "no"), status=403))
    client = postgres_client(pg_ctx(t))
    with pytest.raises(CheckError, match="cannot reach Azure for server gone"):
        state.get_server(client, DRILL_RG, "gone")
    with pytest.raises(CheckError, match=r"access denied \(403\) reading server denied"):
        state.get_server(client, DRILL_RG, "denied")
    # a continuation token the SDK cannot read (ValueError, documented) is a CheckError, not a crash
    for poll in (state.poll_restore, state.poll_delete):
        with pytest.raises(CheckError, match="ValueError for .* of srv: This doesn't look like a continuation token"):
            poll(client, DRILL_RG, "srv", "not-a-token")
    with pytest.raises(AttributeError):
        state.get_server(postgres_client(pg_ctx(CannedTransport(), TokenBug())), DRILL_RG, "any")


# --- the database: Entra token, the journal read of essential_counts ---------------------------------------
def test_entra_token_failure_is_a_check_error_a_bug_is_not():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://verifier@127.0.0.1:9/medicapp", "PG_AUTH": "entra"})

    class Denied:
        def get_token(self, *scopes, **kwargs):
            raise ClientAuthenticationError("AADSTS700016: application not found")

    with pytest.raises(CheckError, match="could not get a Microsoft Entra token for PostgreSQL: AADSTS700016") as info:
        connect(settings, lambda: Denied())
    assert "managed identity" in info.value.remediation
    with pytest.raises(AttributeError):
        connect(settings, lambda: TokenBug())


class Journal:
    """The read side a check sees (engine.context.JournalReader), failing as told."""

    def __init__(self, failure: Exception):
        self.failure = failure

    def latest_result(self, *args, **kwargs):
        raise self.failure

    def latest_ack(self, *args, **kwargs):
        return None

    def baseline(self, *args, **kwargs):
        raise self.failure


@pytest.mark.parametrize("failure,status", [
    (JournalUnavailable("journal read failed: connection refused"), Status.WARN),  # the counts still stand
    (ValueError("Expecting value: line 1 column 1 (char 0)"), Status.WARN),  # a journal entity that does not parse
    (TypeError("latest_result() got an unexpected keyword argument 'months'"), Status.ERROR),  # our bug
])
def test_essential_counts_warns_on_an_unreadable_journal_but_errors_on_a_bug(demo_db_url, failure, status):
    settings = Settings.from_env({"DATABASE_URL": demo_db_url, "ESSENTIAL_TABLES": "public.patients>=1"})
    outcome = execute(all_checks()["database.essential_counts"],
                      RunContext(settings=settings, journal=Journal(failure)))
    assert outcome.status is status, outcome.summary
    if status is Status.WARN:
        assert outcome.details["comparison"] == f"journal read failed ({failure})"
    else:
        assert outcome.summary == f"TypeError: {failure}" and "comparison" not in outcome.details


# --- the run lease and closing the run's clients -------------------------------------------------------------
class Lease:
    def __init__(self, failure: Exception):
        self.failure = failure

    def acquire(self, run_id):
        raise self.failure


@pytest.fixture
def one_check(monkeypatch):
    spec = CheckSpec(id="t.ok", title="t", severity=Severity.LOW, remediation="r", risk="r",
                     run=lambda c: Outcome.passed("ok"))
    monkeypatch.setattr(service, "select", lambda patterns, read_only_only=False: [spec])


@pytest.mark.parametrize("failure", [ServiceRequestError("connection refused"),
                                     ValueError("Connection string missing")])
def test_a_lease_that_cannot_be_taken_is_a_note_and_the_checks_run(base_env, one_check, failure):
    settings = Settings.from_env(base_env)
    run = verify(RunRequest(trigger="cli", write_journal=True), settings, service.open_journal(settings),
                 lease=Lease(failure))
    assert run.results[0].status is Status.PASS and run.journal_status == "written"
    assert any(note.startswith(f"run lease not taken ({failure})") for note in run.notes), run.notes


def test_a_bug_in_taking_the_lease_is_not_a_note(base_env, one_check):
    settings = Settings.from_env(base_env)
    with pytest.raises(TypeError):
        verify(RunRequest(trigger="cli"), settings, service.open_journal(settings), lease=Lease(TypeError("bug")))


class Blob:
    def __init__(self, failure: Exception):
        self.failure = failure

    def set_blob_metadata(self, *args, **kwargs):
        raise self.failure


def test_releasing_the_lease_logs_a_storage_error_and_raises_a_bug(caplog):
    held = HeldLease("run-x", "", None, Blob(ServiceRequestError("connection reset")), threading.Event(), None)
    held.release("20261126T000000Z-aaaaaa")  # an unreleased lease expires by itself
    assert "could not release the run lease run-x: connection reset" in caplog.text
    with pytest.raises(TypeError):
        HeldLease("run-x", "", None, Blob(TypeError("bug")), threading.Event(), None).release("r")


def test_closing_the_run_clients_tolerates_io_errors_not_bugs(caplog):
    class Client:
        def __init__(self, failure):
            self.failure = failure

        def close(self):
            raise self.failure

    ctx = RunContext(settings=Settings.from_env({}))
    ctx.client("a", lambda: Client(OSError("socket already closed")))
    ctx.close()
    assert "closing an SDK client failed: socket already closed" in caplog.text
    ctx.client("b", lambda: Client(TypeError("bug")))
    with pytest.raises(TypeError):
        ctx.close()


# --- the drill's timer and monthly hook ---------------------------------------------------------------------
def test_drill_timer_logs_expected_failures_and_raises_bugs(base_env, monkeypatch, caplog):
    from checks.drill_face import timer_entry
    settings = Settings.from_env(dict(base_env, RESTORE_DRILL_ENABLED="true", AZURE_SUBSCRIPTION_ID=SUB,
                                      PG_RESOURCE_GROUP=RG, PG_SERVER_NAME=SERVER,
                                      RESTORE_DRILL_RESOURCE_GROUP=DRILL_RG))

    def tick_failing(failure):
        def tick(ctx, journal, lookup=None):
            raise failure
        monkeypatch.setattr(schedule, "timer_tick", tick)

    tick_failing(CheckError("access denied (403) reading server x"))
    assert timer_entry(settings) == {"error": "access denied (403) reading server x"}
    assert "restore drill timer: access denied (403)" in caplog.text
    tick_failing(ServiceRequestError("connection refused"))  # an SDK error no mapping caught: still typed
    assert timer_entry(settings) == {"error": "connection refused"}
    tick_failing(TypeError("advance_drill() missing 1 required positional argument"))
    with pytest.raises(TypeError):
        timer_entry(settings)
