"""Ctrl-C (SIGINT) and SIGTERM end every command quietly: one line on stderr, exit 130 (143 for SIGTERM).

`install()` is the process entry's (checks/__main__.py): both signals ask every run to stop
(checks/engine/stop.py) and raise KeyboardInterrupt in the main thread. `guarded` is the CLI's
single top-level handler: whatever the command was doing (a report, a drill or restore wait, a
fleet, journal verify), it ends with one line, never a traceback. A run records what finished
(checks/service.py) and says so with `run_line`.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from checks.engine import stop
from checks.engine.i18n import current, language, tr as _, tr_n
from checks.engine.model import Run, was_interrupted

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as a shell reports it
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_INSTALLED: list[bool] = []
_RUNS: list[bool] = []  # runs in progress that stop by themselves (run_stops_itself)


def install() -> None:
    """Handlers for the whole process (main thread only)."""
    for signum in _SIGNALS:
        signal.signal(signum, _on_signal)
    _INSTALLED.append(True)


def _on_signal(signum: int, frame: Any) -> None:
    first = not stop.requested()
    stop.request(signal.Signals(signum).name)
    if first and _RUNS:
        return  # a run is in progress: it notices (checks/engine/runner.py), records what finished and returns
    raise KeyboardInterrupt  # anything else, or a second signal: end now


@contextmanager
def run_stops_itself() -> Iterator[None]:
    """While a run (or a fleet's runs) is in progress in the main thread, the first signal only asks it to
    stop: no exception can land in the middle of its bookkeeping. A second one raises KeyboardInterrupt
    (a journal write then cut short leaves the run in the outage spool, checks/service.py)."""
    _RUNS.append(True)
    try:
        yield
    finally:
        _RUNS.pop()


def after_stop(code: int | None, run: Run | None = None) -> int | None:
    """`code`, unless a stop was asked: then the one line saying what was recorded, and 130/143."""
    if not stop.requested():
        return code
    _quiet()
    line = run_line(run) if run is not None else _("interrupted ({signal}): each target's run recorded what "
                                                   "finished", signal=stop.signal_name())
    print(line, file=sys.stderr)
    return exit_code()


def exit_code() -> int:
    return EXIT_CODES.get(stop.signal_name(), EXIT_CODES["SIGINT"])


def _quiet() -> None:
    """After the stop: one more Ctrl-C must not cut the last line short with a traceback."""
    if _INSTALLED and threading.current_thread() is threading.main_thread():
        for signum in _SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def guarded(command: Callable[[], int], lang: str | None) -> int:
    """Run the command; on Ctrl-C or SIGTERM print one line and return 130/143."""
    stop.reset()
    try:
        return command()
    except KeyboardInterrupt:
        stop.request()
        _quiet()
        with language(lang):
            print(_("interrupted ({signal}): stopped before it finished", signal=stop.signal_name()), file=sys.stderr)
        return exit_code()
    finally:
        stop.reset()  # the command is over: nothing else in this process (tests, embedding) is stopped


def run_line(run: Run) -> str:
    """What an interrupted `run` recorded, in one line."""
    finished = sum(not was_interrupted([r]) for r in run.results)
    counts = {"finished": finished, "total": len(run.results), "run_id": run.run_id}
    status = str(run.journal_status)
    if status == "written" or status.startswith("written"):
        return tr_n("interrupted: {finished} of {total} check finished; recorded as run {run_id} (interrupted)",
                    "interrupted: {finished} of {total} checks finished; recorded as run {run_id} (interrupted)",
                    "total", **counts)
    if status == "disabled":
        return tr_n("interrupted: {finished} of {total} check finished; run {run_id} not recorded (--no-journal)",
                    "interrupted: {finished} of {total} checks finished; run {run_id} not recorded (--no-journal)",
                    "total", **counts)
    return tr_n("interrupted: {finished} of {total} check finished; run {run_id} not in the journal ({why})",
                "interrupted: {finished} of {total} checks finished; run {run_id} not in the journal ({why})",
                "total", why=current().message(run.journal_status), **counts)
