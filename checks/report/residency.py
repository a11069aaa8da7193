"""The "all copies in the EEA" line of a target's month (HDS EXI 28), in the monthly report and the
fleet view: from the copies the residency checks recorded in the month's newest results
(details["copies"]: kind, name, region, eea), never from a summary's words.

A copy in a region of checks/engine/regions.py outside the EEA makes the line "outside"; no copy
recorded at all (no run) makes it "no evidence"; a copy whose region is unknown or cannot be told,
or a residency check without a usable result (error, no evidence), makes it "not proven". Only when
every residency check recorded its copies and all are in EEA regions is it "all in the EEA". A
skipped check (e.g. long-term retention not required) claims no copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.engine.i18n import join_messages, msg, msgn
from checks.engine.model import CheckResult
from checks.engine.regions import display, kind_label

RESIDENCY_CHECKS = ("postgres.backup_residency", "storage.replication_residency", "postgres.restore_residency",
                    "postgres.ltr_residency")
ALL_IN_EEA, OUTSIDE, NOT_PROVEN, NO_EVIDENCE = "all in EEA", "outside", "not proven", "no evidence"


@dataclass
class Residency:
    verdict: str  # all in EEA | outside | not proven | no evidence
    line: str  # the sentence, a Message (rendered in the page's language)
    outside: list[dict[str, Any]] = field(default_factory=list)  # the copies outside the EEA, with region
    copies: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "line": str(self.line), "outside": list(self.outside), "copies": self.copies}


def _named(row: dict[str, Any]) -> str:
    region = row.get("region")
    return msg("{what} {of} in {region}", what=kind_label(str(row.get("copy"))), of=str(row.get("of") or "?"),
               region=display(region) if region else msg("a region that cannot be told"))


def month_residency(protections: list[Any], results: dict[str, dict[str, CheckResult]]) -> Residency:
    """The line from the month's deciding result of each residency check (`protections`: the
    report's rows, checks/report/protections.py, which chose them)."""
    rows: list[dict[str, Any]] = []
    doubts: list[str] = []
    for p in (p for p in protections if p.check_id in RESIDENCY_CHECKS):
        if p.status == "skipped":
            continue
        result = results.get(p.run_id or "", {}).get(p.check_id)
        copies = result.details.get("copies") if result is not None else None
        if p.status in ("error", NO_EVIDENCE) or not isinstance(copies, list):
            doubts.append(msg("no usable result from {check}", check=p.check_id))
            continue
        rows += [c for c in copies if isinstance(c, dict)]
    outside = [r for r in rows if r.get("eea") is False]
    doubts += [_named(r) for r in rows if r.get("eea") is None]
    if outside:
        return Residency(OUTSIDE, msgn("{count} copy OUTSIDE the EEA: {copies}", "{count} copies OUTSIDE the EEA: "
                                       "{copies}", "count", count=len(outside),
                                       copies=join_messages([_named(r) for r in outside])),
                         [{k: r.get(k) for k in ("copy", "of", "region")} for r in outside], len(rows))
    if not rows:  # no copy recorded (no run, or every residency check failed to read): no evidence
        return Residency(NO_EVIDENCE, msg("no residency evidence this month"), [], 0)
    if doubts:
        return Residency(NOT_PROVEN, msg("not proven that every copy is in the EEA: {doubts}",
                                         doubts=join_messages(doubts)), [], len(rows))
    regions = sorted({display(r.get("region")) for r in rows})
    return Residency(ALL_IN_EEA, msgn("the {count} copy is in the EEA: {regions}", "all {count} copies in the EEA: "
                                      "{regions}", "count", count=len(rows), regions=join_messages(regions, ", ")),
                     [], len(rows))
