"""The procedure's monthly checklist, produced from the journal (no hand-filled boxes).

One month = one partition of the journal table, read with ONE query (`Journal.partition`);
the 12-month overview reads one partition per month, never the whole table.

The five boxes and the evidence that ticks them (only results of runs recorded that month;
a check entity without its run summary is an incomplete run and never counts):

  backup      "Recent PostgreSQL backup visible"   postgres.backup_recent passed
  retention   "Retention conforms"                  postgres.retention passed (warn = not ticked, remark)
  soft_delete "Blob Storage soft delete on"         blob.soft_delete passed
  dry_run     "Dry run OK"                          database.connectivity, .migration, .essential_counts
                                                    and .signed_document all passed in ONE run (dry or
                                                    full); a skipped one is no evidence, so a run where
                                                    some passed and the rest were skipped is "partial"
  journal     "Results noted in the internal journal"  at least one run recorded in the month (a run that
                                                    only records that a fleet message could not be
                                                    delivered, fleet.delivery, verified nothing: no)

For each box the NEWEST run that has a deciding result (anything but skipped) decides: the
box is ticked only if that result passed, so a later failure is not hidden behind an earlier
pass (the earlier pass is kept as a remark). Failures, warnings and errors of the month are
listed with their remediation, and whether a later run of the month passed the same check.

Sign-offs are entities `Kind=signoff` in the month's partition, insert-only (an earlier
sign-off is never overwritten). Each stores the digest of the report it was given on, so a
sign-off made before later runs changed the month is shown as such.

Runs with trigger "drill" (the restore drill) count for the journal box and the drill, not for
boxes 1-4: their database checks look at the restored copy, not at production.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable

from checks import __version__
from checks.journal.entities import read_partition
from checks.journal.store import JournalUnavailable
from checks.engine.i18n import msg, msgn, remediation_of, summary_of
from checks.engine.model import CheckResult, Status, something_ran
from checks.engine.target import Target
from checks.engine.redact import redact
from checks.report.databases import about_database
from checks.report.interrupted import interrupted_runs
from checks.report.protections import protection_fields
from checks.engine.timeutil import is_month, iso_z, journal_iso, month_of
from checks.report.model import (BOXES, DELIVERY_CHECK, ERROR, FAILED, NO_EVIDENCE, PARTIAL, STATE_OF, TICKED, WARNING,
                                  Box, BoxSpec, DRILL_CHECK, DRILL_TRIGGER, Drill, Evidence, MonthReport, Overview,
                                  Problem, ReportError, RunRef, SignOff)

MAX_OVERVIEW_MONTHS = 36
MAX_SIGNER_CHARS = 100
MAX_COMMENT_CHARS = 500
FORMATS = ("md", "html", "json")

# --- input validation ------------------------------------------------------------------------

def check_month(month: str) -> str:
    if not is_month(month):
        raise ReportError(msg("month must be YYYY-MM (ASCII digits, 2000-2099), got {value}", value=repr(str(month)[:32])))
    return month


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ReportError(msg("format must be one of {formats}, got {value}", formats=", ".join(FORMATS),
                              value=repr(str(fmt)[:16])))
    return fmt


def check_months(months: Any) -> int:
    try:
        if isinstance(months, str) and not re.fullmatch(r"[0-9]{1,3}", months.strip()):
            raise ValueError("ASCII digits only")  # int() would take "1_0" and other scripts' digits
        value = int(months)
    except (TypeError, ValueError):
        value = repr(str(months)[:16])
    if not isinstance(value, int) or not 1 <= value <= MAX_OVERVIEW_MONTHS:
        raise ReportError(msg("months must be an integer between 1 and {most}, got {value}", most=MAX_OVERVIEW_MONTHS,
                              value=str(value)))
    return value


def month_range(last: str, count: int) -> list[str]:
    """`count` months ending with `last`, oldest first."""
    year, month = int(last[:4]), int(last[5:7])
    index = year * 12 + month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


# --- building a month from its partition ------------------------------------------------------

def _values(result: CheckResult, keys: Iterable[str | tuple[str, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        names = (key,) if isinstance(key, str) else key
        out[names[0]] = next((result.details[n] for n in names if result.details.get(n) is not None), None)
    return out


def _result_dict(result: CheckResult, keys: Iterable[str] = ()) -> dict[str, Any]:
    return {"check_id": result.check_id, "status": result.status.value, "summary": summary_of(result),
            "values": _values(result, keys)}


def _evidence(run: RunRef, results: list[dict[str, Any]]) -> Evidence:
    return Evidence(run.run_id, run.started_at, run.trigger, run.dry_run, results)


def about_production(target: Target | None, production: Target | None) -> bool:
    """Evidence for production's boxes: not an override and, when production is named, the same resources
    and, when the run recorded its database and production's is configured, production's database. A run
    journaled before runs recorded their target (None) still counts (backwards compatible); whether a run
    that did not record its database read production's is decided by checks/report/databases.py (the
    dry-run box)."""
    if target is None:
        return True
    if target.override:
        return False
    if production is None:
        return True
    recorded, wanted = target.database(), production.known_database()
    return target.same_resources(production) and (recorded is None or wanted is None or recorded == wanted)


def build_month(month: str, rows: list[dict[str, Any]], generated_at: datetime | None = None,
                production: Target | None = None) -> MonthReport:
    """The checklist of `month` from the entities of its partition (pure: no I/O); boxes are ticked
    only by runs about `production` (the configured target). Every entity is read through
    checks/journal/entities.py: an unreadable one is a note (and, in its run, an error), never evidence."""
    notes: list[str] = []
    part = read_partition(rows)
    runs = sorted((RunRef(run_id=r.run_id, started_at=iso_z(r.started_at), trigger=r.trigger, dry_run=r.dry_run,
                          status=r.status.value, counts=dict(r.counts), target=r.target)
                   for r in part.runs.values()), key=lambda r: (r.started_at, r.run_id), reverse=True)
    results: dict[str, dict[str, CheckResult]] = defaultdict(dict, part.results)
    if part.orphans:
        notes.append(msgn("{count} incomplete run without a run summary ignored: {runs}",
                          "{count} incomplete runs without a run summary ignored: {runs}", "count",
                          count=len(part.orphans), runs=", ".join(sorted(str(o) for o in part.orphans)[:5])))
    notes += part.notes()
    evidence, empty, undelivered = evidence_runs(runs, results, production, notes)
    # a drill run's database checks look at the restored copy, not production: no evidence for boxes 1-4
    verification = [r for r in evidence if r.trigger != DRILL_TRIGGER]
    boxes = [_single_box(spec, verification, results) for spec in BOXES[:3]]
    boxes.append(_dry_run_box(BOXES[3], about_database(verification, results, production, notes), results))
    boxes.append(_journal_box(BOXES[4], [r for r in evidence if r.run_id not in part.damaged]))
    if empty and not evidence:
        boxes[-1].remarks = [msgn("{count} run recorded, but no check ran in it", "{count} runs recorded, but in none of "
                                  "them did a check run", "count", count=len(empty))]
    if undelivered and not evidence:  # a failed delivery is journaled, but it is not a verification result
        boxes[-1].remarks = [_undelivered(results[run_id][DELIVERY_CHECK]) for run_id in undelivered[:3]]
    problems = _problems(runs, results)
    about = [r for r in runs if r.run_id in empty or about_production(r.target, production)]
    drill = _drill(about, results)  # a drill of another target is not this one's
    digest = _digest(month, runs, boxes)
    signoffs = _signoffs(part.signoffs, digest)
    return MonthReport(month=month, generated_at=journal_iso(generated_at or datetime.now(timezone.utc)), runs=runs,
                       boxes=boxes, problems=problems, drill=drill, signoffs=signoffs, notes=notes, digest=digest,
                       **protection_fields(verification, results),  # protections, residency line
                       target=production.label() if production else "",
                       acks=sorted(part.acks, key=lambda a: a["at"]),
                       undelivered=undelivered)


def _undelivered(result: CheckResult) -> str:
    """Why a target whose run was never delivered is not verified (from the result's facts: any language)."""
    facts = {key: result.details.get(key, "?") for key in ("month", "attempt", "attempts")}
    return msg("not verified: the queue gave up on the run of {month} (attempt {attempt}) after {attempts} "
               "deliveries", **facts)


def evidence_runs(runs: list[RunRef], results: dict[str, dict[str, CheckResult]], production: Target | None,
                   notes: list[str]) -> tuple[list[RunRef], list[str], list[str]]:
    """(runs that are evidence, ids of runs where every check was skipped, ids of runs that only record a
    failed delivery); a note for each run left out."""
    # a run in which every check was skipped is recorded but checked nothing: no evidence for any box
    empty = [r.run_id for r in runs if not something_ran(r.counts)
             and all(res.status is Status.SKIPPED for res in results[r.run_id].values())]
    if empty:
        notes.append(msgn("{count} run in which every check was skipped (recorded, not evidence): {runs}",
                          "{count} runs in which every check was skipped (recorded, not evidence): {runs}", "count",
                          count=len(empty), runs=", ".join(empty[:5])))
    # the queue gave up on the target's message: the run journaled for it says so, it verified nothing
    undelivered = [r.run_id for r in runs if set(results[r.run_id]) == {DELIVERY_CHECK}]
    if undelivered:
        notes.append(msgn("{count} run only records that the target's run could not be delivered (not evidence): "
                          "{run_ids}",
                          "{count} runs only record that the target's run could not be delivered (not evidence): "
                          "{run_ids}", "count", count=len(undelivered), run_ids=", ".join(undelivered[:5])))
    left_out = set(empty) | set(undelivered) | interrupted_runs(runs, results, notes)  # Ctrl-C: no evidence
    foreign = [r for r in runs if r.run_id not in left_out and not about_production(r.target, production)]
    for r in foreign[:10]:
        notes.append(msg("run {run_id} is about {target}: not evidence for production's boxes", run_id=r.run_id,
                         target=r.target.label() if r.target else msg("another target")))
    return [r for r in runs if r.run_id not in left_out and r not in foreign], empty, undelivered


def _single_box(spec: BoxSpec, runs: list[RunRef], results: dict[str, dict[str, CheckResult]]) -> Box:
    check_id = spec.check_ids[0]
    deciding: tuple[RunRef, CheckResult] | None = None
    remarks: list[str] = []
    skipped: CheckResult | None = None
    for run in runs:  # newest first
        result = results[run.run_id].get(check_id)
        if result is None:
            continue
        if result.status is Status.SKIPPED:
            skipped = skipped or result
            continue
        if deciding is None:
            deciding = (run, result)
        elif result.status is Status.PASS and deciding[1].status is not Status.PASS:
            remarks.append(msg("passed earlier in run {run_id} ({at}), but the newest result is {status}",
                               run_id=run.run_id, at=run.started_at, status=deciding[1].status.value))
            break
    if deciding is None:
        box = Box(spec.key, spec.label, NO_EVIDENCE)
        if skipped is not None:
            box.remarks.append(msg("{check_id} was skipped: {reason}", check_id=check_id, reason=summary_of(skipped)))
        elif runs:
            box.remarks.append(msg("no run of the month included {check_id}", check_id=check_id))
        return box
    run, result = deciding
    box = Box(spec.key, spec.label, STATE_OF[result.status],
              _evidence(run, [_result_dict(result, spec.values)]), remarks)
    if result.status is not Status.PASS:
        box.remarks.insert(0, msg("{status}: {summary}", status=result.status.value, summary=summary_of(result)))
    return box


def _dry_run_box(spec: BoxSpec, runs: list[RunRef], results: dict[str, dict[str, CheckResult]]) -> Box:
    deciding: tuple[RunRef, str, list[CheckResult]] | None = None
    remarks: list[str] = []
    for run in runs:
        db = [r for cid, r in sorted(results[run.run_id].items()) if cid.startswith("database.")]
        considered = [r for r in db if r.status is not Status.SKIPPED]
        if not considered:
            continue
        statuses = {r.status for r in considered}
        present = {r.check_id for r in considered}
        if Status.ERROR in statuses:
            state = ERROR
        elif Status.FAIL in statuses:
            state = FAILED
        elif Status.WARN in statuses:
            state = WARNING
        elif set(spec.check_ids) <= present:
            state = TICKED
        else:
            state = PARTIAL
        if deciding is None:
            deciding = (run, state, db)
        elif state == TICKED and deciding[1] != TICKED:
            remarks.append(msg("complete dry run passed earlier in run {run_id} ({at}), but the newest is {state}",
                               run_id=run.run_id, at=run.started_at, state=deciding[1]))
            break
    if deciding is None:
        box = Box(spec.key, spec.label, NO_EVIDENCE)
        box.remarks.append(msg("no run of the month has a database check that was not skipped") if runs else "")
        box.remarks = [r for r in box.remarks if r]
        return box
    run, state, db = deciding
    box = Box(spec.key, spec.label, state, _evidence(run, [_result_dict(r) for r in db]), remarks)
    by_id = {r.check_id: r for r in db}
    if state == PARTIAL:
        missing = [cid for cid in spec.check_ids if cid not in by_id or by_id[cid].status is Status.SKIPPED]
        for cid in missing:
            why = summary_of(by_id[cid]) if cid in by_id else msg("not run")
            box.remarks.insert(0, msg("{check_id} gave no evidence ({why})", check_id=cid, why=why))
    elif state != TICKED:
        for r in db:
            if r.status in (Status.FAIL, Status.ERROR, Status.WARN):
                box.remarks.insert(0, msg("{check_id} {status}: {summary}", check_id=r.check_id, status=r.status.value,
                                           summary=summary_of(r)))
    return box


def _journal_box(spec: BoxSpec, runs: list[RunRef]) -> Box:
    if not runs:
        return Box(spec.key, spec.label, NO_EVIDENCE, remarks=[msg("no run recorded in the journal this month")])
    newest = runs[0]
    evidence = _evidence(newest, [{"check_id": "journal", "status": "pass",
                                   "summary": msgn("{count} run recorded this month",
                                                   "{count} runs recorded this month", "count", count=len(runs)),
                                   "values": {"runs": len(runs), "first_run_at": runs[-1].started_at,
                                              "last_run_at": newest.started_at}}])
    return Box(spec.key, spec.label, TICKED, evidence)


def _problems(runs: list[RunRef], results: dict[str, dict[str, CheckResult]]) -> list[Problem]:
    out: list[Problem] = []
    for index, run in enumerate(runs):  # newest first
        for result in sorted(results[run.run_id].values(), key=lambda r: r.check_id):
            if result.status not in (Status.FAIL, Status.ERROR, Status.WARN):
                continue
            later_pass = next((later.run_id for later in reversed(runs[:index])
                               if (r := results[later.run_id].get(result.check_id)) and r.status is Status.PASS),
                              None)
            out.append(Problem(run.run_id, run.started_at, result.check_id, result.title, result.status.value,
                               result.severity.value, summary_of(result), remediation_of(result), later_pass))
    return out


def _drill(runs: list[RunRef], results: dict[str, dict[str, CheckResult]]) -> Drill | None:
    for run in runs:
        r = results[run.run_id].get(DRILL_CHECK)
        if r is not None:
            return Drill.of(run.run_id, run.started_at, run.trigger, r.status.value, summary_of(r), r.details,
                            run.target.name if run.target and run.target.name else None)
    return None


def _digest(month: str, runs: list[RunRef], boxes: list[Box]) -> str:
    basis = {"month": month, "runs": sorted((r.run_id, r.status) for r in runs),
             "boxes": [(b.key, b.state, b.evidence.run_id if b.evidence else None) for b in boxes]}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def _signoffs(entries: list[dict[str, Any]], digest: str) -> list[SignOff]:
    out = [SignOff(by=e["by"], at=iso_z(e["at"]), comment=e["comment"], via=e["via"], digest=e["digest"],
                   run_count=e["run_count"], boxes_ticked=e["boxes_ticked"], current=e["digest"] == digest,
                   forced=e["forced"], by_object_id=e.get("by_object_id", ""), proof=e.get("proof", ""))
           for e in entries]
    return sorted(out, key=lambda s: s.at)


# --- reading the journal ---------------------------------------------------------------------

def month_report(journal: Any, month: str, now: datetime | None = None, production: Target | None = None) -> MonthReport:
    """One month's checklist: one partition query."""
    check_month(month)
    rows = journal.partition(month)
    return with_chain(build_month(month, rows, now, production), journal, rows)


def overview(journal: Any, last_month: str, months: int, now: datetime | None = None,
             production: Target | None = None) -> Overview:
    """`months` months ending with `last_month`: one partition query per month."""
    check_month(last_month)
    months = check_months(months)
    now = now or datetime.now(timezone.utc)
    reports = [with_chain(build_month(m, rows, now, production), journal, rows)
               for m in month_range(last_month, months) for rows in [journal.partition(m)]]
    return Overview(reports[0].month, reports[-1].month, journal_iso(now), reports)


def with_chain(report: MonthReport, journal: Any, rows: list[dict[str, Any]]) -> MonthReport:
    """The report with its journal line: the month's hash chain intact or what broke."""
    from checks.report.chainline import chain_state
    line, report.journal_chain = chain_state(journal, report.month, rows)
    report.journal_chain["line"] = line  # shown under the notes (templates month.md, month.html); None: empty
    return report


# --- sign-off --------------------------------------------------------------------------------

def _clean_text(value: Any, what: str, limit: int, multiline: bool) -> str:
    if not isinstance(value, str):
        raise ReportError(msg("{field} must be a string", field=what))
    text = value.strip()
    if len(text) > limit:
        raise ReportError(msgn("{field} is too long: {count} character (limit {limit})", "{field} is too long: {count} "
                               "characters (limit {limit})", "count", field=what, count=len(text), limit=limit))
    allowed = {"\n"} if multiline else set()
    bad = sorted({repr(ch) for ch in text if not ch.isprintable() and ch not in allowed})
    if bad:
        raise ReportError(msg("{field} contains control characters: {characters}", field=what,
                              characters=", ".join(bad[:5])))
    return text


def validate_signoff(month: str, by: Any, comment: Any, now: datetime) -> tuple[str, str]:
    check_month(month)
    if month > month_of(now):
        raise ReportError(msg("cannot sign off {month}: the month has not started yet", month=month))
    name = _clean_text(by, "name (--by)", MAX_SIGNER_CHARS, multiline=False)
    if not name:
        raise ReportError(msg("name (--by) must not be empty"))
    text = _clean_text(comment if comment is not None else "", "comment", MAX_COMMENT_CHARS, multiline=True)
    return name, text


class SignOffRefused(ReportError):
    """A sign-off of a month where no run verified anything (HTTP 409, CLI exit 2); `force` with a
    comment saying why records it anyway, marked as forced."""


def sign_off(journal: Any, month: str, by: Any, comment: Any = None, *, via: str = "cli",
             now: datetime | None = None, production: Target | None = None,
             target_name: str = "", force: bool = False, signer: dict | None = None) -> tuple[SignOff, MonthReport]:
    """Record who reviewed `month` (insert-only: an earlier sign-off is never overwritten), for the
    target called `target_name` (`journal` then shows that target's entities: fleet.TargetJournal).
    A month without evidence (no run recorded, or none that verified anything) is refused unless
    `force`, which needs a comment and is stored as `Forced`.

    Returns the stored sign-off and the report it was given on (read first: one partition query).
    """
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    name, text = validate_signoff(month, by, comment, now)
    if not isinstance(force, bool):
        raise ReportError(msg("force must be true or false"))
    if force and not text:
        raise ReportError(msg("a forced sign-off needs a comment (--comment, field comment) saying why"))
    report = month_report(journal, month, now, production)
    forced = not report.box("journal").ticked
    if forced and not force:
        raise SignOffRefused(_nothing_to_sign(month, target_name, report))
    entity = {
        "PartitionKey": month, "Kind": "signoff", "SignedBy": name, "SignedAt": now,
        "Comment": redact(text), "Via": via,
        "ReportDigest": report.digest, "RunCount": len(report.runs), "BoxesTicked": report.ticked,
        "AppVersion": __version__, **({"TargetName": target_name} if target_name else {}),
        **({"Forced": True} if forced else {}), **(signer or {}),  # SignedByObjectId, SignedByProof (HTTP)
    }
    _insert(journal, entity, f"signoff-{now:%Y%m%dT%H%M%S%f}Z")
    stored = SignOff(by=name, at=journal_iso(now), comment=entity["Comment"], via=via, digest=report.digest,
                     run_count=len(report.runs), boxes_ticked=report.ticked, current=True, forced=forced,
                     by_object_id=entity.get("SignedByObjectId", ""), proof=entity.get("SignedByProof", ""))
    report.signoffs.append(stored)
    return stored, report


def _nothing_to_sign(month: str, target_name: str, report: MonthReport) -> str:
    who = msg(" for target {target}", target=target_name) if target_name else ""
    if not report.runs:
        why = msg("no run of {month}{who} is recorded in the journal", month=month, who=who)
    else:
        why = msgn("{count} run of {month}{who} is recorded, but none of them verified anything",
                   "{count} runs of {month}{who} are recorded, but none of them verified anything", "count",
                   count=len(report.runs), month=month, who=who)
    return msg("cannot sign off: {why}; to record a sign-off anyway, add --force (field force) with a comment "
               "saying why", why=why)


def _insert(journal: Any, entity: dict[str, Any], row_prefix: str) -> None:
    """Insert (never upsert): a RowKey collision gets a new random suffix, never an overwrite."""
    for _ in range(3):
        entity["RowKey"] = f"{row_prefix}-{secrets.token_hex(3)}"
        if journal.insert(entity):
            return
    raise JournalUnavailable(msg("journal write failed: could not find a free sign-off RowKey"))
