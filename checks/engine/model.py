"""Result model: what a check produced, and what a run is.

A check's rule returns an `Outcome` (status, summary, details). The runner adds the check's
metadata and timing to make a `CheckResult`; a `Run` groups the results of one invocation.
"""
from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from checks.engine.target import Target
from checks.engine.timeutil import month_of, parse_iso


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def rank(self) -> int:
        # Overall status = worst result; a skipped check does not make a passing run look worse.
        return _RANK[self]

    @classmethod
    def worst(cls, statuses) -> "Status":
        statuses = list(statuses)
        return max(statuses, key=lambda s: s.rank) if statuses else cls.SKIPPED


_RANK = {Status.SKIPPED: 0, Status.PASS: 1, Status.WARN: 2, Status.FAIL: 3, Status.ERROR: 4}


class Severity(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class NotConfigured(Exception):
    """A capability the check needs is not configured: the check is skipped with this reason."""


class JournalUnavailable(Exception):
    """The journal could not be reached or written; the message says why (never a secret).

    Here, not in checks.journal: a check reading the journal (engine.context.JournalReader) catches
    it by type without depending on the journal part."""


class CheckError(Exception):
    """A check could not get its facts, with a reason and what to do about it.

    Family modules translate SDK/driver exceptions into this so the journal says something a
    person can act on ("grant the identity Reader on server X") instead of a stack trace.
    """

    def __init__(self, reason: str, remediation: str | None = None, details: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.remediation = remediation
        self.details = details or {}


@dataclass(frozen=True)
class Outcome:
    """What a rule decided. `remediation` overrides the check's default when the rule knows better."""
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    remediation: str | None = None

    @classmethod
    def passed(cls, summary: str, **details: Any) -> "Outcome":
        return cls(Status.PASS, summary, details)

    @classmethod
    def warn(cls, summary: str, remediation: str | None = None, **details: Any) -> "Outcome":
        return cls(Status.WARN, summary, details, remediation)

    @classmethod
    def fail(cls, summary: str, remediation: str | None = None, **details: Any) -> "Outcome":
        return cls(Status.FAIL, summary, details, remediation)

    @classmethod
    def error(cls, summary: str, remediation: str | None = None, **details: Any) -> "Outcome":
        return cls(Status.ERROR, summary, details, remediation)

    @classmethod
    def skipped(cls, summary: str, **details: Any) -> "Outcome":
        return cls(Status.SKIPPED, summary, details)


@dataclass(frozen=True)
class CheckSpec:
    """A check's metadata beside the function that runs it (Prowler style).

    `run(ctx) -> Outcome` gathers facts (I/O) and hands them to a pure rule in the same module.
    `read_only` checks are the ones `--dry-run` runs; a check that writes (the blob canary,
    the restore drill) says so.
    """
    id: str
    title: str
    severity: Severity
    remediation: str
    risk: str
    run: Callable[..., Outcome]
    read_only: bool = True
    timeout_seconds: float | None = None  # None = CHECK_TIMEOUT_SECONDS
    on_demand: bool = False  # only when selected by id or glob, never in a default run (the restore drill)
    controls: tuple[str, ...] = ()  # audit controls it evidences (checks/engine/controls.py)

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass
class CheckResult:
    check_id: str
    title: str
    status: Status
    severity: Severity
    summary: str
    details: dict[str, Any]
    remediation: str
    started_at: datetime
    duration_ms: int
    # language-neutral form of summary/remediation: {"summary": {"id": template, "params": {...}}};
    # empty for texts written before messages had ids (they render as stored)
    messages: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "title": self.title,
            "status": self.status.value,
            "severity": self.severity.value,
            "summary": self.summary,
            "details": self.details,
            "remediation": self.remediation,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "messages": self.messages,
        }


def new_run_id(now: datetime) -> str:
    """Sortable and carries its month: 20261126T092114Z-3f9a1c (the journal finds it from the id)."""
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass
class Run:
    run_id: str
    trigger: str  # timer | http | cli
    started_at: datetime
    finished_at: datetime | None = None
    results: list[CheckResult] = field(default_factory=list)
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)  # run-level remarks (e.g. previous run not journaled)
    journal_status: str = "not written"  # written | failed: <reason> | disabled
    target: Target | None = None  # what the results are about (None: journaled before targets were)
    origin: str = ""  # the fleet message that asked for it (<month>/<target>.<attempt>), journaled with the run
    interrupted: str = ""  # SIGINT/SIGTERM that stopped it before every check finished (its results say so too)
    requested_by: dict[str, str] | None = None  # the HTTP caller from Entra: {"object_id", "name"} (None: no caller)

    @property
    def status(self) -> Status:
        return Status.worst(r.status for r in self.results)

    @property
    def month(self) -> str:
        return month_of(self.started_at)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    @property
    def is_evidence(self) -> bool:
        return something_ran(self.counts())

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_ms": int((self.finished_at - self.started_at).total_seconds() * 1000)
            if self.finished_at else None,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "notes": list(self.notes),
            "journal": self.journal_status,
            "target": self.target.to_dict() if self.target else None,
            "origin": self.origin,
            "requested_by": dict(self.requested_by) if self.requested_by else None,
            "results": [r.to_dict() for r in self.results],
        }


# the detail an unfinished check of an interrupted run carries (checks/engine/runner.py): such a run is no evidence
INTERRUPTED = "interrupted"


def was_interrupted(results: Iterable[CheckResult]) -> bool:
    """Some check of the run was cut short by Ctrl-C or SIGTERM (a run read back from the journal says so too)."""
    return any(r.status is Status.ERROR and r.details.get(INTERRUPTED) is True for r in results)


def something_ran(counts: dict[str, int]) -> bool:
    """A run is evidence only if some check ran (pass, warn, fail or error); all skipped = nothing checked."""
    return any(int(counts.get(k) or 0) > 0 for k in ("pass", "warn", "fail", "error"))


def _caller_of(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("object_id"), str) and isinstance(value.get("name"), str):
        return {"object_id": value["object_id"], "name": value["name"]}
    return None


def run_from_dict(data: dict[str, Any]) -> Run:
    """Inverse of Run.to_dict (used to replay runs kept back by a journal outage)."""
    run = Run(run_id=data["run_id"], trigger=data["trigger"], started_at=parse_iso(data["started_at"]),
              finished_at=parse_iso(data.get("finished_at")), dry_run=bool(data.get("dry_run")),
              notes=list(data.get("notes") or []), target=Target.from_dict(data.get("target")),
              origin=str(data.get("origin") or ""), requested_by=_caller_of(data.get("requested_by")))
    for r in data.get("results", []):
        run.results.append(CheckResult(
            check_id=r["check_id"], title=r["title"], status=Status(r["status"]), severity=Severity(r["severity"]),
            summary=r["summary"], details=dict(r.get("details") or {}), remediation=r.get("remediation", ""),
            started_at=parse_iso(r["started_at"]), duration_ms=int(r["duration_ms"]),
            messages=dict(r.get("messages") or {})))
    return run
