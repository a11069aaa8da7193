"""Database dry-run checks: the database as the application sees it, through a read-only session."""
from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .context import RunContext
from .model import Outcome
from .pgconn import timed_connect
from .registry import check


def _credential_getter(ctx: RunContext):
    return ctx.get_credential if ctx.settings.pg_auth == "entra" else None


@dataclass(frozen=True)
class ConnectivityFacts:
    server_version: str
    latency_ms: float
    read_only: bool
    database: str
    user: str


def evaluate_connectivity(facts: ConnectivityFacts, settings: Settings) -> Outcome:
    """Passes when the session is open and read-only; fails when the server lets the session write."""
    details = {"server_version": facts.server_version, "latency_ms": facts.latency_ms,
               "read_only": facts.read_only, "database": facts.database, "user": facts.user}
    if not facts.read_only:
        return Outcome.fail("connected, but the session is NOT read-only", 
                            "The verifier must never be able to write: check the server's "
                            "default_transaction_read_only handling and use a read-only role.", **details)
    return Outcome.passed(f"connected to PostgreSQL {facts.server_version} in {facts.latency_ms:g} ms "
                          f"(read-only session)", **details)


@check(id="database.connectivity", title="Database connectivity (read-only session)", severity="critical",
       remediation="Check DATABASE_URL / PG* settings, network access and credentials of the verifier.",
       risk="If the application's database cannot be reached, nothing else about it can be verified.")
def connectivity(ctx: RunContext) -> Outcome:
    conn, latency = timed_connect(ctx.settings, _credential_getter(ctx), host=ctx.db_host)
    with conn:
        row = conn.execute("select current_setting('server_version'), "
                           "current_setting('default_transaction_read_only'), current_database(), "
                           "current_user").fetchone()
    return evaluate_connectivity(ConnectivityFacts(server_version=row[0], latency_ms=latency,
                                                   read_only=row[1] == "on", database=row[2], user=row[3]),
                                 ctx.settings)
