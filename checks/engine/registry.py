"""The catalogue of checks. Each family module registers its checks with `@check(...)`.

Family modules are imported here, but none of them imports an Azure SDK or psycopg at module
level: the function app cold-starts without loading them (see bench/bench_cold_start.py).
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
from typing import Callable, Iterable

from checks.engine.model import CheckSpec, Outcome, Severity

# One module per check family; adding a family = one line here.
FAMILIES = (
    "checks.families.database",
    "checks.families.signed_document",
    "checks.families.postgres",
    "checks.families.blob",
    "checks.families.blob_activity",
    "checks.families.canary",
    "checks.families.storage_protection",
    "checks.families.storage_lifecycle",
    "checks.families.postgres_protection",
    "checks.families.residency",
    "checks.drill.residency",  # postgres.restore_residency
    "checks.drill.restore_drill",  # drill.restore: on demand, through the drill's own entry points
)

_REGISTRY: dict[str, CheckSpec] = {}


class UnknownCheck(ValueError):
    """A selection named a check that does not exist; the message lists the known ids."""

    def __init__(self, unknown: list[str], known: Iterable[str]):
        self.unknown = [_shown(u) for u in unknown]  # echoed in messages: printable and short
        self.known = sorted(known)
        self.did_you_mean = did_you_mean(unknown, self.known)
        hint = f"; did you mean {', '.join(self.did_you_mean)}?" if self.did_you_mean else ""
        super().__init__(
            f"unknown check id or pattern: {', '.join(self.unknown)}{hint}; known checks: {', '.join(self.known)}")


def _shown(text: str, limit: int = 100) -> str:
    text = text if text.isprintable() else repr(text)[1:-1]
    return text if len(text) <= limit else text[:limit - 1] + "…"


def did_you_mean(unknown: Iterable[str], known: list[str]) -> list[str]:
    """The known ids closest to each mistyped one (difflib, at most 3 each, in order, once)."""
    names: dict[str, list[str]] = {}  # "retention" -> ["postgres.retention"]: a family left out
    for cid in known:
        names.setdefault(cid.partition(".")[2], []).append(cid)
    found: list[str] = []
    for text in (t[:200] for t in unknown):
        near = difflib.get_close_matches(text, known, n=3, cutoff=0.8) or [
            cid for name in difflib.get_close_matches(text, list(names), n=3, cutoff=0.8) for cid in names[name]]
        found += [cid for cid in near if cid not in found]
    return found


def check(id: str, title: str, severity: Severity | str, remediation: str, risk: str,
          read_only: bool = True, timeout_seconds: float | None = None, on_demand: bool = False,
          controls: tuple[str, ...] = ()) -> Callable[[Callable[..., Outcome]], Callable[..., Outcome]]:
    """Register `run(ctx) -> Outcome` under `id` with its metadata (`on_demand`: left out of a run
    that selects nothing, run only when its id or a glob names it; `controls`: the audit controls it
    evidences, ids of checks/engine/controls.py)."""
    def register(fn: Callable[..., Outcome]) -> Callable[..., Outcome]:
        if id in _REGISTRY and _REGISTRY[id].run is not fn:
            raise RuntimeError(f"check id registered twice: {id}")
        _REGISTRY[id] = CheckSpec(id=id, title=title, severity=Severity(severity),
                                  remediation=remediation, risk=risk, run=fn,
                                  read_only=read_only, timeout_seconds=timeout_seconds, on_demand=on_demand,
                                  controls=tuple(controls))
        return fn
    return register


def all_checks() -> dict[str, CheckSpec]:
    for module in FAMILIES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def select(patterns: Iterable[str] | None = None, read_only_only: bool = False) -> list[CheckSpec]:
    """Checks matching ids or globs (`postgres.*`); none given = all but the on-demand ones. Unknown → UnknownCheck."""
    catalogue = all_checks()
    patterns = [p.strip() for p in (patterns or []) if p and p.strip()]
    if not patterns:
        chosen = [spec for spec in catalogue.values() if not spec.on_demand]
    else:
        unknown = [p for p in patterns if not fnmatch.filter(catalogue, p)]
        if unknown:
            raise UnknownCheck(unknown, catalogue)
        chosen = [spec for cid, spec in catalogue.items() if any(fnmatch.fnmatchcase(cid, p) for p in patterns)]
    if read_only_only:
        chosen = [spec for spec in chosen if spec.read_only]
    return chosen
