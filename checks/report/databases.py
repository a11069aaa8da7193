"""Which runs are evidence about production's database (issue 27 item 3).

A run records the database its checks read (`Target.database_host` / `database_name`, from
DATABASE_URL or PG*), and each database result names the database it read (`details["target"]`,
host:port/dbname). The dry-run box is about production's database: a run counts for it only when
every database result that names a database names production's, and either the run recorded
production's database or, journaled before runs recorded it, at least one of its results names it.
Where no database is configured for production (a report made without DATABASE_URL / PG*), which database
is production's cannot be told: the rule is not applied (as before databases were recorded).
A run that did not record its database and whose results name none cannot tick the box (it is left out
when all its database results passed); its failures and errors still decide it, never hidden.
"""
from __future__ import annotations

from typing import Iterable

from checks.engine.i18n import msg
from checks.engine.model import CheckResult, Status
from checks.engine.target import Target, database_of_details
from checks.report.model import RunRef

MAX_NOTES = 10


def about_production_database(target: Target | None, results: Iterable[CheckResult], production: Target | None) -> bool:
    """Evidence about production's database: every database result that names the database it read
    (details["target"]) names production's, and either the run recorded production's database or, journaled
    before runs recorded it, at least one of its results names it (nothing named: not evidence)."""
    wanted = production.known_database() if production is not None else None
    if wanted is None:
        return True
    named = [database_of_details(r.details.get("target")) for r in results]
    named = [n for n in named if n is not None]
    if any(n != wanted for n in named):
        return False
    recorded = target.database() if target is not None else None
    return recorded == wanted if recorded is not None else bool(named)


def about_database(runs: list[RunRef], results: dict[str, dict[str, CheckResult]], production: Target | None,
                   notes: list[str]) -> list[RunRef]:
    """The runs that may decide the dry-run box: those about production's database; a note for each other."""
    out, shown = [], 0
    for run in runs:
        db = [r for cid, r in results[run.run_id].items() if cid.startswith("database.") and r.status is not Status.SKIPPED]
        if not db or about_production_database(run.target, db, production):
            out.append(run)
        elif _unknown(run, db) and not all(r.status is Status.PASS for r in db):
            out.append(run)  # database unknown: it cannot tick the box, but its failure or error still stands
        elif shown < MAX_NOTES:
            shown += 1
            notes.append(msg("run {run_id} did not read production's database ({database}): not evidence for "
                             "the dry run", run_id=run.run_id, database=_database_read(run, db)))
    return out


def _unknown(run: RunRef, db: list[CheckResult]) -> bool:
    """Journaled before runs recorded their database, and no result names one."""
    return (run.target is None or run.target.database() is None) and \
        not any(database_of_details(r.details.get("target")) for r in db)


def _database_read(run: RunRef, db: list[CheckResult]) -> str:
    named = sorted({str(r.details.get("target")) for r in db if database_of_details(r.details.get("target"))})
    if named:
        return ", ".join(named[:3])
    return run.target.database_label() if run.target is not None else msg("database not recorded")
