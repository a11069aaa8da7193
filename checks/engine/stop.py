"""A stop asked of the whole process: Ctrl-C (SIGINT) or SIGTERM (a closing terminal, `timeout`).

The CLI's signal handlers (checks/cli_interrupt.py) call `request`; a run (checks/engine/runner.py)
then stops waiting for its unfinished checks, records them as interrupted and journals what finished.
Every thread sees it: a fleet's targets, run in worker threads, stop too. Never set in the Functions host.
"""
from __future__ import annotations

import threading

_EVENT = threading.Event()
_SIGNAL: list[str] = []


def request(signal_name: str = "SIGINT") -> None:
    """Ask every run of this process to stop; the first signal's name is kept."""
    if not _SIGNAL:
        _SIGNAL.append(signal_name)
    _EVENT.set()


def requested() -> bool:
    return _EVENT.is_set()


def signal_name() -> str:
    """SIGINT or SIGTERM (the first stop asked); "" when none was."""
    return _SIGNAL[0] if _SIGNAL else ""


def reset() -> None:
    """A new command in the same process (tests, embedding) starts unstopped."""
    _SIGNAL.clear()
    _EVENT.clear()
