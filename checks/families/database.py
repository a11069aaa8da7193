"""Database dry-run checks: the database as the application sees it, through a read-only session.

Every check opens its own session with `pgconn.connect(..., host=ctx.db_host)`, so the restore
drill can run the same checks (through the registry) against a restored server by setting
`RunContext.db_host`, and compare `details["counts"]` of `database.essential_counts` between
production and the restore. Configured identifiers (tables, columns, schemas) are only ever
passed to PostgreSQL quoted with `psycopg.sql.Identifier` or as bound parameters, never pasted
into SQL text; the session is read-only on top of that (see checks/connect/database.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterator, Mapping

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import CheckError, NotConfigured, Outcome
from checks.connect.database import timed_connect
from checks.engine.redact import first_line, redact
from checks.engine.registry import check


def _credential_getter(ctx: RunContext):
    return ctx.get_credential if ctx.settings.pg_auth == "entra" else None


@contextmanager
def session(ctx: RunContext) -> Iterator[Any]:
    """A read-only session on the run's database target (`ctx.db_host` wins over the configured host)."""
    conn, _ = timed_connect(ctx.settings, _credential_getter(ctx), host=ctx.db_host)
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
        return CheckError(f"refused by the read-only session while reading {what}: {message}",
                          "The verifier only reads; check the configured names for SQL fragments.")
    if isinstance(exc, e.InsufficientPrivilege):
        return CheckError(f"permission denied reading {what}: {message}",
                          "GRANT SELECT on it to the verifier's database role (see infra/sql/).")
    if isinstance(exc, e.QueryCanceled):
        return CheckError(f"statement timeout reading {what}: {message}",
                          "The server answered too slowly: raise DB_STATEMENT_TIMEOUT_MS, or for counts "
                          "ANALYZE the table / lower EXACT_COUNT_MAX_ROWS so the planner's estimate is used.")
    if isinstance(exc, (e.UndefinedColumn, e.UndefinedTable, e.DatatypeMismatch, e.SyntaxError)):
        return CheckError(f"cannot read {what}: {message}",
                          "Check the configured table and column names (they are taken literally, "
                          "case-sensitive, as quoted identifiers).")
    return CheckError(f"cannot read {what}: {type(exc).__name__}: {message}")


def _iso(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


# ---------------------------------------------------------------------------------------------
# database.connectivity
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConnectivityFacts:
    server_version: str
    latency_ms: float
    read_only: bool
    database: str
    user: str
    statement_timeout: str = ""
    application_name: str = ""
    target: str = ""


def evaluate_connectivity(facts: ConnectivityFacts, settings: Settings) -> Outcome:
    """Passes when the session is open, read-only and time-bounded; fails when the server lets the
    session write; warns when statements are not bounded in time (statement_timeout 0)."""
    details = {"server_version": facts.server_version, "latency_ms": facts.latency_ms,
               "read_only": facts.read_only, "database": facts.database, "user": facts.user,
               "statement_timeout": facts.statement_timeout, "application_name": facts.application_name,
               "target": facts.target}
    if not facts.read_only:
        return Outcome.fail("connected, but the session is NOT read-only",
                            "The verifier must never be able to write: check the server's "
                            "default_transaction_read_only handling and use a read-only role.", **details)
    if facts.statement_timeout in ("0", ""):
        return Outcome.warn("connected read-only, but statements have no time limit (statement_timeout 0)",
                            "Set DB_STATEMENT_TIMEOUT_MS; check that no role/database setting overrides it.",
                            **details)
    return Outcome.passed(f"connected to PostgreSQL {facts.server_version} in {facts.latency_ms:g} ms "
                          f"(read-only session, statement_timeout {facts.statement_timeout})", **details)


@check(id="database.connectivity", title="Database connectivity (read-only session)", severity="critical",
       remediation="Check DATABASE_URL / PG* settings, network access and credentials of the verifier.",
       risk="If the application's database cannot be reached, nothing else about it can be verified.")
def connectivity(ctx: RunContext) -> Outcome:
    conn, latency = timed_connect(ctx.settings, _credential_getter(ctx), host=ctx.db_host)
    with conn:
        row = conn.execute("select current_setting('server_version'), current_setting('transaction_read_only'), "
                           "current_database(), current_user, current_setting('statement_timeout'), "
                           "current_setting('application_name')").fetchone()
        target = target_of(conn)
    return evaluate_connectivity(ConnectivityFacts(server_version=row[0], latency_ms=latency,
                                                   read_only=row[1] == "on", database=row[2], user=row[3],
                                                   statement_timeout=row[4], application_name=row[5],
                                                   target=target),
                                 ctx.settings)


# ---------------------------------------------------------------------------------------------
# database.migration
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MigrationFacts:
    table: str  # schema.table as configured
    table_exists: bool
    revisions: tuple[str, ...] = ()


def evaluate_migration(facts: MigrationFacts, settings: Settings) -> Outcome:
    """Passes when Alembic's table holds exactly one revision and it is EXPECTED_ALEMBIC_REVISION
    (or nothing is expected). Fails when the revision differs from the expected one. Warns when
    the table is missing, empty, or holds more than one row (saying which)."""
    expected = settings.expected_alembic_revision
    details: dict[str, Any] = {"table": facts.table, "revisions": list(facts.revisions), "expected": expected}
    if not facts.table_exists:
        return Outcome.warn(f"Alembic version table {facts.table} not found: the schema revision is unknown",
                            "Set ALEMBIC_SCHEMA / ALEMBIC_VERSION_TABLE to where Alembic keeps its version, "
                            "or check that migrations ran on this database.", **details)
    if not facts.revisions:
        return Outcome.warn(f"Alembic version table {facts.table} is empty: the schema revision is unknown",
                            "Run the application's migrations (alembic upgrade head) or check the table.",
                            **details)
    if expected and expected not in facts.revisions:
        found = ", ".join(facts.revisions)
        return Outcome.fail(f"schema revision {found} differs from the expected {expected}",
                            "Migrate the database (alembic upgrade) or update EXPECTED_ALEMBIC_REVISION "
                            "after a deliberate release.", **details)
    if len(facts.revisions) > 1:
        return Outcome.warn(f"Alembic version table {facts.table} has {len(facts.revisions)} rows "
                            f"({', '.join(facts.revisions)}); expected one",
                            "Several heads are recorded (branched migrations?): merge them or clean the table.",
                            **details)
    revision = facts.revisions[0]
    if expected:
        return Outcome.passed(f"schema at the expected revision {revision}", **details)
    return Outcome.passed(f"schema at revision {revision} (EXPECTED_ALEMBIC_REVISION not set, not compared)",
                          **details)


def read_migration(conn: Any, schema: str, table: str) -> MigrationFacts:
    from psycopg import sql  # lazy: cold start
    import psycopg

    name = f"{schema}.{table}"
    exists = conn.execute("select exists (select 1 from pg_catalog.pg_class c join pg_catalog.pg_namespace n "
                          "on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s "
                          "and c.relkind in ('r', 'p', 'v', 'm', 'f'))", (schema, table)).fetchone()[0]
    if not exists:
        return MigrationFacts(name, False)
    try:
        rows = conn.execute(sql.SQL("select version_num from {} order by 1 limit 20").format(
            sql.Identifier(schema, table))).fetchall()
    except psycopg.Error as exc:
        raise query_error(exc, f"Alembic table {name}") from None
    return MigrationFacts(name, True, tuple(str(r[0]) for r in rows))


@check(id="database.migration", title="Database schema revision (Alembic)", severity="high",
       remediation="Migrate the database to the release's revision, or set EXPECTED_ALEMBIC_REVISION to it.",
       risk="A database at another schema revision than the application breaks it after a restore.")
def migration(ctx: RunContext) -> Outcome:
    s = ctx.settings
    with session(ctx) as conn:
        facts = read_migration(conn, s.alembic_schema, s.alembic_version_table)
    return evaluate_migration(facts, s)


# ---------------------------------------------------------------------------------------------
# database.essential_counts
# ---------------------------------------------------------------------------------------------

_ENTRY = re.compile(r"(?s)(?P<name>.*?)(?:\s*>=\s*(?P<min>\d+))?")


@dataclass(frozen=True)
class TableSpec:
    """One ESSENTIAL_TABLES entry: `[schema.]table[>=minimum]`; names are taken literally."""
    schema: str | None
    table: str
    minimum: int | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema is not None else self.table

    @classmethod
    def parse(cls, entry: str) -> "TableSpec":
        match = _ENTRY.fullmatch(entry.strip())
        name = match.group("name")
        minimum = int(match.group("min")) if match.group("min") else None
        schema, dot, table = name.partition(".")
        return cls(schema, table, minimum) if dot else cls(None, name, minimum)


@dataclass(frozen=True)
class TableCount:
    name: str  # schema.table as found (configured name when missing)
    rows: int | None = None
    method: str | None = None  # exact | estimate
    minimum: int | None = None
    missing: bool = False
    error: str | None = None  # could not be read (permission, timeout)
    analyzed_at: str | None = None  # when the estimate was made (last (auto)analyze)


@dataclass(frozen=True)
class CountFacts:
    tables: tuple[TableCount, ...]
    target: str = ""
    previous: Mapping[str, int] | None = None  # counts of the previous run, None = not compared
    previous_run_id: str | None = None
    comparison: str = ""  # how (or why not) the previous run was compared
    comparison_failed: bool = False  # the journal could not be read


def evaluate_essential_counts(facts: CountFacts, settings: Settings) -> Outcome:
    """Passes when every essential table exists, has at least its minimum number of rows, and none
    dropped by more than COUNT_DROP_THRESHOLD_PERCENT since the previous run (growth is fine).
    Fails when a table is missing, below its minimum, or dropped ("possible data loss"). Errors when
    a table could not be read; warns when the previous run could not be read from the journal."""
    threshold = settings.count_drop_threshold_percent
    counts = {t.name: t.rows for t in facts.tables if t.rows is not None}
    details: dict[str, Any] = {
        "counts": counts,
        "methods": {t.name: t.method for t in facts.tables if t.method},
        "minimums": {t.name: t.minimum for t in facts.tables if t.minimum is not None},
        "target": facts.target,
        "exact_count_max_rows": settings.exact_count_max_rows,
        "comparison": facts.comparison,
        "previous_run_id": facts.previous_run_id,
        "previous_counts": dict(facts.previous) if facts.previous is not None else None,
    }
    estimated = {t.name: t.analyzed_at for t in facts.tables if t.method == "estimate"}
    if estimated:
        details["estimated_as_of"] = estimated
    failures, errors, drops = [], [], {}
    for t in facts.tables:
        if t.missing:
            failures.append(f"table {t.name} not found")
        elif t.error:
            errors.append(f"{t.name}: {t.error}")
        elif t.minimum is not None and t.rows < t.minimum:
            failures.append(f"{t.name} has {t.rows} rows, below the minimum of {t.minimum}")
    for t in facts.tables:
        before = (facts.previous or {}).get(t.name)
        if t.rows is None or not isinstance(before, (int, float)) or before <= 0 or t.rows >= before:
            continue
        drop = (before - t.rows) * 100.0 / before
        if drop > threshold:
            drops[t.name] = {"previous": int(before), "current": t.rows, "drop_percent": round(drop, 2)}
            failures.append(f"possible data loss: {t.name} dropped from {int(before)} to {t.rows} rows "
                            f"(-{drop:.1f} %, threshold {threshold:g} %)")
    if drops:
        details["drops"] = drops
    if missing := [t.name for t in facts.tables if t.missing]:
        details["missing"] = missing
    if errors:
        details["errors"] = errors
        return Outcome.error("; ".join(errors + failures),
                             "Grant the verifier SELECT on the essential tables, or raise "
                             "DB_STATEMENT_TIMEOUT_MS / ANALYZE large tables.", **details)
    if failures:
        remediation = ("Find out where the rows went (recent deletes, a failed import, a wrong restore) "
                       "before the next backup rotation overwrites good copies." if drops else
                       "Check ESSENTIAL_TABLES and that the application's data is where it should be.")
        return Outcome.fail("; ".join(failures), remediation, **details)
    shown = ", ".join(f"{name} {rows}{' (estimate)' if details['methods'].get(name) == 'estimate' else ''}"
                      for name, rows in counts.items())
    if facts.comparison_failed:
        return Outcome.warn(f"{shown}; not compared with the previous run: {facts.comparison}",
                            "Check the journal's storage account and the function's access to it.", **details)
    return Outcome.passed(f"{shown}; {facts.comparison}", **details)


def count_tables(conn: Any, specs: tuple[TableSpec, ...], exact_max_rows: int) -> tuple[TableCount, ...]:
    """Count each table: exact below `exact_max_rows` (planner's estimate), else pg_class.reltuples.

    Unqualified names resolve through the session's search_path, like the application's queries.
    Each table is read in its own (sub)transaction so one timeout does not spoil the others.
    """
    import psycopg
    from psycopg import sql

    out = []
    for spec in specs:
        try:
            with conn.transaction():
                found = conn.execute(
                    "select n.nspname, c.relname, c.reltuples::float8, "
                    "greatest(pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid)) "
                    "from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
                    "where c.relname = %(t)s and c.relkind in ('r', 'p', 'm', 'f', 'v') and "
                    "(n.nspname = %(s)s::text or (%(s)s::text is null and n.nspname = any(current_schemas(false)))) "
                    "order by array_position(current_schemas(false), n.nspname::text) nulls last limit 1",
                    {"t": spec.table, "s": spec.schema}).fetchone()
                if found is None:
                    out.append(TableCount(spec.name, minimum=spec.minimum, missing=True))
                    continue
                schema, table, reltuples, analyzed = found
                name = f"{schema}.{table}"
                if reltuples is not None and reltuples > exact_max_rows:
                    out.append(TableCount(name, int(round(reltuples)), "estimate", spec.minimum,
                                          analyzed_at=_iso(analyzed)))
                    continue
                # small, never analyzed (-1) or a partitioned parent: count exactly (statement_timeout bounds it)
                rows = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
                                    ).fetchone()[0]
                out.append(TableCount(name, int(rows), "exact", spec.minimum))
        except psycopg.Error as exc:
            out.append(TableCount(spec.name, minimum=spec.minimum, error=query_error(exc, spec.name).reason))
    return tuple(out)


def month_and_previous(now: datetime) -> list[str]:
    first = now.date().replace(day=1)
    return [first.strftime("%Y-%m"), (first - timedelta(days=1)).strftime("%Y-%m")]


def previous_counts(ctx: RunContext, target: str) -> tuple[dict[str, int] | None, str | None, str, bool]:
    """(counts, run id, how it was compared, journal failed) of this check's previous journaled run."""
    if ctx.journal is None:
        return None, None, "no journal available: not compared with a previous run", False
    try:
        previous = ctx.journal.latest_result("database.essential_counts", months=month_and_previous(ctx.now()),
                                             exclude_run_id=ctx.run_id)
    except Exception as exc:  # JournalUnavailable or a driver error: the counts still stand
        return None, None, f"journal read failed ({redact(first_line(str(exc)))[:200]})", True
    if previous is None:
        return None, None, "no previous run this month or last month: not compared", False
    run_id = previous.details.get("run_id") or None
    counts = previous.details.get("counts")
    if not isinstance(counts, dict) or not counts:
        return None, run_id, f"the previous result ({previous.status.value}) has no counts: not compared", False
    previous_target = previous.details.get("target")
    if previous_target and target and previous_target != target:
        return None, run_id, f"the previous result was for another server ({previous_target}): not compared", False
    when = previous.started_at.isoformat() if previous.started_at else "?"
    return ({k: v for k, v in counts.items() if isinstance(v, (int, float))}, run_id,
            f"compared with the previous run of {when}", False)


@check(id="database.essential_counts", title="Essential tables: row counts and drops", severity="critical",
       remediation="Check ESSENTIAL_TABLES and where the application's rows went.",
       risk="Lost rows (a bad deploy, a wrong delete, a partial restore) go unnoticed until someone needs them.")
def essential_counts(ctx: RunContext) -> Outcome:
    s = ctx.settings
    s.require("essential_tables")
    specs = tuple(TableSpec.parse(e) for e in s.essential_tables)
    with session(ctx) as conn:
        target = target_of(conn)
        tables = count_tables(conn, specs, s.exact_count_max_rows)
    prev, prev_run, how, failed = previous_counts(ctx, target)
    outcome = evaluate_essential_counts(CountFacts(tables, target, prev, prev_run, how, failed), s)
    outcome.details["run_id"] = ctx.run_id  # so the next run can name this one
    return outcome


# ---------------------------------------------------------------------------------------------
# database.signed_document
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignedDocumentFacts:
    table: str
    found: bool
    blob_path: str | None = None
    ordered_at: Any = None  # value of SIGNED_DOCUMENT_ORDER_COLUMN of the newest one
    stored_checksum: str | None = None
    checksum_column: str | None = None
    container: str | None = None
    blob_checked: bool = False
    not_checked_reason: str | None = None  # blob side not configured
    blob_exists: bool | None = None
    blob_missing_code: str | None = None  # BlobNotFound / ContainerNotFound
    blob_size: int | None = None
    actual_sha256: str | None = None
    extra: dict = field(default_factory=dict)


def normalize_sha256(value: str | None) -> str | None:
    """Hex (any case) or base64 sha256 → lowercase hex; None when absent or not a sha256."""
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def evaluate_signed_document(facts: SignedDocumentFacts, settings: Settings) -> Outcome:
    """Passes when a signed document exists and the newest one's file is in Blob Storage, with a
    matching sha256 when a checksum is stored. Fails when there is no signed document, the newest
    has no file path, its file is missing, or its hash differs. Warns when the file could not be
    verified because the blob side (SIGNED_DOCUMENT_CONTAINER, blob access) is not configured, or
    the stored checksum is not a sha256."""
    details: dict[str, Any] = {"table": facts.table, "blob_path": facts.blob_path,
                               "ordered_at": _iso(facts.ordered_at), "container": facts.container,
                               "blob_checked": facts.blob_checked}
    if not facts.found:
        return Outcome.fail(f"no signed document in {facts.table}",
                            "Check SIGNED_DOCUMENT_TABLE / SIGNED_DOCUMENT_SIGNED_COLUMN, and whether the "
                            "application's signed documents are in this database.", **details)
    if not facts.blob_path:
        return Outcome.fail(f"the newest signed document in {facts.table} has no file path "
                            f"({settings.signed_document_path_column} is empty)",
                            "Check SIGNED_DOCUMENT_PATH_COLUMN and the application's document upload.", **details)
    if not facts.blob_checked:
        details["not_checked_reason"] = facts.not_checked_reason
        return Outcome.warn(f"newest signed document found ({facts.blob_path}), but its file was NOT verified: "
                            f"{facts.not_checked_reason}",
                            "Set SIGNED_DOCUMENT_CONTAINER and BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) "
                            "so the file is checked in Blob Storage.", **details)
    where = f"{facts.container}/{facts.blob_path}"
    if not facts.blob_exists:
        details["blob_error"] = facts.blob_missing_code
        reason = "the container does not exist" if facts.blob_missing_code == "ContainerNotFound" else "no such blob"
        return Outcome.fail(f"the newest signed document's file {where} is missing ({reason})",
                            "Restore the file from soft delete / a previous version, and find out how it "
                            "was lost; check SIGNED_DOCUMENT_CONTAINER.", **details)
    details["size"] = facts.blob_size
    if facts.checksum_column is None:
        return Outcome.passed(f"newest signed document's file {where} exists ({facts.blob_size} bytes; "
                              "SIGNED_DOCUMENT_CHECKSUM_COLUMN not set, hash not compared)", **details)
    if facts.stored_checksum in (None, ""):
        return Outcome.passed(f"newest signed document's file {where} exists ({facts.blob_size} bytes; "
                              "no checksum stored for it, hash not compared)", **details)
    expected = normalize_sha256(facts.stored_checksum)
    details.update(expected_sha256=expected, actual_sha256=facts.actual_sha256)
    if expected is None:
        details["stored_checksum"] = str(facts.stored_checksum)[:100]
        return Outcome.warn(f"file {where} exists, but the stored checksum is not a sha256 (hex or base64)",
                            "Check SIGNED_DOCUMENT_CHECKSUM_COLUMN.", **details)
    if expected != facts.actual_sha256:
        return Outcome.fail(f"the newest signed document's file {where} does not match its stored sha256 "
                            f"(stored {expected[:12]}..., file {str(facts.actual_sha256)[:12]}...)",
                            "The file was altered or replaced: restore the signed original from a previous "
                            "version / soft delete and investigate.", **details)
    return Outcome.passed(f"newest signed document's file {where} exists and its sha256 matches "
                          f"({facts.blob_size} bytes)", **details)


def read_newest_signed(conn: Any, settings: Settings) -> tuple[bool, Any, Any, Any]:
    """(found, path, order value, stored checksum) of the newest signed document."""
    import psycopg
    from psycopg import sql

    spec = TableSpec.parse(settings.signed_document_table)
    table = sql.Identifier(spec.schema, spec.table) if spec.schema is not None else sql.Identifier(spec.table)
    checksum = (sql.Identifier(settings.signed_document_checksum_column)
                if settings.signed_document_checksum_column else sql.NULL)
    order = sql.Identifier(settings.signed_document_order_column)
    query = sql.SQL("select {path}, {order}, {checksum} from {table} where {signed} is true "
                    "order by {order} desc nulls last limit 1").format(
        path=sql.Identifier(settings.signed_document_path_column), order=order, checksum=checksum,
        table=table, signed=sql.Identifier(settings.signed_document_signed_column))
    try:
        row = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        raise query_error(exc, f"signed documents in {spec.name}") from None
    if row is None:
        return False, None, None, None
    return True, row[0], row[1], row[2]


def hash_blob(ctx: RunContext, container: str, path: str, with_hash: bool) -> dict[str, Any]:
    """exists/size (and sha256 streamed chunk by chunk, each chunk MD5-checked in transit)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError, ServiceRequestError
    from checks.connect.azure import arm_error, blob_service

    blob = blob_service(ctx).get_blob_client(container, path)
    try:
        if not with_hash:
            return {"exists": True, "size": blob.get_blob_properties().size}
        # validate_content: the first request is max_chunk_get_size (4 MiB), not max_single_get_size
        # (32 MiB), so at most one chunk is in memory at a time
        downloader = blob.download_blob(validate_content=True)
        digest, size = hashlib.sha256(), 0
        for chunk in downloader.chunks():
            digest.update(chunk)
            size += len(chunk)
        return {"exists": True, "size": size, "sha256": digest.hexdigest()}
    except ResourceNotFoundError as exc:
        return {"exists": False, "code": getattr(exc, "error_code", None) or "BlobNotFound"}
    except ServiceRequestError as exc:
        raise CheckError(f"cannot reach Blob Storage for {container}/{path}: "
                         f"{redact(first_line(str(exc)))[:300]}",
                         "Check BLOB_ACCOUNT_URL / BLOB_CONNECTION_STRING and the network path to the account.") from None
    except AzureError as exc:
        raise arm_error(exc, f"blob {container}/{path}", "the configured storage account",
                        role="Storage Blob Data Reader") from None


@check(id="database.signed_document", title="Newest signed document: file present and intact", severity="high",
       remediation="Check that signed documents' files are in Blob Storage and unchanged.",
       risk="A database restore is useless for signed documents whose files are gone or altered.")
def signed_document(ctx: RunContext) -> Outcome:
    s = ctx.settings
    s.require("signed_document_table")
    with session(ctx) as conn:
        found, path, ordered_at, stored = read_newest_signed(conn, s)
    path = str(path).lstrip("/") if path else path
    base = dict(table=s.signed_document_table, found=found, blob_path=path, ordered_at=ordered_at,
                stored_checksum=stored, checksum_column=s.signed_document_checksum_column,
                container=s.signed_document_container)
    if not found or not path:
        return evaluate_signed_document(SignedDocumentFacts(**base), s)
    try:
        s.require("signed_document_container")
        if not (s.blob_account_url or s.blob_connection_string):
            raise NotConfigured("BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) not set")
    except NotConfigured as exc:
        return evaluate_signed_document(SignedDocumentFacts(**base, not_checked_reason=str(exc)), s)
    blob = hash_blob(ctx, s.signed_document_container, path,
                     with_hash=bool(s.signed_document_checksum_column and stored))
    return evaluate_signed_document(SignedDocumentFacts(
        **base, blob_checked=True, blob_exists=blob["exists"], blob_missing_code=blob.get("code"),
        blob_size=blob.get("size"), actual_sha256=blob.get("sha256")), s)


__all__ = ["ConnectivityFacts", "evaluate_connectivity", "MigrationFacts", "evaluate_migration",
           "TableSpec", "TableCount", "CountFacts", "evaluate_essential_counts", "count_tables",
           "SignedDocumentFacts", "evaluate_signed_document", "normalize_sha256", "session"]
