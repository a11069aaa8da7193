"""The restore drill's rule and the facts it judges: `evaluate_drill(facts, settings) -> Outcome`.

The one place that decides a drill's status, at every point the state machine needs one
(checks/drill/restore_drill.py): a drill stopped before verification (refused by a guard, refused
or failed in Azure, past its deadline), the verification of the restored server, and the
downgrade of a passing drill whose server could not be cleaned up. `gather_facts` is the I/O:
the database checks run on the restored server, production's counts and both Alembic revisions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import join_messages, msg, msgn, plain, summary_of
from checks.engine.model import Outcome, Status
from checks.drill.objectives import REMEDIATION as OBJECTIVES_REMEDIATION, score_objectives
from checks.drill.rpo import RpoFacts, evaluate_rpo, measure_rpo, rpo_figures  # noqa: F401 (re-exported)
from checks.engine.timeutil import minutes, parse_iso

# why a drill stopped before its verification → the status it gets
STOPPED_STATUS = {"guard": Status.FAIL, "conflict": Status.FAIL, "restore_failed": Status.FAIL,
                  "overdue": Status.FAIL, "azure": Status.ERROR,
                  "parity": Status.FAIL,  # the drill server's access differs from production's (checks/drill/parity.py)
                  "failed": Status.FAIL}  # a drill stored before `stopped_by` existed, that had failed
CLEANUP_PROBLEMS = ("refused", "failed", "disposal pending")  # a cleanup line when the server may still exist
PARITY_REMEDIATION = msg("Give the drill servers production's access rules (network: the same VNet subnet or private "
                         "endpoint, public access off; the same customer-managed key; Entra-only authentication "
                         "when production is), see the drill's parity findings, then start a new drill.")


@dataclass(frozen=True)
class DrillFacts:
    target_server: str
    restored_checks: dict[str, tuple[str, str]] = field(default_factory=dict)  # check id -> (status, summary)
    restored_counts: dict[str, int] = field(default_factory=dict)
    production_counts: dict[str, int] = field(default_factory=dict)
    restored_revision: str | None = None
    production_revision: str | None = None
    revision_error: str = ""
    production_error: str = ""
    rto_minutes: float | None = None
    restore_point: str = ""
    stopped_by: str | None = None  # a STOPPED_STATUS key (or "" = unknown): no verification ran
    stop_reason: str = ""  # the error that stopped it
    stop_summary: str = ""  # what the drill said about it ("drill not started: ...")
    cleanup: str = ""  # how the cleanup of the restored server ended ("" = not yet)
    rpo: RpoFacts | None = None  # RPO_PROBE measured on both servers (None = not configured)
    parity_warnings: int = 0  # access-parity differences that warn (checks/drill/parity.py); failing ones stop it


def evaluate_drill(facts: DrillFacts, settings: Settings) -> Outcome:
    """Passes when every database check passes on the restored server, its Alembic revision equals
    production's and no essential table holds more rows than production (it cannot: production only
    grew since the restore point). Fails on a failing/erroring check, a revision mismatch or a table
    larger than production's, and when the drill stopped before verification (refused by a guard,
    409 in Azure, restore failed, past RESTORE_DRILL_MAX_HOURS); errors when Azure refused it
    otherwise. Warns when the shortfall of a table exceeds COUNT_DROP_THRESHOLD_PERCENT, when there
    were no counts to compare, or when a passing drill's server could not be cleaned up (refused or
    failed delete: the sweeper has to remove it). With RPO_PROBE, `evaluate_rpo` adds its verdict
    (fail: not restored to T, or rows up to T missing; warn: not measured). An access-parity difference that
    does not fail the drill warns (checks/drill/parity.py). A measured RTO above
    RTO_TARGET_MINUTES or RPO above RPO_TARGET_SECONDS fails (checks/drill/objectives.py: warns when a target
    is set and its figure was not measured); a drill stopped by the access-parity check fails; a drill whose
    server's disposal is not proven (cleanup "disposal pending") warns."""
    if facts.stopped_by is not None:
        status = STOPPED_STATUS.get(facts.stopped_by, Status.ERROR)
        reason = facts.stop_reason or facts.stop_summary
        outcome = Outcome(status, facts.stop_summary or reason, {"verification": {"status": "not run",
                                                                                  "reason": reason}},
                          PARITY_REMEDIATION if facts.stopped_by == "parity" else None)
    else:
        outcome = _verification(facts, settings)
    if not facts.cleanup:
        return outcome
    status = outcome.status
    if status == Status.PASS and facts.cleanup.startswith(CLEANUP_PROBLEMS):
        status = Status.WARN
    return Outcome(status, msg("{summary}; server {server}: {cleanup}", summary=outcome.summary,
                               server=facts.target_server, cleanup=facts.cleanup), outcome.details, outcome.remediation)


def _compare_counts(facts: DrillFacts, threshold: float) -> tuple[dict[str, Any], list[str], list[str]]:
    """(per-table comparison, tables larger than production, shortfalls above the threshold)."""
    counts, larger, short = {}, [], []
    for table in sorted(set(facts.restored_counts) | set(facts.production_counts)):
        restored, production = facts.restored_counts.get(table), facts.production_counts.get(table)
        entry: dict[str, Any] = {"restored": restored, "production": production}
        if restored is not None and production is not None:
            entry["shortfall_percent"] = round(100 * (production - restored) / production, 1) if production else 0.0
            if restored > production:
                larger.append(table)
            elif production and entry["shortfall_percent"] > threshold:
                short.append(msg("{table} {restored}/{production} (-{percent}%)", table=table, restored=restored,
                                 production=production, percent=plain(entry["shortfall_percent"])))
        counts[table] = entry
    return counts, larger, short


def _verification_record(facts: DrillFacts, counts: dict[str, Any], threshold: float) -> dict[str, Any]:
    verification = {
        "checks": {cid: {"status": st, "summary": _cut(summary, 200)} for cid, (st, summary) in facts.restored_checks.items()},
        "counts": counts,
        "alembic_revision": {"restored": facts.restored_revision, "production": facts.production_revision},
        "shortfall_threshold_percent": threshold,
    }
    if facts.revision_error:
        verification["alembic_error"] = facts.revision_error[:300]
    if facts.production_error:
        verification["production_error"] = facts.production_error[:300]
    return verification


def _problems(facts: DrillFacts, counts: dict[str, Any], larger: list[str]) -> list[str]:
    problems = []
    failing = [cid for cid, (st, _) in facts.restored_checks.items() if st in ("fail", "error")]
    if not any(st == "pass" for st, _ in facts.restored_checks.values()):
        problems.append(msg("nothing was verified on the restored server (no database check passed; "
                            "is the database configured?)"))
    if failing:  # each inner msg() outside the outer call's arguments: Babel does not extract nested calls
        each = [msg("{check_id} {status} ({summary})", check_id=cid, status=facts.restored_checks[cid][0],
                    summary=_cut(facts.restored_checks[cid][1], 120)) for cid in failing]
        problems.append(msg("on the restored server: {checks}", checks=join_messages(each, "; ")))
    unknown = msg("unknown")
    if facts.restored_revision != facts.production_revision:
        problems.append(msg("Alembic revision {restored} on the restored server, {production} in production",
                            restored=facts.restored_revision or unknown, production=facts.production_revision or unknown))
    if larger:
        tables = [msg("{table} {restored}>{production}", table=t, restored=counts[t]["restored"],
                      production=counts[t]["production"]) for t in larger]
        problems.append(msg("more rows restored than in production (wrong source, or production lost rows): {tables}",
                            tables=join_messages(tables, ", ")))
    return problems


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters (a short text stays the Message it is, so it still translates)."""
    return text if len(text) <= limit else text[:limit]


def _verification(facts: DrillFacts, settings: Settings) -> Outcome:
    threshold = settings.count_drop_threshold_percent
    counts, larger, short = _compare_counts(facts, threshold)
    verification = _verification_record(facts, counts, threshold)
    problems = _problems(facts, counts, larger)
    warned = [cid for cid, (st, _) in facts.restored_checks.items() if st == "warn"]
    warnings = []
    rpo_status, rpo_line, rpo_record = evaluate_rpo(facts.rpo) if facts.rpo else (None, "", None)
    if rpo_record is not None:
        verification["rpo"] = rpo_record
        (problems if rpo_status is Status.FAIL else warnings if rpo_status is Status.WARN else []).append(rpo_line)
    objective_problems, objective_warnings, verification["objectives"] = score_objectives(
        facts.rto_minutes, rpo_record, settings)  # RTO_TARGET_MINUTES, RPO_TARGET_SECONDS: a breach fails
    problems += objective_problems
    warnings += objective_warnings
    if short:
        warnings.append(msg("shortfall above {threshold}% vs production: {tables}", threshold=plain(threshold),
                            tables=join_messages(short, ", ")))
    if not counts:
        warnings.append(msg("no essential table counts to compare (ESSENTIAL_TABLES / database.essential_counts)"))
    if warned:
        warnings.append(msg("warnings on the restored server: {checks}", checks=", ".join(warned)))
    if facts.parity_warnings:
        warnings.append(msgn("access parity: {count} difference from production that does not fail the drill (see "
                             "its parity findings)", "access parity: {count} differences from production that do not "
                             "fail the drill (see its parity findings)", "count", count=facts.parity_warnings))
    rto = msg("RTO {minutes} min", minutes=plain(facts.rto_minutes)) if facts.rto_minutes is not None \
        else msg("RTO unknown")
    if problems:
        verification["status"] = Status.FAIL.value
        return Outcome.fail(msg("restore drill to {server} failed verification: {problems}", server=facts.target_server,
                                problems=join_messages(problems, "; ")),
                            _remedy(len(problems) > len(objective_problems), bool(objective_problems)),
                            verification=verification)
    if warnings:
        verification["status"] = Status.WARN.value
        return Outcome.warn(msg("restored {server} ({rto}); {warnings}", server=facts.target_server, rto=rto,
                                warnings=join_messages(warnings, "; ")), None, verification=verification)
    verification["status"] = Status.PASS.value
    compared = msgn("{count} table ≤ production",
                    "{count} tables ≤ production", "count",
                    count=len(counts)) if counts else msg("no counts compared")
    passed = msgn("restored {server} to {point} ({rto}); {checks} database check passes, {compared}, Alembic "
                  "{revision}",
                  "restored {server} to {point} ({rto}); {checks} database checks pass, {compared}, Alembic "
                  "{revision}", "checks",
                  server=facts.target_server, point=facts.restore_point, rto=rto, checks=len(facts.restored_checks),
                  compared=compared, revision=str(facts.restored_revision))
    return Outcome.passed(join_messages([passed, rpo_line], "; ") if rpo_line else passed, verification=verification)


def _remedy(verification_failed: bool, objective_missed: bool) -> str:
    investigate = msg("Investigate the restored server before trusting the backups; re-run the drill "
                      "with RESTORE_DRILL_KEEP=true to inspect it.")
    if not objective_missed:
        return investigate
    return join_messages([investigate, OBJECTIVES_REMEDIATION], " ") if verification_failed else OBJECTIVES_REMEDIATION


def recorded_facts(target_server: str, verification: dict[str, Any], rto_minutes: float | None,
                   restore_point: str, cleanup: str) -> DrillFacts:
    """The facts of a verification recorded earlier (the drill's `verification`, which holds them all:
    checks, both counts, both revisions), with how the cleanup ended: a later invocation re-judges
    the drill with the same rule."""
    counts = verification.get("counts") or {}
    revisions = verification.get("alembic_revision") or {}
    return DrillFacts(
        target_server=target_server,
        restored_checks={cid: (c.get("status", ""), c.get("summary", ""))
                         for cid, c in (verification.get("checks") or {}).items()},
        restored_counts={t: c["restored"] for t, c in counts.items() if c.get("restored") is not None},
        production_counts={t: c["production"] for t, c in counts.items() if c.get("production") is not None},
        restored_revision=revisions.get("restored"), production_revision=revisions.get("production"),
        revision_error=verification.get("alembic_error", ""), production_error=verification.get("production_error", ""),
        rto_minutes=rto_minutes, restore_point=restore_point, cleanup=cleanup, rpo=recorded_rpo(verification.get("rpo")))


def recorded_rpo(record: dict[str, Any] | None) -> RpoFacts | None:
    """The RPO facts back from their journaled record (evaluate_rpo's third value)."""
    if not record:
        return None
    return RpoFacts(probe=record["probe"], restore_point=parse_iso(record["restore_point"]),
                    restored_newest=parse_iso(record.get("restored_newest")),
                    restored_upto=record.get("restored_rows_upto_t"),
                    production_upto=record.get("production_rows_upto_t"), error=record.get("error", ""))


# --- I/O --------------------------------------------------------------------------------------
def gather_facts(ctx: RunContext, target_server: str, target_host: str, restore_point: str,
                 requested_at: str, ready_at: str) -> DrillFacts:
    """Run the database checks on the restored server and production's counts (bounded by check timeouts)."""
    from checks.engine.registry import select
    from checks.engine.runner import run_checks

    specs = select(["database.*"])
    restored_ctx = sub_context(ctx, target_host or None)
    try:
        restored = run_checks(specs, restored_ctx, trigger="drill")
    finally:
        restored_ctx.close()
    production_counts, production_error = _production_counts(ctx, [s for s in specs
                                                                   if s.id == "database.essential_counts"])
    restored_counts = next((counts_of(r.details) for r in restored.results
                            if r.check_id == "database.essential_counts"), {})
    restored_rev, err1 = alembic_revision(ctx, target_host or None)
    production_rev, err2 = alembic_revision(ctx, None)
    ready, requested = parse_iso(ready_at), parse_iso(requested_at)
    return DrillFacts(target_server=target_server,
                      restored_checks={r.check_id: (r.status.value, summary_of(r)) for r in restored.results},
                      restored_counts=restored_counts, production_counts=production_counts,
                      restored_revision=restored_rev, production_revision=production_rev,
                      revision_error="; ".join(e for e in (err1 and f"restored: {err1}",
                                                           err2 and f"production: {err2}") if e),
                      production_error=production_error,
                      rto_minutes=minutes(ready - requested) if ready and requested else None,
                      restore_point=restore_point, rpo=measure_rpo(ctx, target_host or None, restore_point))


def _production_counts(ctx: RunContext, count_specs: list) -> tuple[dict[str, int], str]:
    from checks.engine.runner import run_checks

    if not count_specs:
        return {}, ""
    prod_ctx = sub_context(ctx, None)
    try:
        prod = run_checks(count_specs, prod_ctx, trigger="drill").results[0]
    finally:
        prod_ctx.close()
    counts = counts_of(prod.details)
    return counts, (prod.summary if prod.status == Status.ERROR and not counts else "")


def sub_context(ctx: RunContext, host: str | None) -> RunContext:
    # no journal: the checks must not compare the restored server with production's previous run
    return RunContext(settings=ctx.settings, clock=ctx.clock, credential=ctx.credential,
                      azure_kwargs=dict(ctx.azure_kwargs), db_host=host)


def counts_of(details: dict[str, Any]) -> dict[str, int]:
    out = {}
    for table, value in (details.get("counts") or {}).items():
        if isinstance(value, dict):
            value = value.get("count", value.get("rows"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(table)] = int(value)
    return out


def alembic_revision(ctx: RunContext, host: str | None) -> tuple[str | None, str]:
    """(revision, error) through a read-only session on the given host (database.read_migration)."""
    import psycopg
    from checks.connect.database import session
    from checks.engine.model import CheckError, NotConfigured
    from checks.families.database import read_migration

    s = ctx.settings
    host_ctx = sub_context(ctx, host)
    try:
        with session(host_ctx) as conn:
            facts = read_migration(conn, s.alembic_schema, s.alembic_version_table)
    except (CheckError, NotConfigured) as exc:
        return None, str(exc)
    except psycopg.Error as exc:
        return None, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    finally:
        host_ctx.close()
    if not facts.table_exists:
        return None, f"Alembic version table {facts.table} not found"
    return (facts.revisions[0], "") if facts.revisions else (None, "no Alembic revision row")
