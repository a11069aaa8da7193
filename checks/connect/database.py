"""Database sessions for the checks: always read-only, bounded in time, named, never leaking secrets.

Connection parameters come from DATABASE_URL or the libpq PG* variables. With PG_AUTH=entra the
password is a Microsoft Entra token from the run's credential (managed identity in Azure).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import msg
from checks.engine.model import CheckError
from checks.engine.redact import first_line, redact, register_secrets

APPLICATION_NAME = "medicapp-backup-verifier"
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
_LIBPQ_ENV = {"PGHOST": "host", "PGPORT": "port", "PGDATABASE": "dbname", "PGUSER": "user",
              "PGPASSWORD": "password", "PGSSLMODE": "sslmode", "PGSSLROOTCERT": "sslrootcert"}


def connection_params(settings: Settings, host: str | None = None) -> dict[str, Any]:
    """libpq parameters (without the Entra token): URL or PG*, plus the verifier's session rules."""
    from psycopg.conninfo import conninfo_to_dict  # lazy: cold start

    params: dict[str, Any] = {}
    if settings.database_url:
        params.update(conninfo_to_dict(settings.database_url))
    else:
        params.update({key: settings.libpq_env[env] for env, key in _LIBPQ_ENV.items()
                       if settings.libpq_env.get(env)})
    if host:
        params["host"] = host  # the restore drill: same credentials, another server
    is_local = str(params.get("host", "")).split(",")[0] in _LOCAL_HOSTS or str(params.get("host", "")).startswith("/")
    params.setdefault("sslmode", "prefer" if is_local else "require")
    params["connect_timeout"] = settings.db_connect_timeout_seconds
    params["application_name"] = APPLICATION_NAME
    # read-only at the session level: any write is refused by the server itself
    params["options"] = (f"-c default_transaction_read_only=on "
                         f"-c statement_timeout={settings.db_statement_timeout_ms}")
    return params


def connect(settings: Settings, credential_getter=None, host: str | None = None):
    """Open a read-only session; failures become CheckError with a reason a person can act on."""
    if not settings.database_configured:
        from checks.engine.model import NotConfigured
        raise NotConfigured(msg("{name} not set", name=msg("DATABASE_URL (or PGHOST/PGDATABASE)")))
    import psycopg  # lazy: cold start

    params = connection_params(settings, host)
    if settings.pg_auth == "entra":
        if credential_getter is None:
            raise CheckError(msg("PG_AUTH=entra but no Azure credential is available"))
        from azure.core.exceptions import AzureError
        try:
            params["password"] = credential_getter().get_token(ENTRA_SCOPE).token
        except AzureError as exc:  # ClientAuthenticationError, CredentialUnavailableError, network
            raise CheckError(msg("could not get a Microsoft Entra token for PostgreSQL: {reason}",
                                 reason=redact(str(exc))[:300]),
                             msg("Give the Function App a managed identity (or sign in locally with az login / "
                                 "VS Code) and create its database role with infra/sql/.")) from None
    register_secrets([params.get("password")])
    target = f"{params.get('host', 'local socket')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    try:
        return psycopg.connect(**params, autocommit=False)
    except psycopg.OperationalError as exc:
        raise CheckError(msg("cannot connect to {target}: {reason}", target=target,
                             reason=first_line(redact(str(exc)))),
                         _connect_remediation(str(exc)), {"target": target}) from None


def _connect_remediation(message: str) -> str:
    lowered = message.lower()
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        return msg("Check the database user and password (or the Entra role) configured for the verifier.")
    if "does not exist" in lowered:
        return msg("Check the database name in DATABASE_URL / PGDATABASE.")
    if "timeout" in lowered or "could not connect" in lowered or "connection refused" in lowered:
        return msg("Check the host and port, the server's firewall rules / private endpoint, and that the "
                   "server is running.")
    return msg("Check DATABASE_URL / PG* settings and that the server accepts connections from the verifier.")


def timed_connect(settings: Settings, credential_getter=None, host: str | None = None):
    """(connection, connect latency in ms)."""
    t0 = time.perf_counter()
    conn = connect(settings, credential_getter, host)
    return conn, round((time.perf_counter() - t0) * 1000, 1)


def credential_getter(ctx: RunContext) -> Callable[[], Any] | None:
    """The run's Azure credential getter when PG_AUTH=entra (the password is then a token), else None."""
    return ctx.get_credential if ctx.settings.pg_auth == "entra" else None


@contextmanager
def session(ctx: RunContext) -> Iterator[Any]:
    """A read-only session on the run's database target (`ctx.db_host` wins over the configured host)."""
    conn, _ = timed_connect(ctx.settings, credential_getter(ctx), host=ctx.db_host)
    with conn:
        yield conn


def target_of(conn: Any) -> str:
    """host:port/dbname of an open session (never the password): which server the facts came from."""
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


def query_error(exc: Exception, what: str) -> CheckError:
    """A driver error while reading `what` → CheckError that says why and what to do."""
    import psycopg.errors as e  # lazy: cold start

    message = redact(first_line(str(exc)))
    if isinstance(exc, e.ReadOnlySqlTransaction):
        return CheckError(msg("refused by the read-only session while reading {what}: {message}", what=what,
                              message=message),
                          msg("The verifier only reads; check the configured names for SQL fragments."))
    if isinstance(exc, e.InsufficientPrivilege):
        return CheckError(msg("permission denied reading {what}: {message}", what=what, message=message),
                          msg("GRANT SELECT on it to the verifier's database role (see infra/sql/)."))
    if isinstance(exc, e.QueryCanceled):
        return CheckError(msg("statement timeout reading {what}: {message}", what=what, message=message),
                          msg("The server answered too slowly: raise DB_STATEMENT_TIMEOUT_MS, or for counts "
                              "ANALYZE the table / lower EXACT_COUNT_MAX_ROWS so the planner's estimate is used."))
    if isinstance(exc, (e.UndefinedColumn, e.UndefinedTable, e.DatatypeMismatch, e.SyntaxError)):
        return CheckError(msg("cannot read {what}: {message}", what=what, message=message),
                          msg("Check the configured table and column names (they are taken literally, "
                              "case-sensitive, as quoted identifiers)."))
    return CheckError(msg("cannot read {what}: {kind}: {message}", what=what, kind=type(exc).__name__,
                          message=message))
