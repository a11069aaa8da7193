"""The outage spool: runs the journal could not take wait here until the next run replays them.

One spool per deployment (`Settings.spool_dir`: VERIFIER_SPOOL_DIR, or a folder named after the
journal's account and table under the user's state directory), so a demo or a test suite with its
own journal never replays, or deletes, another deployment's pending runs. The runs live in the
verifier's own subfolder of it (checks/journal/spoolfs.py: 0700, owned by the verifier's user, each
file signed with a key kept in that subfolder): only files the verifier wrote are replayed; any
other file is left where it is, untouched, and the run's notes name it. A 4xx is not an outage: the
run is written again in reduced form; a spooled run that still cannot be written is moved to the
subfolder's `quarantine/` and the current run says so in its (journaled) notes. Nothing is dropped.
Runs are redacted as data before they are serialised (a mask never breaks the JSON).
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from checks.engine.i18n import Message, join_messages, msg, msgn
from checks.engine.valueparse import reason_of
from checks.engine.model import Run, run_from_dict
from checks.engine.redact import redact, redacted_json
from checks.journal import spoolfs
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
                  redacted_json(run.to_dict()), extra={"run_id": run.run_id})
        journal.write_run(reduced_run(run, str(exc)))
        return msg("written in reduced form (the journal refused the full run: {reason})", reason=reason_of(exc))


class Spool:
    def __init__(self, folder: Path):
        self.folder = Path(folder)  # the configured folder, perhaps shared: only listed, never written
        self.own = self.folder / spoolfs.own_name()

    def save(self, run: Run) -> None:
        """Keep the run for the next run to replay; when it cannot be kept, its notes say so."""
        problem = self._save(run)
        if problem is not None:
            note = msg("this run could not be kept in the outage spool {path} ({reason}); its full results are in "
                       "the logs only", path=str(self.own), reason=problem)
            log.warning("%s", note, extra={"run_id": run.run_id})
            run.notes.append(note)

    def _save(self, run: Run) -> Message | None:
        name = f"{run.run_id}.json"
        if not spoolfs.supported():
            return msg("this system cannot check who owns a folder")
        if not spoolfs.RUN_FILE.fullmatch(name):
            return msg("{run_id} is not a run id the verifier makes", run_id=repr(run.run_id))
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            own = self._open_own(create=True)
            try:
                secret = spoolfs.key(own, create=True)
                spoolfs.write_own_file(own, name, spoolfs.seal(secret, name, redacted_json(run.to_dict())))
            finally:
                os.close(own)
        except spoolfs.Refused as refused:
            return msg("the folder is not the verifier's own: {reason}", reason=refused.why)
        except OSError as exc:
            return msg("{error}: {reason}", error=type(exc).__name__, reason=redact(str(exc))[:300])
        return None

    def _open_own(self, create: bool) -> int | None:
        parent = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            return spoolfs.open_dir(parent, spoolfs.own_name(), create=create)
        finally:
            os.close(parent)

    def pending(self) -> list[Path]:
        """The files waiting in the verifier's own folder (signed or not: replay checks each)."""
        return sorted(self.own.glob("*.json")) if self.own.is_dir() and not self.own.is_symlink() else []

    def replay(self, journal: Journal) -> list[str]:
        """Write the runs an outage kept back, oldest first; returns notes for the current run."""
        with _REPLAY_LOCK:
            return self._replay(journal)

    def _replay(self, journal: Journal) -> list[str]:
        notes: list[str] = self._foreign_files()
        if not spoolfs.supported():
            return notes
        try:
            own = self._open_own(create=False)
            if own is None:
                return notes
        except spoolfs.Refused as refused:
            return notes + [self._not_replayed(refused.why)]
        except OSError as exc:
            return notes + ([] if isinstance(exc, FileNotFoundError) else [self._not_replayed(type(exc).__name__)])
        try:
            secret = spoolfs.key(own, create=False)
            for name in sorted(n for n in os.listdir(own) if n.endswith(".json")):
                note = self._replay_one(own, secret, name, journal)
                if note is not None:
                    notes.append(note)
        except spoolfs.Refused as refused:
            notes.append(self._not_replayed(refused.why))
        except JournalUnavailable:
            pass  # still down: keep them for the next run
        except OSError as exc:
            notes.append(self._not_replayed(redact(f"{type(exc).__name__}: {exc}")[:300]))
        finally:
            os.close(own)
        return notes

    def _not_replayed(self, why: str) -> Message:
        note = msg("spooled runs in {path} were not replayed: {reason}", path=str(self.own), reason=why)
        log.error("%s", note)
        return note

    def _foreign_files(self) -> list[str]:
        """Files named like spooled runs in the configured folder itself: never ours (an older version
        kept its runs there, or someone dropped them in); named, never read, moved or deleted."""
        try:
            names = sorted(n for n in os.listdir(self.folder) if spoolfs.RUN_FILE.fullmatch(n))
        except OSError:
            return []
        if not names:
            return []
        note = msgn("{count} file named like a spooled run lies in {folder}, outside the verifier's own folder "
                    "(an older version's spool, or written by someone else): not replayed, left untouched ({names})",
                    "{count} files named like spooled runs lie in {folder}, outside the verifier's own folder "
                    "(an older version's spool, or written by someone else): not replayed, left untouched ({names})",
                    "count", count=len(names), folder=str(self.folder),
                    names=", ".join(names[:5]) + (", …" if len(names) > 5 else ""))
        log.warning("%s", note)
        return [note]

    def _replay_one(self, own: int, secret: bytes | None, name: str, journal: Journal) -> str | None:
        """Replay one file; its note, or None. Raises JournalUnavailable while the journal is down."""
        try:
            body = spoolfs.unseal(secret, name, spoolfs.read_own_file(own, name)[0])
        except (spoolfs.Refused, OSError) as exc:
            why = exc.why if isinstance(exc, spoolfs.Refused) else redact(f"{type(exc).__name__}: {exc}")[:300]
            note = msg("spool file {name} in {folder} was not written by this verifier ({reason}): not replayed, "
                       "left untouched", name=name, folder=str(self.own), reason=why)
            log.error("%s", note)
            return note
        try:
            spooled = run_from_dict(json.loads(body))
            spooled.notes.append(msg("recorded late: the journal was unavailable when this run ended"))
            how = write_or_reduce(spooled, journal)
        except JournalRejected as exc:
            return self._quarantine(own, name, msg("the journal refused it ({reason})", reason=redact(str(exc))[:500]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return self._quarantine(own, name, msg("unreadable ({error}: {reason})", error=type(exc).__name__,
                                                   reason=redact(str(exc))[:500]))
        try:
            os.unlink(name, dir_fd=own)
        except FileNotFoundError:
            pass
        return (msg("the previous run {run_id} could not be recorded when it ended (journal unavailable); "
                    "it has been recorded now", run_id=spooled.run_id) if how == "written" else
                msg("the previous run {run_id} could not be recorded when it ended (journal unavailable); "
                    "it has been recorded now in reduced form", run_id=spooled.run_id))

    def _quarantine(self, own: int, name: str, why: Message) -> str:
        target = self.own / QUARANTINE / name
        try:
            folder = spoolfs.open_dir(own, QUARANTINE, create=True)
            try:
                os.replace(name, name, src_dir_fd=own, dst_dir_fd=folder)
            finally:
                os.close(folder)
        except (OSError, spoolfs.Refused) as exc:
            why = join_messages([why, msg("could not move it aside ({reason})", reason=redact(str(exc))[:300])])
        note = msg("spooled run {run_id} could not be written to the journal: {reason}; kept in {path}, replay went "
                   "on past it", run_id=name.removesuffix(".json"), reason=why, path=str(target))
        log.error("%s", note, extra={"run_id": name.removesuffix(".json")})
        return note
