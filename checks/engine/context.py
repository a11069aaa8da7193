"""What a check gets to do its work: settings, a clock, the journal, shared clients.

Azure SDK clients and the credential are built lazily, once per run, and shared by the checks
of that run (Azure SDK guidelines). Tests inject `credential` and `azure_kwargs` (for example
`transport=` and `retry_total=0`) to run the real clients over canned responses.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Protocol

from checks.engine.config import Settings
from checks.engine.redact import redact
from checks.engine.timeutil import utcnow

log = logging.getLogger("checks.engine.context")


class JournalReader(Protocol):
    """What a check may read from the journal (checks/journal/store.Journal provides it). A protocol,
    so that the engine does not depend on the journal part. Every read raises
    engine.model.JournalUnavailable when the journal cannot be read."""

    def baseline(self, target: Any, tables: Iterable[str], now: datetime) -> dict[str, Any]:
        """{table: accepted count (checks/journal/baseline.Accepted)} of the target and its database."""
        ...


class FailOnce:
    """Wraps the run's own credential: when the first token request finds no credential at all,
    every later request in the run fails at once with the same error, instead of each check
    probing every credential source again (and logging the whole list each time)."""

    def __init__(self, inner: Any):
        self._inner = inner
        self._first = threading.Lock()
        self._answered = False
        self._failure: Exception | None = None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError
        if not self._answered:
            with self._first:  # held only until the first answer; later requests run concurrently
                if not self._answered:
                    try:
                        return getattr(self._inner, method)(*args, **kwargs)
                    except ClientAuthenticationError as exc:
                        self._failure = exc
                        raise
                    finally:
                        self._answered = True
        if self._failure is not None:
            raise type(self._failure)(message=str(getattr(self._failure, "message", self._failure)))
        return getattr(self._inner, method)(*args, **kwargs)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return self._call("get_token", *scopes, **kwargs)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        return self._call("get_token_info", *scopes, **kwargs)

    def close(self) -> None:
        self._inner.close()


@dataclass
class RunContext:
    settings: Settings
    clock: Callable[[], datetime] = utcnow
    journal: JournalReader | None = None  # read side, e.g. the previous run's counts
    credential: Any = None  # None = DefaultAzureCredential, built on first use
    azure_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to every Azure client
    run_id: str = ""
    db_host: str | None = None  # the restore drill points the database checks at the restored server
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _key_locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def now(self) -> datetime:
        return self.clock()

    def get_credential(self) -> Any:
        with self._lock:
            if self.credential is None:
                from azure.identity import DefaultAzureCredential  # lazy: cold start
                self.credential = FailOnce(DefaultAzureCredential())
            return self.credential

    def client(self, key: str, factory: Callable[[], Any]) -> Any:
        """The object cached under `key`, built by `factory()` once per run.

        One lock per key: concurrent callers of the same key wait for a single build (one
        client, one shared request), while other keys go ahead (a slow ARM call made by one
        factory must not hold up the other checks).
        """
        with self._lock:
            if key in self._clients:
                return self._clients[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._clients:
                    return self._clients[key]
            built = factory()
            with self._lock:
                self._clients[key] = built
            return built

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        closers = [c.close for c in clients if callable(getattr(c, "close", None))]
        if not closers:
            return
        from azure.core.exceptions import AzureError  # only SDK clients have a close()
        for close in closers:
            try:
                close()
            except (AzureError, OSError) as exc:  # closing is best effort: the run's work is done
                log.warning("closing an SDK client failed: %s", redact(str(exc)))
