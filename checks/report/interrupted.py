"""Runs stopped by Ctrl-C or SIGTERM before every check finished: recorded, never evidence.

Their finished results stay in the journal (shown on the run's page, their failures listed), but
such a run ticks no box, not even "Results noted in the internal journal": an auditor reads a
ticked box as a complete verification. The unfinished checks carry the `interrupted` detail
(checks/engine/runner.py), so a run read back from the journal or the spool is recognised too.
"""
from __future__ import annotations

from typing import Any

from checks.engine.i18n import msgn
from checks.engine.model import CheckResult, was_interrupted


def interrupted_runs(runs: list[Any], results: dict[str, dict[str, CheckResult]], notes: list[str]) -> set[str]:
    """Ids of the interrupted runs among `runs` (newest first); a note names them."""
    stopped = [r.run_id for r in runs if was_interrupted(results[r.run_id].values())]
    if stopped:
        notes.append(msgn("{count} run was interrupted before every check finished (recorded, not evidence): {runs}",
                          "{count} runs were interrupted before every check finished (recorded, not evidence): "
                          "{runs}", "count", count=len(stopped), runs=", ".join(stopped[:5])))
    return set(stopped)
