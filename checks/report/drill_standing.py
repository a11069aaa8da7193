"""Each target's restore drill standing in the fleet overview: its last successful drill (date, link to
the drill's page), its cadence (RESTORE_DRILL_EVERY_MONTHS, its own in TARGETS settings) and whether it
is overdue: never drilled, or its last successful drill more calendar months old than its cadence at the
end of the month shown (during the due month the drill round is still starting it: due, not overdue).

Pure over the drill records (one partition query, checks/drill/records.py's tolerant reader)."""
from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
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

    @property
    def overdue(self) -> bool:
        return self.drill_id is None or (self.months or 0) > self.every_months

    def to_dict(self) -> dict[str, Any]:
        return {"last_success_drill_id": self.drill_id, "last_success_at": self.at, "every_months": self.every_months,
                "months_since": self.months, "overdue": self.overdue}


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
    cadences = {t.name: t.settings_for(settings).restore_drill_every_months for t in targets}
    own = targets[0].name if len(targets) == 1 else ""
    return standings(read_drills(journal.partition(PARTITION)), cadences, own, month_end(month, now))
