"""The restore drill's measured RPO, from RPO_PROBE = schema.table.timestamp_column (an
append-mostly table, e.g. consultations' creation time).

After a drill restored production to point T, with read-only sessions on both servers:
* newest probe time in the restored database ≤ T (otherwise the restore is not at T);
* data-freshness gap = T − that newest probe time (`rpo_seconds`);
* rows with probe time ≤ T: production count == restored count (zero loss up to T); a shortfall
  fails with the number of missing rows (`rows_lost`).
`measure_rpo` is the I/O, `evaluate_rpo` the pure rule; checks/drill/verify.py folds the result
into the drill's verification, and the journal/report carry `rpo_seconds` and `rows_lost`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checks.engine.context import RunContext
from checks.engine.i18n import msg, msgn, plain
from checks.engine.model import CheckError, NotConfigured, Status
from checks.engine.timeutil import iso_z, parse_iso, to_utc
from checks.engine.valueparse import reason_of


@dataclass(frozen=True)
class RpoFacts:
    probe: str  # schema.table.column
    restore_point: datetime
    restored_newest: datetime | None = None  # newest probe time in the restored database
    restored_upto: int | None = None  # restored rows with probe time ≤ T
    production_upto: int | None = None  # production rows with probe time ≤ T
    error: str = ""  # why it could not be measured


def evaluate_rpo(facts: RpoFacts) -> tuple[Status, str, dict[str, Any]]:
    """(status, one line, the record journaled under verification.rpo).

    Passes when the restored newest probe time is ≤ T and production and the restore hold the
    same number of rows up to T (`rpo_seconds` = T − newest). Fails when the newest restored row
    is after T (not restored to T) or rows up to T are missing (`rows_lost`). Warns when it could
    not be measured, the restored table has no row, or production holds FEWER rows up to T than
    the restore (rows deleted in production since T: loss cannot be judged for them)."""
    record: dict[str, Any] = {"probe": facts.probe, "restore_point": iso_z(facts.restore_point),
                              "restored_newest": iso_z(facts.restored_newest) or None,
                              "restored_rows_upto_t": facts.restored_upto, "production_rows_upto_t": facts.production_upto,
                              "rpo_seconds": None, "rows_lost": None}
    if facts.error:
        record["error"] = facts.error[:300]
        error = facts.error if len(facts.error) <= 160 else facts.error[:160]  # a short Message stays one
        return Status.WARN, msg("RPO not measured ({error})", error=error), record
    if facts.restored_newest is None:
        return Status.WARN, msg("RPO not measured: no row in {probe} on the restored server", probe=facts.probe), record
    gap = (facts.restore_point - facts.restored_newest).total_seconds()
    record["rpo_seconds"] = round(gap, 3)
    lost = (facts.production_upto or 0) - (facts.restored_upto or 0)
    record["rows_lost"] = max(lost, 0)
    if gap < 0:
        return (Status.FAIL, msg("restore is not at {point}: newest {probe} on the restored server is {newest}, "
                                 "{seconds} s after it", point=record["restore_point"], probe=facts.probe,
                                 newest=record["restored_newest"], seconds=_g(-gap)), record)
    if lost > 0:
        return (Status.FAIL, msgn("{lost} row of {probe} up to {point} missing on the restored server ({restored} "
                                  "vs {production} in production)",
                                  "{lost} rows of {probe} up to {point} missing on the restored server "
                                  "({restored} vs {production} in production)", "lost", lost=lost, probe=facts.probe,
                                  point=record["restore_point"], restored=facts.restored_upto,
                                  production=facts.production_upto), record)
    if lost < 0:
        return (Status.WARN, msgn("production holds {fewer} row FEWER than the restore up to {point} in {probe} "
                                  "(deleted since?); RPO {seconds} s",
                                  "production holds {fewer} rows FEWER than the restore up to {point} in {probe} "
                                  "(deleted since?); RPO {seconds} s", "fewer",
                                  fewer=-lost, point=record["restore_point"],
                                  probe=facts.probe, seconds=_g(gap)), record)
    return (Status.PASS, msgn("RPO {seconds} s (newest {probe} restored: {newest}), 0 rows lost up to T ({rows} "
                              "row)",
                              "RPO {seconds} s (newest {probe} restored: {newest}), 0 rows lost up to T ({rows} "
                              "rows)", "rows",
                              seconds=_g(gap), probe=facts.probe, newest=record["restored_newest"],
                              rows=facts.production_upto), record)


def _g(seconds: float) -> float | int:
    """Seconds as `{:g}` showed them (six significant digits), kept a number for each language."""
    return plain(float(f"{seconds:g}"))


def _read(ctx: RunContext, host: str | None, probe: str, t: datetime, newest: bool) -> tuple[Any, int]:
    """(newest probe time or None, rows with probe time ≤ t) through a read-only session."""
    import psycopg
    from psycopg import sql

    from checks.connect.database import query_error, session
    from checks.drill.verify import sub_context

    schema, table, column = probe.split(".")
    col, tbl = sql.Identifier(column), sql.Identifier(schema, table)
    # two plain queries, so an index on the probe column serves both (max, and count up to T)
    upto = sql.SQL("select count(*) from {} where {} <= %s").format(tbl, col)
    host_ctx = sub_context(ctx, host)
    try:
        with session(host_ctx) as conn:
            latest = conn.execute(sql.SQL("select max({}) from {}").format(col, tbl)).fetchone()[0] if newest else None
            count = conn.execute(upto, (t,)).fetchone()[0]
    except psycopg.Error as exc:
        raise query_error(exc, msg("RPO_PROBE {probe}", probe=probe)) from None
    finally:
        host_ctx.close()
    return to_utc(latest), int(count)


def measure_rpo(ctx: RunContext, restored_host: str | None, restore_point: str) -> RpoFacts | None:
    """The RPO facts of a drill (None when RPO_PROBE is not set). Never raises: a failed read is
    recorded as the reason it was not measured."""
    probe = ctx.settings.rpo_probe
    t = parse_iso(restore_point)
    if not probe or t is None:
        return None
    try:
        newest, restored_upto = _read(ctx, restored_host, probe, t, newest=True)
        _, production_upto = _read(ctx, None, probe, t, newest=False)
    except (CheckError, NotConfigured) as exc:
        return RpoFacts(probe, t, error=getattr(exc, "reason", None) or reason_of(exc))  # a Message keeps its id
    return RpoFacts(probe, t, newest, restored_upto, production_upto)


def rpo_figures(verification: dict[str, Any] | None) -> dict[str, Any]:
    """`rpo_seconds` and `rows_lost` for the top level of the drill's journal details."""
    rpo = (verification or {}).get("rpo") or {}
    return {"rpo_seconds": rpo.get("rpo_seconds"), "rows_lost": rpo.get("rows_lost")}
