"""The protections section of the monthly report: the state of each protection check beyond
the procedure's five boxes (issue 17), as the month's newest verification run saw it.

These are not boxes of the procedure (they do not change "N of 5 ticked" nor a sign-off), but
a reviewer sees at a glance which protections were on that month and which were not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.engine.i18n import N_, summary_of
from checks.engine.model import CheckResult, Status
from checks.report.residency import month_residency

PROTECTION_CHECKS: tuple[tuple[str, str], ...] = (
    ("blob.container_soft_delete", N_("Container soft delete")),
    ("blob.point_in_time_restore", N_("Blob point-in-time restore")),
    ("blob.change_feed", N_("Blob change feed")),
    ("blob.lifecycle", N_("Lifecycle rules keep the retention window")),
    ("storage.key_access", N_("No Shared Key / permanent delete")),
    ("storage.immutability", N_("Immutable (WORM) storage")),
    ("postgres.immutable_backup", N_("PostgreSQL immutable backups")),
    ("postgres.encryption", N_("PostgreSQL encryption keys usable")),
    ("postgres.backup_residency", N_("PostgreSQL backups in allowed regions")),
    ("storage.replication_residency", N_("Storage replicas in allowed regions")),
    ("postgres.restore_residency", N_("Drill and incident-restore servers in allowed regions")),
    ("postgres.ltr_residency", N_("Long-term retention backups in allowed regions")),
    ("postgres.long_term_retention", N_("PostgreSQL long-term retention")),
)
NO_EVIDENCE = "no evidence"


@dataclass
class Protection:
    check_id: str
    label: str
    status: str  # pass | warn | fail | error | skipped | no evidence
    summary: str = ""
    run_id: str | None = None
    at: str | None = None


def month_protections(runs: list[Any], results: dict[str, dict[str, CheckResult]]) -> list[Protection]:
    """Per protection check: the newest result that is not `skipped` among `runs` (newest first;
    the caller leaves out drill runs); else the newest skip with its reason; else no evidence."""
    out = []
    for check_id, label in PROTECTION_CHECKS:
        found = [(run, results[run.run_id][check_id]) for run in runs if check_id in results[run.run_id]]
        deciding = next(((run, r) for run, r in found if r.status is not Status.SKIPPED), None) or \
            (found[0] if found else None)
        if deciding is None:
            out.append(Protection(check_id, label, NO_EVIDENCE))
            continue
        run, result = deciding
        out.append(Protection(check_id, label, result.status.value, summary_of(result), run.run_id, run.started_at))
    return out


def protection_fields(runs: list[Any], results: dict[str, dict[str, CheckResult]]) -> dict[str, Any]:
    """The month report's protections and its "all copies in the EEA" line (checks/report/residency.py)."""
    protections = month_protections(runs, results)
    return {"protections": protections, "residency": month_residency(protections, results)}


def counts_text(protections: list[Protection]) -> str:
    """"7 pass, 1 warn, 2 no evidence" (overview cell)."""
    order = ("pass", "warn", "fail", "error", "skipped", NO_EVIDENCE)
    counts = {s: sum(p.status == s for p in protections) for s in order}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "–"
