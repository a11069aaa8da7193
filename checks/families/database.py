"""Database dry-run checks: the database as the application sees it, through a read-only session.

Every check opens its own session (checks/connect/database.session, `host=ctx.db_host`), so the restore
drill can run the same checks (through the registry) against a restored server by setting
`RunContext.db_host`, and compare `details["counts"]` of `database.essential_counts` between
production and the restore. Configured identifiers (tables, columns, schemas) are only ever
passed to PostgreSQL quoted with `psycopg.sql.Identifier` or as bound parameters, never pasted
into SQL text; the session is read-only on top of that (see checks/connect/database.py).
`database.signed_document` lives in checks/families/signed_document.py (it reads Blob Storage too).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from checks.engine.config import DATABASE, Settings
from checks.engine.context import RunContext
from checks.engine.i18n import N_, join_messages, msg, msgn
from checks.engine.i18n import plain as plain_number
from checks.engine.model import JournalUnavailable, Outcome
from checks.connect.database import credential_getter, query_error, session, target_of, timed_connect
from checks.engine.redact import first_line, redact
from checks.engine.controls import INTEGRITY
from checks.engine.registry import check
from checks.engine.target import Target, database_of_details
from checks.engine.timeutil import plain


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
        return Outcome.fail(msg("connected, but the session is NOT read-only"),
                            msg("The verifier must never be able to write: check the server's "
                                "default_transaction_read_only handling and use a read-only role."), **details)
    if facts.statement_timeout in ("0", ""):
        return Outcome.warn(msg("connected read-only, but statements have no time limit (statement_timeout 0)"),
                            msg("Set DB_STATEMENT_TIMEOUT_MS; check that no role/database setting overrides it."),
                            **details)
    return Outcome.passed(msg("connected to PostgreSQL {version} in {latency_ms} ms (read-only session, "
                              "statement_timeout {statement_timeout})", version=facts.server_version,
                              latency_ms=plain_number(facts.latency_ms), statement_timeout=facts.statement_timeout),
                          **details)


@check(id="database.connectivity", title="Database connectivity (read-only session)", severity="critical",
       remediation="Check DATABASE_URL / PG* settings, network access and credentials of the verifier.",
       risk="If the application's database cannot be reached, nothing else about it can be verified.",
        controls=INTEGRITY)
def connectivity(ctx: RunContext) -> Outcome:
    conn, latency = timed_connect(ctx.settings, credential_getter(ctx), host=ctx.db_host)
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
        return Outcome.warn(msg("Alembic version table {table} not found: the schema revision is unknown",
                                table=facts.table),
                            msg("Set ALEMBIC_SCHEMA / ALEMBIC_VERSION_TABLE to where Alembic keeps its version, "
                                "or check that migrations ran on this database."), **details)
    if not facts.revisions:
        return Outcome.warn(msg("Alembic version table {table} is empty: the schema revision is unknown",
                                table=facts.table),
                            msg("Run the application's migrations (alembic upgrade head) or check the table."),
                            **details)
    revisions = ", ".join(facts.revisions)  # revision ids: the same in every language
    if expected and expected not in facts.revisions:
        return Outcome.fail(msg("schema revision {found} differs from the expected {expected}",
                                found=revisions, expected=expected),
                            msg("Migrate the database (alembic upgrade) or update EXPECTED_ALEMBIC_REVISION "
                                "after a deliberate release."), **details)
    if len(facts.revisions) > 1:
        return Outcome.warn(msgn("Alembic version table {table} has {count} row ({revisions}); expected one",
                                 "Alembic version table {table} has {count} rows ({revisions}); expected one", "count",
                                 table=facts.table, count=len(facts.revisions), revisions=revisions),
                            msg("Several heads are recorded (branched migrations?): merge them or clean the table."),
                            **details)
    revision = facts.revisions[0]
    if expected:
        return Outcome.passed(msg("schema at the expected revision {revision}", revision=revision), **details)
    return Outcome.passed(msg("schema at revision {revision} (EXPECTED_ALEMBIC_REVISION not set, not compared)",
                              revision=revision), **details)


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
        raise query_error(exc, msg("Alembic table {table}", table=name)) from None
    return MigrationFacts(name, True, tuple(str(r[0]) for r in rows))


@check(id="database.migration", title="Database schema revision (Alembic)", severity="high",
       remediation="Migrate the database to the release's revision, or set EXPECTED_ALEMBIC_REVISION to it.",
       risk="A database at another schema revision than the application breaks it after a restore.",
        controls=INTEGRITY)
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
    comparison: str = ""  # how (or why not) the previous run was compared (a Message)
    comparison_failed: bool = False  # the journal could not be read
    previous_target: str | None = None  # host:port/db the previous counts came from
    baseline: Mapping[str, Any] | None = None  # {table: accepted count, plain} (checks/journal/baseline.py)
    no_baseline: tuple[str, ...] = ()  # tables without an accepted count of this target and database
    baseline_complete: bool = False  # the journal was read: the baseline is every accepted count there is


def comparable_previous(facts: CountFacts) -> tuple[Mapping[str, int] | None, str]:
    """(previous counts to compare with, how): counts taken on another server (e.g. a restored one)
    are not comparable with this server's."""
    if facts.previous is not None and facts.previous_target and facts.target \
            and facts.previous_target != facts.target:
        return None, msg("the previous result was for another server ({target}): not compared",
                         target=facts.previous_target)
    return facts.previous, facts.comparison


def evaluate_essential_counts(facts: CountFacts, settings: Settings) -> Outcome:
    """Passes when every essential table exists, has at least its minimum number of rows, and none
    dropped by more than COUNT_DROP_THRESHOLD_PERCENT since the previous run (growth is fine).
    Fails when a table is missing, below its minimum, or dropped ("possible data loss"). Errors when
    a table could not be read; warns when the previous run could not be read from the journal."""
    threshold = settings.count_drop_threshold_percent
    previous, comparison = comparable_previous(facts)
    counts = {t.name: t.rows for t in facts.tables if t.rows is not None}
    details: dict[str, Any] = {
        "counts": counts,
        "methods": {t.name: t.method for t in facts.tables if t.method},
        "minimums": {t.name: t.minimum for t in facts.tables if t.minimum is not None},
        "target": facts.target,
        "exact_count_max_rows": settings.exact_count_max_rows,
        "comparison": comparison,
        "previous_run_id": facts.previous_run_id,
        "previous_counts": dict(previous) if previous is not None else None,
        "baseline": dict(facts.baseline or {}),
        "baseline_complete": facts.baseline_complete,
    }
    if facts.no_baseline:
        details["no_baseline"] = list(facts.no_baseline)
    estimated = {t.name: t.analyzed_at for t in facts.tables if t.method == "estimate"}
    if estimated:
        details["estimated_as_of"] = estimated
    failures, errors = [], []
    for t in facts.tables:
        if t.missing:
            failures.append(msg("table {table} not found", table=t.name))
        elif t.error:
            errors.append(msg("{table}: {error}", table=t.name, error=t.error))
        elif t.minimum is not None and t.rows < t.minimum:
            failures.append(msgn("{table} has {rows} row, below the minimum of {minimum}",
                                 "{table} has {rows} rows, below the minimum of {minimum}", "rows", table=t.name,
                                 rows=t.rows, minimum=t.minimum))
    drops, losses = count_drops(facts.tables, previous, threshold)
    failures += losses
    if drops:
        details["drops"] = drops
    if missing := [t.name for t in facts.tables if t.missing]:
        details["missing"] = missing
    if errors:
        details["errors"] = errors
        return Outcome.error(join_messages(errors + failures),
                             msg("Grant the verifier SELECT on the essential tables, or raise "
                                 "DB_STATEMENT_TIMEOUT_MS / ANALYZE large tables."), **details)
    if failures:
        remediation = (msg("Find out where the rows went (recent deletes, a failed import, a wrong restore) "
                           "before the next backup rotation overwrites good copies.") if drops else
                       msg("Check ESSENTIAL_TABLES and that the application's data is where it should be."))
        return Outcome.fail(join_messages(failures), remediation, **details)
    shown = join_messages([msg("{table} {rows} (estimate)", table=name, rows=rows)
                           if details["methods"].get(name) == "estimate"
                           else msg("{table} {rows}", table=name, rows=rows) for name, rows in counts.items()], ", ")
    if facts.comparison_failed:
        return Outcome.warn(msg("{counts}; not compared with the previous run: {comparison}", counts=shown,
                                comparison=comparison),
                            msg("Check the journal's storage account and the function's access to it."), **details)
    return Outcome.passed(msg("{counts}; {comparison}", counts=shown, comparison=comparison), **details)


def count_drops(tables: tuple[TableCount, ...], previous: Mapping[str, int] | None,
                threshold: float) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """({table: previous, current, drop_percent}, "possible data loss" messages) of each table that
    lost more than `threshold` % of its rows since `previous` (growth, new or unread tables: none)."""
    drops, losses = {}, []
    for t in tables:
        before = (previous or {}).get(t.name)
        if t.rows is None or not isinstance(before, (int, float)) or before <= 0 or t.rows >= before:
            continue
        drop = (before - t.rows) * 100.0 / before
        if drop > threshold:
            drops[t.name] = {"previous": int(before), "current": t.rows, "drop_percent": round(drop, 2)}
            losses.append(msgn("possible data loss: {table} dropped from {before} to {rows} row (-{drop} %, "
                               "threshold {threshold} %)",
                               "possible data loss: {table} dropped from {before} to {rows} rows (-{drop} %, "
                               "threshold {threshold} %)", "rows", table=t.name, before=int(before), rows=t.rows,
                               drop=round(drop, 1), threshold=plain_number(threshold)))
    return drops, losses


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
                                          analyzed_at=plain(analyzed)))
                    continue
                # small, never analyzed (-1) or a partitioned parent: count exactly (statement_timeout bounds it)
                rows = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
                                    ).fetchone()[0]
                out.append(TableCount(name, int(rows), "exact", spec.minimum))
        except psycopg.Error as exc:
            out.append(TableCount(spec.name, minimum=spec.minimum, error=query_error(exc, spec.name).reason))
    return tuple(out)


# Texts runs journaled before the baseline was per target, database and table (December 2026): no longer
# written, still extracted so a stored fact of an older month reads in French too.
JOURNALED_BEFORE = (N_("no previous run with accepted (passed) counts this month or last month: not compared"),)


def previous_counts(ctx: RunContext, tables: tuple[TableCount, ...], target: str) -> CountFacts:
    """The facts with the baseline (checks/journal/baseline.py): for each table, the newest accepted count
    (a passing run's, or one someone acknowledged after a drop with `python -m checks ack`) of the same
    target and the same database, however old. A failed run's counts never become it: a drop stays
    failing until the counts recover or someone acknowledges it. A table without one is said so."""
    facts = CountFacts(tables, target)
    if ctx.journal is None:
        return replace(facts, comparison=msg("no journal available: not compared with a previous run"))
    configured = Target.from_settings(ctx.settings)
    read = database_of_details(target)
    if read != configured.database():
        return replace(facts, comparison=msg("the counts were read from {read}, not from the configured database "
                                             "{configured}: not compared", read=target,
                                             configured=configured.database_label()))
    names = [t.name for t in tables]
    try:
        found = ctx.journal.baseline(configured, names, ctx.now())
    except (JournalUnavailable, ValueError) as exc:  # unreachable, or an entity that does not parse
        return replace(facts, comparison=msg("journal read failed ({reason})", reason=redact(first_line(str(exc)))[:200]),
                       comparison_failed=True)
    missing = [n for n in names if n not in found]
    parts = [_baseline_text(found[n]) for n in names if n in found]
    comparison = (msg("compared with the newest accepted counts of this target and database: {tables}",
                      tables=join_messages(parts, "; ")) if parts else "")
    if missing:
        none = msg("no accepted count of {tables} for this target and database: not compared",
                   tables=", ".join(missing))
        comparison = join_messages([comparison, none], "; ") if comparison else none
    newest = max(found.values(), key=lambda a: a.at, default=None)
    return replace(facts, previous={n: a.rows for n, a in found.items()}, comparison=comparison,
                   previous_run_id=newest.run_id if newest else None, baseline_complete=True,
                   baseline={n: a.to_dict() for n, a in found.items()}, no_baseline=tuple(missing))


def _baseline_text(accepted: Any) -> str:
    at = accepted.at.isoformat()
    if accepted.source == "ack":
        return msg("{table} {rows} (run {run_id} of {at}, acknowledged by {by}: {reason})", table=accepted.table,
                   rows=accepted.rows, by=accepted.by, at=at, run_id=accepted.run_id, reason=accepted.reason)
    return msg("{table} {rows} (run {run_id} of {at})", table=accepted.table, rows=accepted.rows,
               run_id=accepted.run_id, at=at)


@check(id="database.essential_counts", title="Essential tables: row counts and drops", severity="critical",
       remediation="Check ESSENTIAL_TABLES and where the application's rows went.",
       risk="Lost rows (a bad deploy, a wrong delete, a partial restore) go unnoticed until someone needs them.",
        controls=INTEGRITY)
def essential_counts(ctx: RunContext) -> Outcome:
    s = ctx.settings
    s.require(DATABASE, "essential_tables")  # every missing variable at once
    specs = tuple(TableSpec.parse(e) for e in s.essential_tables)
    with session(ctx) as conn:
        target = target_of(conn)
        tables = count_tables(conn, specs, s.exact_count_max_rows)
    outcome = evaluate_essential_counts(previous_counts(ctx, tables, target), s)
    outcome.details["run_id"] = ctx.run_id  # so the next run can name this one
    return outcome


__all__ = ["ConnectivityFacts", "evaluate_connectivity", "MigrationFacts", "evaluate_migration",
           "TableSpec", "TableCount", "CountFacts", "evaluate_essential_counts", "count_tables",
           "comparable_previous", "previous_counts", "read_migration"]
