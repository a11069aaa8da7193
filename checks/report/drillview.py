"""What an auditor reads on a drill's page (templates/drill.html): who started it, the backup used, RTO and
RPO against their targets, the access-parity findings and the proof of the server's disposal.

Read from the drill's record (checks/drill/state.py `Drill`) tolerantly: a drill recorded before these
fields existed, or a record whose fields do not have the shape the verifier writes, shows "not recorded"
for what is missing or unreadable, never an error page. Texts are messages (translated when rendered).
"""
from __future__ import annotations

from typing import Any

from checks.engine.i18n import Message, msg

RULES = {
    "public_copy": msg("the drill server is reachable from the internet, production is not"),
    "wider_access": msg("more open on the drill server than in production"),
    "extra_rule": msg("a firewall rule open on the drill server that production does not have"),
    "key_downgrade": msg("production's data is under a customer-managed key, the copy's is not"),
    "other_key": msg("the copy is encrypted with another key than production's"),
    "password_login": msg("production is Entra-only, the copy accepts passwords"),
    "other_tenant": msg("the copy trusts another Entra tenant than production"),
    "different": msg("differs from production"),
    "narrower": msg("stricter on the drill server than in production"),
    "missing_rule": msg("a firewall rule of production missing on the drill server"),
    "not_reported": msg("not reported for one of the two servers"),
}
PENDING = {
    "deleting": msg("the delete operation has not completed"),
    "still_exists": msg("the delete completed but the server still answers its GET"),
    "delete_failed": msg("the delete operation failed"),
    "refused": msg("the delete was refused by a guard"),
    "error": msg("Azure could not be asked"),
}
STATUSES = ("pass", "warn", "fail")


def _text(value: Any, limit: int = 300) -> str | None:
    """A stored scalar as text (None: absent or not a scalar)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)[:limit]


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def drill_audit(drill: Any) -> dict[str, Any]:
    """The page's auditor sections of `drill` (any missing or unreadable part: None = not recorded)."""
    return {"started_by": started_by(drill), "backup": backup(drill), "objectives": objectives(drill),
            "parity": parity(drill), "disposal": disposal(drill)}


def started_by(drill: Any) -> Message | str | None:
    trigger = _text(getattr(drill, "trigger", None), 40)
    name, oid = _text(getattr(drill, "requested_by_name", "")), _text(getattr(drill, "requested_by_object_id", ""))
    user = _text(getattr(drill, "requested_by_user", ""), 64)
    if trigger == "timer":
        return msg("a timer of the verifier (drill cadence RESTORE_DRILL_EVERY_MONTHS)")
    if trigger == "http":
        return msg("POST /api/drill by {name} (Entra object id {object_id})", name=name or "–", object_id=oid) \
            if oid else msg("POST /api/drill (caller not recorded: function key, or before callers were)")
    if trigger == "cli":
        return msg("the command line, user {user}", user=user) if user else \
            msg("the command line (user not recorded)")
    return trigger or None  # a trigger of another kind: as recorded


def backup(drill: Any) -> dict[str, Any]:
    window = _dict(getattr(drill, "restore_window", None))
    return {"point": _text(getattr(drill, "restore_point", None)) or None,
            "chosen": _text(getattr(drill, "restore_point_mode", None), 40) or None,
            "earliest": _text(window.get("earliest")), "latest": _text(window.get("latest"))}


def objectives(drill: Any) -> list[dict[str, Any]] | None:
    """[rto row, rpo row] with measured, target and verdict (met | missed | not scored); None: not recorded."""
    record = _dict(_dict(getattr(drill, "verification", None)).get("objectives"))
    if not record:
        return None
    rows = []
    for key, unit in (("rto", "minutes"), ("rpo", "seconds")):
        part = _dict(record.get(key))
        measured, target = _number(part.get(f"measured_{unit}")), _number(part.get(f"target_{unit}"))
        met = part.get("met") if isinstance(part.get("met"), bool) else None
        rows.append({"key": key, "unit": unit, "measured": measured, "target": target,
                     "verdict": "not scored" if met is None else "met" if met else "missed"})
    return rows


def parity(drill: Any) -> dict[str, Any] | None:
    record = _dict(getattr(drill, "parity", None))
    if not record:
        return None
    findings = []
    for item in record.get("findings") if isinstance(record.get("findings"), list) else []:
        item = _dict(item)
        severity = _text(item.get("severity"), 10)
        findings.append({"field": _text(item.get("field"), 80) or "?",
                         "production": _shown(item.get("production")), "drill": _shown(item.get("drill")),
                         "severity": severity if severity in STATUSES else None,
                         "text": RULES.get(_text(item.get("rule"), 40) or "")})
    status = _text(record.get("status"), 20)
    return {"status": status if status in STATUSES + ("not checked",) else None, "findings": findings,
            "checked_at": _text(record.get("checked_at"), 40)}


def _shown(value: Any) -> str | None:
    if isinstance(value, list):
        return ", ".join(str(v)[:60] for v in value[:20]) or "–"
    return _text(value)


def disposal(drill: Any) -> dict[str, Any] | None:
    record = _dict(getattr(drill, "disposal", None))
    if not record:
        return None
    status = _text(record.get("status"), 20)
    by = _text(record.get("by"), 20)
    return {"status": status if status in ("proven", "pending", "not needed") else None,
            "by": by if by in ("drill", "sweeper") else None,
            "operation_id": _text(record.get("operation_id"), 100), "operation_url": _text(record.get("operation_url")),
            "requested_at": _text(record.get("delete_requested_at"), 40),
            "completed_at": _text(record.get("completed_at"), 40),
            "completed_from": _text(record.get("completed_at_from"), 20),
            "final_get_at": _text(record.get("final_get_at"), 40),
            "final_get_status": _number(record.get("final_get_status")),
            "pending": PENDING.get(_text(record.get("pending_reason"), 20) or ""),
            "detail": _text(record.get("detail"))}
