"""Command line for several targets: `run --target NAME` / `--all-targets` and `targets`.

`run` with a fleet configured (TARGETS or DISCOVER_TAG) and no target flag verifies every target;
without a fleet it is today's single run (checks/cli.py). One selected target prints today's run
table; several print a progress line per target as it finishes, then the fleet summary, worst
first. The exit code is the worst status, as for one run.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping, TextIO

from checks.cli_text import counted_status, mark, paint, print_attention, print_run
from checks.engine.i18n import current, language, tr as _, tr_n as _n
from checks.engine.model import Status

DEFAULT_CONCURRENCY = 4  # checks/fleet_run.py's default: small, the runs are I/O-bound
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_RESOURCE_ATTRS = {"azure_subscription_id", "pg_resource_group", "pg_server_name", "storage_resource_group",
                   "storage_account_name", "blob_account_url", "blob_containers"}


class FleetUsageError(Exception):
    """A bad combination of fleet flags or an unknown target name (exit 2)."""


def _concurrency(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 32:
        raise argparse.ArgumentTypeError(_("expected an integer from 1 to 32, got {value}", value=repr(value)))
    return int(value)


def add_cli(sub: Any, run: argparse.ArgumentParser) -> None:
    """The fleet flags of `run` and the `targets` command."""
    run.add_argument("--target", action="append", default=[], metavar="NAME",
                     help=_("verify this target of TARGETS / DISCOVER_TAG (repeatable)"))
    run.add_argument("--all-targets", action="store_true", help=_("verify every target"))
    run.add_argument("--concurrency", type=_concurrency, default=DEFAULT_CONCURRENCY, metavar="N",
                     help=_("targets verified at the same time (1-32, default {count})", count=DEFAULT_CONCURRENCY))
    targets = sub.add_parser("targets", help=_("list the configured or discovered targets"))
    targets.add_argument("--json", action="store_true")


def wants_fleet(args: Any, settings: Any) -> bool:
    """A fleet run: target flags given, or a fleet configured (a plain `run` then verifies all of it)."""
    return bool(args.target or args.all_targets or settings.targets or settings.discover_tag)


def _fleet(settings: Any) -> Any:
    """The resolved fleet; a DiscoveryError is reported by the caller."""
    from checks.fleet_run import resolve_fleet
    return resolve_fleet(settings)


def _selected(args: Any, fleet: Any) -> tuple:
    from checks.engine.fleet import select_targets
    if args.target and args.all_targets:
        raise FleetUsageError(_("--target and --all-targets exclude each other: name targets or take them all"))
    overriding = [f for f, v in (("--azure-server", args.azure_server),
                                 ("--azure-resource-group", args.azure_resource_group)) if v]
    chosen = fleet.targets
    if args.target:
        try:
            chosen = select_targets(fleet.targets, list(dict.fromkeys(args.target)))
        except KeyError as exc:
            raise FleetUsageError(exc.args[0]) from None
    if overriding and (args.all_targets or len(chosen) != 1):
        raise FleetUsageError(_("{flags} override one target's server: use them with one --target NAME, "
                                "not with {count} targets", flags=" / ".join(overriding), count=len(chosen))
                              + (" (--all-targets)" if args.all_targets else ""))
    return chosen


def cmd_run_fleet(args: Any, out: TextIO, settings: Any, journal: Any, request: Any) -> int:
    """Verify the selected targets; exit code = worst status (or a journal write that failed)."""
    from checks.connect.discovery import DiscoveryError
    from checks.fleet_run import run_fleet

    try:
        fleet = _fleet(settings)
    except DiscoveryError as exc:
        print(_("error: {reason}", reason=str(exc)), file=sys.stderr)
        return EXIT_FAILED
    chosen = _selected(args, fleet)
    for note in fleet.notes:
        print(_("Note: {note}", note=note), file=sys.stderr)
    progress = _progress(out, len(chosen), args.colour, quiet=args.json or len(chosen) == 1)
    result = run_fleet(request, settings, chosen, journal, concurrency=args.concurrency, on_done=progress)
    if args.json:
        json.dump(fleet_json(result), out, indent=2, default=str)
        out.write("\n")
    elif len(result.outcomes) == 1 and result.outcomes[0].run is not None:
        print_run(result.outcomes[0].run, out, args.colour)  # one target: today's output
    else:
        print_fleet_summary(result, out, args.colour)
    failed = result.status in (Status.FAIL, Status.ERROR) or any(o.journal_failed for o in result.outcomes)
    return EXIT_FAILED if failed else EXIT_OK


def _progress(out: TextIO, total: int, colour: bool, quiet: bool):
    done = [0]
    lang = current().lang  # the workers' threads do not inherit the face's language (a context variable)

    def report(outcome: Any) -> None:
        done[0] += 1
        if quiet:
            return
        status = outcome.status.value
        with language(lang):
            out.write(f"[{done[0]}/{total}] {paint(f'{mark(status):<6}', status, colour)} {outcome.name}  "
                      f"{_what(outcome)}\n")
        out.flush()
    return report


def _what(outcome: Any) -> str:
    run = outcome.run
    if run is None:
        return _("not run: {reason}", reason=outcome.error)
    counts = ", ".join(counted_status(k, v) for k, v in run.counts().items() if v) or _("no checks")
    return _("{counts}; run {run_id}; journal: {journal}", counts=counts, run_id=run.run_id,
             journal=current().message(run.journal_status))


def print_fleet_summary(result: Any, out: TextIO, colour: bool = False) -> None:
    """Targets worst first, then what needs attention in each target that did not pass."""
    counts = ", ".join(counted_status(k, v) for k, v in sorted(result.counts().items(),
                                                                  key=lambda kv: -Status(kv[0]).rank))
    overall = paint(current().word(result.status.value).upper(), result.status.value, colour)
    out.write("\n" + _n("Fleet: {overall} — {count} target: {counts}",
                        "Fleet: {overall} — {count} targets: {counts}", "count", overall=overall,
                         count=len(result.outcomes), counts=counts) + "\n")
    width = max(len(o.name) for o in result.outcomes)
    for outcome in result.worst_first():
        status = outcome.status.value
        out.write(f"  {paint(f'{mark(status):<6}', status, colour)} {outcome.name:<{width}}  {_what(outcome)}\n")
    for outcome in result.worst_first():
        if outcome.run is not None and outcome.status not in (Status.PASS, Status.SKIPPED):
            out.write(f"\n{outcome.name}:")
            print_attention(outcome.run, out, colour)


def fleet_json(result: Any) -> dict[str, Any]:
    return {"status": result.status.value, "counts": result.counts(),
            "targets": [{"name": o.name, "status": o.status.value, "error": o.error or None,
                         "run": o.run.to_dict() if o.run is not None else None} for o in result.outcomes]}


def cmd_targets(args: Any, out: TextIO, env: Mapping[str, str]) -> int:
    """The configured or discovered targets: name, server, account, database and overrides."""
    from checks.connect.discovery import DiscoveryError
    from checks.service import load_settings

    settings = load_settings(env)
    try:
        fleet = _fleet(settings)
    except DiscoveryError as exc:
        print(_("error: {reason}", reason=str(exc)), file=sys.stderr)
        return EXIT_FAILED
    rows = [target_row(t, t.settings_for(settings)) for t in fleet.targets]
    if args.json:
        json.dump({"source": fleet.source, "notes": fleet.notes, "targets": rows}, out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write((_("1 target ({source})", source=fleet.source) if len(rows) == 1 else
               _n("{count} target ({source})",
                  "{count} targets ({source})", "count", count=len(rows), source=fleet.source)) + "\n")
    for row in rows:
        out.write(f"  {row['name']}\n")
        for label, value in _target_lines(row):
            out.write(f"    {label:<9} {value}\n")
    for note in fleet.notes:
        out.write(_("Note: {note}", note=note) + "\n")
    return EXIT_OK


def _target_lines(row: dict[str, Any]) -> list[tuple[str, str]]:
    containers = (_("; containers {names}", names=", ".join(row["containers"]))
                  if row["account"] and row["containers"] else "")
    lines = [(_("server:"), row["server"] or "–"), (_("account:"), (row["account"] or "–") + containers),
             (_("database:"), row["database"] or "–")]
    if row["overrides"]:
        lines.append((_("overrides:"), ", ".join(f"{k}={v}" for k, v in row["overrides"].items())))
    return lines


def target_row(target: Any, settings: Any) -> dict[str, Any]:
    """What a person needs to recognise a target (never a connection string or password)."""
    from checks.engine.config import variable_name
    from psycopg.conninfo import conninfo_to_dict  # lazy: cold start

    server = (_("{name} (resource group {group})", name=settings.pg_server_name,
                group=settings.pg_resource_group or "?") if settings.pg_server_name else "")
    account = (_("{name} (resource group {group})", name=settings.storage_account_name,
                 group=settings.storage_resource_group or "?") if settings.storage_account_name
               else (_("local (BLOB_CONNECTION_STRING)") if settings.blob_connection_string else ""))
    database = (conninfo_to_dict(settings.database_url).get("dbname") if settings.database_url
                else settings.libpq_env.get("PGDATABASE")) or ""
    overrides = {variable_name(k): ",".join(v) if isinstance(v, tuple) else v
                 for k, v in target.changes.items() if k not in _RESOURCE_ATTRS}
    return {"name": target.name, "server": server, "account": account, "database": database,
            "containers": list(settings.blob_containers), "overrides": overrides,
            "subscription": settings.azure_subscription_id or "", "without": list(target.without)}
