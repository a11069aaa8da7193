"""Incident restore: the procedure's restore (section 1.3) run for real, guarded, verified and journaled.

`postgres` restores the production server to a NEW server at a chosen point (the drill's guarded
ARM actions, checks/drill/state.py) and verifies it with the database checks; `blobs` brings back
deleted or overwritten blobs (undelete, promote a previous version, or the account's blob
point-in-time restore for a prefix). Each has a plan (no write) and an apply; `record` keeps the
incident record in the journal. The faces (checks/restore_cli.py, checks/http_api.py) sit on top.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from checks.engine.config import Settings
    from checks.engine.context import RunContext


def make_context(settings: "Settings") -> "RunContext":
    """The context of a restore command or plan request (tests replace this to inject a transport and a clock)."""
    from checks.engine.context import RunContext
    return RunContext(settings=settings)
