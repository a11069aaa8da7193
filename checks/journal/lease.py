"""One run at a time per target: a blob lease in the journal's storage account.

The lease blob `verifier-locks/<target>` is leased for RUN_LEASE_SECONDS and renewed in the
background while the run lasts; a crashed run's lease simply expires. The blob's metadata
remembers the run holding it (so a refused caller learns its id) and the previous run's id (so
the next run can say when that one never reached the journal).
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from checks.engine.config import Settings
from checks.engine.i18n import msg
from checks.engine.redact import redact

log = logging.getLogger("checks.journal.lease")

LOCK_CONTAINER = "verifier-locks"


class RunInProgress(Exception):
    """Another run holds the lease for this target."""

    def __init__(self, target: str, running_run_id: str):
        self.target = target
        self.running_run_id = running_run_id
        super().__init__(msg("a verification run is already in progress for {target}: {run_id}", target=target,
                             run_id=running_run_id or msg("unknown id")))


def lease_target(settings: Settings) -> str:
    """Name of the lock blob: the resources a run verifies, and in a fleet (TARGETS) the target's name
    (two local targets may share the same unnamed server and account)."""
    parts = [settings.pg_server_name or "db", settings.storage_account_name or "blob"]
    if settings.targets or settings.discover_tag:
        parts.insert(0, settings.target_name)
    return re.sub(r"[^a-z0-9-]", "-", "run-" + "-".join(parts).lower())[:200]


def blob_service_for_journal(settings: Settings, credential: Any = None, **kwargs: Any) -> Any:
    """The journal account's blob endpoint (same account as the journal table)."""
    from azure.storage.blob import BlobServiceClient  # lazy: cold start

    if settings.journal_account_url:
        url = settings.journal_account_url.replace(".table.", ".blob.")
        if credential is None:
            from azure.identity import DefaultAzureCredential
            credential = DefaultAzureCredential()
        return BlobServiceClient(url, credential=credential, **kwargs)
    if settings.journal_connection_string:
        return BlobServiceClient.from_connection_string(settings.journal_connection_string, **kwargs)
    raise ValueError(msg("journal not configured: set JOURNAL_ACCOUNT_URL (managed identity) "
                         "or AzureWebJobsStorage (connection string)"))


@dataclass
class HeldLease:
    target: str
    previous_run_id: str
    _lease: Any
    _blob: Any
    _stop: threading.Event
    _renewer: threading.Thread | None

    def release(self, run_id: str) -> None:
        from azure.core.exceptions import AzureError

        self._stop.set()
        if self._renewer:
            self._renewer.join(5)
        try:
            self._blob.set_blob_metadata({"running_run_id": "", "last_run_id": run_id}, lease=self._lease)
            self._lease.release()
        except AzureError as exc:  # an unreleased lease expires by itself
            log.warning("could not release the run lease %s: %s", self.target, redact(str(exc)))


class RunLease:
    """Acquire with `acquire(run_id)`; raises RunInProgress when another run holds it."""

    def __init__(self, settings: Settings, service: Any = None):
        self.settings = settings
        self.target = lease_target(settings)
        self._service = service

    def acquire(self, run_id: str) -> HeldLease:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        # short backoff: a lock that cannot be had quickly is not worth delaying the checks for
        service = self._service or blob_service_for_journal(self.settings, retry_total=2, initial_backoff=0.5,
                                                            increment_base=2)
        container = service.get_container_client(LOCK_CONTAINER)
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        blob = container.get_blob_client(self.target)
        try:
            blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass
        duration = self.settings.run_lease_seconds
        try:
            lease = blob.acquire_lease(lease_duration=duration)
        except HttpResponseError as exc:
            if exc.status_code == 409:
                running = (blob.get_blob_properties().metadata or {}).get("running_run_id", "")
                raise RunInProgress(self.target, running) from None
            raise
        previous = (blob.get_blob_properties().metadata or {}).get("last_run_id", "")
        # last_run_id is set now, not at release: a run that crashes is reported by the next one too
        blob.set_blob_metadata({"running_run_id": run_id, "last_run_id": run_id}, lease=lease)
        stop = threading.Event()
        renewer = threading.Thread(target=_renew_until, args=(lease, stop, duration / 3), daemon=True,
                                   name=f"lease:{self.target}")
        renewer.start()
        return HeldLease(self.target, previous, lease, blob, stop, renewer)


def _renew_until(lease: Any, stop: threading.Event, every: float) -> None:
    from azure.core.exceptions import AzureError

    while not stop.wait(every):
        try:
            lease.renew()
        except AzureError as exc:  # losing the lease only weakens the guard; the run goes on
            log.warning("run lease renewal failed: %s", redact(str(exc)))
            return
