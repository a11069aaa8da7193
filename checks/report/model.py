"""The monthly report's model: the checklist's boxes, their states, and what a month report holds.

Built by checks/report/checklist.py from the journal, rendered by checks/report/render.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from checks import __version__
from checks.engine.fleet import DELIVERY_CHECK  # noqa: F401 (the report's name for it, checklist.py)
from checks.engine.i18n import N_
from checks.engine.model import Status
from checks.engine.target import Target
from checks.report.protections import Protection, counts_text

DRY_RUN_CHECKS = ("database.connectivity", "database.migration", "database.essential_counts",
                  "database.signed_document")
DRILL_CHECK = "drill.restore"
DRILL_TRIGGER = "drill"


@dataclass(frozen=True)
class BoxSpec:
    key: str
    label: str
    check_ids: tuple[str, ...]
    values: tuple[str | tuple[str, ...], ...]  # detail keys shown as evidence; a tuple = first key present


BOXES: tuple[BoxSpec, ...] = (
    BoxSpec("backup", N_("Recent PostgreSQL backup visible"), ("postgres.backup_recent",),
            ("last_backup_at", ("backup_name", "last_backup_name"))),
    BoxSpec("retention", N_("Retention conforms"), ("postgres.retention",), ("retention_days", "earliest_restore")),
    BoxSpec("soft_delete", N_("Blob Storage soft delete on"), ("blob.soft_delete",), ("enabled", "retention_days")),
    BoxSpec("dry_run", N_("Dry run OK"), DRY_RUN_CHECKS, ()),
    BoxSpec("journal", N_("Results noted in the internal journal"), (), ()),
)

# box states
TICKED, WARNING, FAILED, ERROR, PARTIAL, NO_EVIDENCE = "ticked", "warning", "failed", "error", "partial", "no evidence"
STATE_OF = {Status.PASS: TICKED, Status.WARN: WARNING, Status.FAIL: FAILED, Status.ERROR: ERROR}


class ReportError(ValueError):
    """Bad input to the report or sign-off (month, format, name, comment): a usage error."""


# --- the report model ------------------------------------------------------------------------

@dataclass
class RunRef:
    run_id: str
    started_at: str
    trigger: str
    dry_run: bool
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    target: Target | None = None  # None: journaled before runs recorded their target


@dataclass
class Evidence:
    run_id: str
    at: str            # the run's start (UTC, ISO)
    trigger: str
    dry_run: bool
    results: list[dict[str, Any]]  # [{check_id, status, summary, values}]


@dataclass
class Box:
    key: str
    label: str
    state: str
    evidence: Evidence | None = None
    remarks: list[str] = field(default_factory=list)

    @property
    def ticked(self) -> bool:
        return self.state == TICKED


@dataclass
class Problem:
    run_id: str
    at: str
    check_id: str
    title: str
    status: str
    severity: str
    summary: str
    remediation: str
    resolved_by: str | None = None  # a later run of the month that passed the same check


@dataclass
class ProblemGroup:
    """The same check with the same status in several runs of the month, shown once: how many runs,
    the first and the last time, and the latest run's reason (`latest`)."""
    latest: Problem
    first: Problem
    runs: int


def group_problems(problems: list[Problem]) -> list[ProblemGroup]:
    """Problems (newest first) grouped by check and status, worst and newest first as they come."""
    groups: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.check_id, p.status), []).append(p)
    return [ProblemGroup(latest=ps[0], first=ps[-1], runs=len(ps)) for ps in groups.values()]


@dataclass
class Drill:
    run_id: str
    at: str
    trigger: str
    status: str
    summary: str
    rto_minutes: Any
    restore_point: Any
    target_server: Any
    rpo_seconds: Any = None  # RPO_PROBE: T − newest probe time restored
    rows_lost: Any = None  # rows with probe time ≤ T missing on the restored server
    target_name: str | None = None  # the fleet target drilled; None: recorded before drills named it
    # what an auditor reads (checks/drill/record.py), None when not recorded: {"rto": met, "rpo": met} (True, False,
    # None = not scored), the access parity's status (pass | warn | fail | not checked), the disposal's (proven |
    # pending | not needed)
    objectives: dict[str, Any] | None = None
    parity: str | None = None
    disposal: str | None = None

    @classmethod
    def of(cls, run_id: str, at: str, trigger: str, status: str, summary: str, details: dict[str, Any],
           target_name: str | None) -> "Drill":
        """The month's drill from its `drill.restore` result's details, read tolerantly (a field of another shape:
        None)."""
        def part(key: str) -> dict[str, Any]:
            return details.get(key) if isinstance(details.get(key), dict) else {}
        scored = {k: part("objectives")[k].get("met") for k in ("rto", "rpo") if isinstance(part("objectives").get(k), dict)}
        word = (lambda v, allowed: v if v in allowed else None)
        return cls(run_id, at, trigger, status, summary, details.get("rto_minutes"), details.get("restore_point"),
                   details.get("target_server"), details.get("rpo_seconds"), details.get("rows_lost"), target_name,
                   {k: v if isinstance(v, bool) else None for k, v in scored.items()} or None,
                   word(part("parity").get("status"), ("pass", "warn", "fail", "not checked")),
                   word(part("disposal").get("status"), ("proven", "pending", "not needed")))


@dataclass
class SignOff:
    by: str
    at: str
    comment: str
    via: str
    digest: str
    run_count: int
    boxes_ticked: int
    current: bool = True  # the report has not changed since
    forced: bool = False  # given with --force on a month where no run verified anything (the comment says why)
    by_object_id: str = ""  # the signer's Entra object id (HTTP in entra mode: `by` is then the token's name)
    proof: str = ""  # how `by` is known: "entra" (token), "typed, unverified" (HTTP function-key mode), "" (CLI)


@dataclass
class MonthReport:
    month: str
    generated_at: str
    runs: list[RunRef]
    boxes: list[Box]
    problems: list[Problem]
    drill: Drill | None
    signoffs: list[SignOff]
    notes: list[str]
    digest: str
    protections: list[Protection] = field(default_factory=list)  # beyond the boxes (issue 17)
    target: str = ""  # the production target the boxes are about (label), "" when not named
    acks: list[dict[str, Any]] = field(default_factory=list)  # acknowledged count drops (checks/report/acks.py)
    target_name: str = ""  # one target of several (checks/report/fleet.py); "" in a fleet of one
    undelivered: list[str] = field(default_factory=list)  # runs recording only a failed delivery (no evidence)
    journal_chain: dict[str, Any] | None = None  # the month's hash chain (checks/report/chainline.py)
    residency: Any = None  # the "all copies in the EEA" line (checks/report/residency.py)
    deviations: dict[str, Any] | None = None  # open and closed deviations (checks/report/deviations.py)

    @property
    def ticked(self) -> int:
        return sum(b.ticked for b in self.boxes)

    @property
    def complete(self) -> bool:
        return self.ticked == len(self.boxes)

    @property
    def problem_groups(self) -> list[ProblemGroup]:
        return group_problems(self.problems)

    def box(self, key: str) -> Box:
        return next(b for b in self.boxes if b.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month, "generated_at": self.generated_at,
            "complete": self.complete, "boxes_ticked": self.ticked, "boxes_total": len(self.boxes),
            "boxes": [dict(asdict(b), ticked=b.ticked) for b in self.boxes],
            "problems": [asdict(p) for p in self.problems],
            "drill": asdict(self.drill) if self.drill else None,
            "signoffs": [asdict(s) for s in self.signoffs],
            "runs": [asdict(r) for r in self.runs],
            "notes": list(self.notes), "digest": self.digest, "app_version": __version__,
            "protections": [asdict(p) for p in self.protections],
            "target": self.target, "acks": list(self.acks),
            **({"target_name": self.target_name} if self.target_name else {}),
            **({"undelivered": list(self.undelivered)} if self.undelivered else {}),
            **({"journal_chain": self.journal_chain} if self.journal_chain is not None else {}),
            **({"residency": self.residency.to_dict()} if self.residency is not None else {}),
            **({"deviations": self.deviations} if self.deviations is not None else {}),
        }


@dataclass
class Overview:
    first_month: str
    last_month: str
    generated_at: str
    months: list[MonthReport]  # oldest first

    @property
    def complete(self) -> bool:
        return all(m.complete for m in self.months)

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_month": self.first_month, "last_month": self.last_month, "generated_at": self.generated_at,
            "complete": self.complete,
            "months": [{
                "month": m.month, "complete": m.complete, "boxes_ticked": m.ticked,
                "boxes": {b.key: b.state for b in m.boxes},
                "runs": len(m.runs), "problems": len(m.problems),
                "drill": ({"status": m.drill.status, "rto_minutes": m.drill.rto_minutes, "rpo_seconds": m.drill.rpo_seconds,
                           "rows_lost": m.drill.rows_lost, "run_id": m.drill.run_id,
                           "at": m.drill.at} if m.drill else None),
                "protections": {p.check_id: p.status for p in m.protections},
                "protections_summary": counts_text(m.protections),
                "signed_off_by": [s.by for s in m.signoffs],
                "signoff_current": bool(m.signoffs) and m.signoffs[-1].current,
            } for m in self.months],
        }
