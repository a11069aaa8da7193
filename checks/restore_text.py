"""What the incident restore's command line prints (plans, records, the runbook), in the language
being rendered (`python -m checks --lang fr restore ...`); checks/restore_cli.py runs the commands."""
from __future__ import annotations

from typing import Any

from checks.engine.config import Settings
from checks.engine.i18n import current, msgn, plain, tr as _, tr_n

LABEL_WIDTH = 15  # the plan's labels, padded so the values line up (wider when a language's labels are)


def _rows(*rows: tuple[str, str]) -> list[str]:
    width = max([LABEL_WIDTH] + [len(label) for label, _value in rows])
    return [f"  {label:<{width}} {value}" for label, value in rows]


def _verdict(plan) -> str:
    return _("VALID") if plan.valid else _("INVALID")


def _reasons(plan) -> list[str]:
    return [f"  ✗ {current().message(reason)}" for reason in plan.reasons]


def _window(window) -> str:
    """A restore window's two ends, each time the language's way (1 nov. 2026 05:50 UTC in French)."""
    return " .. ".join(str(current().value(end)) for end in window)


def describe_plan(plan, applying: bool = False) -> str:
    """Every field either checked (with its result) or `not checked: <why>`; --point echoed as given."""
    tr = current().message
    estimate = _("~{minutes} min ({basis})", minutes=plain(plan.estimated_minutes), basis=tr(plan.estimate_basis)) \
        if plan.estimated_minutes is not None else tr(plan.estimate_basis)
    free = _("free (no server of that name)") if plan.target_free else \
        _("taken: a server of that name exists") if plan.target_free is False else _("not looked up")
    lines = [_("Plan ({verdict}): point-in-time restore of {source} to a NEW server", verdict=_verdict(plan),
               source=plan.source_server)]
    lines += _rows((_("restore point"), _("{point}; {window}", point=_point(plan), window=_plan_window(plan))),
                   (_("target"), _("{target} in resource group {group}: {free}", target=plan.target_server,
                                   group=plan.resource_group, free=_checked(plan, "target", free))),
                   (_("location"), _checked(plan, "location", plan.location or _("not reported by Azure"))),
                   (_("network"), _checked(plan, "network", tr(plan.network) or _("not reported by Azure"))),
                   (_("rights"), _rights(plan)),
                   (_("estimated time"), _checked(plan, "estimate", estimate)),
                   (_("tags"), _("purpose=incident-restore (never deleted by the drill sweeper)")))
    lines += _reasons(plan)
    if plan.valid and not applying:
        lines.append(_("Nothing was written. Add --apply --by NAME to restore."))
    return "\n".join(lines) + "\n"


def _rights(plan) -> str:
    """What applying needs beyond creating the server (a CMK source: assign on each identity), and that it is
    not checked."""
    if not plan.rights:
        return _checked(plan, "rights", _("nothing beyond creating the server (no customer-managed key)"))
    needed = "; ".join(_("{action} on {scope}", action=r["action"], scope=r["scope"]) for r in plan.rights)
    return _("{rights} (customer-managed key: the new server uses the source's identities and key); not checked: "
             "{why}", rights=needed, why=current().message(plan.not_checked.get("rights") or ""))


def _checked(plan, name: str, result: str) -> str:
    """A field's result, or why it was not checked (the plan's not_checked)."""
    why = plan.not_checked.get(name)
    return _("not checked: {why}", why=current().message(why)) if why else result


def _point(plan) -> str:
    """The point asked for in UTC beside --point as given ('latest' becomes a time once the window is known)."""
    given = f"'{plan.point_given}'"
    if plan.point_utc:
        return _("{point} (given as {given})", point=plan.point_utc, given=given)
    if plan.point_mode == "latest":
        return _("the newest restorable moment (given as {given})", given=given)
    return _("not a time we accept (given as {given})", given=given)


def _plan_window(plan) -> str:
    if plan.window:
        return _("window {window}", window=_window(plan.window))
    return _("window not checked: {why}", why=current().message(plan.not_checked.get("window") or ""))


def describe(incident) -> str:
    tr = current().message
    outcome = f" ({current().word(incident.outcome)})" if incident.outcome else ""
    ready = incident.ready_at or "-"
    if incident.time_to_ready_minutes is not None:
        ready = _("{ready} ({minutes} min)", ready=ready, minutes=plain(incident.time_to_ready_minutes))
    lines = [_("Incident {incident_id} ({kind}): {state}{outcome}, requested by {by} at {at}",
               incident_id=incident.incident_id, kind=incident.kind, state=current().word(incident.state).upper(), outcome=outcome,
               by=incident.by, at=incident.requested_at),
             "  " + _("restore point {point}, target {target}, ready {ready}", point=incident.restore_point or "-",
                      target=incident.target_server or "-", ready=ready)]
    if incident.summary:
        lines.append(f"  {tr(incident.summary)}")
    colon = current().separator(": ")  # French typography: a space before ':'
    lines += [f"    {r['name']}{colon}{tr(r.get('result') or '')}, {tr(r.get('hash') or '-')}"
              for r in incident.verification.get("results", [])[:20]]
    checks = incident.verification.get("checks", {})
    lines += [f"    {cid}{colon}{current().word(c['status'])} — {tr(c['summary'])}" for cid, c in checks.items()]
    counts = incident.verification.get("counts", {})
    if counts:
        heads = (_("table"), _("restored"), _("production"))  # outside the f-string: Babel skips f-strings
        lines.append(f"    {heads[0]:<32} {heads[1]:>10} {heads[2]:>10}")
        lines += [f"    {table:<32} {_n(c.get('restored')):>10} {_n(c.get('production')):>10}"
                  for table, c in counts.items()]
    lines += [f"    {tr(e)}" for e in incident.events[-6:]]
    return "\n".join(lines) + "\n"


def _n(value: Any) -> str:
    return "-" if value is None else str(current().value(value))


def runbook(incident, settings: Settings) -> str:
    """What the on-call person does next. Nothing is switched automatically."""
    host = incident.target_host or f"{incident.target_server}.postgres.database.azure.com"
    return "\n".join([
        _("Runbook (nothing was switched over; production is untouched):"),
        "  1. " + _("Connect:  psql \"host={host} dbname=<app db> user=<admin or Entra user> sslmode=require\"",
                    host=host),
        "     " + _("Same logins and passwords as {source} at {point}.", source=incident.source_server,
                    point=incident.restore_point),
        "  2. " + _("Check what the incident needs on the restored copy (the counts above are beside production's)."),
        "  3. " + _("Either copy the needed rows back (pg_dump -t TABLE --data-only from the restored server, "
                    "reviewed, then restored into production),"),
        "     " + _("or point the application at it: set its database host to {host} (app settings / DATABASE_URL),",
                    host=host),
        "     " + _("after re-creating firewall rules / private DNS the application needs, and re-granting the "
                    "verifier."),
        "  4. " + _("Record the decision: python -m checks restore status {incident_id} shows this record;",
                    incident_id=incident.incident_id),
        "     " + _("the server is tagged purpose=incident-restore and is never deleted automatically: delete "
                    "{server} by hand when done.", server=incident.target_server),
    ]) + "\n"


def describe_range_plan(plan, applying: bool = False) -> str:
    lines = [_("Plan ({verdict}): blob point-in-time restore in storage account {account} (resource group {group})",
               verdict=_verdict(plan), account=plan.account, group=plan.resource_group)]
    lines += _rows((_("range"), _("{start} (included) .. {end} (excluded)", start=plan.range_start or "-",
                                  end=plan.range_end or "-")),
                   (_("restore point"), _("{point}; window {window}", point=plan.point or "-",
                                          window=_window(plan.window)) if plan.window else
                    _("{point}; window unknown", point=plan.point or "-")))
    lines.append("  " + _("documented limits:"))
    lines += [f"    - {current().message(limit)}" for limit in plan.limits]
    lines += _reasons(plan)
    if plan.valid and not applying:
        lines.append(_("Nothing was written. Add --apply --by NAME to restore (you will type {start}).",
                       start=plan.range_start))
    return "\n".join(lines) + "\n"


def describe_blob_plan(plan, applying: bool = False) -> str:
    data = plan.to_dict()
    where = f"{plan.account}/{plan.container}" + (_(" under {prefix}", prefix=repr(plan.prefix)) if plan.prefix else "")
    if plan.deleted_since:
        where += _(", deleted or overwritten since {since}", since=plan.deleted_since)
    lines = [_("Plan ({verdict}): restore blobs in {where}", verdict=_verdict(plan), where=where),
             "  " + tr_n("{count} blob to restore, {size}; {listed} listed",
                         "{count} blobs to restore, {size}; {listed} listed", "count", count=data["count"],
                         size=msgn("{bytes} byte", "{bytes} bytes", "bytes", bytes=data["bytes"]),  # 0 octet
                         listed=plan.listed)
             + (_(" (listing capped at BLOB_LIST_CAP: narrow with --prefix)") if plan.cap_hit else "")]
    lines += [f"    {c.action:<8} {c.name}  ({current().message(c.why)})" for c in plan.candidates[:5]]
    if len(plan.candidates) > 5:
        lines.append("    " + _("... and {more} more (--json lists them)", more=len(plan.candidates) - 5))
    lines += _reasons(plan)
    if plan.valid and not applying:
        lines.append(_("Nothing was written; nothing is ever deleted. Add --apply --by NAME to restore."))
    return "\n".join(lines) + "\n"
