"""The control-by-control view of a framework (issue 30 item 2): the verdict rules, pure (no I/O).

Observations come from the journal (checks/report/control_evidence.py gathers them): per target and
month, the newest result of each check that is not `skipped` among the month's verification runs
(the checklist's evidence runs: drill runs, runs of another target, interrupted and empty runs left
out); the restore drills of the period; the deviations of the checks (checks/journal/deviations.py).

A control's verdict for a MONTH:
  * not met     a mapped check's newest result of the month failed or errored (for some target), the
                latest restore drill of a target in the drill window failed, a control that needs a drill
                has no drill of a target in the window (C5 OPS-08: at least yearly), or a deviation of a
                mapped check is open past its due date;
  * no evidence nothing ran that the control maps to (every source without evidence);
  * findings    nothing failed, but a check warned, a source gave no evidence, a drill did not measure
                RTO or RPO or did not dispose of its restored copy, or a deviation is open (not yet due);
  * met         otherwise;
  * procedural  no check maps to it: what the auditor must see instead is said.
For a YEAR the check part is judged month by month (each month's row links its checklist): not met
when some month was, findings when some month had findings or no evidence; the drill window is the
calendar year (a month's window: the 12 months ending with it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.engine.controls import Control
from checks.engine.i18n import msg

MET, FINDINGS, NOT_MET, NO_EVIDENCE, PROCEDURAL = "met", "findings", "not met", "no evidence", "procedural"
VERDICTS = (MET, FINDINGS, NOT_MET, NO_EVIDENCE, PROCEDURAL)
_BAD, _WARN = ("fail", "error"), ("warn",)
_NOT_DISPOSED = ("failed", "refused")  # drill cleanup texts that mean the restored copy may still exist


@dataclass(frozen=True)
class CheckSeen:
    """The newest result of a check that is not `skipped` for a target in a month."""
    target: str
    month: str
    check_id: str
    status: str
    summary: str
    run_id: str
    at: str


@dataclass(frozen=True)
class DrillSeen:
    target: str
    drill_id: str
    at: str             # requested (UTC, ISO)
    status: str         # pass | warn | fail | error (the drill's outcome)
    summary: str
    rto_minutes: Any
    rpo_seconds: Any
    cleanup: str        # deleted | kept until ... | not needed | refused: ... | failed: ...
    linked: bool = True  # its page exists (the static site writes drills of its months only)
    parity: str | None = None    # access parity with production: pass | warn | fail, "" not recorded, None not kept
    disposal: str | None = None  # proof of disposal: proven | pending | not needed, "" not recorded, None not kept


@dataclass(frozen=True)
class DeviationSeen:
    target: str
    check_id: str
    opened_at: str
    due_at: str
    status: str         # open | closed: at the end of the period
    owner: str = ""
    overdue: bool = False  # past its due date while open in the period
    closed_at: str = ""


@dataclass
class Part:
    """One source's judgement: a verdict and why."""
    verdict: str
    reasons: list[str] = field(default_factory=list)


@dataclass
class ControlView:
    control: Control
    checks: tuple[str, ...]
    verdict: str
    reasons: list[str]                    # why not met / why findings / what the auditor must see
    evidence: list[CheckSeen] = field(default_factory=list)
    drills: list[DrillSeen] = field(default_factory=list)
    deviations: list[DeviationSeen] = field(default_factory=list)
    months: list[tuple[str, str]] = field(default_factory=list)  # year view: (month, its verdict)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict
        return {"id": self.control.id, "framework": self.control.framework, "reference": self.control.reference,
                "text": self.control.text, "procedural": self.control.procedural, "checks": list(self.checks),
                "drill_required": self.control.drill_required, "verdict": self.verdict,
                "reasons": [str(r) for r in self.reasons], "evidence": [asdict(e) for e in self.evidence],
                "drills": [asdict(d) for d in self.drills], "deviations": [asdict(d) for d in self.deviations],
                "months": [{"month": m, "verdict": v} for m, v in self.months]}


def combine(parts: list[Part]) -> Part:
    """Not met if any part is; no evidence if every part is; findings if any has findings or no evidence."""
    reasons = [r for p in parts for r in p.reasons]
    verdicts = {p.verdict for p in parts}
    if NOT_MET in verdicts:
        return Part(NOT_MET, [r for p in parts if p.verdict == NOT_MET for r in p.reasons] +
                    [r for p in parts if p.verdict != NOT_MET for r in p.reasons])
    if not parts or verdicts == {NO_EVIDENCE}:
        return Part(NO_EVIDENCE, reasons)
    return Part(FINDINGS if verdicts & {FINDINGS, NO_EVIDENCE} else MET, reasons)


def checks_part(checks: tuple[str, ...], seen: list[CheckSeen], month: str) -> Part:
    """The mapped checks' newest results of one month (every target)."""
    mine = [s for s in seen if s.check_id in checks and s.month == month]
    if not mine:
        return Part(NO_EVIDENCE, [msg("no run of {month} has a result of {checks}", month=month,
                                      checks=", ".join(checks))])
    bad = [msg("{check_id} {status} for {target} in run {run_id}: {summary}", check_id=s.check_id, status=s.status,
               target=s.target, run_id=s.run_id, summary=s.summary) for s in mine if s.status in _BAD]
    warned = [msg("{check_id} {status} for {target} in run {run_id}: {summary}", check_id=s.check_id,
                  status=s.status, target=s.target, run_id=s.run_id, summary=s.summary)
              for s in mine if s.status in _WARN]
    return Part(NOT_MET, bad + warned) if bad else Part(FINDINGS, warned) if warned else Part(MET)


def drill_part(control: Control, drills: list[DrillSeen], targets: list[str], window: str) -> Part | None:
    """The restore drills of the window (None: the drill is not evidence for this control)."""
    found = Part(MET)
    for target in targets:
        own = sorted((d for d in drills if d.target == target), key=lambda d: d.at, reverse=True)
        if not own:
            why = msg("no restore drill of {target} in {window}", target=target, window=window)
            found.reasons.append(why)
            found.verdict = _worse(found.verdict, NOT_MET if control.drill_required else FINDINGS)
            continue
        latest = own[0]
        if latest.status in _BAD:
            found.verdict = NOT_MET
            found.reasons.append(msg("the latest restore drill of {target}, {drill_id}, {status}: {summary}",
                                     target=target, drill_id=latest.drill_id, status=latest.status,
                                     summary=latest.summary))
            continue
        if latest.parity == "fail":  # C5 OPS-08: restores only where access rules match production's
            found.verdict = NOT_MET
            found.reasons.append(msg("restore drill {drill_id}: the drill server was more open than production",
                                     drill_id=latest.drill_id))
        for why in _drill_findings(latest):
            found.reasons.append(why)
            found.verdict = _worse(found.verdict, FINDINGS)
    return found


def _drill_findings(drill: DrillSeen) -> list[str]:
    out = []
    if drill.status in _WARN:
        out.append(msg("restore drill {drill_id} warned: {summary}", drill_id=drill.drill_id, summary=drill.summary))
    if drill.rto_minutes is None:
        out.append(msg("restore drill {drill_id} did not measure the RTO", drill_id=drill.drill_id))
    if drill.rpo_seconds is None:
        out.append(msg("restore drill {drill_id} did not measure the RPO (set RPO_PROBE)", drill_id=drill.drill_id))
    if drill.parity == "warn":
        out.append(msg("restore drill {drill_id}: the drill server's access rules differ from production's",
                       drill_id=drill.drill_id))
    elif drill.parity == "":
        out.append(msg("restore drill {drill_id}: access parity with production not recorded", drill_id=drill.drill_id))
    if drill.disposal == "pending":
        out.append(msg("restore drill {drill_id}: disposal of the restored copy not proven yet", drill_id=drill.drill_id))
    elif not drill.cleanup or drill.cleanup.startswith(_NOT_DISPOSED):
        out.append(msg("restore drill {drill_id}: disposal of the restored copy not recorded ({cleanup})",
                       drill_id=drill.drill_id, cleanup=drill.cleanup or "–"))
    return out


def deviations_part(checks: tuple[str, ...], deviations: list[DeviationSeen]) -> Part | None:
    """The mapped checks' deviations of the period (None when there is none): open past its due date = not
    met; open, or closed after its due date = findings; closed in time = evidence of timely action."""
    mine = [d for d in deviations if d.check_id in checks]
    overdue = [d for d in mine if d.status == "open" and d.overdue]
    pending = [d for d in mine if d.status == "open" and not d.overdue]
    late = [d for d in mine if d.status != "open" and d.overdue]
    if not (overdue or pending or late):
        return None if not mine else Part(MET)
    reasons = [msg("deviation of {check_id} for {target} open since {opened}, due {due}: overdue", check_id=d.check_id,
                   target=d.target, opened=d.opened_at, due=d.due_at) for d in overdue]
    reasons += [msg("deviation of {check_id} for {target} open since {opened}, due {due}", check_id=d.check_id,
                    target=d.target, opened=d.opened_at, due=d.due_at) for d in pending]
    reasons += [msg("deviation of {check_id} for {target} closed {closed}, after its due date {due}",
                    check_id=d.check_id, target=d.target, closed=d.closed_at, due=d.due_at) for d in late]
    return Part(NOT_MET if overdue else FINDINGS, reasons)


def _worse(a: str, b: str) -> str:
    rank = {MET: 0, FINDINGS: 1, NO_EVIDENCE: 2, NOT_MET: 3}
    return a if rank[a] >= rank[b] else b


def judge(control: Control, checks: tuple[str, ...], months: list[str], seen: list[CheckSeen],
          drills: list[DrillSeen], deviations: list[DeviationSeen], targets: list[str], window: str) -> ControlView:
    """The control's verdict over `months` (one: a month view; several: a year view)."""
    drill_mapped = "drill.restore" in checks
    plain = tuple(c for c in checks if c != "drill.restore")
    mine = [d for d in deviations if d.check_id in checks]
    view = ControlView(control, checks, MET, [], drills=drills if drill_mapped else [], deviations=mine)
    if not checks:
        view.verdict, view.reasons = PROCEDURAL, [control.procedural or msg("no evidence source")]
        return view
    parts: list[Part] = []
    if plain:
        by_month = [(m, checks_part(plain, seen, m)) for m in months]
        parts.append(by_month[0][1] if len(months) == 1 else _year_part(by_month))
        view.months = [(m, p.verdict) for m, p in by_month] if len(months) > 1 else []
        view.evidence = [s for s in seen if s.check_id in plain and s.month in months and
                         (len(months) == 1 or s.status not in ("pass",))]
    if drill_mapped:
        parts.append(drill_part(control, drills, targets, window))
    parts += [p for p in (deviations_part(checks, deviations),) if p is not None]
    verdict = combine(parts)
    view.verdict, view.reasons = verdict.verdict, verdict.reasons
    return view


def _year_part(by_month: list[tuple[str, Part]]) -> Part:
    verdicts = [p.verdict for _, p in by_month]
    if NOT_MET in verdicts:
        return Part(NOT_MET, [r for _, p in by_month if p.verdict == NOT_MET for r in p.reasons])
    if set(verdicts) == {NO_EVIDENCE}:
        return Part(NO_EVIDENCE, [msg("no run of the year has a result of these checks")])
    empty = [m for m, p in by_month if p.verdict == NO_EVIDENCE]
    reasons = [r for _, p in by_month if p.verdict == FINDINGS for r in p.reasons]
    if empty:
        reasons.insert(0, msg("no evidence in {months}", months=", ".join(empty)))
    return Part(FINDINGS if reasons else MET, reasons)
