"""Several targets in one report: each target's checklist and the fleet overview of a month.

The month is still ONE query for every target (`Journal.partition`): the fleet overview reads the
partition once and builds each target's checklist from the entities that are about it (pure, no
further I/O). An entity is about a configured target when it carries the target's name
(`TargetName`), or, written before targets had names, no name but the target's resources
(`Target.same_resources`). Sign-offs carry the name of the target they sign.

With `DISCOVER_TAG` and no `TARGETS` the targets are the discovered ones (the queue handler's
discovery). A fleet of one (neither set) reads exactly as before targets had names: every entity of
the month is the one target's (its checklist is `checklist.month_report` with the configured target).

The overview lists every configured target and every target the month's journal names that is no
longer configured (marked, after the configured ones); a configured target without a run this month
is *missing*, never passing; one whose only runs record that the queue gave up on its message
(`fleet.delivery`, checks/dispatch/handler.py) is *not verified: delivery failed*, ranked as an
error. Rows come worst first: the worst box state, then fewest boxes ticked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from checks.engine.i18n import msg, msgn
from checks.engine.fleet import FleetTarget, select_targets, targets_of
from checks.engine.target import Target
from checks.engine.timeutil import journal_iso
from checks.report.checklist import build_month, check_month, month_report, overview, sign_off
from checks.report.model import (BOXES, ERROR, FAILED, NO_EVIDENCE, PARTIAL, TICKED, WARNING, MonthReport,
                                 ReportError)

_RANK = {FAILED: 5, ERROR: 4, NO_EVIDENCE: 3, PARTIAL: 2, WARNING: 1, TICKED: 0}
NOT_RECORDED = "(target not recorded)"  # runs journaled before runs recorded their target


@dataclass(frozen=True)
class Scope:
    """One configured target of a fleet of `size` targets: whose entities of a month are its own."""
    name: str
    target: Target
    size: int = 1

    def rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The month's entities about this target (a fleet of one: all of them, as before targets had
        names, but for sign-offs of another target)."""
        return split(rows, [self])[0][self.name]


def split(rows: list[dict[str, Any]], scopes: list[Scope]) -> tuple[dict[str, list], dict[str, list]]:
    """In one pass: ({configured name: its entities}, {unconfigured key: entities}). The key of a
    target no longer configured is its name, or for unnamed runs its resources' label; "" gathers
    runs without a recorded target (with several targets nobody can tell whose they were)."""
    single = len(scopes) == 1 and scopes[0].size == 1
    names = [s.name for s in scopes]
    by_resources: dict[tuple, list[str]] = {}
    for scope in scopes:
        by_resources.setdefault(scope.target.resources(), []).append(scope.name)
    own: dict[str, list] = {name: [] for name in names}
    other: dict[str, list] = {}
    for row in rows:
        owners, key = _owners(row, names, by_resources, single)
        for name in owners:
            own[name].append(row)
        if key is not None:
            other.setdefault(key, []).append(row)
    if not single:  # an acknowledgement names a run, not a target: it goes with its run
        own = {name: with_acks(entities, rows) for name, entities in own.items()}
    return own, other


def _owners(row: dict[str, Any], names: list[str], by_resources: dict[tuple, list[str]],
            single: bool) -> tuple[list[str], str | None]:
    """(configured targets the entity is about, its unconfigured key or None)."""
    everyone = names if single else []  # a fleet of one owns what names no other target, as before names
    kind = row.get("Kind")
    if kind == "signoff":
        name = str(row.get("TargetName") or "")  # not text: unreadable later (checks/journal/entities.py)
        return ([name], None) if name in names else (([], name) if name else (everyone, None))
    if kind not in ("run", "check"):
        return everyone, None
    target = Target.from_columns(row)
    if target is not None and target.name and target.name not in names:
        return everyone, target.name
    if single:
        return everyone, None
    if target is None:
        return [], ""
    if target.name:
        return [target.name], None
    owners = by_resources.get(target.resources(), [])
    return owners, None if owners else target.label()


def with_acks(own: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`own` plus the acknowledgements of its runs (an ack names a run, not a target)."""
    run_ids = {r.get("RunId") for r in own if r.get("Kind") == "run"}
    return own + [r for r in rows if r.get("Kind") == "ack" and r.get("RunId") in run_ids]


def fleet_targets(settings: Any) -> tuple[FleetTarget, ...]:
    """The report's targets: TARGETS, else what DISCOVER_TAG finds (the queue handler's discovery, kept
    per process: checks/dispatch/targets.py), else the fleet of one. ReportError when discovery fails."""
    if settings.targets or not settings.discover_tag:
        return targets_of(settings)
    from checks.connect.discovery import DiscoveryError
    from checks.dispatch.targets import message_targets  # lazy: Resource Graph SDK
    try:
        return message_targets(settings)
    except DiscoveryError as exc:
        raise ReportError(msg("the targets of DISCOVER_TAG={tag} could not be discovered: {reason}",
                              tag=settings.discover_tag, reason=str(exc))) from None


def scopes_of(settings: Any) -> list[Scope]:
    """Every configured (or discovered) target with its own resources (`FleetTarget.settings_for`)."""
    fleet = fleet_targets(settings)
    return [Scope(t.name, Target.from_settings(t.settings_for(settings)), len(fleet)) for t in fleet]


def scope_named(settings: Any, name: str | None) -> Scope:
    """The target called `name`; None: the only target (a ReportError when there are several)."""
    scopes = scopes_of(settings)
    if name is None:
        if len(scopes) > 1:
            raise ReportError(msg("several targets are configured: name one with --target (field target); "
                                  "known targets: {known}", known=", ".join(s.name for s in scopes)))
        return scopes[0]
    try:
        chosen = select_targets(fleet_targets(settings), [name])[0]
    except KeyError as exc:
        raise ReportError(msg("target: {reason}", reason=exc.args[0])) from None
    return next(s for s in scopes if s.name == chosen.name)


class TargetJournal:
    """The journal as one target sees it: a month partition holds that target's entities (still one
    query per partition); everything else goes to the journal itself."""

    def __init__(self, journal: Any, scope: Scope):
        self.journal, self.scope = journal, scope
        self.whole_rows: dict[str, list[dict[str, Any]]] = {}  # the month's chain runs through every target

    def partition(self, key: str) -> list[dict[str, Any]]:
        self.whole_rows[key] = rows = self.journal.partition(key)
        return self.scope.rows(rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.journal, name)


def target_report(journal: Any, month: str, settings: Any, target: str | None = None, months: int = 1,
                  now: datetime | None = None) -> Any:
    """One target's checklist (`months` > 1: its overview); `target` None: the only target."""
    scope = scope_named(settings, target)
    view = TargetJournal(journal, scope)
    result = (month_report(view, month, now, scope.target) if months == 1
              else overview(view, month, months, now, scope.target))
    for report in [result] if months == 1 else result.months:
        report.target_name = scope.name if scope.size > 1 else ""
    if months == 1:  # the month's deviations of this target (checks/report/deviations.py)
        from checks.report.deviations import month_deviations
        result.deviations = month_deviations(journal, month, scope.name, now)
    return result


def checklist_for(journal: Any, month: str, settings: Any, *, target: str | None = None, months: int = 1,
                  fleet: bool | str | None = False, now: datetime | None = None) -> Any:
    """What `report` shows: the fleet overview (asked for: True or "1", or several targets and none named),
    else one target's checklist (`months` > 1: its overview). ReportError naming the conflicting options."""
    if fleet not in (None, False, True, "", "0", "1"):
        raise ReportError(msg("fleet must be 1 or 0, got {value}", value=repr(str(fleet)[:16])))
    fleet = fleet in (True, "1")
    if fleet and target:
        raise ReportError(msg("fleet (--fleet) shows every target, target (--target) one of them: give only one"))
    if fleet or (target is None and len(scopes_of(settings)) > 1):
        if months != 1:
            raise ReportError(msg("the fleet overview shows one month (months 1); for several months name a "
                                  "target (--target)"))
        return fleet_overview(journal, month, settings, now)
    return target_report(journal, month, settings, target, months, now)


def sign_off_target(journal: Any, month: str, by: Any, comment: Any, settings: Any, target: str | None = None,
                    *, via: str = "cli", now: datetime | None = None, force: bool = False,
                    signer: dict | None = None) -> tuple[Any, MonthReport]:
    """Sign off one target's month (stored with its name); `target` None: the only target. `force`:
    checklist.sign_off (a month without evidence only with it and a comment)."""
    from checks.journal.seal import seal_quietly
    scope = scope_named(settings, target)
    signed = sign_off(TargetJournal(journal, scope), month, by, comment, via=via, now=now, production=scope.target,
                      target_name=scope.name, force=force, signer=signer)
    seal_quietly(settings, journal, month, "signoff")  # the month's chain head, in a blob written once (WORM)
    return signed


# --- the fleet overview ------------------------------------------------------------------------

@dataclass
class FleetRow:
    name: str             # "" for runs journaled without a name (label says what they were about)
    configured: bool
    report: MonthReport
    page: str | None = None  # the target's month page (configured targets)
    drill_standing: Any = None  # its last successful drill and cadence (checks/report/drill_standing.py)

    @property
    def missing(self) -> bool:
        return not self.report.runs

    @property
    def delivery_failed(self) -> bool:
        """Not verified: its only runs of the month record that the queue gave up on its message."""
        return bool(self.report.runs) and len(self.report.undelivered) == len(self.report.runs)

    @property
    def runs(self) -> int:
        """Runs of the month that verified something (a failed delivery did not)."""
        return len(self.report.runs) - len(self.report.undelivered)

    @property
    def worst(self) -> str:
        return max((b.state for b in self.report.boxes), key=lambda s: _RANK.get(s, 3))

    def sort_key(self) -> tuple:
        rank = _RANK[ERROR] if self.delivery_failed else _RANK.get(self.worst, 3)  # the poison alert's error
        return (not self.configured, -rank, self.report.ticked, not self.missing, self.name)

    def to_dict(self) -> dict[str, Any]:
        signoffs = self.report.signoffs
        worst = "delivery failed" if self.delivery_failed else "missing" if self.missing else self.worst
        return {"target": self.name, "label": self.report.target, "configured": self.configured,
                "missing": self.missing, "delivery_failed": self.delivery_failed, "worst": worst,
                "boxes": {b.key: b.state for b in self.report.boxes}, "boxes_ticked": self.report.ticked,
                "boxes_total": len(self.report.boxes), "complete": self.report.complete,
                "runs": self.runs, "delivery_failures": len(self.report.undelivered),
                "problems": len(self.report.problems), "page": self.page,
                "drill": ({"status": d.status, "run_id": d.run_id, "at": d.at, "rto_minutes": d.rto_minutes}
                          if (d := self.report.drill) else None),  # the target's own latest drill of the month
                "drill_standing": self.drill_standing.to_dict() if self.drill_standing else None,
                "signed_off_by": [s.by for s in signoffs],
                "signoffs": [{"by": s.by, "at": s.at, "current": s.current, "forced": s.forced} for s in signoffs],
                "signoff_current": bool(signoffs) and signoffs[-1].current,
                "residency": self.report.residency.to_dict() if self.report.residency else None}


@dataclass
class FleetOverview:
    month: str
    generated_at: str
    rows: list[FleetRow]  # worst first; targets no longer configured last
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every configured target ticked all five boxes (targets no longer configured do not count)."""
        return all(r.report.complete for r in self.rows if r.configured)

    def to_dict(self) -> dict[str, Any]:
        configured = [r for r in self.rows if r.configured]
        return {"month": self.month, "generated_at": self.generated_at, "complete": self.complete,
                "targets": len(configured), "targets_complete": sum(r.report.complete for r in configured),
                "targets_missing": sum(r.missing for r in configured),
                "targets_delivery_failed": sum(r.delivery_failed for r in configured),
                "boxes": [b.key for b in BOXES], "rows": [r.to_dict() for r in self.rows], "notes": list(self.notes)}


def fleet_overview(journal: Any, month: str, settings: Any, now: datetime | None = None) -> FleetOverview:
    """Every target's checklist for `month` from ONE partition query, worst first."""
    check_month(month)
    now = now or datetime.now(timezone.utc)
    rows = journal.partition(month)
    scopes = scopes_of(settings)
    own, other = split(rows, scopes)
    from checks.report.drill_standing import fleet_standings
    standing = fleet_standings(journal, settings, fleet_targets(settings), month, now)
    out = []
    for scope in scopes:
        report = build_month(month, own[scope.name], now, scope.target)
        report.target_name = scope.name if scope.size > 1 else ""
        out.append(FleetRow(scope.name, True, report, month_page_name(month, scope), standing.get(scope.name)))
    for name, entities in sorted(other.items()):
        report = build_month(month, with_acks(entities, rows), now, None)
        report.target_name, report.target = name or NOT_RECORDED, _label(entities)
        out.append(FleetRow(name, False, report))
    notes = []
    unsigned = sum(1 for r in rows if r.get("Kind") == "signoff" and not r.get("TargetName"))
    if unsigned and len(scopes) > 1:
        notes.append(msgn("{count} sign-off recorded without a target (before targets had names): not shown",
                          "{count} sign-offs recorded without a target (before targets had names): not shown", "count",
                          count=unsigned))
    return FleetOverview(month, journal_iso(now), sorted(out, key=FleetRow.sort_key), notes)


def month_page_name(month: str, scope: Scope) -> str:
    return f"month-{month}.html" if scope.size == 1 else f"month-{month}-{scope.name}.html"


def _label(rows: list[dict[str, Any]]) -> str:
    targets = [t for t in (Target.from_columns(r) for r in rows if r.get("Kind") == "run") if t is not None]
    return targets[0].label() if targets else ""
