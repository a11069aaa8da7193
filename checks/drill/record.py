"""The journal run of a finished drill (trigger `drill`, one result `drill.restore`): the record an auditor
reads (ISO 27001 A.8.13, BSI C5 OPS-06/07/08).

Its details hold who or what started the drill (`started_by`: the timer, the Entra caller's object id and
name, or the CLI's user), the backup used (`backup`: restore point, how it was chosen, the restore window it
was chosen in), RTO and RPO and their targets (`objectives`), the verification, the access-parity findings
(`parity`) and the proof of the server's disposal (`disposal`). A field a drill did not record (a drill
recorded before it existed, a step it never reached) is None.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from checks.drill.state import Drill
from checks.drill.verify import DrillFacts, evaluate_drill, recorded_facts, rpo_figures
from checks.engine.config import Settings
from checks.engine.i18n import N_, msg
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.engine.runner import message_facts
from checks.engine.target import Target
from checks.engine.timeutil import minutes, parse_iso

CHECK_ID = "drill.restore"
TITLE = N_("Restore drill: point-in-time restore to a new server")
SEVERITY = Severity.HIGH
REMEDIATION = N_("Read the drill's events (python -m checks drill status); fix what failed (restore permissions: "
               "Contributor on the resource group; network access of the verifier to the restored server), "
               "then start a new drill.")


def drill_run(drill: Drill, now: datetime, settings: Settings) -> Run:
    """The journal run of a finished drill: trigger `drill`, one result `drill.restore` (status: evaluate_drill)."""
    requested = parse_iso(drill.requested_at)
    ready = parse_iso(drill.ready_at)
    rto = minutes(ready - requested) if ready else None
    cleanup = drill.cleanup or ""
    if drill.verification:
        facts = recorded_facts(drill.target_server, drill.verification, rto, drill.restore_point, cleanup)
    else:
        facts = DrillFacts(drill.target_server, stopped_by=drill.stopped_by, stop_reason=drill.error,
                           stop_summary=drill.summary or drill.error or msg("drill {state}", state=drill.state),
                           cleanup=cleanup)
    outcome = evaluate_drill(replace(facts, parity_warnings=parity_warnings(drill)), settings)
    details = {
        "drill_id": drill.drill_id,
        "target": drill.target_name or None,
        "target_server": drill.target_server,
        "source_server": drill.source_server,
        "restore_point": drill.restore_point,
        "restore_point_mode": drill.restore_point_mode,
        "requested_at": drill.requested_at,
        "ready_at": drill.ready_at or None,
        "rto_minutes": rto, **rpo_figures(drill.verification),  # RPO_PROBE: measured RPO and loss
        "verification": drill.verification or {"status": "not run", "reason": drill.error or drill.summary},
        "cleanup": cleanup,
        "state": drill.state,
        "trigger": drill.trigger,
        **auditor_details(drill, (outcome.details.get("verification") or {}).get("objectives")),
    }
    remediation = (outcome.remediation or REMEDIATION) if outcome.status != Status.PASS else ""
    result = CheckResult(check_id=CHECK_ID, title=TITLE, status=outcome.status, severity=SEVERITY,
                         summary=outcome.summary, details=details, remediation=remediation,
                         started_at=requested, duration_ms=int((now - requested).total_seconds() * 1000),
                         messages=message_facts(summary=outcome.summary))
    caller = {"object_id": drill.requested_by_object_id, "name": drill.requested_by_name} \
        if drill.requested_by_object_id else None
    return Run(run_id=drill.drill_id, trigger="drill", started_at=requested, finished_at=now, results=[result],
               target=drill_target(drill, settings), requested_by=caller)


def parity_warnings(drill: Drill) -> int:
    """How many of the drill's access-parity findings warn (0 when not recorded or not readable)."""
    findings = drill.parity.get("findings") if isinstance(drill.parity, dict) else None
    return sum(1 for f in findings if isinstance(f, dict) and f.get("severity") == "warn") \
        if isinstance(findings, list) else 0


def auditor_details(drill: Drill, objectives: dict[str, Any] | None) -> dict[str, Any]:
    """started_by, backup, objectives, parity and disposal of the drill's journal details (None: not recorded)."""
    return {
        "started_by": started_by(drill),
        "backup": {"restore_point": drill.restore_point or None, "chosen": drill.restore_point_mode or None,
                   "window": drill.restore_window or None},
        "objectives": objectives or None,
        "parity": drill.parity or None,
        "disposal": drill.disposal or None,
    }


def started_by(drill: Drill) -> dict[str, Any]:
    """Who or what started the drill: its trigger (timer | cli | http) and, when known, the Entra caller
    (object id and name) or the CLI's user."""
    return {"trigger": drill.trigger or None, "object_id": drill.requested_by_object_id or None,
            "name": drill.requested_by_name or None, "user": drill.requested_by_user or None}


def drill_target(drill: Drill, settings: Settings) -> Target | None:
    """The run's target: the drilled fleet target (its name and source server); None for a drill recorded
    before drills named their target (its run reads as the runs of that time: target not recorded)."""
    if not drill.target_name:
        return None
    if settings.target_name != drill.target_name:  # its target is no longer configured: what the drill knows
        return Target(name=drill.target_name, server=drill.source_server)
    return Target.from_settings(settings)
