"""The spool's own folder: only files this verifier wrote are ever read back, and nothing else is touched.

`VERIFIER_SPOOL_DIR` may be a folder other people write to. The verifier keeps its runs in its own
subfolder `medicapp-verifier-<uid>` of it: created 0700, used only when it is a real folder (not a
symbolic link) owned by the verifier's user and closed to others. Every file in it carries an
HMAC-SHA256 over its name and content, keyed by `spool.key`: 32 random bytes created 0600 inside
that subfolder at first use, so a person who can drop files in the shared folder has neither the
folder nor the key. Everything is opened relative to the folder's descriptor, never following a
symbolic link, so a folder swapped after the check is not followed either.
"""
from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from pathlib import Path

from checks.engine.i18n import Message, msg

FORMAT = "medicapp-verifier-spool/1"
KEY_FILE = "spool.key"
KEY_BYTES = 32
MAX_FILE_BYTES = 64 * 1024 * 1024  # far above any run; a bigger file is not one of ours
RUN_FILE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\.json")  # what a run id makes (new_run_id)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class Refused(Exception):
    """The folder, the key or a file is not the verifier's own; `why` says how."""

    def __init__(self, why: Message):
        super().__init__(str(why))
        self.why = why


def own_name() -> str:
    return f"medicapp-verifier-{os.geteuid() if hasattr(os, 'geteuid') else 'user'}"


def supported() -> bool:
    return hasattr(os, "geteuid") and bool(_NOFOLLOW) and os.open in os.supports_dir_fd


def ownership_problem(st: os.stat_result, kind: str) -> Message | None:
    """Why a folder ("dir") or file ("file") is not the verifier's own, or None."""
    if kind == "dir" and not stat.S_ISDIR(st.st_mode):
        return msg("it is not a folder")
    if kind == "file" and not stat.S_ISREG(st.st_mode):
        return msg("it is not a regular file")
    if st.st_uid != os.geteuid():
        return msg("it belongs to another user (uid {uid}, the verifier runs as uid {own})", uid=st.st_uid,
                   own=os.geteuid())
    if stat.S_IMODE(st.st_mode) & 0o077:
        return msg("other users have access to it (mode {mode}; expected {expected})",
                   mode=oct(stat.S_IMODE(st.st_mode)), expected="0o700" if kind == "dir" else "0o600")
    return None


def open_dir(parent: int | None, name: str | Path, create: bool) -> int | None:
    """A descriptor of the verifier's own folder `name` (relative to `parent`), None when absent and
    not created; Refused when it is a symbolic link, not a folder, or not the verifier's."""
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
    try:
        fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(msg("it is a symbolic link or not a folder")) from None
        raise
    problem = ownership_problem(os.fstat(fd), "dir")
    if problem:
        os.close(fd)
        raise Refused(problem)
    return fd


def read_own_file(folder: int, name: str, limit: int = MAX_FILE_BYTES) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file of the verifier's user, never through a symbolic link or a FIFO."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0), dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused(msg("it is a symbolic link")) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise Refused(ownership_problem(st, "file"))
        if st.st_size > limit:
            raise Refused(msg("it is larger than {limit} bytes", limit=limit))
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(limit + 1), st
    finally:
        os.close(fd)


def write_own_file(folder: int, name: str, data: bytes) -> None:
    """Write `name` whole or not at all: a 0600 temporary file, synced, then renamed over it."""
    temporary = f"{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError:
        os.unlink(temporary, dir_fd=folder)
        raise


def key(folder: int, create: bool) -> bytes | None:
    """This spool's key (None when there is none and `create` is False); Refused when it is not ours."""
    try:
        try:
            data, st = read_own_file(folder, KEY_FILE, KEY_BYTES)
        except FileNotFoundError:
            if not create:
                return None
            _create_key(folder)
            data, st = read_own_file(folder, KEY_FILE, KEY_BYTES)
        problem = ownership_problem(st, "file") or (
            None if len(data) == KEY_BYTES else msg("it is not {count} bytes long", count=KEY_BYTES))
        if problem:
            raise Refused(problem)
    except Refused as refused:
        raise Refused(msg("its key file {name} is not the verifier's: {reason}", name=KEY_FILE,
                          reason=refused.why)) from None
    return data


def _create_key(folder: int) -> None:
    """Complete or absent, never half-written: written aside, then linked in (the first writer wins)."""
    temporary = f"{KEY_FILE}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, KEY_FILE, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
        except FileExistsError:
            pass  # another instance made it first: everyone uses that one
    finally:
        os.unlink(temporary, dir_fd=folder)


def _mac(secret: bytes, name: str, body: str) -> str:
    message = b"\0".join((FORMAT.encode(), name.encode(), body.encode("utf-8", "surrogatepass")))
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def seal(secret: bytes, name: str, body: str) -> bytes:
    """The file content: the run's JSON text and its HMAC (bound to the file name)."""
    return json.dumps({"format": FORMAT, "mac": _mac(secret, name, body), "run": body}).encode()


def unseal(secret: bytes | None, name: str, data: bytes) -> str:
    """The run's JSON text if this spool's key signed it under this name; else Refused."""
    try:
        envelope = json.loads(data)
    except ValueError:  # also UnicodeDecodeError
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT or not isinstance(envelope.get("run"), str) \
            or not isinstance(envelope.get("mac"), str):
        raise Refused(msg("it has no signature of this verifier"))
    given = envelope["mac"].encode("utf-8", "surrogatepass")
    if secret is None or not hmac.compare_digest(given, _mac(secret, name, envelope["run"]).encode()):
        raise Refused(msg("its signature does not match this spool's key"))
    return envelope["run"]
