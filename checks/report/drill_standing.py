"""Each target's restore drill standing in the fleet overview: its last successful drill (date, link to
the drill's page), its cadence (RESTORE_DRILL_EVERY_MONTHS, its own in TARGETS settings) and whether it
is overdue: never drilled, or its last successful drill more calendar months old than its cadence at the
end of the month shown (during the due month the drill round is still starting it: due, not overdue),
and where it stands in that month's drill round (started, waiting, failed to start, given up until next month).

Pure over the drill records (one partition query, checks/drill/records.py's tolerant reader)."""
from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from checks.drill.rounds import last_success
from checks.engine.timeutil import months_between, parse_iso


@dataclass(frozen=True)
class DrillStanding:
    every_months: int
    drill_id: str | None = None   # the last successful drill (None: never drilled)
    at: str | None = None         # when it was requested (ISO)
    months: int | None = None     # calendar months since, at the end of the month shown (or now)
    round_state: str | None = None  # in the month's drill round: started | waiting | failed_start | gave_up
    round_tries: int = 0          # its failed starts in that round (checks/drill/rounds.py ROUND_MAX_TRIES)

    @property
    def overdue(self) -> bool:
        return self.drill_id is None or (self.months or 0) > self.every_months

    def to_dict(self) -> dict[str, Any]:
        return {"last_success_drill_id": self.drill_id, "last_success_at": self.at, "every_months": self.every_months,
                "months_since": self.months, "overdue": self.overdue,
                "round": {"state": self.round_state, "failed_tries": self.round_tries} if self.round_state else None}


def month_end(month: str, now: datetime) -> datetime:
    """The last moment of `month` (YYYY-MM), or `now` when that is earlier (the current month)."""
    year, number = int(month[:4]), int(month[5:7])
    end = datetime(year, number, monthrange(year, number)[1], 23, 59, 59, tzinfo=timezone.utc)
    return min(end, now)


def standings(drills: Sequence[Any], cadences: Mapping[str, int], own: str, at: datetime) -> dict[str, DrillStanding]:
    """{target: standing} from the drills requested up to `at` (a drill without a target is `own`'s)."""
    seen = [d for d in drills if _requested(d) <= at]
    out = {}
    for name, every in cadences.items():
        last = last_success([d for d in seen if (d.target_name or own) == name])
        out[name] = DrillStanding(every) if last is None else DrillStanding(
            every, last.drill_id, last.requested_at, months_between(parse_iso(last.requested_at), at))
    return out


def _requested(drill: Any) -> datetime:
    try:
        return parse_iso(drill.requested_at) or datetime.max.replace(tzinfo=timezone.utc)
    except ValueError:  # a damaged time: never counted as the last success
        return datetime.max.replace(tzinfo=timezone.utc)


def fleet_standings(journal: Any, settings: Any, targets: Sequence[Any], month: str,
                    now: datetime) -> dict[str, DrillStanding]:
    """Every target's standing when the restore drill is enabled (else {}: nobody is overdue for a drill the
    deployment does not run); `targets`: the fleet's FleetTargets."""
    if not settings.restore_drill_enabled:
        return {}
    from checks.drill.records import read_drills
    from checks.drill.state import PARTITION
    from checks.drill.rounds import read_round
    cadences = {t.name: t.settings_for(settings).restore_drill_every_months for t in targets}
    own = targets[0].name if len(targets) == 1 else ""
    drills, at = read_drills(journal.partition(PARTITION)), month_end(month, now)
    out = standings(drills, cadences, own, at)
    current = read_round(journal, at)  # the round of the month shown: where each due target stands in it
    if current is None:
        return out
    states = {name: current.state_of(name, drills, own) for name in out}
    return {name: replace(st, round_state=states[name][0], round_tries=states[name][1]) for name, st in out.items()}
