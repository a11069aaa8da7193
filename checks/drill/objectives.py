"""A drill's measured RTO and RPO scored against their targets, RTO_TARGET_MINUTES and RPO_TARGET_SECONDS.

Pure: `score_objectives(rto_minutes, rpo_record, settings)` returns the problems (a breach: the drill
fails), the warnings (a target set but its figure not measured) and the record journaled under
`verification.objectives`: for each of rto and rpo the measured figure, the target (None: not set)
and `met` (True, False, or None when not scored). A target that is not set scores nothing.
"""
from __future__ import annotations

from typing import Any

from checks.engine.config import Settings
from checks.engine.i18n import Message, msg, plain

REMEDIATION = msg("A measured RTO above RTO_TARGET_MINUTES: the restore took longer than agreed; review the server's "
                  "size and storage (a restore's duration grows with the data) or agree a target the platform can "
                  "meet. A measured RPO above RPO_TARGET_SECONDS: the newest restored row is older than the target "
                  "allows; check WAL archiving and the backup checks (postgres.*).")


def score_objectives(rto_minutes: float | None, rpo: dict[str, Any] | None,
                     settings: Settings) -> tuple[list[Message], list[Message], dict[str, Any]]:
    """(problems, warnings, record) of the RTO (minutes, request to ready) and the RPO (the RPO_PROBE record)."""
    problems: list[Message] = []
    warnings: list[Message] = []
    rto_target, rpo_target = settings.rto_target_minutes, settings.rpo_target_seconds
    rpo_seconds = (rpo or {}).get("rpo_seconds")
    record = {"rto": _scored(rto_minutes, rto_target, "minutes"), "rpo": _scored(rpo_seconds, rpo_target, "seconds")}
    if rto_target is not None:
        if rto_minutes is None:
            warnings.append(msg("RTO not measured: not scored against RTO_TARGET_MINUTES ({target} min)",
                                target=rto_target))
        elif rto_minutes > rto_target:
            problems.append(msg("RTO {minutes} min exceeds RTO_TARGET_MINUTES ({target} min)",
                                minutes=plain(rto_minutes), target=rto_target))
    if rpo_target is not None:
        if rpo_seconds is None:
            warnings.append(msg("RPO not measured: not scored against RPO_TARGET_SECONDS ({target} s)",
                                target=rpo_target))
        elif rpo_seconds > rpo_target:
            problems.append(msg("RPO {seconds} s exceeds RPO_TARGET_SECONDS ({target} s)",
                                seconds=plain(rpo_seconds), target=rpo_target))
    return problems, warnings, record


def _scored(measured: float | None, target: int | None, unit: str) -> dict[str, Any]:
    met = None if target is None or measured is None else measured <= target
    return {f"measured_{unit}": measured, f"target_{unit}": target, "met": met}
