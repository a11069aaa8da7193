"""The outage spool: runs the journal could not take wait here until the next run replays them.

One spool per deployment (`Settings.spool_dir`: VERIFIER_SPOOL_DIR, or a folder named after the
journal's account and table under the user's state directory), so a demo or a test suite with its
own journal never replays, or deletes, another deployment's pending runs. A 4xx is not an
outage: the run is written again in reduced form; a spooled run that still cannot be written is
moved to `quarantine/` and the current run says so in its (journaled) notes. Nothing is dropped.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from checks.engine.i18n import Message, join_messages, msg
from checks.engine.model import Run, run_from_dict
from checks.engine.redact import redact
from checks.journal.store import Journal, JournalRejected, JournalUnavailable, reduced_run

log = logging.getLogger("checks.journal.spool")

QUARANTINE = "quarantine"
# a fleet's targets share the deployment's spool: one replay at a time, so a spooled run is written once
_REPLAY_LOCK = threading.Lock()


def write_or_reduce(run: Run, journal: Journal) -> str:
    """Write the run; on a 4xx write its reduced form. Returns the journal status text.

    Raises JournalUnavailable on an outage, JournalRejected when even the reduced form is refused."""
    try:
        journal.write_run(run)
        return "written"
    except JournalRejected as exc:
        log.error("journal refused run %s (%s); full run: %s", run.run_id, exc,
                  redact(json.dumps(run.to_dict(), default=str)), extra={"run_id": run.run_id})
        journal.write_run(reduced_run(run, str(exc)))
        return msg("written in reduced form (the journal refused the full run: {reason})", reason=str(exc))


class Spool:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def save(self, run: Run) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.folder / f"{run.run_id}.json").write_text(redact(json.dumps(run.to_dict(), default=str)))
        except OSError as exc:
            log.warning("could not spool run %s locally in %s: %s", run.run_id, self.folder, exc)

    def pending(self) -> list[Path]:
        return sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []

    def replay(self, journal: Journal) -> list[str]:
        """Write the runs an outage kept back, oldest first; returns notes for the current run."""
        with _REPLAY_LOCK:
            return self._replay(journal)

    def _replay(self, journal: Journal) -> list[str]:
        notes: list[str] = []
        for path in self.pending():
            try:
                spooled = run_from_dict(json.loads(path.read_text()))
                spooled.notes.append(msg("recorded late: the journal was unavailable when this run ended"))
                how = write_or_reduce(spooled, journal)
            except JournalRejected as exc:
                why = msg("the journal refused it ({reason})", reason=redact(str(exc))[:500])
                notes.append(self._quarantine(path, why))
                continue
            except JournalUnavailable:
                break  # still down: keep them for the next run
            except (OSError, ValueError, KeyError, TypeError) as exc:
                notes.append(self._quarantine(path, msg("unreadable ({error}: {reason})", error=type(exc).__name__,
                                                        reason=redact(str(exc))[:500])))
                continue
            path.unlink(missing_ok=True)
            notes.append(msg("the previous run {run_id} could not be recorded when it ended (journal unavailable); "
                             "it has been recorded now", run_id=spooled.run_id) if how == "written" else
                         msg("the previous run {run_id} could not be recorded when it ended (journal unavailable); "
                             "it has been recorded now in reduced form", run_id=spooled.run_id))
        return notes

    def _quarantine(self, path: Path, why: Message) -> str:
        target = self.folder / QUARANTINE / path.name
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.replace(target)
        except OSError as exc:
            why = join_messages([why, msg("could not move it aside ({reason})", reason=redact(str(exc))[:300])])
        note = msg("spooled run {run_id} could not be written to the journal: {reason}; kept in {path}, replay went "
                   "on past it", run_id=path.stem, reason=why, path=str(target))
        log.error("%s", note, extra={"run_id": path.stem})
        return note
