"""A journal for the report pages' tests: this month holds every status (pass, warn, fail, error,
skipped), a finished restore drill (its state entity and its journal run, written by the drill's own
code), a sign-off, and a summary that carries markup; last month is complete and signed off."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from checks.drill.restore_drill import drill_run
from checks.drill.state import SUCCEEDED, Drill
from checks.engine.config import Settings
from checks.engine.timeutil import iso_z as iso
from checks.engine.model import Status
from checks.report.checklist import month_range, sign_off
from test_report import FULL, make_run

P, W, F, E, S = Status.PASS, Status.WARN, Status.FAIL, Status.ERROR, Status.SKIPPED
EVIL = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"


@dataclass
class Seeded:
    month: str
    previous: str
    full_run: str
    problem_run: str
    drill_id: str
    old_run: str


def _start_of(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=timezone.utc)


def seed(journal, now: datetime | None = None) -> Seeded:
    now = now or datetime.now(timezone.utc)
    month = now.strftime("%Y-%m")
    previous = month_range(month, 2)[0]
    start, old_start = _start_of(month), _start_of(previous)
    ids = Seeded(month, previous, f"{start:%Y%m%d}T000100Z-a1a1a1", f"{start:%Y%m%d}T000200Z-b2b2b2",
                 f"{start:%Y%m%d}T000300Z-d3d3d3", f"{old_start:%Y%m%d}T060000Z-c0c0c0")

    journal.write_run(make_run(ids.old_run, old_start + timedelta(hours=6), FULL))
    sign_off(journal, previous, "A. Auditor", comment="all five boxes", now=old_start + timedelta(days=2))

    full = [r if r[0] != "postgres.retention" else ("postgres.retention", W, "earliest restore point 30 h short",
                                                   {"retention_days": 7, "earliest_restore": None})
            for r in FULL]
    full += [("blob.canary", S, "BLOB_CANARY_CONTAINER not set", {}), ("blob.change_feed", P, "change feed on", {})]
    journal.write_run(make_run(ids.full_run, start + timedelta(minutes=1), full))
    journal.write_run(make_run(ids.problem_run, start + timedelta(minutes=2), [
        ("blob.soft_delete", F, f"soft delete is off on container {EVIL}", {"enabled": False, "retention_days": None}),
        ("database.essential_counts", E, "cannot count public.patients: permission denied", {}),
        ("blob.versioning", P, "versioning on", {"enabled": True, "listing": ["a.pdf", "b.pdf"],
                                                  "change_feed": {"enabled": False}}),
    ], trigger="http"))
    _seed_drill(journal, ids.drill_id, start + timedelta(minutes=3))
    sign_off(journal, month, "Dr. A. Example", comment=f"reviewed {EVIL}", now=start + timedelta(minutes=4))
    return ids


def _seed_drill(journal, drill_id: str, requested: datetime) -> None:
    ready, done = requested + timedelta(minutes=18, seconds=30), requested + timedelta(minutes=40)
    drill = Drill(drill_id=drill_id, state=SUCCEEDED, trigger="timer", source_server="medicapp-db",
                  resource_group="rg-medicapp", target_server="medicapp-db-drill-1", requested_at=iso(requested),
                  restore_point=iso(requested - timedelta(hours=2)), restore_point_mode="random",
                  expires_at=iso(requested + timedelta(hours=6)), ready_at=iso(ready), outcome="pass",
                  summary="restored copy verified: 4 checks passed", cleanup="deleted",
                  verification={"checks": {"database.connectivity": {"status": "pass", "summary": "connected"}},
                                "counts": {"public.patients": {"restored": 120, "production": 120}},
                                "alembic_revision": {"restored": "4f2b9c1d7e3a", "production": "4f2b9c1d7e3a"}},
                  finished_at=iso(done))
    for moment, text in ((requested, "restore requested"), (ready, "server ready"),
                         (ready + timedelta(minutes=5), "verification passed"), (done, "server deleted")):
        drill.event(moment, text)
    journal.write_run(drill_run(drill, done, Settings.from_env({})))
    journal.upsert(drill.to_entity())

